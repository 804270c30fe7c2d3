"""Issue 25 items 1, 2 and 7, for every family: `facejax import` needs only the files of the networks sampling uses
(training-only frozen networks are asked for, in one line, when training starts), `facejax sample --src` runs on
the user's own folders with no dataset prepared (one PNG per result and a grid, equal to facejax.api
Model.translate), a folder that lacks a family's input is one line naming the file and how to make it, and the
README's "Your own photos, per family" commands run end to end.

The README's commands are parsed from README.md and run in-process, in a temporary folder (their relative paths land
there), with the README's preset replaced by the family's `synthetic` one (32 px, or the family's size) and
`data.data_dir` pointed at an empty folder: a command that read a dataset would stop with "not prepared". The
original's files are the family's own export of a freshly initialised state (the layouts whose files the interop
tests load strictly into the PyTorch reference modules), reduced to what the original releases (the generator)."""

import copy
import os
import pathlib
import re
import shlex

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image
from tests.test_api import command, png

from facejax import api, configs, registry
from facejax.errors import FacejaxError
from facejax.families import base
from facejax.train import trainer
from facejax.train.state import root_key_data

pytest.importorskip("torch")

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"
SECTION = "## Your own photos, per family"
FAMILIES = ("stargan_v2", "beautygan", "ipmnet", "gfc", "aesgan", "beholder")
SLOW = pytest.mark.slow  # the shared fixture imports and samples six families (minutes on 2 cores; cached after)
STEP = 7  # the step of the original's files the tests write

# The README's preset, run small: the family's synthetic preset plus these (training-only files switched on where the
# synthetic preset has none, so that import must go without them).
TINY = {
    "stargan_v2": {},
    "beautygan": {"lambda_vgg": 1.0},
    "ipmnet": {"identity.pretrained": True},
    "gfc": {},
    "aesgan": {},
    "beholder": {
        "beautify.alpha": 1.0,  # pixels only: no VGG-Face file in a test
        "beautify.face_weights": "",
        "beautify.iters": 2,
        "beautify.chunk": 2,
        "beautify.check_every": 1,
        "beautify.deltas": (0.0, 0.2),
    },
}
# The files the original releases (or that sampling needs): every other file of an export is removed.
RELEASED = {
    "stargan_v2": ("nets_ema",),
    "beautygan": ("G",),
    "ipmnet": ("gen",),
    "gfc": ("Model_G",),
    "aesgan": ("G",),
    "beholder": ("nets_ema",),
}
# Each family's photos (relative to its --src / --ref folders).
PHOTOS = {
    "stargan_v2": {"src": ("female/a.png", "male/b.png"), "ref": ("female/r.png", "male/s.png")},
    "beautygan": {"src": ("a.png", "b.png"), "ref": ("r.png",)},
    "ipmnet": {"src": ("images/a.png", "images/b.png"), "ref": ("r.png",)},
    "gfc": {"src": ("a.png", "b.png")},
    "aesgan": {"src": ("a.png", "b.png"), "ref": ("a.png", "b.png")},
    "beholder": {"src": ("a.png", "b.png")},
}
# config.<field> each family's training reads from a file; its import and sample go without it.
TRAINING_FIELDS = {"beautygan": "vgg_weights", "ipmnet": "identity.weights", "gfc": "parsing_checkpoint"}
TRAINING_FIELDS["aesgan"] = "aesthetic.checkpoint"


