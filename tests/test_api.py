"""facejax.api (issue 22 item 4): a run or an original's files loaded from Python, its grids and translations as
uint8 arrays equal to what `facejax sample` writes; StarGAN v2 and BeautyGAN on tiny synthetic runs, the one-line
error of a family without the capability."""

import contextlib
import importlib
import io
import json
import pathlib

import numpy as np
import pytest
from PIL import Image
from tests.train.helpers import tiny_config

from facejax import api, configs
from facejax.errors import FacejaxError
from facejax.train import trainer


def command(name, config, **values):
    """`facejax <name>` in this process (its absl flags set to `values`, reset afterwards); its last JSON line."""
    from absl import flags

    from facejax.cli import COMMANDS

    module = importlib.import_module(f"facejax.commands.{COMMANDS[name]}")
    if not flags.FLAGS.is_parsed():
        flags.FLAGS.mark_as_parsed()
    out = io.StringIO()
    values = {"json": True, **values}
    try:
        for k, v in values.items():
            flags.FLAGS[k].value = v
        with contextlib.redirect_stdout(out):
            module.main(config, [])
    finally:
        for k in values:
            flags.FLAGS[k].value = flags.FLAGS[k].default
    return json.loads(out.getvalue().strip().splitlines()[-1])


def png(path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im)


def _images(folder, names, size=40, seed=0):
    rng = np.random.default_rng(seed)
    paths = []
    for name in names:
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(path)
        paths.append(str(path))
    return paths


@pytest.fixture(scope="module")
def stargan(tmp_path_factory):
    """(config, workdir) of a 2-step tiny StarGAN v2 run with checkpoints at steps 1 and 2."""
    root = tmp_path_factory.mktemp("api_sg")
    cfg = tiny_config(root / "tfds", total_steps=2, checkpoint_every=1, num_sample_images=2)
    trainer.train(cfg, str(root / "run"))
    return cfg, str(root / "run")


def test_load_gives_grids_and_translations_equal_to_the_sample_command(stargan, tmp_path):
    cfg, work = stargan
    src = _images(tmp_path / "src", ["a/x.png", "a/y.png", "a/z.png"])
    ref = _images(tmp_path / "ref", ["a/r.png", "b/s.png"], size=48, seed=1)
    written = command(
        "sample",
        cfg,
        workdir=work,
        out=str(tmp_path / "out"),
        src=str(tmp_path / "src"),
        ref=str(tmp_path / "ref"),
        grids=True,
    )
    assert written["pairs"] == 6

    model = api.load("stargan_v2:synthetic", work, **_overrides(cfg))
    assert model.step == 2 and model.family.name == "stargan_v2"
    grids = model.sample_grids()
    assert set(grids) == {"latent", "reference"}
    for name, grid in grids.items():
        assert grid.dtype == np.uint8 and grid.ndim == 3 and grid.shape[-1] == 3
        np.testing.assert_array_equal(grid, png(written[name]))

    out = model.translate(src, ref=ref, ref_domains=[0, 1])
    assert out.shape == (3, 2, 32, 32, 3) and out.dtype == np.uint8
    for i, s in enumerate("xyz"):
        for j, r in enumerate("rs"):
            np.testing.assert_array_equal(out[i, j], png(tmp_path / "out" / f"{s}__{r}.png"))
    # PIL images and uint8 arrays are read as the files are
    pil = [Image.open(p).convert("RGB") for p in src]
    np.testing.assert_array_equal(model.translate(pil, ref=[png(p) for p in ref], ref_domains=[0, 1]), out)
    np.testing.assert_array_equal(model.translate(png(src[1]), ref=ref[1], ref_domains=1), out[1:2, 1:2])

    with pytest.raises(FacejaxError, match="ref_domains"):
        model.translate(src, ref=ref)
    with pytest.raises(FacejaxError, match=r"takes no eyes .*ref_domains"):
        model.translate(src, ref=ref, ref_domains=0, eyes=np.zeros((3, 2, 2)))


def _overrides(cfg) -> dict:
    """tiny_config's changes to the synthetic preset, as api.load overrides."""
    from facejax.train.checkpoint import flatten_dict

    preset = flatten_dict(configs.load("stargan_v2:synthetic").to_dict())
    return {k: v for k, v in flatten_dict(cfg.to_dict()).items() if preset.get(k) != v}


def test_load_picks_a_step_and_names_the_missing_ones(stargan, tmp_path):
    cfg, work = stargan
    assert api.load(cfg, work, step=1).step == 1
    with pytest.raises(FacejaxError, match="no checkpoint of step 7; it has steps 1, 2"):
        api.load(cfg, work, step=7)
    with pytest.raises(FacejaxError, match="has no checkpoint"):
        api.load(cfg, str(tmp_path / "empty"))


