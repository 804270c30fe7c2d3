"""IPM-Net's PyTorch layout: huangzhikun1995/IPM-Net's modules, state_dict keys and snapshot files
(shared/reference/makeup.md section 2.4).

Files (``trainer.save``; the number is the count of completed iterations):

  gen_%08d.pt   {'a': gen_a.state_dict(), 'b': gen_b.state_dict()}: the shared generator twice (identical
                tensors). 100 tensors at the original's size, with the AdaIN layers' dummy buffers
                (running_mean 0, running_var 1) and the unused smoothing filter ``sf``.
  dis_%08d.pt   {'a': dis_a.state_dict(), 'b': dis_b.state_dict()}: dis_a judges domain A (makeup faces),
                dis_b domain B (non-makeup faces).

The original's optimizer.pt is not written (export refuses --with_optim); import starts fresh Adams.
"""

from __future__ import annotations

import os
import re

import jax
import numpy as np
from flax import nnx
from ml_collections import ConfigDict

from facejax.errors import FacejaxError
from facejax.export import convert, files
from facejax.export.convert import DEFAULT_LEAF_NAMES, Buffer, LayoutSpec
from facejax.families.base import zero_training_files
from facejax.families.ipmnet import model
from facejax.families.ipmnet.settings import resnet_layers
from facejax.train.state import root_key_data

SPEC = convert.BASE_SPEC.merged(
    LayoutSpec(
        order={
            "Generator": ("enc_style", "enc_content", "dec", "mlp", "sf"),
            "StyleEncoder": ("model",),
            "ContentEncoder": ("model",),
            "ResBlocks": ("model",),
            "ResBlock": ("model",),
            "Decoder": ("model", "final_conv"),
            "MLP": ("model",),
            "_LinearBlock": ("fc",),
            "Conv2dBlock": ("norm", "conv"),  # MUNIT registers the norm before the conv
            "LayerNorm": ("gamma", "beta"),
            "AdaptiveInstanceNorm2d": ("running_mean", "running_var"),
            "Discriminator": ("cnns",),
            "ResNet": lambda m: ("conv1", "bn1") + tuple(f"layer{i + 1}" for i in range(m.num_layers)),
            "Bottleneck": ("conv1", "bn1", "conv2", "bn2", "conv3", "bn3", "downsample"),
            "BatchNorm": ("scale", "bias", "mean", "var"),
        },
        buffers={
            "AdaptiveInstanceNorm2d": {
                "running_mean": Buffer(lambda m: np.zeros((m.num_features,), np.float32)),
                "running_var": Buffer(lambda m: np.ones((m.num_features,), np.float32)),
            }
        },
        leaf_names={**DEFAULT_LEAF_NAMES, "gamma": "gamma", "beta": "beta"},
    )
)
NAME = re.compile(r"^(?P<kind>gen|dis)_(?P<step>\d{8})\.(pt|pth|safetensors)$")


def abstract_net(config, name: str):
    g, d = config.model.gen, config.model.dis
    if name == "G":
        return nnx.eval_shape(
            lambda: model.Generator(
                g.dim, g.mlp_dim, g.style_dim, g.n_downsample, g.n_res, g.activ, g.pad_type, rngs=nnx.Rngs(0)
            )
        )
    if name == "D":
        return nnx.eval_shape(
            lambda: model.Discriminator(d.dim, d.n_layer, d.num_scales, d.activ, d.pad_type, rngs=nnx.Rngs(0))
        )
    r = config.identity
    layers = resnet_layers(config)
    return nnx.eval_shape(lambda: model.ResNet(layers, r.width, rngs=nnx.Rngs(0)))


def module_layout(module, name: str = "") -> convert.NetLayout:
    return convert.layout(module, SPEC, name)


def _explain(config, name: str):
    """explain(file_shapes): the width / depth field that would make a file fit, if one does."""

    sub = "gen" if name == "G" else "dis"
    fields = (
        ("dim", "mlp_dim", "style_dim", "n_downsample", "n_res") if name == "G" else ("dim", "n_layer", "num_scales")
    )
    current = {f"model.{sub}.{f}": config.model[sub][f] for f in fields}

    def layout_for(change):
        cfg = ConfigDict(config.to_dict())
        for k, v in change.items():
            cfg.model[sub][k.rsplit(".", 1)[1]] = int(v)
        return module_layout(abstract_net(cfg, name), name)

    def explain(file_shapes):
        dims = sorted({int(d) for s in file_shapes.values() for d in s if d <= 8192})
        cands = [
            (f"model.{sub}.{f}", range(0, 9) if f in ("n_downsample", "n_res", "n_layer", "num_scales") else dims)
            for f in fields
        ]
        return convert.explain_mismatch(file_shapes, current, cands, layout_for)

    return explain


