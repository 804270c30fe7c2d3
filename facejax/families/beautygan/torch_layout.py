"""BeautyGAN's PyTorch layout: wtjiang98/BeautyGAN_pytorch's modules, state_dict keys and snapshot files
(shared/reference/makeup.md section 3.3).

Files, each a plain ``torch.save(net.state_dict())`` (``save_models()``), named by the original's tag
``<epoch>_<iter>`` (1-based, as it counts when it saves):

  {tag}_G.pth              Generator_branch: Branch_0, Branch_1, main, branch_1, branch_2 (71 tensors at the
                           original's size; ConvTranspose2d weights [in, out, k, k])
  {tag}_D_{cls_A}.pth      D_A, which judges the makeup domain (real ref_B vs fake_A); cls_A = SYMIX
  {tag}_D_{cls_B}.pth      D_B, which judges the non-makeup domain; cls_B = MAKEMIX (config.cls_list)

The discriminators keep the original's custom spectral norm tensors, per conv: ``bias`` (not conv1),
``weight_u`` [out], ``weight_v`` [in*k*k], ``weight_bar`` [out, in, k, k] (the unnormalised weight), in that
order; ``weight_u``/``weight_v`` are the current power-iteration vectors, so a loaded D continues the iteration
where facejax left it. ``--format=safetensors`` writes the same tensors to ``{tag}_<net>.safetensors``.

The tag of step s: with config.steps_per_epoch = n > 0, ``{(s - 1) // n + 1}_{(s - 1) % n + 1}`` (the original's
epoch / iteration numbering, so that its ``--checkpoint`` resumes at the right epoch); with n = 0, ``1_{s}``.
Import reverses it (step = (epoch - 1) * n + iter). The original saves no optimizer states: export refuses
--with_optim, import starts fresh Adams.
"""

from __future__ import annotations

import collections
import os
import re

import jax
import numpy as np
from flax import nnx
from ml_collections import ConfigDict

from facejax.errors import FacejaxError
from facejax.export import convert, files
from facejax.export.convert import DEFAULT_LEAF_NAMES, LayoutSpec
from facejax.families.beautygan import model
from facejax.train.state import root_key_data

SPEC = convert.BASE_SPEC.merged(
    LayoutSpec(
        order={
            "Generator": ("Branch_0", "Branch_1", "main", "branch_1", "branch_2"),
            "ResidualBlock": ("main",),
            "ConvTranspose2d": ("kernel", "bias"),
            "Discriminator": ("main", "conv1"),
            "SpectralConv2d": ("bias", "u", "v", "kernel"),  # the custom SpectralNorm's registration order
        },
        leaf_names={**DEFAULT_LEAF_NAMES, "u": "weight_u", "v": "weight_v"},
    )
)
EXTENSIONS = {"torch": ".pth", "safetensors": ".safetensors"}


def module_layout(module, name: str = "") -> convert.NetLayout:
    """The original state_dict layout of a facejax BeautyGAN module (concrete or from nnx.eval_shape)."""
    return convert.weight_bar_names(convert.layout(module, SPEC, name))


def module_state_dict(module) -> "collections.OrderedDict[str, np.ndarray]":
    """The original's state_dict (numpy) of a concrete module (spectral-norm vectors included)."""
    return convert.to_torch(nnx.to_pure_dict(nnx.state(module)), module_layout(module))


def abstract_net(config, name: str):
    m = config.model
    if name == "G":
        return nnx.eval_shape(lambda: model.Generator(m.g_conv_dim, m.g_repeat_num, rngs=nnx.Rngs(0)))
    return nnx.eval_shape(lambda: model.Discriminator(m.d_conv_dim, m.d_repeat_num, rngs=nnx.Rngs(0)))


def _explain(config, name: str):
    """explain(file_shapes): the width / depth field that would make a file fit, if one does."""
    fields = ("model.g_conv_dim", "model.g_repeat_num") if name == "G" else ("model.d_conv_dim", "model.d_repeat_num")
    current = {
        "model.g_conv_dim": config.model.g_conv_dim,
        "model.g_repeat_num": config.model.g_repeat_num,
        "model.d_conv_dim": config.model.d_conv_dim,
        "model.d_repeat_num": config.model.d_repeat_num,
    }

    def layout_for(change):

        cfg = ConfigDict(config.to_dict())
        for k, v in change.items():
            cfg.model[k.split(".", 1)[1]] = int(v)
        return module_layout(abstract_net(cfg, name), name)

    def explain(file_shapes):
        dims = sorted({int(d) for s in file_shapes.values() for d in s if d <= 4096})
        depths = range(0, 13)
        cands = [(f, depths if f.endswith("repeat_num") else dims) for f in fields]
        return convert.explain_mismatch(file_shapes, current, cands, layout_for)

    return explain


def step_tag(step: int, steps_per_epoch: int) -> str:
    if steps_per_epoch > 0 and step > 0:
        return f"{(step - 1) // steps_per_epoch + 1}_{(step - 1) % steps_per_epoch + 1}"
    return f"1_{step}"


