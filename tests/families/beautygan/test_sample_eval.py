"""BeautyGAN pictures and evaluation: the trainer's sample grids, `facejax sample --src/--ref` in both directions,
`facejax export` / `facejax import` through the family's own files, `facejax params`, and IPM-Net's protocol
(random references per run, mean of runs) checked against a direct computation."""

import contextlib
import io
import json
import os

import jax
import numpy as np
import pytest
from PIL import Image
from tests.families.beautygan.conftest import PRESET_OVERRIDES

from facejax import configs, images, registry
from facejax.errors import FacejaxError
from facejax.families.beautygan import evaluate
from facejax.metrics import fid, lpips
from facejax.train import trainer


def command(name, config, **values):
    """`facejax <name>` run in this process: the command module's main(config, []) with its absl flags set to
    `values` (and back to their defaults afterwards); returns what it printed."""
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


@pytest.fixture(scope="module")
def trained(synthetic_tfds, tmp_path_factory):
    """A 2-step run of the synthetic preset, with its sample grids and a checkpoint."""
    work = tmp_path_factory.mktemp("bg_run")
    cfg = configs.load(
        "beautygan:synthetic",
        **{
            **PRESET_OVERRIDES,
            "data.data_dir": synthetic_tfds,
            "total_steps": 2,
            "sample_every": 2,
            "num_sample_images": 4,
        },
    )
    trainer.train(cfg, str(work))
    return cfg, str(work)


def test_training_writes_makeup_demakeup_and_cycle_grids(trained):
    cfg, work = trained
    tile = 32 + 2
    for name, shape in (
        ("makeup", (5 * tile + 2, 5 * tile + 2)),
        ("demakeup", (5 * tile + 2, 5 * tile + 2)),
        ("cycle", (4 * tile + 2, 6 * tile + 2)),
    ):
        with Image.open(os.path.join(work, "samples", f"000002_{name}.png")) as im:
            assert im.size[::-1] == shape, name


def test_sample_command_translates_folder_pairs_both_ways(trained, tmp_path):
    cfg, work = trained
    src, ref = tmp_path / "src", tmp_path / "ref"
    src.mkdir()
    ref.mkdir()
    rng = np.random.default_rng(0)
    for d, names in ((src, ("a", "b", "c")), (ref, ("r1", "r2"))):
        for n in names:
            Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(d / f"{n}.png")
    out = tmp_path / "out"
    stdout = command("sample", cfg, workdir=work, out=str(out), src=str(src), ref=str(ref), json=True)
    res = json.loads(stdout.strip().splitlines()[-1])
    assert res["pairs"] == 6 and os.path.isfile(res["pairs_grid"]) and os.path.isfile(res["demakeup_grid"])
    assert sorted(os.listdir(out / "makeup")) == [f"{s}__{r}.png" for s in "abc" for r in ("r1", "r2")]
    assert sorted(os.listdir(out / "demakeup")) == [f"{r}__{s}.png" for r in ("r1", "r2") for s in "abc"]
    # the files are the generator's two heads on that pair
    family = registry.create(cfg)
    state = trainer.Run(cfg, work).restore_state()
    from facejax.input.sources import read_image

    fa, fb = family.generate(
        jax.device_get(state.params["G"]),
        read_image(str(src / "b.png"), 32)[None],
        read_image(str(ref / "r2.png"), 32)[None],
    )
    with Image.open(out / "makeup" / "b__r2.png") as im:
        np.testing.assert_allclose(np.asarray(im), images.to_uint8(fa)[0], atol=1)
    with Image.open(out / "demakeup" / "r2__b.png") as im:
        np.testing.assert_allclose(np.asarray(im), images.to_uint8(fb)[0], atol=1)
    with pytest.raises(FacejaxError, match=r"--src folder .*nowhere' is not a folder"):
        command("sample", cfg, workdir=work, out=str(out), src=str(tmp_path / "nowhere"), ref=str(ref))


def test_export_import_and_params_commands(trained, tmp_path):
    pytest.importorskip("torch")
    cfg, work = trained
    stdout = command("export", cfg, workdir=work, out=str(tmp_path / "pt"), json=True)
    assert sorted(os.listdir(tmp_path / "pt")) == ["1_2_D_MAKEMIX.pth", "1_2_D_SYMIX.pth", "1_2_G.pth"]
    stdout = command("import", cfg, workdir=str(tmp_path / "new"), json=True, **{"from": str(tmp_path / "pt")})
    res = json.loads(stdout.strip().splitlines()[-1])
    assert res["step"] == 2 and any("optimizer" in n for n in res["notes"])
    old = trainer.Run(cfg, work).restore_state()
    new = trainer.Run(cfg, str(tmp_path / "new")).restore_state()
    assert int(new.step) == 2
    for net in ("G", "D_A", "D_B"):
        for a, b in zip(
            jax.tree.leaves(jax.device_get(old.params[net])), jax.tree.leaves(jax.device_get(new.params[net]))
        ):
            np.testing.assert_array_equal(a, b)
    with pytest.raises(FacejaxError, match="already has checkpoints"):
        command("import", cfg, workdir=str(tmp_path / "new"), **{"from": str(tmp_path / "pt")})
    stdout = command("params", configs.load("beautygan:mt"), json=True)
    assert json.loads(stdout.strip().splitlines()[-1]) == {"G": 9_237_376, "D_A": 2_764_736, "D_B": 2_764_736}


