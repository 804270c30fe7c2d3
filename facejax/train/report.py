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
    without them, every numeric metric of the runs' metrics.json in the order first seen."""
    if metrics:
        return [tuple(m) if isinstance(m, tuple) else (m.key, m.label, m.fmt) for m in metrics]
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


def write(results: list[RunResult], out_dir: str, title: str = "facejax sweep", metrics=None) -> dict:
    """report.md (table, curves, samples), curves.png, samples/<run>.png, results.json; returns paths.
    `metrics`: the table's columns (columns_of)."""
    os.makedirs(os.path.join(out_dir, "samples"), exist_ok=True)
    curves = os.path.join(out_dir, "curves.png")
    tags = plot_curves(results, curves)
    samples = {}
    for r in results:
        if r.sample:
            dst = os.path.join(out_dir, "samples", f"{r.name}.png")
            shutil.copyfile(r.sample, dst)
            samples[r.name] = dst
    md = [
        f"# {title}",
        "",
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
    return {"report": report, "curves": curves, "samples": samples, "results": summary}