def test_import_original_reads_exported_files_without_writing(stargan, tmp_path):
    pytest.importorskip("safetensors")
    cfg, work = stargan
    exported = command("export", cfg, workdir=work, out=str(tmp_path / "torch"), format="safetensors")
    assert exported["step"] == 2
    loaded = api.load(cfg, work)
    model = api.import_original(cfg, str(tmp_path / "torch"))
    assert model.step == 2 and model.workdir is None and model.read
    assert not (tmp_path / "torch" / "checkpoints").exists()
    src = _images(tmp_path / "src", ["x.png", "y.png"])
    np.testing.assert_array_equal(
        model.translate(src, ref=src, ref_domains=1), loaded.translate(src, ref=src, ref_domains=1)
    )
    # asked to, it writes a checkpoint `facejax train` resumes from (and never over an existing one)
    saved = api.import_original(cfg, str(tmp_path / "torch"), workdir=str(tmp_path / "imported"))
    assert (tmp_path / "imported" / "checkpoints" / "2").is_dir() and saved.workdir == str(tmp_path / "imported")
    assert api.load(cfg, str(tmp_path / "imported")).step == 2
    with pytest.raises(FacejaxError, match="already has checkpoints"):
        api.import_original(cfg, str(tmp_path / "torch"), workdir=str(tmp_path / "imported"))


def test_beautygan_translate_equals_its_sample_folders(tmp_path_factory, tmp_path):
    import tensorflow_datasets as tfds

    import facejax.datasets  # noqa: F401

    data_dir = str(tmp_path_factory.mktemp("tfds"))
    tfds.builder("synthetic_faces", config="gender_32", data_dir=data_dir).download_and_prepare()
    over = {"data.data_dir": data_dir, "total_steps": 1, "log_every": 1, "sample_every": 0, "num_sample_images": 2}
    cfg = configs.load("beautygan:synthetic", **over)
    work = str(tmp_path / "run")
    trainer.train(cfg, work)
    model = api.load("beautygan:synthetic", work, **over)
    src = _images(tmp_path / "src", ["a.png", "b.png"])
    ref = _images(tmp_path / "ref", ["r.png"], seed=2)
    written = command(
        "sample", cfg, workdir=work, out=str(tmp_path / "out"), src=str(tmp_path / "src"), ref=str(tmp_path / "ref")
    )
    assert written["pairs"] == 2
    makeup = model.translate(src, ref=ref)
    demakeup = model.translate(src, ref=ref, direction="demakeup")
    assert makeup.shape == (2, 1, 32, 32, 3) and demakeup.shape == (1, 2, 32, 32, 3)
    for i, s in enumerate("ab"):
        np.testing.assert_array_equal(makeup[i, 0], png(tmp_path / "out" / "makeup" / f"{s}__r.png"))
        np.testing.assert_array_equal(demakeup[0, i], png(tmp_path / "out" / "demakeup" / f"r__{s}.png"))
    assert set(model.sample_grids()) == {"makeup", "demakeup", "cycle"}


def test_a_family_without_the_capability_is_one_line(monkeypatch, tmp_path):
    monkeypatch.setenv("FACEJAX_FAMILIES", "toy=tests.toyfamily.family:Toy")
    cfg = configs.load_file(pathlib.Path(__file__).parent / "toyfamily" / "config.py", "small")

    class Bare:  # a family with the core only (the toy family translates)
        name = "bare"

    model = api.Model(cfg, Bare(), state=None, step=0)
    with pytest.raises(FacejaxError, match=r"family 'bare' has no translation of images in memory .*TranslatesArrays"):
        model.translate(np.zeros((1, 16, 16, 3), np.uint8))


def test_config_specs_and_bad_inputs(tmp_path):
    assert api.config("stargan_v2:synthetic", batch_size=2).batch_size == 2
    cfg = configs.load("stargan_v2:synthetic")
    copied = api.config(cfg, **{"model.dim_in": 8})
    assert copied.model.dim_in == 8 and cfg.model.dim_in != 8
    with pytest.raises(FacejaxError, match="unknown config field 'model.nope'"):
        api.config(cfg, **{"model.nope": 1})
    with pytest.raises(FacejaxError, match=r"src\[0\]: an image of shape \(4, 4\)"):
        api._images([np.zeros((4, 4))], "src")
    with pytest.raises(FacejaxError, match=r"src\[0\]: unreadable image"):
        api._images([str(tmp_path / "missing.png")], "src")