# ----------------------------------------------------------------------------------- evaluation


@pytest.fixture(scope="module")
def alexnet_npz(tmp_path_factory):
    """Random AlexNet `features` weights as an .npz of torchvision's names (read without torch)."""
    rng = np.random.default_rng(0)
    arrays = {}
    for k, shape in lpips.alexnet_shapes().items():
        fan_in = int(np.prod(shape[1:])) if len(shape) == 4 else 1
        arrays[k] = (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)
    path = tmp_path_factory.mktemp("w") / "alexnet.npz"
    np.savez(path, **arrays)
    lin = {k: np.abs(rng.standard_normal(s)).astype(np.float32) for k, s in lpips.lin_shapes().items()}
    lin_path = tmp_path_factory.mktemp("w") / "alex_lin.npz"
    np.savez(lin_path, **lin)
    return str(path), str(lin_path)


def _features(x):
    """A cheap stand-in for Inception: 4x4-pooled colours of [0, 1] images (the protocol is what is tested)."""
    n, h, w, c = x.shape
    return x.reshape(n, 4, h // 4, 4, w // 4, c).mean(axis=(2, 4)).reshape(n, -1)


def test_evaluation_protocol_is_the_mean_over_runs_of_random_references(trained, alexnet_npz, tmp_path):
    cfg, work = trained
    alex, lin = alexnet_npz
    cfg = configs.load(
        "beautygan:synthetic",
        **{
            **PRESET_OVERRIDES,
            "data.data_dir": cfg.data.data_dir,
            "eval.runs": 2,
            "eval.max_sources": 8,
            "eval.max_references": 12,
            "eval.alexnet_weights": alex,
            "eval.lpips_lin_weights": lin,
            "eval.fid_method": "eigh",
            "eval.batch_size": 4,
        },
    )
    family = registry.create(cfg)
    state = jax.device_get(trainer.Run(cfg, work).restore_state())
    ev = evaluate.Evaluator(family, features=_features)
    res = ev(state, 2, str(tmp_path / "eval"))
    m, runs = res["metrics"], res["report"]["runs"]
    assert len(runs["FID"]) == 2 and m["FID/mean"] == pytest.approx(np.mean(runs["FID"]))
    assert m["LPIPS/mean"] == pytest.approx(np.mean(runs["LPIPS"]))
    # run 1 by hand: its references, the outputs as uint8, features, FID against the references; LPIPS pairs
    ref_idx, shift = ev.run_draws(1)
    assert not np.array_equal(ref_idx, ev.run_draws(0)[0])
    x = ev.sources.astype(np.float32) / 127.5 - 1
    y = ev.references[ref_idx].astype(np.float32) / 127.5 - 1
    outs = images.to_uint8(family.transfer(state.params, x, y))
    stats = [fid.RunningStats(48), fid.RunningStats(48)]
    stats[0].update(np.asarray(_features(ev.references.astype(np.float32) / 255)))
    stats[1].update(np.asarray(_features(outs.astype(np.float32) / 255)))
    assert runs["FID"][1] == pytest.approx(fid.fid_from_stats(stats[0], stats[1], "eigh"), rel=1e-5)
    params = lpips.load_params(alex, lin)
    d = lpips.distance(
        params, outs.astype(np.float32) / 127.5 - 1, np.roll(outs, -shift, axis=0).astype(np.float32) / 127.5 - 1
    )
    assert runs["LPIPS"][1] == pytest.approx(float(np.mean(d)), rel=1e-5)
    assert m["baseline/sources/FID"] > 0 and m["baseline/references/LPIPS"] > 0
    assert os.path.isfile(res["files"]["json"]) and res["files"]["grids"]
    assert "| BeautyGAN (facejax) |" in open(res["files"]["table"]).read()


def test_evaluation_names_the_missing_weight_files(trained, tmp_path):
    cfg, _ = trained
    family = registry.create(configs.load("beautygan:synthetic", **{"eval.inception_weights": ""}))
    with pytest.raises(FacejaxError, match=r"config\.eval\.inception_weights.*pt_inception-2015-12-05"):
        evaluate.Evaluator(family)