class TorchLayout:
    """Export / import of a config's networks in the original's snapshot files."""

    kinds = {"gen": ("G",), "dis": ("D_A", "D_B")}

    def __init__(self, config):
        self.config = config
        self.nets = {"G": module_layout(abstract_net(config, "G"), "G")}
        d = module_layout(abstract_net(config, "D"), "D")
        self.nets["D_A"] = convert.NetLayout("D_A", d.tensors)
        self.nets["D_B"] = convert.NetLayout("D_B", d.tensors)

    def file_networks(self, kind: str) -> tuple[str, ...]:
        return self.kinds[kind]

    def export(self, state, with_optim: bool = False) -> dict:
        """{'gen': {'a': G, 'b': G}, 'dis': {'a': D_A, 'b': D_B}} of ordered {key: numpy}."""
        if with_optim:
            raise FacejaxError(
                "--with_optim: facejax does not write IPM-Net's optimizer.pt yet; export the "
                "networks only (import starts fresh Adams)"
            )
        params = jax.device_get(state.params)
        g = convert.to_torch(params["G"], self.nets["G"])
        return {
            "gen": {"a": g, "b": g},
            "dis": {
                "a": convert.to_torch(params["D_A"], self.nets["D_A"]),
                "b": convert.to_torch(params["D_B"], self.nets["D_B"]),
            },
        }

    def write(self, exported: dict, out_dir: str, step: int, fmt: str) -> dict[str, str]:
        written = {}
        for kind, obj in exported.items():
            if fmt == "torch":
                written[kind] = files.save_torch(os.path.join(out_dir, f"{kind}_{step:08d}.pt"), obj)
            else:
                flat = {f"{ab}.{k}": v for ab, sd in obj.items() for k, v in sd.items()}
                written[kind] = files.save_safetensors(
                    os.path.join(out_dir, f"{kind}_{step:08d}.safetensors"),
                    flat,
                    {"format": "pt", "facejax_step": str(step)},
                )
        return written

    def find(self, source: str, step: int | None = None) -> tuple[int, dict[str, str]]:
        """(step, {'gen': path[, 'dis': path]}) of one snapshot: in a folder (the newest, or --step), or a named
        gen_%08d.pt / dis_%08d.pt (and its sibling of the same number)."""
        return files.find_snapshot(
            source,
            step,
            pattern=NAME,
            required=("gen",),
            describe="gen_%08d.pt / dis_%08d.pt",
            example="gen_01000000.pt",
        )

    @staticmethod
    def read(path: str) -> dict:
        """A snapshot file as {'a': state_dict, 'b': state_dict}: torch.save's dict, or the flat 'a.<key>' /
        'b.<key>' tensors `write` puts in a safetensors file."""
        if not path.endswith(".safetensors"):
            return files.load_torch(path)
        tensors, _ = files.load_safetensors(path)
        out: dict = {}
        for k, v in tensors.items():
            ab, _, key = k.partition(".")
            out.setdefault(ab, {})[key] = v
        return out

    def load(self, paths: dict[str, str]) -> tuple[dict, list[str]]:
        """({network: pure params}, notes) of the files, every tensor checked (CheckpointMismatch names the first
        misfit)."""
        out, notes = {}, []
        for kind, path in paths.items():
            obj = self.read(path)
            if not isinstance(obj, dict) or not {"a", "b"} & set(obj):
                got = sorted(obj)[:6] if isinstance(obj, dict) else type(obj).__name__
                raise FacejaxError(
                    f"{path}: expected {{'a': state_dict, 'b': state_dict}} as IPM-Net's "
                    f"trainer.save writes, found {got}"
                )
            if kind == "gen":
                sd = obj.get("a", obj.get("b"))
                if (
                    "a" in obj
                    and "b" in obj
                    and any(not np.array_equal(obj["a"][k], obj["b"].get(k)) for k in obj["a"])
                ):
                    notes.append(f"{path}: 'a' and 'b' differ (the original shares one generator); took 'a'")
                out["G"] = convert.from_torch(
                    sd, self.nets["G"], source=f"{path} ['a']", explain=_explain(self.config, "G")
                )
            else:
                for ab, net in (("a", "D_A"), ("b", "D_B")):
                    if ab not in obj:
                        notes.append(f"{path} has no '{ab}': {net} starts freshly initialised")
                        continue
                    out[net] = convert.from_torch(
                        obj[ab], self.nets[net], source=f"{path} ['{ab}']", explain=_explain(self.config, "D")
                    )
        return out, notes


def import_files(family, source: str, step: int | None = None):
    """(step, state, {kind: path}, notes): a train state built from the original's snapshot files (the identity
    ResNet, in state.frozen, randomly initialised as the original's; with identity.pretrained its weights are read
    from config.identity.weights when training starts, not here)."""
    layout = family.torch_layout()
    step, paths = layout.find(source, step)
    loaded, notes = layout.load(paths)
    base = zero_training_files(family, jax.jit(family.init)(root_key_data(family.config.seed)))
    params = dict(jax.device_get(base.params))
    if "dis" not in paths:
        notes.append(f"no dis_{step:08d}.pt beside the generator: both discriminators start freshly initialised")
    params.update(loaded)
    notes.append("optimizer.pt is not read: the Adam optimizers start fresh")
    if family.training_files():
        notes.append("the identity ResNet is read from config.identity.weights when training starts")
    return step, base.replace(params=params), paths, notes
