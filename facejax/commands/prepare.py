"""facejax prepare NAME[/CONFIG] --manual_dir=DIR [--data_dir=DIR] [--skip_bad] [--json]
facejax prepare STEP [--config=...] [flags]

Builds one of facejax's TFDS datasets (`facejax.datasets.BUILDERS`) into --data_dir (TFDS's default,
~/tensorflow_datasets, when not given). Datasets read from a manual download need --manual_dir, the folder
laid out as the dataset's README.md says; `synthetic_faces` needs none. A wrong folder, an unreadable
image (named; --skip_bad skips and counts such files instead) or an unknown NAME/CONFIG is one line on
stderr and exit status 2. --json prints {"name": "NAME/CONFIG", "splits": {"train": N, ...},
"skipped": N, "data_dir": DIR} as the last line of stdout.

A word that names no dataset runs a family's preprocessing step of that name (`base.Prepares`, e.g. a family's
masks or labels); `facejax prepare` with an unknown word lists the datasets and the families' steps.
"""

import contextlib
import json
import os
import sys

from absl import flags

from facejax.commands import common
from facejax.errors import FacejaxError

HELP = (
    "build a TFDS dataset from its manual download (NAME[/CONFIG] --manual_dir=DIR [--data_dir=DIR]), or run a "
    "family's prepare STEP"
)
NEEDS_CONFIG = False

MANUAL_DIR = flags.DEFINE_string("manual_dir", None, "prepare: folder holding the manually downloaded dataset")
DATA_DIR = flags.DEFINE_string("data_dir", None, "prepare: TFDS data_dir to build into (default: TFDS's)")
SKIP_BAD = flags.DEFINE_bool("skip_bad", False, "prepare: skip and count unreadable images instead of stopping")
SOURCE = common.flag(
    flags.DEFINE_string,
    "source",
    None,
    "prepare STEP: the TFDS dataset NAME[/CONFIG] a family's step reads (e.g. celeba_hq/256)",
)


def resolve(spec: str):
    """NAME or NAME/CONFIG -> (builder class, config name or None); FacejaxError naming the known ones."""
    from facejax.datasets import BUILDERS

    name, _, config = spec.partition("/")
    if name not in BUILDERS:
        raise FacejaxError(f"unknown dataset {name!r}; known: {', '.join(sorted(BUILDERS))}")
    cls = BUILDERS[name]
    if config and config not in cls.builder_configs:
        raise FacejaxError(f"unknown config {config!r} of {name}; known: {', '.join(cls.builder_configs)}")
    return cls, config or None


def prepare(spec: str, *, manual_dir=None, data_dir=None, skip_bad=False) -> dict:
    """Builds the dataset; returns {"name", "splits", "skipped", "skipped_files", "data_dir", "built"}."""
    import tensorflow_datasets as tfds

    from facejax.datasets._manual import ManualBuilder

    cls, config = resolve(spec)
    manual = issubclass(cls, ManualBuilder)
    if manual and not manual_dir:
        raise FacejaxError(f"--manual_dir is required for {cls.name}; expected {cls.LAYOUT}")
    if manual_dir and not manual:
        raise FacejaxError(f"{cls.name} is generated, not read from a download: drop --manual_dir")
    if manual_dir and not os.path.isdir(manual_dir):
        raise FacejaxError(f"--manual_dir {manual_dir} is not a folder; expected {cls.LAYOUT}")
    kwargs = {"skip_bad": skip_bad} if manual else {}
    builder = tfds.builder(cls.name, config=config, data_dir=data_dir or None, **kwargs)
    # (builder.is_prepared() would log a warning about the not-yet-built folder)
    built = not os.path.isfile(os.path.join(os.fspath(builder.data_dir), "dataset_info.json"))
    download_config = tfds.download.DownloadConfig(manual_dir=os.path.abspath(manual_dir) if manual_dir else None)
    try:
        with contextlib.redirect_stdout(sys.stderr):  # TFDS prints its progress on stdout
            builder.download_and_prepare(download_config=download_config)
    except PermissionError as e:
        raise FacejaxError(
            f"cannot write the dataset to {builder.data_dir}: {e.strerror or e} "
            f"({e.filename or ''}); choose a writable --data_dir"
        ) from None
    skipped = list(getattr(builder, "skipped", []))
    return {
        "name": f"{builder.name}/{builder.builder_config.name}",
        "splits": {split: info.num_examples for split, info in builder.info.splits.items()},
        "skipped": len(skipped),
        "skipped_files": skipped,
        "data_dir": os.fspath(builder.data_dir),
        "built": built,
    }


def family_steps() -> dict:
    """{step name: (family name, base.PrepareStep)} of every registered family with `Prepares`; a name two
    families claim is an error naming both."""
    from facejax import registry
    from facejax.families import base

    steps = {}
    for name in registry.names():
        cls = registry.family_class(name)
        if not base.has(cls, base.Prepares):
            continue
        for step, spec in cls.prepare_steps().items():
            if step in steps and steps[step][0] != cls.name:
                raise FacejaxError(
                    f"prepare step {step!r} is defined by families {steps[step][0]!r} and {cls.name!r}; rename one"
                )
            steps[step] = (cls.name, spec)
    return steps


def run_step(word: str, step, config) -> None:
    """Runs a family's prepare step with the flags; prints its summary (or its result as JSON)."""
    from facejax.families import base

    if step.needs_config and config is None:
        raise FacejaxError(f"prepare {word}: --config is required ({step.help})")
    result = step.run(
        base.PrepareArgs(
            config=config,
            manual_dir=MANUAL_DIR.value,
            out=common.OUT.value,
            workdir=common.WORKDIR.value,
            source=SOURCE.value,
            data_dir=DATA_DIR.value,
        )
    )
    print(json.dumps(result) if common.JSON.value else step.summary(result))


def _known(steps) -> str:
    from facejax.datasets import BUILDERS

    return f"datasets: {', '.join(sorted(BUILDERS))}; family steps: " + (
        ", ".join(f"{k} ({fam})" for k, (fam, _) in sorted(steps.items())) or "none"
    )


def main(config, args):
    from facejax.datasets import BUILDERS

    if len(args) != 1:
        got = f"got {' '.join(args)!r}" if args else "got none"
        raise FacejaxError(
            f"give one dataset as NAME or NAME/CONFIG, or a family's prepare step ({got}); "
            f"known: {_known(family_steps())}"
        )
    if args[0].partition("/")[0] not in BUILDERS:  # not a TFDS dataset: a family's step
        steps = family_steps()
        if args[0] not in steps:
            raise FacejaxError(f"unknown dataset or prepare step {args[0]!r}; known: {_known(steps)}")
        return run_step(args[0], steps[args[0]][1], config)
    del config
    if common.JSON.value or not sys.stderr.isatty():
        import tensorflow_datasets as tfds

        tfds.disable_progress_bar()
    result = prepare(args[0], manual_dir=MANUAL_DIR.value, data_dir=DATA_DIR.value, skip_bad=SKIP_BAD.value)
    if common.JSON.value:
        print(json.dumps({k: result[k] for k in ("name", "splits", "skipped", "data_dir")}))
        return
    splits = ", ".join(f"{k} {v}" for k, v in result["splits"].items())
    state = "prepared" if result["built"] else "already prepared (delete the folder to rebuild)"
    print(f"{result['name']} {state} in {result['data_dir']}: {splits}")
    if result["skipped"]:
        print(f"skipped {result['skipped']} unusable file(s):")
        for line in result["skipped_files"]:
            print(f"  {line}")