def tag_step(epoch: int, it: int, steps_per_epoch: int, where: str) -> int:
    if steps_per_epoch > 0:
        return (epoch - 1) * steps_per_epoch + it
    if epoch != 1:
        raise FacejaxError(
            f"{where}: tag {epoch}_{it} is epoch {epoch}; set --config.steps_per_epoch (iterations "
            f"per epoch of the run that wrote it, e.g. 2469 for MT's drawn split) to turn it into a "
            f"step"
        )
    return it


class TorchLayout:
    """Export / import of a config's networks in the original's snapshot files."""

    def __init__(self, config):
        self.config = config
        self.cls = tuple(s.strip() for s in config.cls_list.split(","))
        self.kinds = {"G": "G", f"D_{self.cls[0]}": "D_A", f"D_{self.cls[1]}": "D_B"}  # file suffix -> network
        self.nets = {"G": module_layout(abstract_net(config, "G"), "G")}
        d = module_layout(abstract_net(config, "D"), "D")
        self.nets["D_A"] = convert.NetLayout("D_A", d.tensors)
        self.nets["D_B"] = convert.NetLayout("D_B", d.tensors)

    def file_networks(self, kind: str) -> tuple[str, ...]:
        return (self.kinds[kind],)

    # ---------------------------------------------------------------- export

    def export(self, state, with_optim: bool = False) -> dict:
        """{file kind: ordered {key: numpy}}: G, D_<cls_A> (D_A), D_<cls_B> (D_B)."""
        if with_optim:
            raise FacejaxError(
                "--with_optim: BeautyGAN_pytorch saves no optimizer states (only {tag}_G.pth and "
                "{tag}_D_<cls>.pth), so there is no original file to write them to"
            )
        params = jax.device_get(state.params)
        return {kind: convert.to_torch(params[net], self.nets[net]) for kind, net in self.kinds.items()}

    def write(self, exported: dict, out_dir: str, step: int, fmt: str) -> dict[str, str]:
        tag = step_tag(step, self.config.steps_per_epoch)
        written = {}
        for kind, sd in exported.items():
            path = os.path.join(out_dir, f"{tag}_{kind}{EXTENSIONS[fmt]}")
            if fmt == "torch":
                written[kind] = files.save_torch(path, sd)
            else:
                written[kind] = files.save_safetensors(path, sd, {"format": "pt", "facejax_step": str(step)})
        return written

    # ---------------------------------------------------------------- import

    def find(self, source: str, step: int | None = None) -> tuple[int, dict[str, str]]:
        """(step, {file kind: path}) of one snapshot: in a folder (the newest tag, or the one of --step), or the
        tag of a named file (its siblings of the same tag). Tags <epoch>_<iter> become steps with
        config.steps_per_epoch."""
        kinds = "|".join(re.escape(k) for k in self.kinds)
        pattern = re.compile(rf"^(?P<epoch>\d+)_(?P<it>\d+)_(?P<kind>{kinds})\.(pth|pt|ckpt|safetensors)$")
        spe = self.config.steps_per_epoch
        return files.find_snapshot(
            source,
            step,
            pattern=pattern,
            required=("G",),
            describe="<epoch>_<iter>_<G|D_cls>.<pth|safetensors>",
            example="20_2520_G.pth",
            step_of=lambda m: tag_step(int(m["epoch"]), int(m["it"]), spe, source),
        )

    read = staticmethod(files.read_state_dict)

    def load(self, paths: dict[str, str]) -> dict:
        """{network: pure params} of the files (every tensor checked: CheckpointMismatch names the first misfit)."""
        out = {}
        for kind, path in paths.items():
            net = self.kinds[kind]
            out[net] = convert.from_torch(
                self.read(path), self.nets[net], source=path, explain=_explain(self.config, "G" if net == "G" else "D")
            )
        return out


def import_files(family, source: str, step: int | None = None):
    """(step, state, {kind: path}, notes): a train state built from the original's snapshot files. The frozen VGG of
    the perceptual loss is not read: only training reads it (config.vgg_weights, when training starts)."""
    layout = family.torch_layout()
    step, paths = layout.find(source, step)
    loaded = layout.load(paths)  # every tensor checked before anything is built
    base = jax.jit(family.init)(root_key_data(family.config.seed))  # the VGG slot holds zeros until training
    params = dict(jax.device_get(base.params))
    notes = []
    for net in ("D_A", "D_B"):
        if net not in loaded:
            kind = [k for k, v in layout.kinds.items() if v == net][0]
            notes.append(f"no {kind} file for this tag: {net} starts freshly initialised")
    params.update(loaded)
    notes.append("BeautyGAN_pytorch saves no optimizer states: the Adam optimizers start fresh")
    if family.training_files():
        notes.append("the perceptual loss's VGG is read from config.vgg_weights when training starts")
    state = base.replace(params=params)
    return step, state, paths, notes
