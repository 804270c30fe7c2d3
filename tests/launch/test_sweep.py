"""launch/sweep.py: the run plan, SLURM submission with dependencies (a fake sbatch), the report from
run folders (table, curves, sample grids), and one real sweep of two Table 1 rows at synthetic scale."""

import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

REPO = pathlib.Path(__file__).resolve().parents[2]
SWEEP = REPO / "launch" / "sweep.py"
sys.path.insert(0, str(REPO / "launch"))
import sweep  # noqa: E402
from tests import xla_env  # noqa: E402

ENV = xla_env.env(2)


def _sweep(*args, env=ENV, timeout=1200):
    if not any(a.startswith("--config=") for a in args):  # the StarGAN v2 sweeps below
        args = ("--config=configs/stargan_v2.py", *args)
    return subprocess.run(
        [sys.executable, str(SWEEP), *args], capture_output=True, text=True, env=env, timeout=timeout, cwd=REPO
    )


def test_plan_crosses_presets_with_varied_fields():
    args = sweep.parse_args(
        [
            "--config=configs/stargan_v2.py",
            "--workdir=w",
            "--presets=C,F",
            "--scale=synthetic",
            "--set",
            "total_steps=10",
            "--vary",
            "lambda_ds=1,2",
            "--vary",
            "lr=1e-4,3e-4",
        ]
    )
    runs = sweep.plan(args)
    assert [r["name"] for r in runs][:4] == [
        "C__lambda_ds=1__lr=1e-4",
        "C__lambda_ds=1__lr=3e-4",
        "C__lambda_ds=2__lr=1e-4",
        "C__lambda_ds=2__lr=3e-4",
    ]
    assert len(runs) == 8 and all(r["preset"] in ("C,synthetic", "F,synthetic") for r in runs)
    assert runs[-1]["overrides"] == [("total_steps", "10"), ("lambda_ds", "2"), ("lr", "3e-4")]
    assert runs[0]["label"].startswith("+ Tuning; lambda_ds=1")
    cmd = sweep.facejax_cmd("train", runs[0], args)
    assert cmd[2:5] == ["facejax.cli", "train", "--config=configs/stargan_v2.py:C,synthetic"]
    assert "--config.lambda_ds=1" in cmd and "--config.total_steps=10" in cmd


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--set", "total_steps"], "--set 'total_steps': expected FIELD=VALUE"),
        (["--skip_eval", "--launcher=cluster"], "--launcher='cluster': expected local, local.sh:N"),
        ([], "--set eval.inception_weights=FILE --set eval.alexnet_weights=FILE"),
        (["--config=configs/nope.py", "--skip_eval"], "--config=configs/nope.py: no such config file"),
    ],
)
def test_bad_arguments_are_one_line_errors(tmp_path, argv, message):
    res = _sweep(f"--workdir={tmp_path / 'w'}", *argv)
    assert res.returncode == 2 and message in res.stderr and "Traceback" not in res.stderr, res.stderr
    assert not (tmp_path / "w").exists()


