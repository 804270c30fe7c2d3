"""facejax import --config=... --from=DIR_OR_FILE --workdir=DIR [--step=N]

Reads the original PyTorch checkpoint files (`{step}_nets.ckpt`, `{step}_nets_ema.ckpt`,
`{step}_optims.ckpt`, or their .safetensors exports) and writes an Orbax checkpoint of the same step into
DIR, from which `facejax train` resumes and `facejax sample` samples. --from is a folder (the newest step,
or --step) or one of the files (the step is read from its name). Released checkpoints are read as they are:
only nets_ema (used for the trained weights as well; a fresh discriminator), `module.`-prefixed keys,
no `hpf.filter` (the CelebA-HQ release). FAN comes from the files' `fan` entry, else from
--config.fan_weights (the release's wing.ckpt).
"""

import json

from absl import flags

from facejax.commands import common
from facejax.commands.export import STEP

HELP = "read the original PyTorch checkpoint files (--from) into a new run in --workdir"
NEEDS_CONFIG = True

FROM = common.flag(
    flags.DEFINE_string, "from", None, "import: a folder of <step>_nets_ema.ckpt files, or one such file"
)


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
