"""Sampling (beauty-level sweeps), beautification by latent recovery (the original's objective, schedule and
stochastic clipping; VGG-Face features against a torch transcription), the paper's metrics (SWD, MS-SSIM, FID),
and one CLI smoke: `facejax sample --src` on a checkpoint."""

import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from tests.families.beholder.conftest import gan_config

from facejax import images, registry
from facejax.errors import FacejaxError
from facejax.families import base
from facejax.families.beholder import beautify, face_features, sample
from facejax.metrics import pggan
from facejax.train.checkpoint import Checkpointer
from facejax.train.state import root_key_data

FACE_WIDTHS = (4, 4, 8, 8, 8)  # a small VGG-Face: the layout of vgg_face_dag.pth with fewer channels


@pytest.fixture(scope="module")
def family_state():
    fam = registry.create(gan_config(**{"beautify.iters": 120, "beautify.alpha": 1.0, "beautify.batch_size": 4}))
    return fam, jax.jit(fam.init)(root_key_data(2))


def _face_file(path, face_size=32, seed=0):
    """A random vgg_face_dag.pth-layout state dict (small widths; fc6 fits face_size)."""
    torch = pytest.importorskip("torch")
    g = torch.Generator().manual_seed(seed)
    sd, cin = {}, 3
    for name, w in zip(face_features.CONVS, [w for w, n in zip(FACE_WIDTHS, (2, 2, 3, 3, 3)) for _ in range(n)]):
        sd[f"{name}.weight"] = torch.randn(w, cin, 3, 3, generator=g) * (2.0 / (9 * cin)) ** 0.5
        sd[f"{name}.bias"] = torch.randn(w, generator=g) * 0.1
        cin = w
    fan = cin * (face_size // 32) ** 2
    for name, out in (("fc6", 16), ("fc7", 16), ("fc8", 10)):
        sd[f"{name}.weight"] = torch.randn(out, fan, generator=g) * (2.0 / fan) ** 0.5
        sd[f"{name}.bias"] = torch.randn(out, generator=g) * 0.1
        fan = out
    torch.save(sd, path)
    return sd


def _vgg_face_torch(t, sd):
    """VGG-Face (vgg_face_dag's layers) in torch on an NCHW tensor, from the state dict `sd`: fc8's outputs."""
    import torch.nn.functional as F

    for name in face_features.CONVS:
        t = F.relu(F.conv2d(t, sd[f"{name}.weight"], sd[f"{name}.bias"], padding=1))
        if name.endswith(("1_2", "2_2", "3_3", "4_3", "5_3")):
            t = F.max_pool2d(t, 2, 2)
    t = t.flatten(1)
    for name in ("fc6", "fc7", "fc8"):
        t = F.linear(t, sd[f"{name}.weight"], sd[f"{name}.bias"])
        t = F.relu(t) if name != "fc8" else t
    return t


def test_beauty_level_sweep_grid(family_state):
    fam, state = family_state
    inp = fam.sample_inputs(3)
    assert inp["betas"].shape == (5, 3, 8) and np.all((inp["betas"] >= 0) & (inp["betas"] <= 1))
    np.testing.assert_allclose(inp["betas"].mean(axis=(1, 2)), [0.2, 0.4, 0.6, 0.8, 1.0], atol=0.05)
    grid = fam.sample_grids(state, inp)["beauty_levels"]
    assert grid.shape == (3 * 16 + 4 * 2, 5 * 16 + 6 * 2, 3)
    imgs = sample.sweep(fam, state.ema["G"], inp["z"], inp["betas"], 0)
    assert imgs.shape == (3, 5, 16, 16, 3) and np.abs(imgs[:, 0] - imgs[:, -1]).max() > 0  # beta moves G


def test_latent_recovery_finds_a_generated_face(family_state):
    fam, state = family_state
    rng = np.random.default_rng(3)
    z_true = rng.uniform(-0.8, 0.8, (4, fam.latent_size)).astype(np.float32)
    b_true = rng.uniform(0.3, 0.9, (4, 8)).astype(np.float32)
    faces = np.asarray(jax.jit(fam.render)(state.ema["G"], z_true, b_true))
    rec = beautify.Recovery(fam)
    z0 = np.random.RandomState(800).randn(fam.latent_size).astype(np.float32)
    b0 = np.random.default_rng([800, 1]).uniform(0, 1, 8).astype(np.float32)
    start = np.mean(
        (np.asarray(jax.jit(fam.render)(state.ema["G"], np.tile(z0, (4, 1)), np.tile(b0, (4, 1)))) - faces) ** 2,
        axis=(1, 2, 3),
    )
    done = 10**6  # a finished run's step: G at full resolution
    z, beta, loss = rec.recover(state.ema["G"], faces[:3], done)  # 3 faces: padded to the 4 devices
    assert z.shape == (3, fam.latent_size) and loss.shape == (3,)
    assert np.all(loss < 0.8 * start[:3]), (loss, start)  # measured 0.27 -> 0.14, 0.29 -> 0.21, 0.35 -> 0.21
    assert np.all(np.abs(z) <= 1) and np.all((beta >= -1) & (beta <= 1))  # stochastic clipping (beta: the bug)
    sweep = rec.render(state.ema["G"], z, beta, done, deltas=(0.0, 0.2))
    assert sweep.shape == (3, 2, 16, 16, 3)
    again = np.mean((sweep[:, 0] - faces[:3]) ** 2, axis=(1, 2, 3))
    np.testing.assert_allclose(again, loss, rtol=1e-4)  # the kept (z, beta) is the one of the reported loss
    orig = beautify.Recovery(
        registry.create(
            gan_config(**{"beautify.alpha": 1.0, "beautify.lr_drop_iter": 1000, "beautify.lr_halve_every": 20_000})
        )
    )
    lr = [float(orig.lr(jnp.int32(i))) for i in (0, 999, 1000, 19_999, 20_000, 40_000)]
    assert lr == pytest.approx([0.1, 0.1, 0.02, 0.02, 0.01, 0.005])  # the original: /5 at 1000, /2 every 20000


def test_recovery_checks_at_the_originals_iterations(family_state):
    """The original's loop looks at its loss every 50 iterations: the kept (z, beta) is the best of iterations 0,
    50, 100 ..., and its learning-rate drops happen at those checks. A transcription of that loop (plain GD on
    the same loss, the same stochastic clipping draws) against Recovery.recover."""
    fam0, state = family_state
    over = {
        "beautify.iters": 130,
        "beautify.alpha": 1.0,
        "beautify.batch_size": 4,
        "beautify.lr_drop_iter": 100,
        "beautify.lr_halve_every": 100,
    }
    fam = registry.create(gan_config(**over))
    assert fam.config.beautify.check_every == 50
    g = state.ema["G"]
    rng = np.random.default_rng(5)
    face = np.asarray(
        jax.jit(fam.render)(
            g,
            rng.uniform(-0.8, 0.8, (1, fam.latent_size)).astype(np.float32),
            rng.uniform(0.3, 0.9, (1, 8)).astype(np.float32),
        )
    )
    done = 10**6
    rec = beautify.Recovery(fam)
    z, beta, loss = rec.recover(g, face, done)
    # the transcription, on the padded batch recover() runs (the face repeated)
    level, fade = fam.level_of(done)
    y = jnp.asarray(np.repeat(face, rec.batch, 0))
    grad = jax.jit(jax.value_and_grad(lambda z, b: rec._loss(g, z, b, y, None, level, fade), (0, 1), has_aux=True))
    b = fam.config.beautify
    zt = jnp.tile(np.random.RandomState(800).randn(fam.latent_size).astype(np.float32), (rec.batch, 1))
    bt = jnp.tile(np.random.default_rng([800, 1]).uniform(0, 1, 8).astype(np.float32), (rec.batch, 1))
    key = jax.random.fold_in(jax.random.key(0), 0)
    lr, best = b.lr, (np.inf, None, None)
    for i in range(b.iters):
        (_, per), (gz, gb) = grad(zt, bt)
        if i % 50 == 0:
            if i == b.lr_drop_iter:
                lr /= b.lr_drop_factor
            if i > 0 and i % b.lr_halve_every == 0:
                lr /= 2.0
            if float(per[0]) < best[0]:
                best = (float(per[0]), np.asarray(zt[0]), np.asarray(bt[0]))
        zt, bt = zt - lr * gz, bt - lr * gb
        kz, kb = jax.random.split(jax.random.fold_in(key, i))
        zt = jnp.where(jnp.abs(zt) > 1.0, jax.random.uniform(kz, zt.shape, minval=-1.0, maxval=1.0), zt)
        bt = jnp.where((bt < 0) | (bt > 1), jax.random.uniform(kb, bt.shape, minval=-1.0, maxval=1.0), bt)
    assert lr == pytest.approx(0.01)
    assert float(loss[0]) == pytest.approx(best[0], rel=1e-4)
    # (100 steps of float32 GD in a fori_loop vs one jitted step at a time: rounding apart)
    np.testing.assert_allclose(z[0], best[1], atol=2e-3)
    np.testing.assert_allclose(beta[0], best[2], atol=2e-3)
    every = beautify.Recovery(registry.create(gan_config(**over, **{"beautify.check_every": 1})))
    assert float(every.recover(g, face, done)[2][0]) < best[0]  # a best point between the checks


def test_beautify_reads_faces_with_pils_antialias(tmp_path):
    """beautify_image.py: img.resize((res, res), Image.ANTIALIAS), then / 127.5 - 1 on the uint8 array (NumPy's
    float64, fed to TF as float32)."""
    from PIL import Image

    arr = np.random.default_rng(0).integers(0, 256, (70, 70, 3)).astype(np.uint8)
    path = str(tmp_path / "face.png")
    Image.fromarray(arr).save(path)
    want = (np.asarray(Image.fromarray(arr).resize((16, 16), Image.LANCZOS)) / 127.5 - 1).astype(np.float32)
    np.testing.assert_array_equal(beautify.read_face(path, 16), want)
    assert gan_config().beautify.resize_filter == "antialias"
    bilinear = (np.asarray(Image.fromarray(arr).resize((16, 16), Image.BILINEAR)) / 127.5 - 1).astype(np.float32)
    np.testing.assert_array_equal(beautify.read_face(path, 16, "bilinear"), bilinear)
    assert np.abs(want - bilinear).max() > 0.01
    with pytest.raises(FacejaxError, match="resize_filter='box'"):
        beautify.read_face(path, 16, "box")


def test_face_features_match_a_torch_vgg_face(tmp_path):
    torch = pytest.importorskip("torch")
    import torch.nn.functional as F

    path = str(tmp_path / "vgg_face_dag.pth")
    sd = _face_file(path)
    params = face_features.load(path, 32)
    x = np.random.default_rng(0).uniform(-1, 1, (2, 16, 16, 3)).astype(np.float32)
    got = np.asarray(jax.jit(lambda p, x: face_features.features(p, x, 32, "vgg_face"))(params, x))
    t = F.interpolate(torch.from_numpy(x.transpose(0, 3, 1, 2).copy()), size=32, mode="bilinear", align_corners=False)
    t = (t + 1) * 127.5 - torch.tensor(face_features.MEAN)[None, :, None, None]
    t = _vgg_face_torch(t, sd)
    np.testing.assert_allclose(got, t.numpy(), rtol=1e-4, atol=1e-4 * np.abs(t.numpy()).max())
    with pytest.raises(FacejaxError, match="vgg_face_dag.pth.*config.beautify.alpha=1"):
        face_features.load(str(tmp_path / "missing.pth"), 224)
    with pytest.raises(FacejaxError, match="fc6.weight takes 8 inputs, expected 392"):
        face_features.load(path, 224)
    fam = registry.create(gan_config(**{"beautify.alpha": 0.7, "beautify.face_weights": "", "beautify.face_size": 32}))
    with pytest.raises(FacejaxError, match="config.beautify.face_weights"):
        beautify.Recovery(fam)
    rec = beautify.Recovery(fam, face_params=params)  # pixel + face-feature loss runs
    z, _, loss = rec.recover(jax.jit(fam.init)(root_key_data(0)).ema["G"], x[:1], 0)
    assert np.isfinite(loss).all()


def _tf1_resize_bilinear(img, size):
    """TF1's ResizeBilinear kernel (align_corners=False, half_pixel_centers=False), per output pixel: the
    source coordinate is out * in / size, its floor and ceil (clamped to the last row/column) are blended."""
    n, h, w, c = img.shape
    out = np.zeros((n, size, size, c), np.float64)
    for y in range(size):
        in_y = y * h / size
        y0, y1 = int(np.floor(in_y)), min(int(np.ceil(in_y)), h - 1)
        dy = in_y - np.floor(in_y)
        for x in range(size):
            in_x = x * w / size
            x0, x1 = int(np.floor(in_x)), min(int(np.ceil(in_x)), w - 1)
            dx = in_x - np.floor(in_x)
            top = img[:, y0, x0] + (img[:, y0, x1] - img[:, y0, x0]) * dx
            bottom = img[:, y1, x0] + (img[:, y1, x1] - img[:, y1, x0]) * dx
            out[:, y, x] = top + (bottom - top) * dy
    return out


def test_face_features_take_the_originals_input(tmp_path):
    """beautify_image.py feeds G's [-1, 1] images straight into the Keras VGG-Face graph, resized to 224 by TF1's
    tf.image.resize_images (legacy bilinear): no [0, 255] scaling, no mean. A torch transcription of that path."""
    torch = pytest.importorskip("torch")

    ramp = np.array([0.0, 1.0], np.float32).reshape(1, 1, 2, 1).repeat(2, 1)
    legacy = np.asarray(face_features.resize_bilinear_tf1(jnp.asarray(ramp), 4))[0, 0, :, 0]
    np.testing.assert_allclose(legacy, [0.0, 0.5, 1.0, 1.0])  # TF1's legacy sampling, not half-pixel centres
    path = str(tmp_path / "vgg_face_dag.pth")
    sd = _face_file(path)
    params = face_features.load(path, 32)
    x = np.random.default_rng(1).uniform(-1, 1, (2, 24, 24, 3)).astype(np.float32)
    resized = _tf1_resize_bilinear(x.astype(np.float64), 32)
    np.testing.assert_allclose(np.asarray(face_features.resize_bilinear_tf1(jnp.asarray(x), 32)), resized, atol=1e-5)
    t = torch.from_numpy(resized.transpose(0, 3, 1, 2).astype(np.float32).copy())  # [-1, 1], straight in
    t = _vgg_face_torch(t, sd)
    fam = registry.create(gan_config(**{"beautify.alpha": 0.7, "beautify.face_size": 32}))
    assert fam.config.beautify.face_input == "original"
    rec = beautify.Recovery(fam, face_params=params)
    got = np.asarray(jax.jit(rec._phi)(x))
    np.testing.assert_allclose(got, t.numpy(), rtol=1e-4, atol=1e-4 * np.abs(t.numpy()).max())
    with pytest.raises(FacejaxError, match="config.beautify.face_input='bgr'"):
        beautify.Recovery(registry.create(gan_config(**{"beautify.face_input": "bgr", "beautify.alpha": 1.0})))


def test_pggan_metrics_behave():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (32, 3, 32, 32)).astype(np.uint8)
    smooth = np.repeat(np.repeat(a[:, :, ::4, ::4], 4, 2), 4, 3)
    same, other = pggan.SWD(32, np.random.default_rng(1)), pggan.SWD(32, np.random.default_rng(1))
    for s, fakes in ((same, a), (other, smooth)):
        s.feed("reals", a)
        s.feed("fakes", fakes)
    d_same, d_other = same.distances(), other.distances()
    assert set(d_same) == {"SWDx1e3_32", "SWDx1e3_16", "SWDx1e3_avg"}
    assert d_same["SWDx1e3_32"] < 0.6 * d_other["SWDx1e3_32"]  # measured 27.9 vs 60.1 (the sampling noise floor)
    x = a.transpose(0, 2, 3, 1)
    assert pggan.msssim(x[:4], x[:4]) == pytest.approx(1.0, abs=1e-5)
    assert pggan.msssim(x[:4], x[4:8]) < 0.5


