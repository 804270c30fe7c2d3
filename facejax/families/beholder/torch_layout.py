"""Beholder-GAN's PyTorch layout: facejax's reference modules (facejax/families/beholder/torch_ref.py).

The GAN's original is TF1 and released no checkpoint (Beholder-GAN issues #2, #4), so its PyTorch layout is the
one documented in torch_ref.py: PGGAN's variable scopes as module names, equalized-LR weights stored
unscaled, PyTorch tensor layouts (Conv2d OIHW, ConvTranspose2d [in, out, k, k] for the fused Conv0_up, Linear
[out, in]). Files, as facejax's other families (``facejax export`` / ``facejax import``):

  {step:06d}_nets.ckpt      {"generator": G.state_dict(), "discriminator": D.state_dict()}
  {step:06d}_nets_ema.ckpt  {"generator": Gs.state_dict()} (the EMA generator: sampling, beautification)
  (.safetensors: the same tensors with "generator." / "discriminator." prefixes)

    G = torch_ref.Generator(resolution, num_raters, fmap_base, fmap_decay, fmap_max, latent_size)
    G.load_state_dict(torch.load("000100_nets_ema.ckpt")["generator"], strict=True)
    images = G(z, beta, lod_in=0.0)  # NCHW in [-1, 1]

The predictor's file is the original's: ``VGG16_beauty_rates.pt``, torchvision's vgg16_bn state_dict with
classifier.6 = Linear(4096, 60) (execute_beauty_prediction.py loads it with load_state_dict).
"""

from __future__ import annotations

import os

import jax
import numpy as np

from facejax.errors import FacejaxError
from facejax.export import convert, files
from facejax.export.convert import LayoutSpec
from facejax.train.state import root_key_data

_LEAF = ("kernel", "bias")
SPEC = convert.BASE_SPEC.merged(
    LayoutSpec(
        order={
            "EqConv": _LEAF,
            "EqConvUp": _LEAF,
            "EqConvDown": _LEAF,
            "EqDense": _LEAF,
            "GBlock4": ("dense", "conv"),
            "GBlock": ("conv0_up", "conv1"),
            "Generator": ("blocks", "torgb"),
            "DBlock4": ("conv", "dense0", "dense1"),
            "DBlock": ("conv0", "conv1_down"),
            "Discriminator": ("fromrgb", "blocks"),
            "BatchNorm": ("scale", "bias", "mean", "var", "num_batches_tracked"),
            "VGG16BN": ("features", "classifier"),
        }
    )
)
FILE_NETS = {"nets": {"generator": "G", "discriminator": "D"}, "nets_ema": {"generator": "G"}}
PREDICTOR_FILE = "VGG16_beauty_rates.pt"


def module_layout(module, name: str = "") -> convert.NetLayout:
    return convert.layout(module, SPEC, name)


