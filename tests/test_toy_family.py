"""Item 5 of issue 20: a family that lives only in the tests (tests/toyfamily/: a folder, a config file, and a
registry entry through FACEJAX_FAMILIES) is served by every command with no change outside its folder: train,
sample (grids and the user's folders), eval, export/import, bench (and --against=torch), params, and a 2-run
launch/sweep.py with its report."""

import contextlib
import importlib
import io
import json
import os
import pathlib
import sys

import jax
import numpy as np
import pytest
from PIL import Image

REPO = pathlib.Path(__file__).resolve().parents[1]
CONFIG = REPO / "tests" / "toyfamily" / "config.py"
ENTRY = "toy=tests.toyfamily.family:Toy"


def command(name, config, args=(), **values):
    """`facejax <name>` in this process (its absl flags set to `values`, reset afterwards); its stdout."""
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
            module.main(config, list(args))
    finally:
        for k in values:
            flags.FLAGS[k].value = flags.FLAGS[k].default
    return out.getvalue()


def last_json(stdout: str) -> dict:
    return json.loads(stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    """(data_dir of synthetic_faces/gender_32, config factory, trained workdir): the toy family registered, one
    2-step run trained through `facejax train`."""
    import tensorflow_datasets as tfds

    import facejax.datasets  # noqa: F401
    from facejax import configs

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FACEJAX_FAMILIES", ENTRY)
        data_dir = str(tmp_path_factory.mktemp("tfds"))
        tfds.builder("synthetic_faces", config="gender_32", data_dir=data_dir).download_and_prepare()

        def cfg(preset="small", **overrides):
            c = configs.load_file(CONFIG, preset, **{"data.data_dir": data_dir, **overrides})
            c.lock()
            return c

        work = tmp_path_factory.mktemp("toy") / "run"
        out = command("train", cfg(), workdir=str(work))
        yield data_dir, cfg, work, out


def test_train_writes_checkpoints_and_grids(toy):
    _, _, work, out = toy
    assert "trained to step 2" in out
    assert (work / "checkpoints" / "2").is_dir()
    grid = np.asarray(Image.open(work / "samples" / "000002_fake.png"))
    assert grid.shape == (16, 4 * 16, 3)  # num_sample_images=4 faces of 16 px in a row


def test_params(toy):
    _, cfg, _, _ = toy
    counts = last_json(command("params", cfg(), json=True))
    ch, z, k = 8, 8, 2
    assert counts == {
        "G": (z + k) * 16 * ch + 16 * ch + ch * 3 * 9 + 3,
        "D": 3 * ch * 16 + ch + ch * ch * 16 + ch + ch * k + k,
    }
    assert sum(counts.values()) < 5000


def test_sample_grids_and_folders(toy, tmp_path):
    from facejax.errors import FacejaxError

    _, cfg, work, _ = toy
    for folder, names in (("src", ("a", "b")), ("ref", ("r",))):
        (tmp_path / folder).mkdir()
        for n in names:
            Image.new("RGB", (20, 24), (200, 10, 10)).save(tmp_path / folder / f"{n}.png")
    out = tmp_path / "out"
    res = last_json(
        command(
            "sample",
            cfg(),
            workdir=str(work),
            out=str(out),
            src=str(tmp_path / "src"),
            ref=str(tmp_path / "ref"),
            grids=True,  # with --src, the dataset grids only when asked
            json=True,
        )
    )
    assert res["pairs"] == res["count"] == 2 and os.path.isfile(res["pairs_grid"])
    assert np.asarray(Image.open(res["fake"])).shape == (16, 64, 3)
    pair = np.asarray(Image.open(out / "a__r.png"))
    assert pair.shape == (16, 32, 3) and tuple(pair[0, 0]) == (200, 10, 10)  # the user's image, then G's
    assert np.asarray(Image.open(res["pairs_grid"])).shape == (32, 32, 3)
    res = last_json(
        command("sample", cfg(), workdir=str(work), out=str(tmp_path / "o2"), src=str(tmp_path / "src"), json=True)
    )  # --ref is optional for this family
    assert res["pairs"] == 2 and sorted(os.listdir(tmp_path / "o2"))[:1] == ["a.png"]  # no dataset grid unasked
    assert "fake" not in res
    with pytest.raises(FacejaxError, match="family toy: give --src=FOLDER \\[--ref=FOLDER\\]; it takes no --mask"):
        command("sample", cfg(), workdir=str(work), out=str(tmp_path / "x"), src=str(tmp_path / "src"), mask="eyes")


def test_eval_writes_the_headline_metrics(toy):
    _, cfg, work, _ = toy
    res = last_json(command("eval", cfg(), workdir=str(work), json=True))
    saved = json.loads((work / "eval" / "000002" / "metrics.json").read_text())
    assert 0 < res["metrics"]["l1/mean"] == saved["metrics"]["l1/mean"] < 2
    assert (work / "eval" / "000002" / "metrics.md").read_text().startswith("| metric | value |")
    assert np.asarray(Image.open(res["files"]["grids"][0])).shape == (16, 8 * 16, 3)


def test_export_then_import_round_trip(toy, tmp_path):
    from facejax.export import files
    from facejax.train import trainer

    _, cfg, work, _ = toy
    fmt = "torch" if files.EXTENSIONS and _has_torch() else "safetensors"
    out = tmp_path / "export"
    written = last_json(command("export", cfg(), workdir=str(work), out=str(out), format=fmt, json=True))
    assert written["step"] == 2 and os.path.isfile(written["nets"])
    work2 = tmp_path / "imported"
    res = last_json(command("import", cfg(), workdir=str(work2), json=True, **{"from": str(out)}))
    assert res["step"] == 2 and res["read"] == {"nets": written["nets"]}
    a = trainer.Run(cfg(), str(work)).restore_state()
    b = trainer.Run(cfg(), str(work2)).restore_state()
    assert int(b.step) == 2
    jax.tree.map(np.testing.assert_array_equal, jax.device_get(a.params), jax.device_get(b.params))
    if fmt == "torch":  # the original's modules load the file strictly and draw what facejax draws
        import torch
        from tests.toyfamily import family as toy_family
        from tests.toyfamily import torch_ref

        sd = torch.load(written["nets"], weights_only=True)
        g = torch_ref.Generator()
        g.load_state_dict(sd["G"], strict=True)
        d = torch_ref.Discriminator()
        d.load_state_dict(sd["D"], strict=True)
        fam = toy_family.Toy(cfg())
        inputs = fam.sample_inputs(3)
        want = np.asarray(fam.generate(jax.device_get(a.params), inputs["z"], inputs["y"]))
        with torch.no_grad():
            got = g(torch.from_numpy(inputs["z"]), torch.from_numpy(inputs["y"]).long()).permute(0, 2, 3, 1).numpy()
        np.testing.assert_allclose(got, want, atol=1e-5)


def _has_torch() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def test_bench_and_the_torch_baseline(toy):
    from facejax.bench import core
    from facejax.errors import FacejaxError

    _, cfg, _, _ = toy
    against = _has_torch()
    r = core.bench_step(cfg(), 2, 1, against_torch=against)
    assert r["family"] == "toy" and r["images_per_s"] > 0 and r["losses_finite"] and r["donated"]
    if against:
        assert r["torch_images_per_s"] > 0 and r["speedup"] > 0
        with pytest.raises(FacejaxError, match="toy PyTorch baseline runs float32 only"):
            core.bench_step(cfg(dtype="bfloat16"), 1, 0, against_torch=True)  # before anything compiles


def _sweep_in_process(monkeypatch):
    """launch/sweep.py with its `facejax` commands run in this process; (the module, the commands run)."""
    import ast

    from facejax import configs

    sys.path.insert(0, str(REPO / "launch"))
    import sweep

    ran = []

    def run_in_process(cmd, dry, log=None):
        assert cmd[1:3] == ["-m", "facejax.cli"], cmd
        ran.append(cmd[3])
        args = dict(a[2:].split("=", 1) for a in cmd[4:])
        path, _, preset = args.pop("config").partition(":")
        overrides = {}
        for k, v in args.items():
            if k.startswith("config."):
                try:
                    overrides[k[len("config.") :]] = ast.literal_eval(v)
                except (ValueError, SyntaxError):
                    overrides[k[len("config.") :]] = v
        c = configs.load_file(path, preset, **overrides)
        c.lock()
        print(command(cmd[3], c, workdir=args["workdir"]))

    monkeypatch.setenv("FACEJAX_FAMILIES", ENTRY)
    monkeypatch.setattr(sweep, "_run", run_in_process)
    return sweep, ran


def test_sweep_of_two_rows_reports_the_headline_metrics(toy, tmp_path, monkeypatch, capsys):
    """launch/sweep.py's main (plan, train and eval of each row, report), its `facejax` commands run in this
    process (their --config and --config.FIELD arguments read as the CLI reads them) instead of a subprocess each
    (what a subprocess adds is tested in tests/launch/test_sweep.py)."""
    sweep, ran = _sweep_in_process(monkeypatch)
    data_dir = toy[0]
    work = tmp_path / "sweep"
    rc = sweep.main(
        [
            f"--config={CONFIG}",
            f"--workdir={work}",
            "--set",
            f"data.data_dir={data_dir}",
            "--set",
            "total_steps=1",
            "--set",
            "sample_every=1",
            "--set",
            "checkpoint_every=1",
        ]
    )
    out = capsys.readouterr().out
    assert rc == 0 and ran == ["train", "eval", "train", "eval"], out[-3000:]
    assert "[sweep] 1/2 small (Toy baseline)" in out and "[sweep] 2/2 wide" in out
    md = (work / "report" / "report.md").read_text()
    assert "| run | configuration | L1 to eval images | evaluated at step |" in md
    assert "| small | Toy baseline | " in md and "| wide | + wider networks | " in md
    results = json.loads((work / "report" / "results.json").read_text())
    assert [r["label"] for r in results] == ["Toy baseline", "+ wider networks"]
    assert all(r["eval_step"] == 1 and 0 < r["metrics"]["l1/mean"] < 2 for r in results)


def test_sweep_with_seeds_reports_mean_and_standard_deviation(toy, tmp_path, monkeypatch, capsys):
    """--seeds=2: each configuration trained and evaluated with config.seed 0 and 1; the report's first table holds
    the mean and standard deviation over the seeds (equal to the per-seed numbers'), metrics.png draws them."""
    sweep, ran = _sweep_in_process(monkeypatch)
    work = tmp_path / "sweep"
    sets = ["data.data_dir=" + toy[0], "total_steps=1", "sample_every=1", "checkpoint_every=1"]
    rc = sweep.main(
        [f"--config={CONFIG}", f"--workdir={work}", "--presets=small", "--seeds=2"]
        + [a for s in sets for a in ("--set", s)]
    )
    out = capsys.readouterr().out
    assert rc == 0 and ran == ["train", "eval", "train", "eval"], out[-3000:]
    assert "[sweep] 1/2 small__seed=0" in out and "[sweep] 2/2 small__seed=1" in out
    results = json.loads((work / "report" / "results.json").read_text())
    l1 = [r["metrics"]["l1/mean"] for r in results]
    assert [r["name"] for r in results] == ["small__seed=0", "small__seed=1"] and l1[0] != l1[1]  # seeds differ
    from facejax.train.checkpoint import Checkpointer

    for seed in (0, 1):
        ck = Checkpointer(str(work / f"small__seed={seed}"))
        assert ck.saved_config(1)["seed"] == seed
        ck.close()
    (summary,) = json.loads((work / "report" / "summary.json").read_text())
    st = summary["metrics"]["l1/mean"]
    assert summary["configuration"] == "small" and st["seeds"] == 2
    assert st["mean"] == pytest.approx(np.mean(l1)) and st["std"] == pytest.approx(np.std(l1))
    md = (work / "report" / "report.md").read_text()
    row = f"| small | Toy baseline | {np.mean(l1):.4f} +- {np.std(l1):.4f} | 2 of 2 |"
    assert "| configuration | what it is | L1 to eval images (mean +- std) | seeds |" in md and row in md
    assert md.index(row) < md.index("| small__seed=0 | Toy baseline | ")  # per-seed rows follow the summary
    assert "![metrics over seeds](metrics.png)" in md
    png = np.asarray(Image.open(work / "report" / "metrics.png").convert("L"))
    assert len(np.unique(png)) > 10  # drawn, not blank
