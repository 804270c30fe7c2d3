"""Sweep reports: a markdown table of each run's evaluation, a plot of the training curves and one
sample grid per run (launch/sweep.py writes them; any list of facejax run directories works).

Everything is read back from what runs write anyway: `RUN/eval/<step>/metrics.json` (facejax eval),
TensorBoard event files (the trainer's clu writer) and `RUN/samples/<step>_<kind>.png`. The table's columns
are the family's headline metrics (`base.Evaluates.headline_metrics`, passed in by the caller), else every
numeric metric the runs' metrics.json hold; its row labels are the caller's (`base.Sweeps.sweep_rows`).
"""

from __future__ import annotations

import dataclasses
import glob
import itertools
import json
import math
import os
import re
import shutil

# A column of the table: (metrics key, label, format), as base.Metric holds them.
Column = tuple[str, str, str]


@dataclasses.dataclass
class RunResult:
    name: str  # the sweep's name for the run (e.g. "C" or "F__lambda_ds=2")
    workdir: str
    label: str = ""  # what the run is (the family's sweep row label), for the table
    metrics: dict | None = None  # {"FID_latent/mean": ...} of the newest evaluation, None if none
    eval_step: int | None = None
    curves: dict = dataclasses.field(default_factory=dict)  # tag -> ([steps], [values])
    sample: str | None = None  # newest sample grid


def latest_eval(workdir: str) -> tuple[int | None, dict | None]:
    """(step, metrics) of the newest RUN/eval/<step>/metrics.json, or (None, None)."""
    best = None
    for path in glob.glob(os.path.join(workdir, "eval", "*", "metrics.json")):
        step = os.path.basename(os.path.dirname(path))
        if step.isdigit() and (best is None or int(step) > best[0]):
            best = (int(step), path)
    if best is None:
        return None, None
    with open(best[1]) as f:
        return best[0], json.load(f)["metrics"]


def read_scalars(workdir: str) -> dict:
    """tag -> (steps, values) of every scalar the run logged to TensorBoard (clu writes them as tensors
    through tf.summary; both encodings are read). Later files win on a repeated step (a resumed run)."""
    from tensorboard.backend.event_processing import event_accumulator

    files = sorted(
        glob.glob(os.path.join(workdir, "**", "events.out.tfevents.*"), recursive=True), key=os.path.getmtime
    )
    merged: dict[str, dict[int, float]] = {}
    for path in files:
        ea = event_accumulator.EventAccumulator(
            path, size_guidance={event_accumulator.TENSORS: 0, event_accumulator.SCALARS: 0}
        )
        ea.Reload()
        tags = ea.Tags()
        for tag in tags.get("scalars", []):
            for e in ea.Scalars(tag):
                merged.setdefault(tag, {})[int(e.step)] = float(e.value)
        for tag in tags.get("tensors", []):
            for e in ea.Tensors(tag):
                if e.tensor_proto.tensor_shape.dim:  # images, text: not a scalar
                    continue
                value = _scalar_of(e.tensor_proto)
                if value is not None:
                    merged.setdefault(tag, {})[int(e.step)] = value
    return {tag: (sorted(d), [d[s] for s in sorted(d)]) for tag, d in merged.items()}


def _scalar_of(proto) -> float | None:
    if proto.float_val:
        return float(proto.float_val[0])
    if proto.double_val:
        return float(proto.double_val[0])
    if proto.tensor_content and proto.dtype in (1, 2):  # DT_FLOAT, DT_DOUBLE
        import numpy as np

        return float(np.frombuffer(proto.tensor_content, np.float32 if proto.dtype == 1 else np.float64)[0])
    return None


def latest_sample(workdir: str, kind: str = "reference") -> str | None:
    """The newest RUN/samples/<step>_<kind>.png, else the newest of any kind."""
    found = []
    for path in glob.glob(os.path.join(workdir, "samples", "*.png")):
        m = re.match(r"(\d+)_(\w+)\.png$", os.path.basename(path))
        if m:
            found.append((m.group(2) == kind, int(m.group(1)), path))
    return max(found)[2] if found else None


def collect(name: str, workdir: str, label: str = "") -> RunResult:
    step, metrics = latest_eval(workdir)
    return RunResult(
        name=name,
        workdir=workdir,
        label=label,
        metrics=metrics,
        eval_step=step,
        curves=read_scalars(workdir),
        sample=latest_sample(workdir),
    )


def columns_of(results: list[RunResult], metrics=None) -> list[Column]:
    """The table's columns: `metrics` (base.Metric or (key, label, fmt) tuples, the family's headline metrics) or,
    without them, every numeric metric of the runs' metrics.json in the order first seen.

    A key with `*` (GFC's `*/PSNR`: one per mask type of the run's config) stands for every key of the runs'
    metrics it matches, in the order first seen, each labelled with the label's `*` replaced by what it matched;
    without a match (no run evaluated yet) it is one column under its label."""
    if metrics:
        out = []
        for m in metrics:
            key, label, fmt = tuple(m) if isinstance(m, tuple) else (m.key, m.label, m.fmt)
            if "*" not in key:
                out.append((key, label, fmt))
                continue
            pattern = re.compile("^" + re.escape(key).replace(r"\*", "(.+?)") + "$")
            found = []
            for r in results:
                for k in r.metrics or {}:
                    hit = pattern.match(k)
                    if hit and k not in [f[0] for f in found]:
                        found.append((k, label.replace("*", hit.group(1)), fmt))
            out += found or [(key, label.replace("*", "").strip(), fmt)]
        return out
    keys = []
    for r in results:
        for k, v in (r.metrics or {}).items():
            if isinstance(v, (int, float)) and not isinstance(v, bool) and k not in keys:
                keys.append(k)
    return [(k, k, "{:.4g}") for k in keys]