def test_evaluator_reports_the_papers_table(family_state, synthetic_tfds, tmp_path):
    fam = registry.create(gan_config(synthetic_tfds, **{"eval.num_images": 64, "eval.fid": True}))
    state = family_state[1]
    ev = fam.evaluator(features=lambda x: jnp.mean(x, axis=(1, 2)))  # stand-in for Inception (weights not shipped)
    res = ev(state, 0, str(tmp_path))
    m = res["metrics"]
    assert set(m) == {"SWDx1e3_16", "SWDx1e3_avg", "MS-SSIM", "FID"}
    assert {h.key for h in type(fam).headline_metrics} <= set(m)  # the sweep report's columns
    assert all(np.isfinite(v) for v in m.values()) and m["SWDx1e3_16"] > 0
    assert "| facejax (step 0, 16 px) |" in res["table"] and os.path.exists(res["files"]["table"])
    assert res["report"]["num_images"] == 64 and res["report"]["swd_images"] == 128


def test_evaluation_counts_and_mirrored_reals_are_pggans(family_state, synthetic_tfds):
    """util_scripts.evaluate_metrics with PGGAN's presets swd-16k (16,384 images) and msssim-20k (20,000 fakes);
    the reals pass through misc.apply_mirror_augment (each flipped with p 1/2) when the run mirrored."""
    from facejax import configs
    from facejax.families.beholder import data

    e = configs.load("beholder:celeba_hq").eval
    assert (e.swd_images, e.ms_ssim_images, e.mirror_reals) == (16_384, 20_000, True)
    over = {"eval.num_images": 16, "eval.swd_images": 64, "eval.ms_ssim_images": 96, "eval.fid": False}
    fam = registry.create(gan_config(synthetic_tfds, **over))
    assert fam.config.data.mirror_augment
    ev = fam.evaluator()
    table_ = fam.read_split("eval")
    plain = images.to_uint8(data.eval_images(table_, 16, rows=np.arange(64) % len(table_["scores"])))
    assert ev.reals.shape == (64, 16, 16, 3) and ev.n_fakes == 96
    same = np.all(ev.reals == plain, axis=(1, 2, 3))
    mirrored = np.all(ev.reals == plain[:, :, ::-1], axis=(1, 2, 3))
    assert np.all(same | mirrored) and 16 < np.sum(mirrored & ~same) < 48
    assert ev.generate(family_state[1].ema["G"], 0).shape == (96, 16, 16, 3)
    for off in ({"eval.mirror_reals": False}, {"data.mirror_augment": False}):
        np.testing.assert_array_equal(
            registry.create(gan_config(synthetic_tfds, **over, **off)).evaluator().reals, plain
        )


