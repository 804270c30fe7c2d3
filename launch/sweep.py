#!/usr/bin/env python3
"""Ablation sweeps: train a list of presets (and config overrides), evaluate each, write a report.

    python launch/sweep.py --config=configs/stargan_v2.py --workdir=runs/table1 --scale=synthetic \
        --set eval.inception_weights=inception_v3_google-0cc3c7bd.pth \
        --set eval.alexnet_weights=alexnet-owt-7be5be79.pth

runs the family's sweep rows (its `sweep_rows()`, facejax/families/base.py Sweeps; e.g. StarGAN v2's Table 1
rows A-F) one after another, each in WORKDIR/<name>, evaluates each with `facejax eval`, and writes
WORKDIR/report/: report.md (a table of the family's headline metrics per configuration, like the paper's),
curves.png (the training losses of every run) and samples/<name>.png (each run's newest sample grid). The
family is the one the config file names (its `family` field).

  --presets=A,B,...      presets of --config (default: the family's sweep rows); a row is
                         combined with --scale (`C,synthetic`)
  --vary FIELD=V1,V2     one run per value (repeatable: the product of all); run names F__FIELD=V1
  --seeds=N              each configuration N times, with config.seed 0 .. N-1 (run names F__seed=S); the
                         report then opens with the mean and standard deviation of each metric over the
                         seeds (a table and metrics.png), then the per-seed rows
  --set FIELD=VALUE      a config override for every run, training and evaluation (repeatable)
  --launcher=local       one run after another on this machine (default)
  --launcher=local.sh:N  each run as N processes on this machine (launch/local.sh)
  --launcher=slurm       each run as SLURM jobs (launch/slurm.sbatch): a training job, an evaluation
                         job after it, and a report job after all of them; extra sbatch arguments
                         with --sbatch_args="--nodes=2 --time=48:00:00"
  --skip_eval            train only (the table then says `not evaluated`)
  --report_only          write the report from what WORKDIR holds now
  --dry_run              print the commands, run nothing

Runs whose family trains frozen networks first (config.prerequisites: GFC's parsing net, AesGAN's aesthetic and
parsing nets) share them: each part is trained once, in WORKDIR/prereq/<name>-<digest of its config>, and found
there by the other runs (locally; SLURM jobs run at once, so each trains its own).

Relaunching the same command after an interruption resumes: a finished run's training returns at
once (its checkpoint is at total_steps), and a run whose newest checkpoint is evaluated is not
evaluated again.
"""

from __future__ import annotations

import argparse
import itertools
import os
import re
import shlex
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class SweepError(Exception):
    pass


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__
    )
    p.add_argument("--config", required=True, help="config file, e.g. configs/stargan_v2.py (presets: --presets)")
    p.add_argument("--presets", default="", help="comma-separated presets of --config (default: the family's rows)")
    p.add_argument("--scale", default="", help="dataset preset joined to each ablation row, e.g. synthetic")
    p.add_argument("--workdir", required=True, help="one sub-folder per run, and report/")
    p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", help="override for every run")
    p.add_argument("--vary", action="append", default=[], metavar="FIELD=V1,V2", help="one run per value")
    p.add_argument("--seeds", type=int, default=1, help="runs per configuration, config.seed = 0 .. N-1")
    p.add_argument("--launcher", default="local", help="local, local.sh:N or slurm")
    p.add_argument("--sbatch_args", default="", help="extra sbatch arguments (slurm launcher)")
    p.add_argument("--skip_eval", action="store_true")
    p.add_argument("--report_only", action="store_true")
    p.add_argument("--dry_run", action="store_true")
    return p.parse_args(argv)


def _field_value(text: str, what: str) -> tuple[str, str]:
    if "=" not in text or not re.match(r"^[A-Za-z_][\w.]*=", text):
        raise SweepError(f"{what} {text!r}: expected FIELD=VALUE (e.g. {what} total_steps=100)")
    field, value = text.split("=", 1)
    return field, value


def family_of(config_path: str):
    """The family class the config file names (its default preset's `family` field)."""
    from facejax import configs, registry
    from facejax.errors import FacejaxError

    try:
        return registry.family_class(configs.load_file(config_path).family)
    except FacejaxError as e:
        raise SweepError(f"--config={config_path}: {e}") from None


def sweep_rows(family) -> dict:
    """{preset: label} of the family's sweep rows ({} without `Sweeps`)."""
    from facejax.families import base

    return dict(family.sweep_rows()) if base.has(family, base.Sweeps) else {}


def presets_of(args, family) -> str:
    """--presets, or the family's sweep rows."""
    if args.presets:
        return args.presets
    from facejax.errors import FacejaxError
    from facejax.families import base

    try:
        base.require(family, base.Sweeps, hint="give --presets=P1,P2,...")
    except FacejaxError as e:
        raise SweepError(str(e)) from None
    return ",".join(sweep_rows(family))


