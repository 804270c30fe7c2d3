"""Regenerate the README's pictures: docs/img/<family>.png, one sample grid per family from its synthetic preset.

    python docs/make_pictures.py --workdir=runs/pictures [--families=stargan_v2,gfc] [--force]

For each family it runs the commands a user runs (`facejax train`, then `facejax sample`, with the family's
`synthetic` preset; before that, the frozen auxiliary networks the preset reads, trained by their own presets), in
`<workdir>/<family>/...`, and copies the family's sample grid to docs/img/<family>.png (enlarged or shrunk to a
readable size, PNG optimised). Every finished run leaves `<run>/DONE`; running the script again skips it, so an
interrupted script resumes where it stopped (`facejax train` itself resumes from the run's newest checkpoint).
--force retrains everything. The time each run took is printed and kept in `<workdir>/timings.json`.
"""

import argparse
import glob
import json
import os
import shutil
import subprocess
import sys
import time

from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
IMG_DIR = os.path.join(HERE, "img")

# Per family: the runs in order, as (run name, preset, extra flags); "{run:NAME}" is replaced by that run's workdir.
# The last run is the one sampled. The order of the families is the order they run in (the cheaper first).
RUNS = {
    "stargan_v2": [("gan", "synthetic", [])],
    "ipmnet": [("gan", "synthetic", [])],
    "beautygan": [("gan", "synthetic", [])],
    "beholder": [("gan", "synthetic", [])],
    "gfc": [
        ("parsing", "parsing_synthetic", []),
        ("gan", "synthetic", ["--config.parsing_checkpoint={run:parsing}"]),
    ],
    "aesgan": [
        ("aesthetic", "aesthetic_synthetic", []),
        ("parsing", "parsing_synthetic", []),
        (
            "gan",
            "synthetic",
            ["--config.aesthetic.checkpoint={run:aesthetic}", "--config.parsing.checkpoint={run:parsing}"],
        ),
    ],
}
# Run lengths other than the presets' own (the README's captions give them), keyed "family/run"; the flags go to that
# run's train (and sample). Shorter where a preset takes over ~12 min on a small shared CPU (2 cores under load);
# longer where the preset's length shows no faces yet.
OVERRIDES = {
    "ipmnet/gan": ["--config.total_steps=200"],  # of 600
    "beautygan/gan": ["--config.total_steps=200"],  # of 400
    "gfc/parsing": ["--config.total_steps=150"],  # of 300
    "aesgan/aesthetic": ["--config.total_steps=100"],  # of 300
    "aesgan/parsing": ["--config.total_steps=100"],  # of 300
    "beholder/gan": ["--config.total_steps=2000"],  # of 240: 4 -> 16 px by step 80, then 16 px (as the learning test)
}
# The grid that goes into the README when a family's sample writes several (the first of its file names that
# contains this word; else the first grid).
GRID = {"stargan_v2": "reference", "beautygan": "_makeup", "ipmnet": "makeup"}
MAX_SIDE = 768  # larger grids are shrunk to this
MAX_BYTES = 100 * 1024  # a larger PNG is saved with a 256-colour palette (each stays well under 200 KB)
MIN_SIDE = 320  # smaller ones are enlarged by an integer factor (nearest) so that 32 px faces can be seen


def facejax_cmd() -> list:
    exe = shutil.which("facejax")
    return [exe] if exe else [sys.executable, "-m", "facejax.cli"]


def run(cmd: list, log_path: str) -> float:
    """Runs cmd, its output appended to log_path; the seconds it took. A failure stops the script."""
    print("  $ " + " ".join(["facejax"] + cmd[len(facejax_cmd()) :]), flush=True)
    t0 = time.time()
    with open(log_path, "a") as log:
        rc = subprocess.call(cmd, stdout=log, stderr=subprocess.STDOUT)
    if rc != 0:
        sys.exit(f"make_pictures: failed (exit {rc}); the last lines of {log_path} say why")
    return time.time() - t0


def resolve(extra: list, dirs: dict) -> list:
    """extra with each "{run:NAME}" replaced by that run's workdir."""
    out = []
    for f in extra:
        for k, d in dirs.items():
            f = f.replace("{run:" + k + "}", d)
        out.append(f)
    return out


