"""The files every evaluation protocol writes: ``metrics.json`` (the report) and ``metrics.md`` (its table)."""

from __future__ import annotations

import json
import os


def write(out_dir, report: dict, table: str | None = None) -> dict[str, str]:
    """Writes ``out_dir``/metrics.json (sorted, indented) and, given a table, metrics.md; returns their paths as
    {"json": ..., "table": ...}. Callers write on process 0 only."""
    out_dir = str(out_dir)
    os.makedirs(out_dir, exist_ok=True)
    files = {"json": os.path.join(out_dir, "metrics.json")}
    with open(files["json"], "w") as f:
        json.dump(report, f, indent=2, sort_keys=True)
    if table is not None:
        files["table"] = os.path.join(out_dir, "metrics.md")
        with open(files["table"], "w") as f:
            f.write(table + "\n")
    return files