def plan(args) -> list[dict]:
    """The runs: [{"name", "preset", "overrides": [(field, value)], "label"}] in order."""
    family = family_of(args.config)
    rows = sweep_rows(family)
    presets = [p.strip() for p in presets_of(args, family).split(",") if p.strip()]
    if not presets:
        raise SweepError("--presets is empty")
    common = [_field_value(s, "--set") for s in args.set]
    axes = []
    for v in args.vary:
        field, values = _field_value(v, "--vary")
        vals = [x for x in values.split(",") if x != ""]
        if not vals:
            raise SweepError(f"--vary {v!r}: no values")
        axes.append([(field, x) for x in vals])
    if args.seeds < 1:
        raise SweepError(f"--seeds={args.seeds}: expected a number of seeds >= 1")
    seeded = args.seeds > 1
    if seeded and any(f == "seed" for f, _ in common + [a[0] for a in axes]):
        raise SweepError("--seeds sets config.seed of each run: leave seed out of --set and --vary")
    runs = []
    for preset in presets:
        full = preset if not args.scale or args.scale in preset.split(",") else f"{preset},{args.scale}"
        for combo in itertools.product(*axes) if axes else [()]:
            name = preset + "".join(f"__{f}={v}" for f, v in combo)
            label = rows.get(preset, "")
            if combo:
                label = (label + "; " if label else "") + ", ".join(f"{f}={v}" for f, v in combo)
            group = re.sub(r"[^\w.=+-]", "_", name)
            for seed in range(args.seeds) if seeded else [None]:
                runs.append(
                    {
                        "name": group + (f"__seed={seed}" if seeded else ""),
                        "preset": full,
                        "overrides": common + list(combo) + ([("seed", str(seed))] if seeded else []),
                        "label": label,
                        "group": group,
                    }
                )
    names = [r["name"] for r in runs]
    if len(set(names)) != len(names):
        raise SweepError(f"two runs share a name: {names}")
    return runs


def facejax_cmd(command: str, run: dict, args, extra=()) -> list[str]:
    cmd = [
        sys.executable,
        "-m",
        "facejax.cli",
        command,
        f"--config={args.config}:{run['preset']}",
        f"--workdir={os.path.join(args.workdir, run['name'])}",
    ]
    cmd += [f"--config.{f}={v}" for f, v in run["overrides"]] + list(extra)
    return cmd


def _launch_prefix(launcher: str) -> list[str]:
    if launcher == "local":
        return []
    m = re.fullmatch(r"local\.sh:(\d+)", launcher)
    if m and int(m.group(1)) >= 1:
        return [os.path.join(REPO, "launch", "local.sh"), m.group(1)]
    raise SweepError(f"--launcher={launcher!r}: expected local, local.sh:N (N >= 1) or slurm")


def _evaluated(workdir: str) -> bool:
    """The newest checkpoint of the run has an evaluation."""
    from facejax.train import report

    ck = os.path.join(workdir, "checkpoints")
    steps = [int(d) for d in os.listdir(ck) if d.isdigit()] if os.path.isdir(ck) else []
    step, _ = report.latest_eval(workdir)
    return bool(steps) and step == max(steps)


def _run(cmd: list[str], dry: bool, log: str | None = None) -> None:
    print("  $ " + " ".join(shlex.quote(c) for c in cmd), flush=True)
    if dry:
        return
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [REPO, os.environ.get("PYTHONPATH")])))
    if log:
        os.makedirs(os.path.dirname(log), exist_ok=True)
        with open(log, "a") as f:
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
            for line in proc.stdout:  # progress on the console, everything in the run's log
                f.write(line)
                print("    " + line, end="", flush=True)
            rc = proc.wait()
    else:
        rc = subprocess.call(cmd, env=env)
    if rc != 0:
        raise SweepError(f"command failed (exit {rc}): {' '.join(cmd[:4])} ...; see {log or 'the output above'}")


def run_local(runs, args) -> None:
    prefix = _launch_prefix(args.launcher)
    t0 = time.time()
    for i, run in enumerate(runs):
        workdir = os.path.join(args.workdir, run["name"])
        eta = ""
        if i:
            per = (time.time() - t0) / i
            eta = f", ETA {per * (len(runs) - i) / 60:.1f} min"
        print(f"[sweep] {i + 1}/{len(runs)} {run['name']} ({run['label'] or run['preset']}){eta}", flush=True)
        log = os.path.join(workdir, "sweep.log")
        # the runs train each frozen-network prerequisite (config.prerequisites) once, in WORKDIR/prereq/
        shared = [f"--config.prerequisites.dir={os.path.join(args.workdir, 'prereq')}"]
        _run(prefix + facejax_cmd("train", run, args, shared), args.dry_run, None if args.dry_run else log)
        if args.skip_eval:
            continue
        if not args.dry_run and _evaluated(workdir):
            print(f"  {run['name']}: newest checkpoint already evaluated", flush=True)
            continue
        _run(prefix + facejax_cmd("eval", run, args, shared), args.dry_run, None if args.dry_run else log)