def test_paper_table_rows():
    from facejax.families.beholder.evaluate import table

    t = table(
        {
            "step": 1,
            "img_size": 128,
            **{f"SWDx1e3_{r}": 1.0 for r in (16, 32, 64, 128)},
            "SWDx1e3_avg": 1.0,
            "MS-SSIM": 0.3,
        }
    )
    assert "| Beholder-GAN (paper) | 8.72 | 4.26 | 6.23 | 11.75 | 7.74 | 0.274 | |" in t


def test_cli_sample_beautifies_a_folder(synthetic_tfds, tmp_path, repo_root):
    cfg = gan_config(synthetic_tfds)
    fam = registry.create(cfg)
    ck = Checkpointer(str(tmp_path / "run"))
    ck.save(5, jax.jit(fam.init)(root_key_data(0)), None, cfg.to_dict(), force=True)
    ck.close()
    faces = tmp_path / "faces"
    table = fam.read_split("eval")
    from facejax.families.beholder import data

    for i, img in enumerate(images.to_uint8(data.eval_images(table, 16, rows=range(2)))):
        images.save_png(faces / f"face{i}.png", img)
    cmd = [
        sys.executable,
        "-m",
        "facejax.cli",
        "sample",
        "--config=configs/beholder.py:synthetic",
        f"--config.data.data_dir={synthetic_tfds}",
        f"--workdir={tmp_path / 'run'}",
        f"--out={tmp_path / 'out'}",
        f"--src={faces}",
        "--config.beautify.alpha=1.0",
        "--config.beautify.iters=50",
        "--json",
    ]
    out = subprocess.run(cmd, cwd=repo_root, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    written = json.loads(out.stdout.strip().splitlines()[-1])
    assert os.path.exists(written["completion_grid"]) and written["pairs"] == 2 * 10  # the --src grid
    assert sorted(os.listdir(written["beautify_dir"]))[:2] == ["face0_delta0.00.png", "face0_delta0.05.png"]
    lat = np.load(written["latents"])
    assert lat["z"].shape == (2, 64) and lat["beta"].shape == (2, 8)
    # facejax.api: the same recovery and sweep from the face files, as arrays
    from PIL import Image

    from facejax import api

    over = {"data.data_dir": synthetic_tfds, "beautify.alpha": 1.0, "beautify.iters": 50}
    model = api.load("beholder:synthetic", str(tmp_path / "run"), **over)
    sweep = model.translate(sorted(str(p) for p in faces.iterdir()))
    deltas = model.config.beautify.deltas
    assert sweep.shape == (2, len(deltas), 16, 16, 3) and sweep.dtype == np.uint8
    for j, d in enumerate(deltas):
        png = np.asarray(Image.open(os.path.join(written["beautify_dir"], f"face1_delta{d:.2f}.png")))
        np.testing.assert_allclose(sweep[1, j], png, atol=1)
    with pytest.raises(FacejaxError, match="--mask is for in-painting"):
        fam.sample_folders(None, base.FolderRequest(src=str(faces), mask="eyes"), str(tmp_path / "out2"))


@pytest.mark.slow  # two latent recoveries: 23 s on the loaded 2-core machine
def test_translate_at_one_beauty_delta_is_that_column_of_the_sweep(family_state):
    """translate_arrays(delta=d) (the demo page's beauty value) renders the recovered face at beta + d only: the
    column of d in the default sweep config.beautify.deltas, exactly."""
    fam, state = family_state
    face = [np.random.default_rng(5).integers(0, 255, (20, 20, 3), dtype=np.uint8)]
    sweep = fam.translate_arrays(state, face)
    deltas = fam.config.beautify.deltas
    assert sweep.shape == (1, len(deltas), 16, 16, 3) and deltas[4] == 0.2
    one = fam.translate_arrays(state, face, delta=0.2)
    assert one.shape == (1, 1, 16, 16, 3)
    np.testing.assert_array_equal(one[:, 0], sweep[:, 4])
