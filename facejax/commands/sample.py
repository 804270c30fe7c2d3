"""facejax sample --config=... --workdir=DIR --out=DIR [--src=DIR [--ref=DIR] [--mask=...] [--grids]]: the sample
grids of DIR's newest checkpoint (from the EMA weights where the family keeps them), drawn from the config's
evaluation dataset; with --src, the model on your own images instead, one PNG per result and a grid of them, with
no dataset needed (a family with `SamplesFolders`: which of --src/--ref/--mask it takes and what each folder holds
is the family's; `facejax sample --config=FILE:PRESET --help` lists them). --grids writes the dataset grids too."""

import json
import os

from absl import flags

from facejax.commands import common
from facejax.errors import FacejaxError

HELP = "sample grids from --workdir's checkpoint into --out; --src [--ref|--mask]: the model on your own folders"
NEEDS_CONFIG = True

_FAMILY = " (what the folder holds is the family's: `facejax sample --config=FILE:PRESET --help` says)"
SRC = flags.DEFINE_string("src", None, "sample: folder of your source images" + _FAMILY)
REF = flags.DEFINE_string(
    "ref", None, "sample: folder of your reference images, for a family that takes them" + _FAMILY
)
MASK = flags.DEFINE_string(
    "mask", None, "sample: what to fill in every --src image, for a family that takes it" + _FAMILY
)
GRIDS = flags.DEFINE_bool(
    "grids", False, "sample: with --src, also write the grids of the config's evaluation dataset (it must be prepared)"
)


def family_help(config) -> str:
    """The family's own --src/--ref/--mask (`facejax sample --config=... --help`)."""
    from facejax import registry
    from facejax.families import base

    family = registry.create(config)
    if not base.has(family, base.SamplesFolders):
        return f"Family {family.name!r}: sample grids only (it takes no --src)."
    fi = family.folder_inputs
    lines = [f"Family {family.name!r} takes:", f"  --src: {fi.src}"]
    if fi.ref:
        lines.append(f"  --ref: {fi.ref}" + (" (required with --src)" if fi.ref_required else ""))
    if fi.mask:
        lines.append(f"  --mask: {fi.mask}")
    return "\n".join(lines)


def check_folders(family, src, ref, mask):
    """The FolderRequest of the flags, or None without --src; one line when the family does not take them."""
    from facejax.families import base

    if not (src or ref or mask):
        return None
    base.require(family, base.SamplesFolders, hint="drop --src/--ref/--mask to write the sample grids")
    fi = family.folder_inputs
    usage = (
        "--src=FOLDER"
        + (" --ref=FOLDER" if fi.ref_required else " [--ref=FOLDER]" if fi.ref else "")
        + (" [--mask=...]" if fi.mask else "")
    )
    if ref and not fi.ref:
        raise FacejaxError(f"family {family.name}: give {usage}; it takes no --ref")
    if mask and not fi.mask:
        raise FacejaxError(f"family {family.name}: give {usage}; it takes no --mask")
    if not src:
        raise FacejaxError(f"family {family.name}: --ref/--mask need --src; give {usage}")
    if fi.ref_required and not ref:
        raise FacejaxError(f"--src and --ref go together: give both folders or neither (family {family.name}: {usage})")
    return base.FolderRequest(src=src, ref=ref or None, mask=mask or None)


def main(config, args):
    del args
    from facejax import images
    from facejax.train import trainer

    workdir, out = common.require(common.WORKDIR, "workdir"), common.require(common.OUT, "out")
    run = trainer.Run(config, workdir)
    request = check_folders(run.family, SRC.value, REF.value, MASK.value)
    state = run.restore_state()
    if state is None:
        raise FacejaxError(
            f"{workdir} has no checkpoint (expected {run.checkpointer.directory}/<step>/); "
            f"train first or point --workdir at a run"
        )
    step = int(state.step)
    written = {}
    if request is None or GRIDS.value:  # the dataset's grids; your own folders need no dataset
        for name, grid in run.family.sample_grids(state, run.family.sample_inputs(config.num_sample_images)).items():
            written[name] = images.save_png(os.path.join(out, f"{step:06d}_{name}.png"), grid)
    if request is not None:
        res = dict(run.family.sample_folders(state, request, out))
        # pairs of --src and --ref images, or each --src image completed alone
        written["pairs_grid" if run.family.folder_inputs.ref else "completion_grid"] = res.pop("grid")
        written.update(res)
    if common.JSON.value:
        print(json.dumps(written))
    else:
        for k, v in written.items():
            print(f"{k}: {v}")
