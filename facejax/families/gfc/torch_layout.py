"""GFC's PyTorch layout: facejax's reference modules (facejax/families/gfc/torch_ref.py), whose state_dict keys are
the Caffe prototxts' layer names with Caffe's blob shapes, and Caffe-style snapshot names.

Files, each a plain ``torch.save(net.state_dict())`` (``--format=safetensors``: the same tensors in
``.safetensors``), named as Caffe names its snapshots (``<prefix>_iter_<N>.caffemodel``):

  Model_G_iter_{step}.pth        ModelG: conv0_1 .. conv3_4, fc3 [4096, 16384], defc3 [16384, 4096],
                                 conv_decode3_4 .. conv_decode0_1, reconstruction_new (62 tensors)
  Model_localD_iter_{step}.pth   Discriminator(64, 64, first=1): conv1_1 .. conv4_2, conv5
  Model_globalD_iter_{step}.pth  Discriminator(128, 32, first=0): conv0_1 .. conv4_2, conv5 (Model_globalD's
                                 names; files written before these names, conv1_1 .. conv6, do not load)
  Model_parsing_iter_{step}.pth  ModelParsing: conv1_1 .. conv5_4, conv_decode5 .. conv_decode0

A completion run writes the first three and the frozen parsing network; a gfc_parsing run writes the last one.
Optimizer states are not exported (Caffe keeps them in .solverstate files of its own format): --with_optim is
refused and import starts fresh Adams. Importing the original .caffemodel files needs a Caffe protobuf parser,
which facejax does not depend on; their blobs map one-to-one onto these keys.
"""

from __future__ import annotations

import os
import re

import jax
import numpy as np

from facejax.errors import FacejaxError
from facejax.export import convert, files
from facejax.export.convert import LayoutSpec
from facejax.families.gfc import model
from facejax.families.gfc import nets as nets_lib
from facejax.train.state import root_key_data

G_ORDER = (
    "conv0_1",
    "conv0_2",
    "conv1_1_new",
    "conv1_2",
    "conv2_1",
    "conv2_2",
    "conv3_1",
    "conv3_2",
    "conv3_3",
    "conv3_4",
    "fc3",
    "defc3",
    "conv_decode3_4",
    "conv_decode3_3",
    "conv_decode3_2",
    "conv_decode3_1",
    "conv_decode2_2",
    "conv_decode2_1",
    "conv_decode1_2",
    "conv_decode1_1_new",
    "conv_decode0_2",
    "conv_decode0_1",
    "reconstruction_new",
)
PARSING_ORDER = tuple(f"conv{b}_{k}" for b, n in enumerate((2, 2, 4, 4, 4), 1) for k in range(1, n + 1)) + tuple(
    f"conv_decode{k}" for k in range(5, -1, -1)
)
SPEC = convert.BASE_SPEC.merged(
    LayoutSpec(
        order={
            "Generator": G_ORDER,
            "Discriminator": lambda m: m.layer_names(),
            "Parsing": PARSING_ORDER,
        }
    )
)
KINDS = {"Model_G": "G", "Model_localD": "D_local", "Model_globalD": "D_global", "Model_parsing": "P"}
EXTENSIONS = {"torch": ".pth", "safetensors": ".safetensors"}


def _abstract(config, name: str):
    # a gfc_parsing config reads only the parsing fields
    args = (model.Parsing, nets_lib.parsing_args(config)) if name == "P" else nets_lib.net_args(config)[name]
    return nets_lib.abstract_net(*args)


def module_layout(module, name: str = "") -> convert.NetLayout:
    return convert.layout(module, SPEC, name)


FIELDS = {
    "G": ("model.g.widths", "model.g.dec_width", "model.g.fc_dim", "img_size"),
    "D_local": ("model.d.local_base", "model.d.max_width", "mask.size"),
    "D_global": ("model.d.global_base", "model.d.max_width", "img_size"),
    "P": ("model.parsing.widths", "model.parsing.last_width", "model.parsing.num_classes"),
}