def save_picture(src: str, dst: str) -> tuple:
    im = Image.open(src).convert("RGB")
    w, h = im.size
    if max(w, h) > MAX_SIDE:
        f = MAX_SIDE / max(w, h)
        im = im.resize((round(w * f), round(h * f)), Image.LANCZOS)
    elif max(w, h) < MIN_SIDE:
        k = -(-MIN_SIDE // max(w, h))
        im = im.resize((w * k, h * k), Image.NEAREST)
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    im.save(dst, optimize=True)
    if os.path.getsize(dst) > MAX_BYTES:  # blurry 32 px faces have many colours: a 256-colour palette keeps them
        im.quantize(256, method=Image.Quantize.MEDIANCUT).save(dst, optimize=True)
    return im.size


def make(family: str, root: str, force: bool, timings: dict) -> None:
    fj = facejax_cmd()
    base = os.path.join(root, family)
    os.makedirs(base, exist_ok=True)
    log_path = os.path.join(base, "log.txt")
    dirs = {name: os.path.join(base, name) for name, _, _ in RUNS[family]}
    print(f"[{family}] log: {log_path}", flush=True)
    for name, preset, extra in RUNS[family]:
        workdir = dirs[name]
        done = os.path.join(workdir, "DONE")
        if force and os.path.exists(workdir):
            shutil.rmtree(workdir)
        if os.path.exists(done):
            print(f"[{family}] {name} ({preset}): done before, skipped", flush=True)
            continue
        flags = resolve(extra, dirs)
        flags += OVERRIDES.get(f"{family}/{name}", [])
        print(f"[{family}] training {name} ({family}:{preset})", flush=True)
        secs = run(fj + ["train", f"--config={family}:{preset}", f"--workdir={workdir}"] + flags, log_path)
        timings[f"{family}/{name}"] = round(secs)
        print(f"[{family}] {name}: {secs / 60:.1f} min", flush=True)
        with open(done, "w") as f:
            f.write(f"{secs:.0f}\n")
    name, preset, extra = RUNS[family][-1]
    out = os.path.join(base, "samples")
    if force or not glob.glob(os.path.join(out, "*.png")):
        shutil.rmtree(out, ignore_errors=True)
        flags = resolve(extra, dirs)
        flags += OVERRIDES.get(f"{family}/{name}", [])
        print(f"[{family}] sampling", flush=True)
        secs = run(
            fj + ["sample", f"--config={family}:{preset}", f"--workdir={dirs[name]}", f"--out={out}"] + flags, log_path
        )
        timings[f"{family}/sample"] = round(secs)
    grids = sorted(glob.glob(os.path.join(out, "*.png")))
    want = GRID.get(family, "")
    pick = next((g for g in reversed(grids) if want and want in os.path.basename(g)), grids[-1])  # the newest step
    dst = os.path.join(IMG_DIR, f"{family}.png")
    size = save_picture(pick, dst)
    kb = os.path.getsize(dst) / 1024
    print(
        f"[{family}] {os.path.basename(pick)} -> docs/img/{family}.png ({size[0]}x{size[1]}, {kb:.0f} KB)", flush=True
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workdir", required=True, help="folder for the runs (created; re-running resumes in it)")
    p.add_argument("--families", default=",".join(RUNS), help="comma-separated, default: all six")
    p.add_argument("--force", action="store_true", help="retrain and resample even finished runs")
    a = p.parse_args()
    families = [f for f in a.families.split(",") if f]
    unknown = [f for f in families if f not in RUNS]
    if unknown:
        sys.exit(f"make_pictures: unknown families {unknown}; known: {', '.join(RUNS)}")
    root = os.path.abspath(a.workdir)
    os.makedirs(root, exist_ok=True)
    tpath = os.path.join(root, "timings.json")
    timings = json.load(open(tpath)) if os.path.exists(tpath) else {}
    for family in families:
        t0 = time.time()
        make(family, root, a.force, timings)
        print(f"[{family}] finished in {(time.time() - t0) / 60:.1f} min", flush=True)
        with open(tpath, "w") as f:
            json.dump(timings, f, indent=1, sort_keys=True)
    print("make_pictures: all done; times (s) in " + tpath, flush=True)


if __name__ == "__main__":
    main()
