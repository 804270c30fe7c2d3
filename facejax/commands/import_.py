"""facejax import --config=... --from=DIR_OR_FILE --workdir=DIR [--step=N]

Reads an original's checkpoint files, as the original names and saves them, into an Orbax checkpoint of the same
step in DIR, from which `facejax train` resumes and `facejax sample` samples. --from is a folder (the newest step,
or --step) or one of the files (the step is read from its name). Only the files of the networks sampling uses are
needed (a released generator); networks without a file start fresh, and frozen networks that only training reads
(VGG, identity, parsing, aesthetic weights) are read from their config fields when training starts.
`facejax import --config=FAMILY:PRESET --help` names that family's files; without --config, every family's.
"""

import json

from absl import flags

from facejax.commands import common
from facejax.commands.export import STEP
from facejax.errors import FacejaxError

HELP = "read the original PyTorch checkpoint files (--from) into a new run in --workdir"
NEEDS_CONFIG = True

FROM = common.flag(
    flags.DEFINE_string,
    "from",
    None,
    "import: a folder of the original's checkpoint files, or one of them (the family's names: --config=... --help)",
)


def family_help(config) -> str:
    """The selected family's original files (`facejax import --config=... --help`)."""
    return files_help(config)


def family_help_all() -> str:
    """Every family's original files, briefly (`facejax import --help` without --config)."""
    return files_help(None)


def files_help(config) -> str:
    from facejax import registry
    from facejax.families import base

    if config is not None:
        return base.describe_original_files(registry.family_class(config.family))
    lines = ["The original's files per family (--config=FAMILY:PRESET --help for details):"]
    for name in registry.names():
        try:
            cls = registry.family_class(name)
        except (FacejaxError, ImportError):  # an out-of-tree family that does not import: no reason to fail the help
            continue
        if base.original_files(cls):
            lines.append(base.describe_original_files(cls, brief=True))
    return "\n".join(lines)


def main(config, args):
    from facejax.export import importer

    del args
    source, workdir = common.require(FROM, "from"), common.require(common.WORKDIR, "workdir")
    importer.check_new_workdir(workdir)
    _, step, state, paths, notes = importer.read_original(config, source, STEP.value)
    written = importer.write_checkpoint(config, workdir, step, state)
    if common.JSON.value:
        print(json.dumps({"step": step, "checkpoint": written, "read": paths, "notes": notes}))
    else:
        for kind, path in sorted(paths.items()):
            print(f"read {kind}: {path}")
        for note in notes:
            print(f"note: {note}")
        print(f"wrote {written} (step {step}); `facejax train` resumes from it, `facejax sample` samples it")
