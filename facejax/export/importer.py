"""Reading an original's checkpoint files into a train state: what `facejax import` and facejax.api.import_original
share (the family's TorchInterop layout, or its own reader where it has ImportsOwnFiles)."""

from __future__ import annotations

import os

from facejax.errors import FacejaxError


def read_original(config, source: str, step: int | None = None):
    """The original's files at `source` as a train state: (family, step, TrainState, {kind: path read}, [notes]).
    Writes nothing."""
    import jax

    from facejax import registry
    from facejax.export import files
    from facejax.families import base
    from facejax.train.state import root_key_data

    # A family whose original names its files otherwise (BeautyGAN's <epoch>_<iter>_G.pth) reads them itself.
    own_files = base.has(registry.family_class(config.family), base.ImportsOwnFiles)
    if not own_files:
        step, paths = files.find_checkpoint_files(source, step)
    family = base.require(registry.create(config), base.TorchInterop)
    if own_files:
        step, state, paths, notes = family.import_files(source, step)
        state = jax.tree.map(jax.numpy.asarray, state.replace(step=jax.numpy.asarray(step, state.step.dtype)))
    else:
        layout = family.torch_layout()
        loaded = layout.load(paths)  # every tensor checked against the config before anything is built
        rng = root_key_data(config.seed)
        state, notes = layout.build_state(
            loaded, paths, step=step, rng=rng, optimizers=family.optimizers, init_fn=lambda: jax.jit(family.init)(rng)
        )
    return family, step, state, paths, notes


def check_new_workdir(workdir: str) -> str:
    """<workdir>/checkpoints, refused when it already holds checkpoints (an import never overwrites)."""
    ckpt_dir = os.path.join(workdir, "checkpoints")
    if os.path.isdir(ckpt_dir) and any(n.isdigit() for n in os.listdir(ckpt_dir)):
        raise FacejaxError(
            f"{ckpt_dir} already has checkpoints; import into a new --workdir (nothing there is overwritten)"
        )
    return ckpt_dir


def write_checkpoint(config, workdir: str, step: int, state) -> str:
    """Saves an imported state as <workdir>/checkpoints/<step> (from which `facejax train` resumes); its path."""
    from facejax.train.checkpoint import Checkpointer

    ckpt_dir = check_new_workdir(workdir)
    checkpointer = Checkpointer(workdir, keep=config.keep_checkpoints)
    checkpointer.save(step, state, None, config.to_dict(), force=True)
    checkpointer.close()
    return os.path.join(ckpt_dir, str(step))
