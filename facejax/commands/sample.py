"""facejax sample --config=... --workdir=DIR --out=DIR [--src=DIR --ref=DIR]: grids from the EMA weights
of DIR's newest checkpoint; with --src/--ref, every source translated with every reference (the family's
translate_folders where it has one: BeautyGAN's makeup and de-makeup pairs)."""

import json
import os

from absl import flags

from facejax.commands import common
from facejax.errors import FacejaxError

HELP = "sample grids from --workdir's EMA weights into --out; --src/--ref translate folders"
NEEDS_CONFIG = True

SRC = flags.DEFINE_string("src", None, "sample: folder of source images (StarGAN v2: <domain>/<image>; "
                                        "BeautyGAN: faces without makeup)")
REF = flags.DEFINE_string("ref", None, "sample: folder of reference images (StarGAN v2: <domain>/<image>; "
                                        "BeautyGAN: made-up faces)")
MASK = flags.DEFINE_string("mask", None, "sample (GFC): the hole to complete in every --src image: a mask image "
                                          "(white = hole) or a mask type of config.masks (eyes, mouth, ...)")


def main(config, args):
    del args
    from facejax import images
    from facejax.train import trainer

    workdir, out = common.require(common.WORKDIR, "workdir"), common.require(common.OUT, "out")
    run = trainer.Run(config, workdir)
    complete = getattr(run.family, "complete_folder", None)  # in-painting families: --src [--mask], no --ref
    complete = complete or getattr(run.family, "beautify_folder", None)  # Beholder-GAN: --src faces to beautify
    if complete is None and (bool(SRC.value) != bool(REF.value) or MASK.value):
        raise FacejaxError("--src and --ref go together: give both folders or neither (--mask is for GFC)")
    if complete is not None and (REF.value or (MASK.value and not SRC.value)):
        raise FacejaxError(f"family {config.family}: give --src=FOLDER [--mask=FILE|TYPE]; it takes no --ref")
    state = run.restore_state()
    if state is None:
        raise FacejaxError(f"{workdir} has no checkpoint (expected {run.checkpointer.directory}/<step>/); "
                           f"train first or point --workdir at a run")
    step = int(state.step)
    written = {}
    for name, grid in run.family.sample_grids(state, run.family.sample_inputs(config.num_sample_images)).items():
        written[name] = images.save_png(os.path.join(out, f"{step:06d}_{name}.png"), grid)
    if SRC.value and complete is not None:
        res = complete(state, SRC.value, MASK.value, out)
        written["completion_grid"] = res.pop("grid")
        written.update(res)
    elif SRC.value:
        translate = getattr(run.family, "translate_folders", None)  # the family's own pairs (BeautyGAN)
        if translate is None:
            from facejax.families.stargan_v2 import sample

            res = sample.translate_folders(run.family, state.ema, SRC.value, REF.value, out)
        else:
            res = translate(state, SRC.value, REF.value, out)
        written["pairs_grid"] = res["grid"]
        written["pairs"] = res["pairs"]
        written.update({k: v for k, v in res.items() if k not in ("grid", "pairs")})
    if common.JSON.value:
        print(json.dumps(written))
    else:
        for k, v in written.items():
            print(f"{k}: {v}")