class GanLayout:
    """`abstract_nets`: {"G": module, "D": module} with shapes only (the family's ``abstract_nets()``)."""

    def __init__(self, config, abstract_nets: dict):
        self.config = config
        self.nets = {k: module_layout(m, k) for k, m in abstract_nets.items()}

    def file_networks(self, kind: str):
        return tuple(FILE_NETS[kind])

    def export(self, state, with_optim: bool = False) -> dict:
        if with_optim:
            raise FacejaxError(
                "--with_optim: Beholder-GAN's optimizer is TF's Adam (reset at every phase); there is "
                "no PyTorch original whose optimizer could take its state. Export nets and nets_ema"
            )
        params, ema = jax.device_get(state.params), jax.device_get(state.ema)
        return {
            "nets": {
                "generator": convert.to_torch(params["G"], self.nets["G"]),
                "discriminator": convert.to_torch(params["D"], self.nets["D"]),
            },
            "nets_ema": {"generator": convert.to_torch(ema["G"], self.nets["G"])},
        }

    def write(self, exported: dict, out_dir: str, step: int, fmt: str) -> dict:
        written = {}
        for kind, nets in exported.items():
            path = os.path.join(out_dir, files.checkpoint_name(step, kind, fmt))
            if fmt == "torch":
                written[kind] = files.save_torch(path, nets)
            else:
                flat = {f"{net}.{k}": v for net, sd in nets.items() for k, v in sd.items()}
                written[kind] = files.save_safetensors(path, flat, {"format": "pt", "facejax_step": str(step)})
        return written

    def read(self, path: str) -> dict:
        if path.endswith(".safetensors"):
            return files.split_by_network(files.load_safetensors(path)[0], path)
        obj = files.load_torch(path)
        if not isinstance(obj, dict):
            raise FacejaxError(f"{path} holds a {type(obj).__name__}, expected {{'generator': state_dict, ...}}")
        return obj

    def load(self, paths: dict) -> dict:
        """{"G": params, "D": params, "ema": params} of the files found (every tensor checked)."""
        out = {}
        for kind, path in paths.items():
            if kind not in FILE_NETS:
                continue
            content = self.read(path)
            for net_name, net in FILE_NETS[kind].items():
                if net_name not in content:
                    raise FacejaxError(f"{path} has no '{net_name}' entry (it has {sorted(content)})")
                params = convert.from_torch(content[net_name], self.nets[net], source=path)
                out["ema" if kind == "nets_ema" else net] = params
        return out


def import_gan(family, source: str, step=None):
    """(step, state, {kind: path}, notes) from facejax's exported GAN files."""
    step, paths = files.find_checkpoint_files(source, step)
    layout = family.torch_layout()
    loaded = layout.load(paths)
    base = jax.jit(family.init)(root_key_data(family.config.seed))
    params, ema, notes = dict(jax.device_get(base.params)), dict(jax.device_get(base.ema)), []
    if "G" in loaded:
        params["G"], params["D"] = loaded["G"], loaded["D"]
    if "ema" in loaded:
        ema["G"] = loaded["ema"]
        if "G" not in loaded:
            params["G"] = loaded["ema"]
            notes.append("no nets file: G starts from the EMA weights, D freshly initialised")
    elif "G" in loaded:
        ema["G"] = loaded["G"]
        notes.append("no nets_ema file: the EMA starts from G")
    notes.append("the Adam states start fresh (as the original resets them at every phase)")
    state = base.replace(params=params, ema=ema, opt_state={k: family.optimizer.init(params[k]) for k in ("G", "D")})
    return step, state, paths, notes


# ------------------------------------------------------------------------------------------------ predictor


def predictor_layout(family) -> convert.NetLayout:
    return module_layout(family.abstract_net(), "predictor")


def read_state_dict(path: str, what: str) -> dict:
    obj = files.load_torch(path, what) if not path.endswith(".npz") else dict(np.load(path))
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict):
        raise FacejaxError(f"{what} {path} holds a {type(obj).__name__}, expected a state_dict")
    return obj


def imagenet_params(family, path: str) -> dict:
    """The features and classifier.0/.3 of torchvision's ImageNet vgg16_bn file (classifier.6, the 1000-way
    layer, is replaced by the raters' head, as the original)."""
    if not path or not os.path.isfile(path):
        given = f"{path!r} does not exist" if path else "no file was given"
        raise FacejaxError(
            f"config.imagenet_weights: {given}; expected torchvision's ImageNet VGG-16-BN file "
            f"vgg16_bn-6c64b313.pth from https://download.pytorch.org/models/vgg16_bn-6c64b313.pth "
            f"(facejax does not download weights), or set --config.imagenet_init=False to start from "
            f"torchvision's random init"
        )
    sd = {
        k: v for k, v in read_state_dict(path, "config.imagenet_weights").items() if not k.startswith("classifier.6.")
    }
    full = predictor_layout(family)
    sub = convert.NetLayout(full.name, tuple(t for t in full.tensors if not t.key.startswith("classifier.6.")))
    return convert.from_torch(sd, sub, source=path)