def test_slurm_launcher_chains_training_evaluation_and_report(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "sbatch.log"
    fake = bin_dir / "sbatch"  # records its arguments, answers a job id as `sbatch --parsable` does
    fake.write_text(f"#!/bin/sh\nprintf '%s\\n' \"$*\" >> {log}\nn=$(wc -l < {log})\necho $((100 + n))\n")
    fake.chmod(0o755)
    env = dict(ENV, PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    res = _sweep(
        f"--workdir={tmp_path / 'w'}",
        "--presets=E,F",
        "--scale=synthetic",
        "--launcher=slurm",
        "--sbatch_args=--nodes=2",
        "--set",
        "eval.inception_weights=i.pth",
        "--set",
        "eval.alexnet_weights=a.pth",
        env=env,
    )
    assert res.returncode == 0, res.stderr
    calls = log.read_text().splitlines()
    assert len(calls) == 5  # train E, eval E, train F, eval F, report
    assert "--job-name=sweep-E" in calls[0] and "--nodes=2" in calls[0] and "launch/slurm.sbatch" in calls[0]
    assert " train --config=configs/stargan_v2.py:E,synthetic" in calls[0]
    assert "--dependency=afterok:101" in calls[1] and " eval --config=configs/stargan_v2.py:E,synthetic" in calls[1]
    assert "--config.eval.alexnet_weights=a.pth" in calls[1]
    assert "--dependency=afterok:103" in calls[3]
    assert "--dependency=afterany:101:102:103:104" in calls[4] and "--report_only" in calls[4]
    assert "submitted 5 jobs" in res.stdout


def _fake_run(workdir, step, fid, losses):
    """A run folder as train + eval leave it: clu scalars, a sample grid, eval/<step>/metrics.json."""
    from clu import metric_writers

    writer = metric_writers.create_default_writer(str(workdir), just_logging=False)
    for s, v in enumerate(losses, 1):
        writer.write_scalars(s, {"D/loss_real": v, "G/loss_adv": 2 * v, "steps_per_sec": 3.0})
    writer.flush()
    writer.close()
    (workdir / "samples").mkdir(parents=True)
    Image.fromarray(np.full((10, 20, 3), int(fid), np.uint8)).save(workdir / "samples" / f"{step:06d}_reference.png")
    Image.fromarray(np.zeros((10, 20, 3), np.uint8)).save(workdir / "samples" / f"{step // 2:06d}_reference.png")
    out = workdir / "eval" / f"{step:06d}"
    out.mkdir(parents=True)
    (out / "metrics.json").write_text(
        json.dumps(
            {
                "step": step,
                "metrics": {
                    "FID_latent/mean": fid,
                    "LPIPS_latent/mean": 0.25,
                    "FID_reference/mean": fid + 1,
                    "LPIPS_reference/mean": 0.125,
                },
            }
        )
    )


def test_report_from_run_folders(tmp_path):
    from facejax.train import report

    _fake_run(tmp_path / "w" / "C", 8, 40.0, [1.0, 0.5, 0.25])
    _fake_run(tmp_path / "w" / "F", 8, 30.0, [2.0, 1.5])
    res = _sweep(f"--workdir={tmp_path / 'w'}", "--presets=C,F", "--report_only")
    assert res.returncode == 0, res.stderr
    md = (tmp_path / "w" / "report" / "report.md").read_text()
    assert "| C | + Tuning | 40.00 | 0.2500 | 41.00 | 0.1250 | 8 |" in md
    assert "| F | + Diversity regularization (StarGAN v2) | 30.00 | 0.2500 | 31.00 | 0.1250 | 8 |" in md
    assert "![training curves](curves.png)" in md and "![F](samples/F.png)" in md
    # the newest grid of each run, copied
    assert np.asarray(Image.open(tmp_path / "w" / "report" / "samples" / "C.png")).max() == 40
    curves = report.read_scalars(str(tmp_path / "w" / "C"))
    assert curves["D/loss_real"] == ([1, 2, 3], [1.0, 0.5, 0.25])
    png = Image.open(tmp_path / "w" / "report" / "curves.png")
    assert png.size[0] > 400 and len(np.unique(np.asarray(png.convert("L")))) > 10  # drawn, not blank
    assert "Panels: `D/loss_real`, `G/loss_adv`" in md
    results = json.loads((tmp_path / "w" / "report" / "results.json").read_text())
    assert [r["metrics"]["FID_latent/mean"] for r in results] == [40.0, 30.0]


def test_a_relaunched_sweep_skips_evaluated_runs(tmp_path):
    _fake_run(tmp_path / "C", 8, 40.0, [1.0])
    (tmp_path / "C" / "checkpoints" / "8").mkdir(parents=True)
    assert sweep._evaluated(str(tmp_path / "C"))
    (tmp_path / "C" / "checkpoints" / "12").mkdir()  # trained further since: evaluate again
    assert not sweep._evaluated(str(tmp_path / "C"))
    assert not sweep._evaluated(str(tmp_path / "nothing"))


def test_report_without_runs_is_an_error(tmp_path):
    res = _sweep(f"--workdir={tmp_path / 'w'}", "--presets=C,F", "--report_only")
    assert res.returncode == 2 and "holds none of the runs (C, F)" in res.stderr


@pytest.mark.slow
def test_sweep_trains_evaluates_and_reports(tmp_path, imagenet_inception, lpips_alex):
    """Row F of Table 1 at synthetic scale, 4 steps, evaluated with random Inception/AlexNet weights on a few
    images, through the real `facejax train` and `facejax eval` commands (one run: the suite's time; the
    plan, the launchers and a report of several runs are tested above without training)."""
    work = tmp_path / "w"
    args = [
        f"--workdir={work}",
        "--presets=F",
        "--scale=synthetic",
        "--vary",
        "seed=1",
        "--set",
        "total_steps=4",
        "--set",
        "batch_size=4",
        "--set",
        "sample_every=4",
        "--set",
        "checkpoint_every=4",
        "--set",
        "log_every=1",
        "--set",
        "num_sample_images=2",
        "--set",
        f"eval.inception_weights={imagenet_inception[0]}",
        "--set",
        f"eval.alexnet_weights={lpips_alex[0]}",
        "--set",
        "eval.num_outs_per_domain=2",
        "--set",
        "eval.batch_size=2",
        "--set",
        "eval.max_sources=1",
        "--set",
        "eval.max_real=2",
        "--set",
        "eval.fid_method=eigh",
        "--set",
        "eval.grid_sources=1",
    ]
    res = _sweep(*args)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert "[sweep] 1/1 F__seed=1" in res.stdout
    results = json.loads((work / "report" / "results.json").read_text())
    assert [r["name"] for r in results] == ["F__seed=1"]
    for r in results:
        assert r["eval_step"] == 4
        assert all(
            np.isfinite(r["metrics"][k]) and r["metrics"][k] > 0
            for k in ("FID_latent/mean", "LPIPS_latent/mean", "FID_reference/mean", "LPIPS_reference/mean")
        )
        assert Image.open(r["sample"]).size[0] > 32
    md = (work / "report" / "report.md").read_text()
    assert "| F__seed=1 | + Diversity regularization (StarGAN v2); seed=1 |" in md
    assert len(np.unique(np.asarray(Image.open(work / "report" / "curves.png").convert("L")))) > 10


# What each family's evaluator writes into metrics.json["metrics"] (key names as its evaluate.py forms them; the
# family's evaluation tests check that its headline keys are among them), with distinct values per run.
EVAL_METRICS = {
    "stargan_v2": lambda v: {
        "FID_latent/mean": 40 + v,
        "LPIPS_latent/mean": 0.2 + v / 100,
        "FID_reference/mean": 41 + v,
        "LPIPS_reference/mean": 0.1 + v / 100,
        "FID_latent/male2female": 39.0,
    },
    "ipmnet": lambda v: {"FID/mean": 41 + v, "FID/std": 1.0, "LPIPS/mean": 0.48 + v / 100, "LPIPS/std": 0.01},
    "beautygan": lambda v: {"FID/mean": 56 + v, "FID/std": 1.0, "LPIPS/mean": 0.45 + v / 100, "LPIPS/std": 0.01},
    "gfc": lambda v: {
        **{f"{m}/{k}": 20 + v + i for i, m in enumerate(("eyes", "mouth")) for k in ("PSNR", "noise_fill_PSNR")},
        **{f"{m}/SSIM": 0.5 + v / 100 for m in ("eyes", "mouth")},
        "PSNR/mean": 20.5 + v,
        "SSIM/mean": 0.5 + v / 100,
        "noise_fill_PSNR/mean": 5.0,
        "parsing_acc/mean": 0.9,
        "parsing_mIoU/mean": 0.7 + v / 100,
        "FID/mean": 30 + v,
    },
    "aesgan": lambda v: {
        "FID": 20 + v,
        "PSNR": 25 + v,
        "SSIM": 0.8,
        "MS-SSIM": 0.7,
        "aesthetic/inputs": 0.4,
        "aesthetic/outputs": 0.6 + v / 100,
        "aesthetic/gain": 0.2 + v / 100,
    },
    "beholder": lambda v: {"SWDx1e3_16": 8.0, "SWDx1e3_avg": 7.7 + v, "MS-SSIM": 0.27 + v / 100, "FID": 12 + v},
}


@pytest.mark.parametrize("family", sorted(EVAL_METRICS))
def test_report_shows_every_familys_headline_metrics(family, tmp_path, capsys):
    """For each family, from metrics.json files as `facejax eval` writes them: the report's columns are the family's
    headline metrics (GFC's PSNR and SSIM once per mask type), each filled in, none `n/a`."""
    from facejax import registry

    cls = registry.family_class(family)
    rows = list(sweep.sweep_rows(cls)) or ["synthetic"]
    presets = [] if sweep.sweep_rows(cls) else ["--presets=synthetic"]
    for i, row in enumerate(rows):
        out = tmp_path / "w" / row / "eval" / "000004"
        out.mkdir(parents=True)
        (out / "metrics.json").write_text(json.dumps({"step": 4, "metrics": EVAL_METRICS[family](i)}))
    assert sweep.main([f"--config=configs/{family}.py", f"--workdir={tmp_path / 'w'}", "--report_only", *presets]) == 0
    md = (tmp_path / "w" / "report" / "report.md").read_text()
    header = next(ln for ln in md.splitlines() if ln.startswith("| run |"))
    labels = [m.label for m in cls.headline_metrics]
    if family == "gfc":
        labels = ["PSNR eyes", "PSNR mouth", "SSIM eyes", "SSIM mouth"] + labels[2:]
    assert header == "| run | configuration | " + " | ".join(labels) + " | evaluated at step |"
    table = [ln for ln in md.splitlines() if ln.startswith("| ") and ln.endswith(" | 4 |")]
    assert [ln.split(" | ")[0][2:] for ln in table] == rows
    for i, ln in enumerate(table):
        cells = ln.split(" | ")[2:-1]
        assert len(cells) == len(labels) and "n/a" not in cells, ln
        first = cls.headline_metrics[0 if family != "gfc" else 2]
        assert first.fmt.format(EVAL_METRICS[family](i)[first.key]) in cells


def test_seeds_plan_one_run_per_seed_and_refuse_a_second_seed_source():
    args = sweep.parse_args(
        ["--config=configs/stargan_v2.py", "--workdir=w", "--presets=C,F", "--scale=synthetic", "--seeds=3"]
    )
    runs = sweep.plan(args)
    assert [r["name"] for r in runs] == [f"{p}__seed={s}" for p in "CF" for s in range(3)]
    assert [r["group"] for r in runs] == ["C"] * 3 + ["F"] * 3
    assert [r["overrides"] for r in runs[:2]] == [[("seed", "0")], [("seed", "1")]]
    assert (
        sweep.plan(sweep.parse_args(["--config=configs/stargan_v2.py", "--workdir=w", "--presets=C"]))[0]["name"] == "C"
    )  # one seed: the names of before
    for extra, message in ((["--vary", "seed=1,2"], "leave seed out"), (["--seeds=0"], "--seeds=0: expected")):
        with pytest.raises(sweep.SweepError, match=message):
            sweep.plan(sweep.parse_args(["--config=configs/stargan_v2.py", "--workdir=w", "--seeds=2", *extra]))
