"""facejax export --config=... --workdir=DIR --out=DIR [--step=N] [--with_optim] [--format=torch|safetensors]

Writes the run's checkpoint as the original's code writes its own files (each family's names and layout:
`facejax export --config=FAMILY:PRESET --help`), every key and buffer included, so that the original's modules
load them with strict=True; --with_optim adds the optimizer states where the original saves them.
--format=safetensors writes the same tensors as `.safetensors` files with network-prefixed keys.
"""

import json

from absl import flags

from facejax.commands import common
from facejax.errors import FacejaxError

HELP = "write --workdir's checkpoint as the original PyTorch files (nets, nets_ema[, optims]) into --out"
NEEDS_CONFIG = True


STEP = common.flag(flags.DEFINE_integer, "step", None, "export/import: checkpoint step (default: the newest)")
WITH_OPTIM = common.flag(flags.DEFINE_bool, "with_optim", False, "export: also write {step}_optims.ckpt (Adam states)")
FORMAT = common.flag(flags.DEFINE_string, "format", "torch", "export: torch (.ckpt via torch.save) or safetensors")


def family_help(config) -> str:
    """The selected family's original files (`facejax export --config=... --help`)."""
    from facejax.commands import import_

    return import_.files_help(config)


def family_help_all() -> str:
    from facejax.commands import import_

    return import_.files_help(None)


def main(config, args):
    del args
    from facejax.export import files
    from facejax.families import base
    from facejax.train import trainer

    workdir, out = common.require(common.WORKDIR, "workdir"), common.require(common.OUT, "out")
    fmt = FORMAT.value
    if fmt not in files.EXTENSIONS:
        raise FacejaxError(f"--format={fmt}: expected torch or safetensors")
    if fmt == "torch":
        files.require_torch("--format=torch")
    run = trainer.Run(config, workdir)
    layout = base.require(run.family, base.TorchInterop).torch_layout()
    steps = sorted(run.checkpointer.manager.all_steps())
    if not steps:
        raise FacejaxError(
            f"{workdir} has no checkpoint (expected {run.checkpointer.directory}/<step>/); "
            f"train first or point --workdir at a run"
        )
    step = steps[-1] if STEP.value is None else STEP.value
    if step not in steps:
        raise FacejaxError(f"--step={step}: {run.checkpointer.directory} has steps {', '.join(map(str, steps))}")
    run.checkpointer.check_fits(step, config.to_dict(), run.family.architecture_fields)
    state = run.checkpointer.restore(step, run.abstract_state)
    run.checkpointer.close()
    written = layout.write(layout.export(state, with_optim=WITH_OPTIM.value), out, step, fmt)
    if common.JSON.value:
        print(json.dumps({"step": step, **written}))
    else:
        for kind, path in written.items():
            nets = ", ".join(layout.file_networks(kind))
            print(f"{kind}: {path} ({nets})")