def run_slurm(runs, args) -> list[str]:
    """Submits the jobs; returns their ids (training, evaluation per run, then the report)."""
    sbatch = os.path.join(REPO, "launch", "slurm.sbatch")
    extra = shlex.split(args.sbatch_args)
    ids, waits = [], []

    def submit(cmd):
        print("  $ " + " ".join(shlex.quote(c) for c in cmd), flush=True)
        if args.dry_run:
            return f"<{len(ids)}>"
        out = subprocess.run(cmd, capture_output=True, text=True)
        if out.returncode != 0:
            raise SweepError(f"sbatch failed (exit {out.returncode}): {out.stderr.strip()}")
        job = out.stdout.strip().split(";")[0]
        ids.append(job)
        return job

    for run in runs:
        workdir = os.path.join(args.workdir, run["name"])
        os.makedirs(workdir, exist_ok=True)
        out = f"--output={os.path.join(workdir, 'slurm-%j.out')}"
        train = submit(
            [
                "sbatch",
                "--parsable",
                f"--job-name=sweep-{run['name']}",
                out,
                *extra,
                sbatch,
                *facejax_cmd("train", run, args),
            ]
        )
        waits.append(train)
        if not args.skip_eval:
            waits.append(
                submit(
                    [
                        "sbatch",
                        "--parsable",
                        f"--job-name=eval-{run['name']}",
                        out,
                        f"--dependency=afterok:{train}",
                        *extra,
                        sbatch,
                        *facejax_cmd("eval", run, args),
                    ]
                )
            )
    report_cmd = [
        sys.executable,
        os.path.abspath(__file__),
        "--report_only",
        f"--config={args.config}",
        f"--presets={presets_of(args, family_of(args.config))}",
        f"--scale={args.scale}",
        f"--workdir={args.workdir}",
    ]
    report_cmd += [f"--vary={v}" for v in args.vary] + [f"--seeds={args.seeds}"]
    submit(
        [
            "sbatch",
            "--parsable",
            "--job-name=sweep-report",
            "--nodes=1",
            "--ntasks=1",
            f"--output={os.path.join(args.workdir, 'report-%j.out')}",
            f"--dependency=afterany:{':'.join(waits)}",
            f"--chdir={os.getcwd()}",
            "--wrap=" + " ".join(shlex.quote(c) for c in report_cmd),
        ]
    )
    return ids


def headline_metrics(family) -> tuple:
    """The family's headline metrics (the report's columns), or () for every numeric metric."""
    from facejax.families import base

    return tuple(family.headline_metrics) if base.has(family, base.Evaluates) else ()


def write_report(runs, args) -> dict:
    from facejax.train import report

    metrics = headline_metrics(family_of(args.config))
    results = [report.collect(r["name"], os.path.join(args.workdir, r["name"]), r["label"]) for r in runs]
    missing = [r.name for r in results if not os.path.isdir(r.workdir)]
    if len(missing) == len(results):
        raise SweepError(f"{args.workdir} holds none of the runs ({', '.join(missing)}); run the sweep first")
    title = f"facejax sweep: {args.config} {presets_of(args, family_of(args.config))}" + (
        f" at {args.scale}" if args.scale else ""
    )
    groups = None
    if args.seeds > 1:
        groups = []
        for run, result in zip(runs, results):
            if not groups or groups[-1].name != run["group"]:
                groups.append(report.Group(run["group"], run["label"], []))
            groups[-1].runs.append(result)
        title += f", {args.seeds} seeds"
    files = report.write(results, os.path.join(args.workdir, "report"), title, metrics, groups)
    if groups:
        print(report.summary_table(groups, metrics))
        print(f"metrics over seeds: {files['metrics_plot']}")
    print(report.markdown_table(results, metrics))
    print(f"report: {files['report']}\ncurves: {files['curves']}")
    for name, path in files["samples"].items():
        print(f"samples {name}: {path}")
    return files


def main(argv=None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.path.insert(0, REPO)
    try:
        if not os.path.isfile(args.config):
            raise SweepError(f"--config={args.config}: no such config file")
        runs = plan(args)
        if not args.skip_eval and not args.report_only:
            from facejax.families import base

            family = family_of(args.config)
            given = {f for f, _ in (_field_value(s, "--set") for s in args.set)}
            needed = family.sweep_eval_files() if base.has(family, base.Sweeps) else ()
            lacking = [f for f in needed if f not in given]
            if lacking:
                raise SweepError(
                    "evaluation needs the metric weight files: "
                    + " ".join(f"--set {f}=FILE" for f in lacking)
                    + " (README, Evaluation), or --skip_eval"
                )
        if args.report_only:
            write_report(runs, args)
        elif args.launcher == "slurm":
            ids = run_slurm(runs, args)
            print(f"[sweep] submitted {len(ids)} jobs; the last writes {os.path.join(args.workdir, 'report')}")
        else:
            run_local(runs, args)
            if not args.dry_run:
                write_report(runs, args)
    except SweepError as e:
        print(f"sweep: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