def readme_commands() -> dict:
    """{family: [argv of `facejax import ...`, argv of `facejax sample ...`]} of the README section."""
    text = README.read_text()
    assert text.count(f"\n{SECTION}\n") == 1, f"README.md has no (or two) {SECTION!r} sections"
    section = text.split(f"\n{SECTION}\n", 1)[1].split("\n## ", 1)[0]
    assert text.index(SECTION) < text.index("\n## Python API\n"), "the section goes just before ## Python API"
    out = {}
    for block in re.findall(r"```bash\n(.*?)```", section, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            if not line.strip():
                continue
            argv = shlex.split(line)
            assert argv[0] == "facejax", line
            spec = next(a.split("=", 1)[1] for a in argv if a.startswith("--config="))
            out.setdefault(spec.split(":")[0], []).append(argv)
    return out


def _typed(cfg, key, value):
    node = cfg
    for part in key.split(".")[:-1]:
        node = node[part]
    old = node[key.split(".")[-1]]
    if isinstance(value, str) and not isinstance(old, str):
        value = type(old)(value) if not isinstance(old, bool) else value.lower() in ("1", "true")
    configs.override(cfg, key, value)


def parse(argv, family: str, data_dir: str):
    """(verb, config, {flag: value}) of a README command, its preset replaced by the family's synthetic one."""
    verb, flags_, overrides = argv[1], {}, {}
    for arg in argv[2:]:
        key, _, value = arg[2:].partition("=")
        if key == "config":
            preset = configs.load(value)  # the README's preset exists and is the family's
            assert preset.family == family and value.split(":")[0] == family
        elif key.startswith("config."):
            overrides[key[len("config.") :]] = value
        else:
            flags_[key] = value
    cfg = configs.load(f"{family}:synthetic")
    for key, value in {**overrides, **TINY[family], "data.data_dir": data_dir}.items():
        _typed(cfg, key, value)
    return verb, cfg, flags_


def _write_images(folder, names, size, seed):
    rng = np.random.default_rng(seed)
    for name in names:
        path = pathlib.Path(folder) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(path)


def write_photos(family, flags_, size):
    """The family's photos (and its own inputs: IPM-Net's parsing maps, GFC's mask file) at the command's paths."""
    for i, side in enumerate(("src", "ref")):
        if side in PHOTOS[family]:
            _write_images(flags_[side], PHOTOS[family][side], size, seed=10 + i)
    if family == "ipmnet":
        rng = np.random.default_rng(3)
        for name in ("a", "b"):
            (pathlib.Path(flags_["src"]) / "segs").mkdir(parents=True, exist_ok=True)
            seg = rng.integers(0, 14, (size, size), dtype=np.uint8)
            Image.fromarray(seg).save(pathlib.Path(flags_["src"]) / "segs" / f"{name}.png")
    if family == "gfc":
        hole = np.zeros((size, size), np.uint8)
        hole[size // 4 : size // 2, size // 4 : 3 * size // 4] = 255
        pathlib.Path(flags_["mask"]).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(hole).save(flags_["mask"])


def write_original(cfg, folder: str, family: str) -> list[str]:
    """The original's files of a random state (no compilation: shapes from jax.eval_shape, normal(0, 0.05) weights,
    variances 1), only those the original releases; their names."""
    fam = registry.create(cfg)
    abstract = jax.eval_shape(fam.init, root_key_data(cfg.seed))
    rng = np.random.default_rng(cfg.seed + 1)

    def fill(path, a):
        if not jnp.issubdtype(a.dtype, jnp.floating):
            return np.zeros(a.shape, a.dtype)
        if "var" in jax.tree_util.keystr(path):
            return np.ones(a.shape, a.dtype)
        return rng.normal(0.0, 0.05, a.shape).astype(a.dtype)

    state = jax.tree_util.tree_map_with_path(fill, abstract).replace(step=np.asarray(STEP, np.int32))
    layout = fam.torch_layout()
    written = layout.write(layout.export(state), folder, STEP, "torch")
    for kind, path in written.items():
        if kind not in RELEASED[family]:
            os.remove(path)
    kept = [os.path.basename(p) for k, p in written.items() if k in RELEASED[family]]
    assert kept and sorted(os.listdir(folder)) == sorted(kept), (family, list(written))
    return kept


@pytest.fixture(scope="module")
def readme():
    cmds = readme_commands()
    assert set(cmds) == set(FAMILIES)
    for family, argvs in cmds.items():
        assert [a[1] for a in argvs] == ["import", "sample"], f"{family}: expected an import, then a sample"
    return cmds


@pytest.fixture(scope="module")
def photos_dir(tmp_path_factory, readme):
    """A folder where every README command has run: {family: (config, sample flags, import report, sample report)}."""
    root = tmp_path_factory.mktemp("own_photos")
    empty = root / "no_datasets"
    empty.mkdir()
    cwd = os.getcwd()
    os.chdir(root)
    done = {}
    try:
        for family in FAMILIES:
            (_, cfg, imp), (_, cfg_s, smp) = (parse(a, family, str(empty)) for a in readme[family])
            write_original(cfg, imp["from"], family)
            write_photos(family, smp, cfg.img_size + 8)
            report = command("import", cfg, **imp)
            sampled = command("sample", cfg_s, **smp)
            done[family] = (cfg_s, smp, report, sampled)
    finally:
        os.chdir(cwd)
    return root, done


@SLOW
def test_readme_commands_run_on_own_photos_without_a_dataset(photos_dir):
    """Each README pair of commands: the import reads only the released file, the sample writes one PNG per result and
    a grid, and no dataset grid (the data folder is empty)."""
    root, done = photos_dir
    for family, (cfg, smp, report, sampled) in done.items():
        assert report["step"] == STEP, family
        assert len(report["read"]) == len(RELEASED[family]), (family, report["read"])
        fam = registry.create(cfg)
        grid_key = "pairs_grid" if fam.folder_inputs.ref else "completion_grid"
        assert os.path.isfile(root / sampled[grid_key]), (family, sampled)
        n_src, n_ref = len(PHOTOS[family]["src"]), len(PHOTOS[family].get("ref", ()))
        per_src = len(cfg.beautify.deltas) if family == "beholder" else n_ref if fam.folder_inputs.ref else 1
        if family == "aesgan":
            per_src = 1  # one in-painting per face, with its chosen reference
        expected = n_src * per_src
        assert sampled["count"] == expected, (family, sampled)
        out = root / smp["out"]
        assert not [f for f in os.listdir(out) if re.match(r"\d{6}_", f)], f"{family}: a dataset grid was written"
        assert not os.listdir(root / "no_datasets")


def _same_as_translate(family, cfg, smp, root):
    """The PNGs `sample` wrote and api.load(...).translate of the same files."""
    model = api.load(cfg, str(root / smp["workdir"]))
    src_dir, out = root / smp["src"], root / smp["out"]
    srcs = [str(src_dir / n) for n in PHOTOS[family]["src"]]
    refs = [str(root / smp["ref"] / n) for n in PHOTOS[family].get("ref", ())]
    stem = lambda p: os.path.splitext(os.path.basename(p))[0]  # noqa: E731
    pairs = []
    if family == "stargan_v2":
        got = model.translate(srcs, ref=refs, ref_domains=[0, 1])  # female/ = 0, male/ = 1 (sorted folders)
        pairs = [(got[i, j], out / f"{stem(s)}__{stem(r)}.png") for i, s in enumerate(srcs) for j, r in enumerate(refs)]
    elif family in ("beautygan", "ipmnet"):
        extra = {}
        if family == "ipmnet":
            extra["parsing"] = [png(src_dir / "segs" / f"{stem(s)}.png") for s in srcs]
        got = model.translate(srcs, ref=refs, **extra)
        pairs = [
            (got[i, j], out / "makeup" / f"{stem(s)}__{stem(r)}.png")
            for i, s in enumerate(srcs)
            for j, r in enumerate(refs)
        ]
    elif family == "gfc":
        got = model.translate(srcs, mask=str(root / smp["mask"]))
        pairs = [(got[i], out / "completed" / f"{stem(s)}.png") for i, s in enumerate(srcs)]
    elif family == "aesgan":
        got = model.translate(srcs, ref=refs)  # reference='given': src[i] with the --ref face of its name
        pairs = [(got[i], out / "inpainted" / f"{stem(s)}.png") for i, s in enumerate(srcs)]
    elif family == "beholder":
        got = model.translate(srcs)
        pairs = [
            (got[i, j], out / "beautify" / f"{stem(s)}_delta{d:.2f}.png")
            for i, s in enumerate(srcs)
            for j, d in enumerate(cfg.beautify.deltas)
        ]
    assert pairs
    for arr, path in pairs:
        np.testing.assert_array_equal(arr, png(path), err_msg=f"{family}: {path}")


@SLOW
@pytest.mark.parametrize("family", FAMILIES)
def test_sampled_pngs_equal_model_translate(photos_dir, family):
    root, done = photos_dir
    cfg, smp, _, _ = done[family]
    _same_as_translate(family, cfg, smp, root)


@SLOW
@pytest.mark.parametrize("family", FAMILIES)
def test_training_start_asks_for_the_training_only_file(photos_dir, family):
    """Training from the import reads each training-only frozen network then: one line naming its config field."""
    root, done = photos_dir
    cfg, smp, report, _ = done[family]
    fam = registry.create(cfg)
    fields = {spec.field for spec in fam.training_files().values()} if base.has(fam, base.TrainingFiles) else set()
    if family not in TRAINING_FIELDS:
        assert not fields  # StarGAN v2's FAN is a sampling network (read at import); Beholder-GAN's GAN reads none
        return
    assert TRAINING_FIELDS[family] in fields
    assert any(f"config.{TRAINING_FIELDS[family]}" in n for n in report["notes"]), report["notes"]
    if "prerequisites" in cfg:  # a synthetic preset would train the missing network first (a prerequisite run)
        cfg = copy.deepcopy(cfg)
        cfg.prerequisites.train = False
    with pytest.raises(FacejaxError, match=re.escape(f"config.{TRAINING_FIELDS[family]}")) as e:
        trainer.train(cfg, str(root / smp["workdir"]))
    assert "\n" not in str(e.value)


@SLOW
def test_identity_weights_are_read_when_training_starts(photos_dir, tmp_path):
    """IPM-Net with identity.pretrained: the import holds zeros for R; training's start reads config.identity.weights
    into it (and a checkpoint it then saves keeps them)."""
    from facejax.export import files
    from facejax.export.convert import to_torch

    root, done = photos_dir
    cfg, smp, _, _ = done["ipmnet"]
    fam = registry.create(cfg)
    fresh = jax.jit(fam.init)(root_key_data(5))
    path = str(tmp_path / "identity.pth")
    files.save_torch(path, to_torch(jax.device_get(fresh.frozen["R"]), fam.identity_layout()))
    run = trainer.Run(cfg, str(root / smp["workdir"]))
    assert base.placeholder(run.restore_state().frozen["R"])
    cfg2 = cfg.copy_and_resolve_references()
    configs.override(cfg2, "identity.weights", path)
    run = trainer.Run(cfg2, str(root / smp["workdir"]))
    state = run.restore_or_init(None, training=True)
    run.checkpointer.close()
    for a, b in zip(jax.tree.leaves(state.frozen["R"]), jax.tree.leaves(fresh.frozen["R"])):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


@SLOW
def test_a_folder_without_the_familys_inputs_is_one_line(photos_dir, tmp_path):
    root, done = photos_dir
    flat = tmp_path / "flat"
    _write_images(flat, ("a.png", "b.png"), 32, seed=1)
    cases = {
        "stargan_v2": ({"src": str(flat)}, "has no domain sub-folders"),
        "beautygan": ({"ref": None}, "--src and --ref go together"),
        "ipmnet": ({"src": str(flat)}, r"no parsing map .*a\.png.*facejax prepare ipmnet_maps"),
        "gfc": ({"mask": str(tmp_path / "masks")}, r"no mask for --src image a\.png: expected .*a\.png"),
        "aesgan": ({"config": {"sample.reference": "auto"}}, r"config\.aesthetic\.checkpoint.*reference=given"),
        "beholder": ({"mask": "eyes"}, "it takes no --mask"),
    }
    (tmp_path / "masks").mkdir()
    Image.new("L", (32, 32)).save(tmp_path / "masks" / "b.png")
    for family, (change, message) in cases.items():
        cfg, smp, _, _ = done[family]
        cfg = cfg.copy_and_resolve_references()
        for k, v in change.pop("config", {}).items():
            configs.override(cfg, k, v)
        values = {k: (str(root / v) if k in ("workdir", "src", "ref", "mask") and v else v) for k, v in smp.items()}
        values["out"] = str(tmp_path / f"out_{family}")
        values.update(change)
        values = {k: v for k, v in values.items() if v is not None}
        with pytest.raises(FacejaxError, match=message) as e:
            command("sample", cfg, **values)
        assert "\n" not in str(e.value), family


@pytest.mark.parametrize("verb", ["import", "export"])
def test_help_names_the_selected_familys_files(verb):
    import importlib

    from facejax import cli

    module = importlib.import_module(f"facejax.commands.{cli.COMMANDS[verb]}")
    first = {
        "stargan_v2": "_nets_ema.ckpt",
        "beautygan": "{epoch}_{iter}_G.pth",
        "ipmnet": "gen_{step:08d}.pt",
        "gfc": "Model_G_iter_{step}.pth",
        "aesgan": "{step:06d}_G.pth",
        "beholder": "_nets_ema.ckpt",
    }
    for family in FAMILIES:
        text = cli.command_help(verb, module, configs.load(f"{family}:synthetic"))
        tail = text.split("--config.FIELD=VALUE", 1)[1]
        assert f"Family {family!r}" in tail and first[family] in tail, (family, tail)
        if family not in ("stargan_v2", "beholder"):
            assert "nets_ema" not in tail, family
        if family in TRAINING_FIELDS:
            assert "[training only]" in tail, family
    every = cli.command_help(verb, module, None).split("--config.FIELD=VALUE", 1)[1]
    for family in FAMILIES:
        assert f"  {family}: " in every and first[family] in every, family
