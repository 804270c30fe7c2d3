"""Weights the completion family reads from files the user supplies: the frozen face-parsing network (a facejax
run of the gfc_parsing family, config.parsing_checkpoint) and, optionally, torchvision's VGG-19 for the
generator's VGG convs (config.vgg19_weights)."""

from __future__ import annotations

import os

import jax
from ml_collections import ConfigDict

from facejax.errors import FacejaxError
from facejax.families.gfc.nets import g_widths
from facejax.families.gfc.parsing_family import GFCParsing
from facejax.nn import vgg
from facejax.train import mesh as mesh_lib
from facejax.train.checkpoint import Checkpointer
from facejax.train.state import root_key_data

PARSING_FIELDS = ("img_size", "model.parsing.widths", "model.parsing.last_width", "model.parsing.num_classes")
# G's layers that are VGG-19's (conv1_1 is replaced by conv1_1_new: its input is the 32-wide stage 0).
G_VGG_LAYERS = ("conv1_2", "conv2_1", "conv2_2", "conv3_1", "conv3_2", "conv3_3", "conv3_4")
HOW = (
    "train it first: facejax train --config=configs/gfc.py:parsing --workdir=RUN (parsing_synthetic for the "
    "synthetic preset), then pass --config.parsing_checkpoint=RUN"
)


def _checkpoint_dir(path: str) -> tuple[str, int | None]:
    """(workdir, step or None) of RUN, RUN/checkpoints or RUN/checkpoints/<step>."""
    path = os.path.normpath(path)
    base = os.path.basename(path)
    if base.isdigit() and os.path.basename(os.path.dirname(path)) == "checkpoints":
        return os.path.dirname(os.path.dirname(path)), int(base)
    if base == "checkpoints":
        return os.path.dirname(path), None
    return path, None


def _get(d: dict, dotted: str):
    for k in dotted.split("."):
        d = d.get(k, {}) if isinstance(d, dict) else {}
    return d if d != {} else None


def load_parsing(config) -> dict:
    """The frozen parsing parameters (pure dict) of config.parsing_checkpoint's newest (or named) checkpoint."""
    path = config.parsing_checkpoint
    if not path:
        raise FacejaxError(
            f"config.parsing_checkpoint is empty: the parsing loss (stage 3, lambda_parsing > 0) and "
            f"the parsing score need the frozen face-parsing network; {HOW}"
        )
    workdir, step = _checkpoint_dir(path)
    if not os.path.isdir(os.path.join(workdir, "checkpoints")):
        raise FacejaxError(
            f"config.parsing_checkpoint={path!r}: no facejax run there (expected "
            f"{os.path.join(workdir, 'checkpoints')}/<step>/); {HOW}"
        )
    ck = Checkpointer(workdir)
    try:
        steps = sorted(ck.manager.all_steps())
        step = steps[-1] if step is None and steps else step
        if step is None or step not in steps:
            raise FacejaxError(
                f"config.parsing_checkpoint={path!r}: no checkpoint {step if step else ''} in "
                f"{ck.directory} (it has {steps}); {HOW}"
            )
        saved = ck.saved_config(step)
        if saved.get("family") != "gfc_parsing":
            raise FacejaxError(
                f"config.parsing_checkpoint={path!r} is a run of family {saved.get('family')!r}; "
                f"expected a gfc_parsing run ({HOW})"
            )
        for f in PARSING_FIELDS:
            mine = config.img_size if f == "img_size" else _get(config.to_dict(), f)
            if _get(saved, f) != mine:
                raise FacejaxError(
                    f"config.parsing_checkpoint={path!r} was trained with {f}={_get(saved, f)!r}, this "
                    f"config has config.{f}={mine!r}; they must match"
                )
        family = GFCParsing(ConfigDict(saved))
        rep = mesh_lib.replicated(mesh_lib.make_mesh())
        abstract = jax.eval_shape(family.init, root_key_data(0))
        abstract = jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=rep), abstract)
        state = ck.restore(step, abstract)
    finally:
        ck.close()
    return jax.device_get(state.params["P"])


def load_g_vgg19(config, g_params: dict) -> dict:
    """G's params with conv1_2 .. conv3_4 from torchvision's VGG-19 (the widths must be VGG-19's)."""
    widths = g_widths(config)
    if widths[1:] != (64, 128, 256):
        raise FacejaxError(
            f"config.vgg19_weights needs VGG-19's widths: "
            f"config.model.g.widths={config.model.g.widths!r}"
            f" has stages 1-3 of {widths[1:]}, VGG-19 has (64, 128, 256)"
        )
    loaded = vgg.load_vgg19(config.vgg19_weights, G_VGG_LAYERS, "config.vgg19_weights")
    out = dict(g_params)
    for name, w in loaded.items():
        out[name] = {"kernel": w["kernel"], "bias": w["bias"]}
    return out
