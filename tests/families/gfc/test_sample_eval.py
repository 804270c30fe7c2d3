"""GFC pictures and evaluation: the trainer's input / masked / completed grid, `facejax sample --src --mask` with a
mask file and a mask type, `facejax export` / `import` / `params`, and the per-mask-type protocol (PSNR / SSIM of
the hole, parsing agreement, FID) checked against a direct computation."""

import contextlib
import io
import json
import os

import jax
import numpy as np
import pytest
from PIL import Image

from facejax import configs, images
from facejax.families.gfc import data, evaluate, masks
from facejax.train import trainer


def command(name, config, **values):
    """`facejax <name>` in this process, its absl flags set to `values` and reset afterwards."""
    import importlib

    from absl import flags

    from facejax.cli import COMMANDS

    module = importlib.import_module(f"facejax.commands.{COMMANDS[name]}")
    if not flags.FLAGS.is_parsed():
        flags.FLAGS.mark_as_parsed()
    out = io.StringIO()
    try:
        for k, v in values.items():
            flags.FLAGS[k].value = v
        with contextlib.redirect_stdout(out):
            module.main(config, [])
    finally:
        for k in values:
            flags.FLAGS[k].value = flags.FLAGS[k].default
    return out.getvalue()


def test_training_writes_the_completion_grid(runs):
    _, _, cfg, work = runs
    with Image.open(os.path.join(work, "samples", "000003_completion_center.png")) as im:
        assert im.size[::-1] == (4 * 34 + 2, 3 * 34 + 2)


def test_sample_command_completes_a_folder(runs, tmp_path):
    _, _, cfg, work = runs
    src = tmp_path / "src"
    src.mkdir()
    rng = np.random.default_rng(0)
    for n in ("a", "b", "c"):
        Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(src / f"{n}.png")
    hole = np.zeros((32, 32), np.uint8)
    hole[4:12, 16:30] = 255
    Image.fromarray(hole).save(tmp_path / "hole.png")
    for spec, name in ((str(tmp_path / "hole.png"), "hole"), ("mouth", "mouth")):
        out = tmp_path / f"out_{name}"
        res = json.loads(
            command("sample", cfg, workdir=work, out=str(out), src=str(src), mask=spec, json=True)
            .strip()
            .splitlines()[-1]
        )
        assert res["images"] == 3 and res["mask"] == name and os.path.isfile(res["completion_grid"])
        assert sorted(os.listdir(out / "completed")) == ["a.png", "b.png", "c.png"]
        mask = masks.resolve(cfg, spec)[1][..., 0] > 0
        x = images.to_uint8(data.load_test_image(str(src / "b.png"), cfg))
        with Image.open(out / "completed" / "b.png") as im:
            done = np.asarray(im)
        np.testing.assert_array_equal(done[~mask], x[~mask])  # the context is the input's
        assert np.abs(done[mask].astype(int) - x[mask]).mean() > 1  # the hole is G's
    from facejax.errors import FacejaxError

    with pytest.raises(FacejaxError, match="takes no --ref"):
        command("sample", cfg, workdir=work, out=str(tmp_path / "x"), src=str(src), ref=str(src))


def test_api_translate_completes_as_the_sample_command(runs, tmp_path):
    """facejax.api Model.translate: a mask type, a mask file or an array give the PNGs `facejax sample` writes."""
    from facejax import api

    _, _, cfg, work = runs
    src = tmp_path / "src"
    src.mkdir()
    rng = np.random.default_rng(1)
    for n in ("a", "b"):
        Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(src / f"{n}.png")
    out = tmp_path / "out"
    command("sample", cfg, workdir=work, out=str(out), src=str(src), mask="mouth", json=True)
    model = api.load(cfg, work)
    paths = [str(src / "a.png"), str(src / "b.png")]
    done = model.translate(paths, mask="mouth")
    assert done.shape == (2, 32, 32, 3) and done.dtype == np.uint8
    for i, n in enumerate("ab"):
        with Image.open(out / "completed" / f"{n}.png") as im:
            np.testing.assert_array_equal(done[i], np.asarray(im))
    hole = masks.named_mask(cfg, "mouth")
    np.testing.assert_array_equal(model.translate(paths, mask=hole[..., 0]), done)
    Image.fromarray((hole[..., 0] * 255).astype(np.uint8)).save(tmp_path / "hole.png")
    np.testing.assert_array_equal(model.translate(paths, mask=str(tmp_path / "hole.png")), done)
    from facejax.errors import FacejaxError

    with pytest.raises(FacejaxError, match=r"mask of shape \(5, 5\)"):
        model.translate(paths, mask=np.ones((5, 5)))
    with pytest.raises(FacejaxError, match="takes no ref"):
        model.translate(paths, ref=paths)


