"""AesGAN's PyTorch layout: facejax/families/aesgan/torch_ref.py's modules (the original is TF1 and ships no PyTorch
code; that module's docstring documents the tensor names, taken from the original's TF variable scopes).

Files, each a plain ``torch.save(module.state_dict())`` (or ``--format=safetensors``), named by step:

  aesgan            ``{step:06d}_G.pth``       Generator (encode_decode)
                    ``{step:06d}_D.pth``       Discriminator (discriminate; spectral-norm ``weight_bar``,
                                               ``weight_u``, ``weight_v`` per layer, the current power-iteration
                                               vectors)
  aesgan_aesthetic  ``{step:06d}_eyenet.pth``  EyeNet (conv_net ``g_*``, scoring head ``s_*``, reconstruction ``r_*``)
  aesgan_parsing    ``{step:06d}_parsing.pth`` ParsingNet (model_contour; BatchNorm running statistics included)

The optimizer states have no PyTorch counterpart here: export refuses --with_optim, import starts fresh Adams
(and reads the frozen aesthetic / parsing networks of an in-painting run from its config, as training does).
"""

from __future__ import annotations

import collections
import os
import re

import jax
import numpy as np
from flax import nnx

from facejax.errors import FacejaxError
from facejax.export import convert, files
from facejax.export.convert import DEFAULT_LEAF_NAMES, LayoutSpec
from facejax.families import base
from facejax.families.aesgan import parsing_net
from facejax.families.aesgan.eyenet import N_RES
from facejax.train.state import root_key_data

_G = ["e_c1", "e_in1", "e_c2", "e_in2", "e_c3", "e_in3"]
_EYE = (
    ["g_e0_c", "g_e0_bn", "g_e1_c", "g_e1_bn", "g_e2_c", "g_e2_bn"]
    + [f"g_r{k}_{s}" for k in range(1, N_RES + 1) for s in ("c0", "bn0", "c1", "bn1")]
    + ["s_fc1", "s_fc2", "r_d1", "r_in1", "r_d2", "r_in2", "r_c3"]
)

SPEC = convert.BASE_SPEC.merged(
    LayoutSpec(
        order={
            "Generator": lambda m: (
                _G
                + [f"re_{i + 1}" for i in range(m.n_res)]
                + ["gen_deconv1", "gen_in", "g_deconv_1_1", "gen_in_1_1", "gen_conv_1_2"]
            ),
            "Residual": ("conv1", "in1", "conv2", "in2"),
            "SameConv2d": ("kernel", "bias"),
            "SameDeconv": ("kernel", "bias"),
            "ConvTranspose2d": ("kernel", "bias"),
            "TFInstanceNorm": ("scale", "bias"),
            "Discriminator": [f"dis_conv_{i}" for i in range(5)]
            + ["dis_fully1"]
            + [f"dis_conv_2_{i}" for i in range(5)]
            + ["dis_fully2", "dis_fully3"],
            "SameSpectralConv2d": ("bias", "u", "v", "kernel"),
            "SpectralLinear": ("bias", "u", "v", "kernel"),
            "EyeNet": _EYE,
            "ParsingNet": parsing_net.layer_names(),
            "BatchNorm": ("scale", "bias", "mean", "var", "num_batches_tracked"),
        },
        leaf_names={**DEFAULT_LEAF_NAMES, "u": "weight_u", "v": "weight_v"},
    )
)
EXTENSIONS = {"torch": ".pth", "safetensors": ".safetensors"}


def module_layout(module, name: str = "") -> convert.NetLayout:
    return convert.weight_bar_names(convert.layout(module, SPEC, name))


def module_state_dict(module) -> "collections.OrderedDict[str, np.ndarray]":
    return convert.to_torch(nnx.to_pure_dict(nnx.state(module)), module_layout(module))


class TorchLayout:
    """Export / import of one aesgan family's networks. ``kinds``: file kind -> (network name in the state,
    abstract module)."""

    def __init__(self, family, kinds: dict):
        self.family = family
        self.kinds = {k: net for k, (net, _) in kinds.items()}
        self.nets = {net: module_layout(module, net) for net, module in kinds.values()}

    def file_networks(self, kind: str) -> tuple[str, ...]:
        return (self.kinds[kind],)

    def export(self, state, with_optim: bool = False) -> dict:
        if with_optim:
            raise FacejaxError(
                "--with_optim: AesGAN's PyTorch layout holds the networks only (the original is "
                "TF1; there is no PyTorch optimizer file to write)"
            )
        params = jax.device_get(state.params)
        return {kind: convert.to_torch(params[net], self.nets[net]) for kind, net in self.kinds.items()}

    def write(self, exported: dict, out_dir: str, step: int, fmt: str) -> dict[str, str]:
        written = {}
        for kind, sd in exported.items():
            path = os.path.join(out_dir, f"{step:06d}_{kind}{EXTENSIONS[fmt]}")
            if fmt == "torch":
                written[kind] = files.save_torch(path, sd)
            else:
                written[kind] = files.save_safetensors(path, sd, {"format": "pt", "facejax_step": str(step)})
        return written

    def find(self, source: str, step: int | None = None) -> tuple[int, dict[str, str]]:
        """(step, {kind: path}): a folder's newest step (or --step), or a named file and its siblings."""
        first = next(iter(self.kinds))
        kinds = "|".join(re.escape(k) for k in self.kinds)
        pattern = re.compile(rf"^(?P<step>\d+)_(?P<kind>{kinds})\.(pth|pt|ckpt|safetensors)$")
        return files.find_snapshot(
            source,
            step,
            pattern=pattern,
            required=(first,),
            describe=f"<step>_<{'|'.join(self.kinds)}>.pth",
            example=f"000400_{first}.pth",
        )

    read = staticmethod(files.read_state_dict)

    def load(self, paths: dict[str, str]) -> dict:
        """{network: pure params} of the files (every tensor checked; CheckpointMismatch names the misfit)."""
        return {
            self.kinds[k]: convert.from_torch(self.read(p), self.nets[self.kinds[k]], source=p)
            for k, p in paths.items()
        }


def import_files(family, source: str, step: int | None = None):
    """(step, state, {kind: path}, notes): a train state from the files; networks without a file stay fresh. The
    in-painting network's frozen aesthetic / parsing networks are not read here: they stay zeros until training
    starts (base.TrainingFiles), which reads them from the config."""
    layout = family.torch_layout()
    step, paths = layout.find(source, step)
    loaded = layout.load(paths)
    start = base.zero_training_files(family, jax.jit(family.init)(root_key_data(family.config.seed)))
    params = dict(jax.device_get(start.params))
    params.update(loaded)
    notes = [
        f"no {k} file for step {step}: {n} starts freshly initialised"
        for k, n in layout.kinds.items()
        if k not in paths
    ]
    notes.append("the PyTorch layout holds no optimizer states: the Adam optimizers start fresh")
    if base.has(family, base.TrainingFiles) and family.training_files():
        fields = ", ".join(f"config.{f.field}" for f in family.training_files().values())
        notes.append(f"training reads the frozen networks from {fields} when it starts")
    return step, start.replace(params=params), paths, notes
