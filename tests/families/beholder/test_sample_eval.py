"""Sampling (beauty-level sweeps), beautification by latent recovery (the original's objective, schedule and
stochastic clipping; VGG-Face features against a torch transcription), the paper's metrics (SWD, MS-SSIM, FID),
and one CLI smoke: `facejax sample --src` on a checkpoint."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import jax
import jax.numpy as jnp

from facejax import images, registry
from facejax.errors import FacejaxError
from facejax.families.beholder import beautify, face_features, sample
from facejax.metrics import pggan
from facejax.train.checkpoint import Checkpointer
from facejax.train.state import root_key_data
from tests.families.beholder.conftest import gan_config

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
    start = np.mean((np.asarray(jax.jit(fam.render)(state.ema["G"], np.tile(z0, (4, 1)), np.tile(b0, (4, 1))))
                     - faces) ** 2, axis=(1, 2, 3))
    done = 10**6  # a finished run's step: G at full resolution
    z, beta, loss = rec.recover(state.ema["G"], faces[:3], done)  # 3 faces: padded to the 4 devices
    assert z.shape == (3, fam.latent_size) and loss.shape == (3,)
    assert np.all(loss < 0.8 * start[:3]), (loss, start)  # measured 0.27 -> 0.14, 0.29 -> 0.21, 0.35 -> 0.21
    assert np.all(np.abs(z) <= 1) and np.all((beta >= -1) & (beta <= 1))  # stochastic clipping (beta: the bug)
    sweep = rec.render(state.ema["G"], z, beta, done, deltas=(0.0, 0.2))
    assert sweep.shape == (3, 2, 16, 16, 3)
    again = np.mean((sweep[:, 0] - faces[:3]) ** 2, axis=(1, 2, 3))
    np.testing.assert_allclose(again, loss, rtol=1e-4)  # the kept (z, beta) is the one of the reported loss
    orig = beautify.Recovery(registry.create(gan_config(**{"beautify.alpha": 1.0, "beautify.lr_drop_iter": 1000,
                                                           "beautify.lr_halve_every": 20_000})))
    lr = [float(orig.lr(jnp.int32(i))) for i in (0, 999, 1000, 19_999, 20_000, 40_000)]
    assert lr == pytest.approx([0.1, 0.1, 0.02, 0.02, 0.01, 0.005])  # the original: /5 at 1000, /2 every 20000


def test_face_features_match_a_torch_vgg_face(tmp_path):
    torch = pytest.importorskip("torch")
    import torch.nn.functional as F

    path = str(tmp_path / "vgg_face_dag.pth")
    sd = _face_file(path)
    params = face_features.load(path, 32)
    x = np.random.default_rng(0).uniform(-1, 1, (2, 16, 16, 3)).astype(np.float32)
    got = np.asarray(jax.jit(lambda p, x: face_features.features(p, x, 32))(params, x))
    t = F.interpolate(torch.from_numpy(x.transpose(0, 3, 1, 2).copy()), size=32, mode="bilinear", align_corners=False)
    t = (t + 1) * 127.5 - torch.tensor(face_features.MEAN)[None, :, None, None]
    for name in face_features.CONVS:
        t = F.relu(F.conv2d(t, sd[f"{name}.weight"], sd[f"{name}.bias"], padding=1))
        if name.endswith(("1_2", "2_2", "3_3", "4_3", "5_3")):
            t = F.max_pool2d(t, 2, 2)
    t = t.flatten(1)
    for name in ("fc6", "fc7", "fc8"):
        t = F.linear(t, sd[f"{name}.weight"], sd[f"{name}.bias"])
        t = F.relu(t) if name != "fc8" else t
    np.testing.assert_allclose(got, t.numpy(), rtol=1e-4, atol=1e-4 * np.abs(t.numpy()).max())
    with pytest.raises(FacejaxError, match="vgg_face_dag.pth.*config.beautify.alpha=1"):
        face_features.load(str(tmp_path / "missing.pth"), 224)
    with pytest.raises(FacejaxError, match="fc6.weight takes 8 inputs, expected 392"):
        face_features.load(path, 224)
    fam = registry.create(gan_config(**{"beautify.alpha": 0.7, "beautify.face_weights": "",
                                        "beautify.face_size": 32}))
    with pytest.raises(FacejaxError, match="config.beautify.face_weights"):
        beautify.Recovery(fam)
    rec = beautify.Recovery(fam, face_params=params)  # pixel + face-feature loss runs
    z, _, loss = rec.recover(jax.jit(fam.init)(root_key_data(0)).ema["G"], x[:1], 0)
    assert np.isfinite(loss).all()


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
    res = ev(state.ema, 0, str(tmp_path))
    m = res["metrics"]
    assert set(m) == {"SWDx1e3_16", "SWDx1e3_avg", "MS-SSIM", "FID"}
    assert all(np.isfinite(v) for v in m.values()) and m["SWDx1e3_16"] > 0
    assert "| facejax (step 0, 16 px) |" in res["table"] and os.path.exists(res["files"]["table"])
    from facejax.families.beholder.evaluate import table

    t = table({"step": 1, "img_size": 128, **{f"SWDx1e3_{r}": 1.0 for r in (16, 32, 64, 128)}, "SWDx1e3_avg": 1.0,
               "MS-SSIM": 0.3})
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
    cmd = [sys.executable, "-m", "facejax.cli", "sample", "--config=configs/beholder.py:synthetic",
           f"--config.data.data_dir={synthetic_tfds}", f"--workdir={tmp_path / 'run'}", f"--out={tmp_path / 'out'}",
           f"--src={faces}", "--config.beautify.alpha=1.0", "--config.beautify.iters=50", "--json"]
    out = subprocess.run(cmd, cwd=repo_root, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    written = json.loads(out.stdout.strip().splitlines()[-1])
    assert os.path.exists(written["completion_grid"]) and written["pairs"] == 2 * 10  # the --src grid
    assert sorted(os.listdir(written["beautify_dir"]))[:2] == ["face0_delta0.00.png", "face0_delta0.05.png"]
    lat = np.load(written["latents"])
    assert lat["z"].shape == (2, 64) and lat["beta"].shape == (2, 8)
    with pytest.raises(FacejaxError, match="--mask is for in-painting"):
        fam.beautify_folder(None, str(faces), "eyes", str(tmp_path / "out2"))