def _explain(config, name: str):
    def explain(file_shapes):
        vals = ", ".join(f"config.{f}={_get(config, f)!r}" for f in FIELDS[name])
        return f"this config builds {name} from {vals}; the file was written with other values of these fields"

    return explain


def _get(config, dotted):
    node = config
    for k in dotted.split("."):
        node = node[k]
    return node


class TorchLayout:
    """Export / import of a config's networks (`nets`: G, D_local, D_global, P or just P) in Caffe-named files."""

    def __init__(self, config, nets):
        self.config = config
        self.names = tuple(nets) + (("P",) if "G" in nets else ())  # a completion run carries the frozen P too
        self.kinds = {k: v for k, v in KINDS.items() if v in self.names}
        self.nets = {n: module_layout(_abstract(config, n), n) for n in self.names}

    def file_networks(self, kind: str) -> tuple[str, ...]:
        return (self.kinds[kind],)

    def export(self, state, with_optim: bool = False) -> dict:
        if with_optim:
            raise FacejaxError(
                "--with_optim: GFC's Caffe solvers keep Adam states in .solverstate files, not in the "
                "model files; facejax writes the networks only"
            )
        params = jax.device_get(state.sampling_params())  # the trained nets and a completion run's frozen P
        return {kind: convert.to_torch(params[net], self.nets[net]) for kind, net in self.kinds.items()}

    def write(self, exported: dict, out_dir: str, step: int, fmt: str) -> dict[str, str]:
        written = {}
        for kind, sd in exported.items():
            path = os.path.join(out_dir, f"{kind}_iter_{step}{EXTENSIONS[fmt]}")
            written[kind] = (
                files.save_torch(path, sd)
                if fmt == "torch"
                else files.save_safetensors(path, sd, {"format": "pt", "facejax_step": str(step)})
            )
        return written

    def find(self, source: str, step: int | None = None) -> tuple[int, dict[str, str]]:
        """(step, {kind: path}) of one snapshot in a folder (newest, or --step), or beside a named file."""
        primary = "Model_G" if "G" in self.names else "Model_parsing"
        kinds = "|".join(re.escape(k) for k in self.kinds)
        pattern = re.compile(rf"^(?P<kind>{kinds})_iter_(?P<step>\d+)\.(pth|pt|safetensors)$")
        return files.find_snapshot(
            source,
            step,
            pattern=pattern,
            required=(primary,),
            describe=f"{primary}_iter_<N>.pth",
            example=f"{primary}_iter_300000.pth",
        )

    read = staticmethod(files.read_state_dict)

    def load(self, paths: dict[str, str]) -> dict:
        """{network: pure params}; every tensor checked (CheckpointMismatch names the first misfit)."""
        out = {}
        for kind, path in paths.items():
            net = self.kinds[kind]
            out[net] = convert.from_torch(
                self.read(path), self.nets[net], source=path, explain=_explain(self.config, net)
            )
        return out


def import_files(family, source: str, step: int | None = None, missing=None):
    """(step, state, {kind: path}, notes) from Caffe-named snapshot files. Each network read goes where the family's
    fresh state keeps it (params, or frozen: a completion run's P). ``missing(net)`` -> (pure params or None, note)
    gives a network with no file for this step (None: it starts freshly initialised)."""
    layout = family.torch_layout()
    step, paths = layout.find(source, step)
    loaded = layout.load(paths)
    base = jax.jit(family.init)(root_key_data(family.config.seed))
    params, frozen = dict(jax.device_get(base.params)), dict(jax.device_get(base.frozen))
    notes = []
    for kind, net in layout.kinds.items():
        value = loaded.get(net)
        if value is None:
            value, note = missing(net) if missing is not None else (None, None)
            notes.append(note or f"no {kind} file for this step: {net} starts freshly initialised")
        if value is not None:
            (frozen if net in frozen else params)[net] = value
    notes.append("GFC's model files hold no optimizer states: the Adam optimizers start fresh")
    state = base.replace(params=jax.tree.map(np.asarray, params), frozen=jax.tree.map(np.asarray, frozen))
    return step, state, paths, notes