def markdown_table(results: list[RunResult], metrics=None) -> str:
    """The runs' table; `metrics`: the columns (columns_of)."""
    columns = columns_of(results, metrics)
    lines = [
        "| run | configuration | " + " | ".join(c[1] for c in columns) + " | evaluated at step |",
        "|---|---|" + "---:|" * (len(columns) + 1),
    ]
    for r in results:
        cells = []
        for key, _, fmt in columns:
            v = None if r.metrics is None else r.metrics.get(key)
            cells.append("n/a" if v is None or not math.isfinite(v) else fmt.format(v))
        step = "not evaluated" if r.eval_step is None else str(r.eval_step)
        lines.append(f"| {r.name} | {r.label} | " + " | ".join(cells) + f" | {step} |")
    return "\n".join(lines)


def _number(v) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) else None


@dataclasses.dataclass
class Group:
    """One configuration run with several seeds (launch/sweep.py --seeds): its runs and their statistics."""

    name: str
    label: str
    runs: list[RunResult]

    def values(self, key: str) -> list[float]:
        """The finite values of `key` over the evaluated runs."""
        out = []
        for r in self.runs:
            v = None if r.metrics is None else _number(r.metrics.get(key))
            if v is not None:
                out.append(v)
        return out

    def stats(self, key: str) -> tuple[float, float, int] | None:
        """(mean, standard deviation over seeds (ddof 0), number of seeds) of `key`, or None without a value."""
        vals = self.values(key)
        if not vals:
            return None
        mean = sum(vals) / len(vals)
        return mean, math.sqrt(sum((v - mean) ** 2 for v in vals) / len(vals)), len(vals)


def summary_table(groups: list[Group], metrics=None) -> str:
    """One row per configuration: mean +- standard deviation of each column over its seeds, the number of seeds
    evaluated of the number run."""
    columns = columns_of([r for g in groups for r in g.runs], metrics)
    lines = [
        "| configuration | what it is | " + " | ".join(f"{c[1]} (mean +- std)" for c in columns) + " | seeds |",
        "|---|---|" + "---:|" * (len(columns) + 1),
    ]
    for g in groups:
        cells = []
        for key, _, fmt in columns:
            st = g.stats(key)
            cells.append("n/a" if st is None else f"{fmt.format(st[0])} +- {fmt.format(st[1])}")
        done = sum(r.metrics is not None for r in g.runs)
        lines.append(f"| {g.name} | {g.label} | " + " | ".join(cells) + f" | {done} of {len(g.runs)} |")
    return "\n".join(lines)


def plot_summary(groups: list[Group], path: str, metrics=None) -> list[str]:
    """One panel per column: a bar per configuration at its mean, the standard deviation as an error bar and each
    seed's value as a dot; returns the columns drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = [
        c for c in columns_of([r for g in groups for r in g.runs], metrics) if any(g.values(c[0]) for g in groups)
    ]
    n = max(1, len(columns))
    cols = min(4, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(max(3.0, 0.9 * len(groups) + 1.5) * cols, 3.0 * rows), squeeze=False)
    for ax, (key, label, _) in zip(axes.flat, columns):
        for i, g in enumerate(groups):
            st = g.stats(key)
            if st is None:
                continue
            ax.bar(i, st[0], yerr=st[1], capsize=4, color="tab:blue", alpha=0.6)
            vals = g.values(key)
            ax.plot([i] * len(vals), vals, "k.", markersize=5)
        ax.set_xticks(range(len(groups)), [g.name for g in groups], fontsize=8, rotation=30 if len(groups) > 4 else 0)
        ax.set_title(label, fontsize=9)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(columns) :]:
        ax.axis("off")
    if not columns:
        axes.flat[0].text(0.5, 0.5, "no run evaluated", ha="center", va="center")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return [c[1] for c in columns]


def choose_panels(results: list[RunResult], max_panels: int = 12) -> list[str]:
    """The tags to draw: losses first, the ones most runs share first, alternating between the networks'
    groups (D/..., G/...) so that neither fills every panel; then evaluation numbers, then throughput."""
    counts: dict[str, int] = {}
    for r in results:
        for tag, (steps, _) in r.curves.items():
            if steps:
                counts[tag] = counts.get(tag, 0) + 1
    losses = [t for t in counts if "/" in t and not t.startswith(("FID", "LPIPS", "eval"))]
    groups: dict[str, list[str]] = {}
    for tag in sorted(losses, key=lambda t: (-counts[t], t)):
        groups.setdefault(tag.split("/", 1)[0], []).append(tag)
    ordered = []
    for row in itertools.zip_longest(*groups.values()):
        ordered += [t for t in row if t]
    evals = sorted(t for t in counts if t.startswith(("FID", "LPIPS", "eval")))
    rest = sorted(t for t in counts if t not in losses and t not in evals and t not in ("uptime", "steps_per_sec"))
    return (ordered + evals + rest)[:max_panels]


def plot_curves(results: list[RunResult], path: str, max_panels: int = 12) -> list[str]:
    """One panel per chosen tag (choose_panels), one line per run in the run's own colour throughout;
    returns the tags drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tags = choose_panels(results, max_panels)
    colours = plt.get_cmap("tab10" if len(results) <= 10 else "tab20")
    n = max(1, len(tags))
    cols = min(4, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.0 * cols, 2.9 * rows), squeeze=False)
    for ax, tag in zip(axes.flat, tags):
        for i, r in enumerate(results):
            if tag in r.curves:
                steps, values = r.curves[tag]
                ax.plot(steps, values, color=colours(i % colours.N), marker="." if len(steps) < 20 else None)
        ax.set_title(tag, fontsize=9)
        ax.set_xlabel("step", fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(tags) :]:
        ax.axis("off")
    if not tags:
        axes.flat[0].text(0.5, 0.5, "no scalars logged", ha="center", va="center")
    handles = [plt.Line2D([], [], color=colours(i % colours.N), label=r.name) for i, r in enumerate(results)]
    fig.legend(handles=handles, loc="upper center", ncol=min(len(handles), 8), fontsize=8)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.35 / rows / 2.9 * 2))
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return tags