def test_eval_and_sample_scale_a_file_as_the_demo(tmp_path, monkeypatch):
    """demo_face128.m's input, im2single(img) * 2 - 1, in the evaluation and in `facejax sample` alike: one file
    gives one input in both, and a low-contrast face is not stretched to [-1, 1] (config.data.test_minmax is the
    training-time min-max, as a switch)."""
    from facejax.errors import FacejaxError
    from facejax.families.gfc import sample

    rng = np.random.default_rng(0)
    img = rng.integers(100, 141, (32, 32, 3), dtype=np.uint8)  # levels 100..140 only
    (tmp_path / "faces" / "all").mkdir(parents=True)
    Image.fromarray(img).save(tmp_path / "faces" / "all" / "a.png")
    want = img.astype(np.float32) / np.float32(255) * np.float32(2) - np.float32(1)  # im2single(img) * 2 - 1
    seen = {}

    def fake_complete(family, g_params, x, mask):  # what `facejax sample` feeds G
        seen["x"] = x
        return x, x

    monkeypatch.setattr(sample, "complete", fake_complete)
    for minmax in (False, True):
        cfg = configs.load(
            "gfc:synthetic",
            **{
                "data.source": "folder",
                "data.eval_dir": str(tmp_path / "faces"),
                "data.train_dir": str(tmp_path / "faces"),
                "data.test_minmax": minmax,
            },
        )
        ev = data.eval_images(cfg)["x"]
        family = type("F", (), {"config": cfg})()
        sample.complete_folder(family, None, str(tmp_path / "faces" / "all"), "center", str(tmp_path / "out"))
        np.testing.assert_array_equal(seen["x"], ev)
        if not minmax:
            np.testing.assert_allclose(ev[0], want, rtol=0, atol=1e-7)
            assert ev.max() - ev.min() < 0.32  # 40 levels of 255: not stretched
        else:
            assert ev.min() == -1 and ev.max() == 1
    # another size is resized first, identically in both
    Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(tmp_path / "faces" / "all" / "b.png")
    ev = data.eval_images(cfg)["x"]
    sample.complete_folder(family, None, str(tmp_path / "faces" / "all"), "center", str(tmp_path / "out"))
    assert ev.shape == (2, 32, 32, 3)
    np.testing.assert_array_equal(seen["x"], ev)
    (tmp_path / "junk.png").write_bytes(b"not an image")
    with pytest.raises(FacejaxError, match=r"unreadable image .*junk\.png.*expected a PNG or JPEG"):
        data.load_test_image(str(tmp_path / "junk.png"), cfg)


def test_export_import_and_params_commands(runs, tmp_path):
    pytest.importorskip("torch")
    _, _, cfg, work = runs
    command("export", cfg, workdir=work, out=str(tmp_path / "pt"))
    assert sorted(os.listdir(tmp_path / "pt")) == [
        "Model_G_iter_3.pth",
        "Model_globalD_iter_3.pth",
        "Model_localD_iter_3.pth",
        "Model_parsing_iter_3.pth",
    ]
    res = json.loads(
        command("import", cfg, workdir=str(tmp_path / "new"), json=True, **{"from": str(tmp_path / "pt")})
        .strip()
        .splitlines()[-1]
    )
    assert res["step"] == 3
    old = jax.device_get(trainer.Run(cfg, work).restore_state())
    new = jax.device_get(trainer.Run(cfg, str(tmp_path / "new")).restore_state())
    for net in ("G", "D_local", "D_global", "P"):
        for a, b in zip(jax.tree.leaves(old.sampling_params()[net]), jax.tree.leaves(new.sampling_params()[net])):
            np.testing.assert_array_equal(a, b)
    counts = json.loads(command("params", configs.load("gfc:celeba"), json=True).strip().splitlines()[-1])
    assert counts["G"] == 137_071_331 and counts["D_local"] == 7_130_689


def _features(x):
    n, h, w, c = x.shape
    return x.reshape(n, 4, h // 4, 4, w // 4, c).mean(axis=(2, 4)).reshape(n, -1)


def test_evaluation_per_mask_type_matches_a_direct_computation(runs, tmp_path):
    _, _, cfg, work = runs
    cfg = configs.load(
        "gfc:synthetic",
        **{
            "data.data_dir": cfg.data.data_dir,
            "parsing_checkpoint": cfg.parsing_checkpoint,
            "eval.mask_types": "eyes,lower_half",
            "eval.max_images": 12,
            "eval.batch_size": 4,
            "eval.fid_method": "eigh",
        },
    )
    run = trainer.Run(cfg, work)
    state = jax.device_get(run.restore_state())
    ev = run.family.evaluator(features=_features)
    res = ev(state, 3, str(tmp_path / "eval"))
    m = res["metrics"]
    for t in ("eyes", "lower_half"):
        for k in ("PSNR", "SSIM", "parsing_acc", "parsing_mIoU", "FID", "noise_fill_PSNR"):
            assert np.isfinite(m[f"{t}/{k}"]), (t, k)
    assert m["PSNR/mean"] == pytest.approx((m["eyes/PSNR"] + m["lower_half/PSNR"]) / 2)
    # the sweep report's columns: PSNR and SSIM per mask type, then the means, parsing agreement and FID
    from facejax.train import report

    cols = report.columns_of([report.RunResult("r", "", metrics=m)], type(run.family).headline_metrics)
    assert [c[0] for c in cols] == [
        "eyes/PSNR",
        "lower_half/PSNR",
        "eyes/SSIM",
        "lower_half/SSIM",
        "PSNR/mean",
        "SSIM/mean",
        "parsing_mIoU/mean",
        "FID/mean",
    ]
    assert all(k in m for k, _, _ in cols)
    # eyes by hand: the completed images, PSNR over the hole's pixels
    x = data.eval_images(cfg, 12)["x"]
    from facejax.families.gfc import sample

    mask = masks.named_mask(cfg, "eyes")
    _, comp = sample.complete(run.family, state.params["G"], x, mask, chunk=4)
    hole = mask[..., 0] > 0
    psnr = np.mean(10 * np.log10(4.0 / np.mean((comp - x)[:, hole] ** 2, axis=(1, 2))))
    assert m["eyes/PSNR"] == pytest.approx(psnr, rel=1e-5)
    assert m["eyes/PSNR"] > m["eyes/noise_fill_PSNR"]
    assert evaluate.parsing_agreement(np.ones((4, 4)), np.ones((4, 4)), np.ones((4, 4, 1)), 11) == (1.0, 1.0)
    assert "| eyes |" in open(res["files"]["table"]).read() and len(res["files"]["grids"]) == 2
    run.checkpointer.close()
