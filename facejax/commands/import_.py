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
import os

from absl import flags

from facejax.commands import common
from facejax.commands.export import STEP
from facejax.errors import FacejaxError

HELP = "read the original PyTorch checkpoint files (--from) into a new run in --workdir"
NEEDS_CONFIG = True

FROM = common.flag(
    flags.DEFINE_string, "from", None, "import: a folder of <step>_nets_ema.ckpt files, or one such file"
)


def main(config, args):
    del args
    import jax

    from facejax import registry
    from facejax.export import files
    from facejax.families import base
    from facejax.train.checkpoint import Checkpointer
    from facejax.train.state import root_key_data

    source, workdir = common.require(FROM, "from"), common.require(common.WORKDIR, "workdir")
    # A family whose original names its files otherwise (BeautyGAN's <epoch>_<iter>_G.pth) reads them itself.
    own_files = base.has(registry.family_class(config.family), base.ImportsOwnFiles)
    if not own_files:
        step, paths = files.find_checkpoint_files(source, STEP.value)
    family = base.require(registry.create(config), base.TorchInterop)
    layout = family.torch_layout()
    ckpt_dir = os.path.join(workdir, "checkpoints")
    if os.path.isdir(ckpt_dir) and any(n.isdigit() for n in os.listdir(ckpt_dir)):
        raise FacejaxError(
            f"{ckpt_dir} already has checkpoints; import into a new --workdir (nothing there is overwritten)"
        )
    if own_files:
        step, state, paths, notes = family.import_files(source, STEP.value)
        state = jax.tree.map(jax.numpy.asarray, state.replace(step=jax.numpy.asarray(step, state.step.dtype)))
    else:
        loaded = layout.load(paths)  # every tensor checked against the config before anything is built
        rng = root_key_data(config.seed)
        state, notes = layout.build_state(
            loaded, paths, step=step, rng=rng, optimizers=family.optimizers, init_fn=lambda: jax.jit(family.init)(rng)
        )
    checkpointer = Checkpointer(workdir, keep=config.keep_checkpoints)
    checkpointer.save(step, state, None, config.to_dict(), force=True)
    checkpointer.close()
    written = os.path.join(ckpt_dir, str(step))
    if common.JSON.value:
        print(json.dumps({"step": step, "checkpoint": written, "read": paths, "notes": notes}))
    else:
        for kind, path in sorted(paths.items()):
            print(f"read {kind}: {path}")
        for note in notes:
            print(f"note: {note}")
        print(f"wrote {written} (step {step}); `facejax train` resumes from it, `facejax sample` samples it")