def write(
    results: list[RunResult],
    out_dir: str,
    title: str = "facejax sweep",
    metrics=None,
    groups: list[Group] | None = None,
) -> dict:
    """report.md (table, curves, samples), curves.png, samples/<run>.png, results.json; returns paths.
    `metrics`: the table's columns (columns_of). `groups` (configurations run with several seeds): report.md opens
    with their mean +- standard deviation table and metrics.png (plot_summary); the per-seed rows follow."""
    os.makedirs(os.path.join(out_dir, "samples"), exist_ok=True)
    curves = os.path.join(out_dir, "curves.png")
    tags = plot_curves(results, curves)
    summary_png = None
    if groups:
        summary_png = os.path.join(out_dir, "metrics.png")
        plot_summary(groups, summary_png, metrics)
    samples = {}
    for r in results:
        if r.sample:
            dst = os.path.join(out_dir, "samples", f"{r.name}.png")
            shutil.copyfile(r.sample, dst)
            samples[r.name] = dst
    md = [f"# {title}", ""]
    if groups:
        seeds = sorted({len(g.runs) for g in groups})
        md += [
            "## Mean and standard deviation over seeds",
            "",
            summary_table(groups, metrics),
            "",
            f"Each configuration ran with {' or '.join(map(str, seeds))} seeds (config.seed); the standard deviation "
            "is over the seeds evaluated (ddof 0). Per-seed rows below.",
            "",
            "![metrics over seeds](metrics.png)",
            "",
            "## Per seed",
            "",
        ]
    md += [
        markdown_table(results, metrics),
        "",
        "The columns are the family's headline metrics of its evaluation protocol (`facejax eval`); each run's "
        "`eval/<step>/metrics.md` has every number and how it was computed.",
        "",
        "## Training curves",
        "",
        "![training curves](curves.png)",
        "",
        "Panels: " + ", ".join(f"`{t}`" for t in tags) + ".",
        "",
        "## Samples",
        "",
    ]
    for r in results:
        md.append(f"### {r.name}" + (f": {r.label}" if r.label else ""))
        md.append("")
        md.append(f"![{r.name}](samples/{r.name}.png)" if r.name in samples else "no sample grid written")
        md.append("")
    report = os.path.join(out_dir, "report.md")
    with open(report, "w") as f:
        f.write("\n".join(md))
    summary = os.path.join(out_dir, "results.json")
    with open(summary, "w") as f:
        json.dump(
            [
                {
                    "name": r.name,
                    "label": r.label,
                    "workdir": r.workdir,
                    "eval_step": r.eval_step,
                    "metrics": r.metrics,
                    "sample": samples.get(r.name),
                }
                for r in results
            ],
            f,
            indent=2,
        )
    files = {"report": report, "curves": curves, "samples": samples, "results": summary}
    if groups:
        columns = columns_of(results, metrics)
        files["summary"] = os.path.join(out_dir, "summary.json")
        with open(files["summary"], "w") as f:
            json.dump(
                [
                    {
                        "configuration": g.name,
                        "label": g.label,
                        "runs": [r.name for r in g.runs],
                        "metrics": {
                            key: dict(zip(("mean", "std", "seeds"), st))
                            for key, _, _ in columns
                            if (st := g.stats(key)) is not None
                        },
                    }
                    for g in groups
                ],
                f,
                indent=2,
            )
        files["metrics_plot"] = summary_png
    return files
