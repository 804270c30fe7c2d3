"""StarGAN v2's PyTorch layout: clovaai/stargan-v2's modules, state_dict keys and checkpoint files.

``SPEC`` fills the generic ``facejax.export.convert.LayoutSpec``: the original's registration order per module
class (``from_rgb, encode, decode, to_rgb, hpf`` for the generator; ``conv1, conv2, norm1, norm2, conv1x1`` for
ResBlk/AdainResBlk; FAN's ``conv1, bn1, conv2, ...``) and the ``hpf.filter`` buffer (kernel / w_hpf, float32
[3, 3]) that current master registers and the CelebA-HQ release lacks (shared/reference/stargan_v2.md §2).

Files (§2.3), each ``torch.save({network name: state_dict})``, no ``module.`` prefix:

  {step:06d}_nets.ckpt      generator, mapping_network, style_encoder, discriminator (+ fan when w_hpf > 0)
  {step:06d}_nets_ema.ckpt  generator, mapping_network, style_encoder (+ fan when w_hpf > 0)
  {step:06d}_optims.ckpt    torch.optim.Adam state_dict of generator, mapping_network, style_encoder,
                            discriminator (Appendix B)

The train state maps onto them as nets <- params, nets_ema <- ema, optims <- opt_state; FAN (frozen, in
state.frozen) goes into both nets and nets_ema, as the original puts one FAN in both. With ``--format=safetensors``
the same tensors are stored flat under network-prefixed keys
(``generator.from_rgb.weight``, ``fan.conv1.conv.weight``); optimizer files hold ``<net>.state.<i>.step``,
``.exp_avg``, ``.exp_avg_sq`` and each network's ``param_groups`` as JSON in the metadata.

Only the original's architecture (Table 1 rows E and F: ``model.generator='stargan_v2'``,
``model.discriminator='multitask'``, ``model.style='style'``) has a PyTorch layout. ``model.dim_in``,
``model.max_conv_dim``, ``model.hidden_dim`` and the FAN size fields are facejax extensions: files of other
values than the original's load into facejax's reference modules (torch_ref.py, torch_wing.py), which take the
same arguments, but not into the original's, whose widths are fixed.
"""

from __future__ import annotations

import collections
import functools
import json
import os

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from ml_collections import ConfigDict

from facejax import configs
from facejax.errors import FacejaxError
from facejax.export import convert, files, optim
from facejax.export.convert import Buffer, LayoutSpec
from facejax.families.stargan_v2 import fan as fan_lib
from facejax.families.stargan_v2 import model
from facejax.nn.blocks import highpass_kernel
from facejax.train.state import TrainState

_BLOCK = ("conv1", "conv2", "norm1", "norm2", "conv1x1")
SPEC = convert.BASE_SPEC.merged(
    LayoutSpec(
        order={
            "Generator": ("from_rgb", "encode", "decode", "to_rgb", "hpf"),
            "ResBlk": _BLOCK,
            "AdainResBlk": _BLOCK,
            "AdaIN": ("fc",),
            "HighPass": ("filter",),
            "MappingNetwork": ("shared", "unshared"),
            "StyleEncoder": ("shared", "unshared"),
            "Discriminator": ("main",),
            # core/wing.py
            "FAN": ("conv1", "bn1", "conv2", "conv3", "conv4", "m0", "top_m_0", "conv_last0", "bn_end0", "l0"),
            "CoordConv": ("conv",),
            "ConvBlock": ("bn1", "conv1", "bn2", "conv2", "bn3", "conv3", "downsample"),
            "HourGlass": lambda m: ("coordconv", *fan_lib.hourglass_block_names(m.depth)),
            "BatchNorm": ("scale", "bias", "mean", "var", "num_batches_tracked"),
        },
        buffers={
            "HighPass": {
                "filter": Buffer(lambda m: np.asarray(highpass_kernel(m.w_hpf)), optional=True, field="model.w_hpf")
            }
        },
    )
)

NETS = ("generator", "mapping_network", "style_encoder", "discriminator")
EMA_NETS = ("generator", "mapping_network", "style_encoder")
WING_SOURCE = (
    "the StarGAN v2 release's wing.ckpt (clovaai/stargan-v2 download.sh, "
    "https://www.dropbox.com/s/tjxpypwpt38926e/wing.ckpt, saved to expr/checkpoints/wing.ckpt)"
)


# ------------------------------------------------------------------------------------------------ modules


def module_layout(module, name: str = "") -> convert.NetLayout:
    """The original state_dict layout of one facejax StarGAN v2 module (concrete or from nnx.eval_shape)."""
    return convert.layout(module, SPEC, name)


def module_state_dict(module) -> "collections.OrderedDict[str, np.ndarray]":
    """The original's state_dict (numpy) of a concrete module, e.g. to load into the torch reference modules."""
    return convert.to_torch(nnx.to_pure_dict(nnx.state(module, nnx.Param)), module_layout(module))


def module_key_shapes(module) -> dict[str, tuple[int, ...]]:
    return module_layout(module).shapes()


def check_exportable(config) -> None:
    m = config.model
    if (m.generator, m.discriminator, m.style) != ("stargan_v2", "multitask", "style"):
        raise FacejaxError(
            f"the original StarGAN v2 code has no modules for this Table 1 row (config.model.generator="
            f"{m.generator!r}, config.model.discriminator={m.discriminator!r}, config.model.style={m.style!r}); "
            f"export/import covers rows E and F (generator 'stargan_v2', discriminator 'multitask', style 'style')"
        )


def abstract_net(config, name: str):
    """The abstract facejax module (nnx.eval_shape) of one network of the original architecture."""
    c, m = config, config.model
    make = {
        "generator": lambda rngs: model.Generator(
            c.img_size, m.style_dim, m.max_conv_dim, m.w_hpf, m.dim_in, rngs=rngs
        ),
        "mapping_network": lambda rngs: model.MappingNetwork(
            m.latent_dim, m.style_dim, m.num_domains, m.hidden_dim, rngs=rngs
        ),
        "style_encoder": lambda rngs: model.StyleEncoder(
            c.img_size, m.style_dim, m.num_domains, m.max_conv_dim, m.dim_in, rngs=rngs
        ),
        "discriminator": lambda rngs: model.Discriminator(
            c.img_size, m.num_domains, m.max_conv_dim, m.dim_in, rngs=rngs
        ),
        "fan": lambda rngs: fan_lib.FAN(m.fan_img_size, m.fan_width, rngs=rngs),
    }[name]
    return nnx.eval_shape(lambda: make(nnx.Rngs(0)))


def _changed(config, changes: dict):
    cfg = ConfigDict(config.to_dict())
    for k, v in changes.items():
        configs.override(cfg, k, type(_config_value(cfg, k))(v))
    return cfg


def _config_value(cfg, key: str):
    node = cfg
    for part in key.split("."):
        node = node[part]
    return node


@functools.lru_cache(maxsize=256)
def _cached_layout(name: str, fields_json: str) -> convert.NetLayout:
    cfg = ConfigDict(json.loads(fields_json))
    return module_layout(abstract_net(cfg, name), name)


def net_layout(config, name: str) -> convert.NetLayout:
    """The NetLayout of one network of a config (cached on the fields that shape it)."""
    fields = {
        "img_size": config.img_size,
        "model": {
            k: config.model[k]
            for k in (
                "num_domains",
                "latent_dim",
                "style_dim",
                "hidden_dim",
                "w_hpf",
                "dim_in",
                "max_conv_dim",
                "fan_img_size",
                "fan_width",
            )
        },
    }
    return _cached_layout(name, json.dumps(fields, sort_keys=True))


# Config fields that change a network's tensors, in the order a mismatch is explained by them.
_SIZES = (32, 64, 128, 256, 512, 1024)
_FIELDS = {
    "generator": ("img_size", "model.w_hpf", "model.style_dim", "model.dim_in", "model.max_conv_dim"),
    "mapping_network": ("model.num_domains", "model.latent_dim", "model.style_dim", "model.hidden_dim"),
    "style_encoder": ("img_size", "model.num_domains", "model.style_dim", "model.dim_in", "model.max_conv_dim"),
    "discriminator": ("img_size", "model.num_domains", "model.dim_in", "model.max_conv_dim"),
    "fan": ("model.fan_width",),
}


def _candidates(name: str, file_shapes: dict):
    """(field, values to try) for a network's file tensors: sizes for img_size, the head count the file shows
    for num_domains, and the file's dimensions for widths."""
    dims = sorted({int(d) for s in file_shapes.values() for d in s})
    heads = {int(k.split(".")[1]) + 1 for k in file_shapes if k.startswith("unshared.")}
    main_biases = [k for k in file_shapes if k.startswith("main.") and k.endswith(".bias") and k.count(".") == 2]
    if main_biases:  # the discriminator's last 1x1 conv: one output per domain
        last = max(main_biases, key=lambda k: int(k.split(".")[1]))
        heads.add(int(file_shapes[last][0]))
    values = {"img_size": _SIZES, "model.w_hpf": (1.0, 0.0), "model.num_domains": sorted(heads) or range(1, 11)}
    return [(f, values.get(f, dims)) for f in _FIELDS[name]]


def explainer(config, name: str):
    """explain(file_shapes) for convert.from_torch: the config field whose change makes the file fit."""
    current = {f: _config_value(config, f) for f in _FIELDS[name]}

    def explain(file_shapes):
        return convert.explain_mismatch(
            file_shapes,
            current,
            _candidates(name, file_shapes),
            lambda change: net_layout(_changed(config, change), name),
        )

    return explain


# ------------------------------------------------------------------------------------------------ FAN weights


def read_fan_weights(config) -> dict:
    """FAN's params (pure dict, numpy) from config.fan_weights: a wing.ckpt-format file ({'state_dict': ...},
    as in the release; extra keys are ignored like the original's loader does, a missing weight is an error),
    a plain FAN state_dict, or a safetensors file of FAN keys."""
    path = config.fan_weights
    if not path:
        raise FacejaxError(
            f"config.model.w_hpf={config.model.w_hpf} needs FAN's weights for the heatmap masks: "
            f"set --config.fan_weights to {WING_SOURCE}"
        )
    if not os.path.isfile(path):
        raise FacejaxError(f"config.fan_weights={path} does not exist; FAN's weights are {WING_SOURCE}")
    return fan_from_file(path, config)


def fan_from_file(path: str, config) -> dict:
    if path.endswith(".safetensors"):
        sd, _ = files.load_safetensors(path, "FAN weights")
    else:
        obj = files.load_torch(path, "FAN weights file")
        sd = obj.get("state_dict", obj) if isinstance(obj, dict) else obj
        if not isinstance(sd, dict):
            raise FacejaxError(
                f"FAN weights file {path} holds a {type(sd).__name__}, expected a dict with "
                f"'state_dict' (wing.ckpt) or a FAN state_dict"
            )
    return fan_from_state_dict(sd, config, source=path)


def fan_from_state_dict(sd, config, *, source: str) -> dict:
    net = net_layout(config, "fan")
    return convert.from_torch(sd, net, source=source, ignore_unexpected=True, explain=explainer(config, "fan"))


# ------------------------------------------------------------------------------------------------ files


class TorchLayout:
    """Export / import of a config's networks and optimizer states in the original's files."""

    def __init__(self, config):
        check_exportable(config)
        self.config = config
        self.uses_fan = config.model.w_hpf > 0
        self.nets = {k: net_layout(config, k) for k in NETS + (("fan",) if self.uses_fan else ())}

    def file_networks(self, kind: str) -> tuple[str, ...]:
        base = {"nets": NETS, "nets_ema": EMA_NETS, "optims": NETS}[kind]
        return base + (("fan",) if self.uses_fan and kind != "optims" else ())

    def hyper(self, name: str) -> dict:
        c = self.config
        return {
            "lr": c.f_lr if name == "mapping_network" else c.lr,
            "betas": (c.beta1, c.beta2),
            "eps": 1e-8,
            "weight_decay": c.weight_decay,
            "amsgrad": False,
        }

    # ---------------------------------------------------------------- export

    def export(self, state, with_optim: bool = False) -> dict:
        """{kind: {network: ordered {key: numpy}}} for nets, nets_ema (and optims: {network: Adam state})."""
        state = jax.device_get(state)
        nets, ema = {**state.frozen, **state.params}, {**state.frozen, **state.ema}  # FAN in both files
        out = {
            "nets": collections.OrderedDict(
                (k, convert.to_torch(nets[k], self.nets[k])) for k in self.file_networks("nets")
            ),
            "nets_ema": collections.OrderedDict(
                (k, convert.to_torch(ema[k], self.nets[k])) for k in self.file_networks("nets_ema")
            ),
        }
        if with_optim:
            out["optims"] = collections.OrderedDict(
                (k, optim.adam_to_torch(state.opt_state[k], self.nets[k], self.hyper(k)))
                for k in self.file_networks("optims")
            )
        return out

    def write(self, exported: dict, out_dir: str, step: int, fmt: str) -> dict[str, str]:
        """Writes the exported dicts as the original's files; returns {kind: path}."""
        written = {}
        for kind, nets in exported.items():
            path = os.path.join(out_dir, files.checkpoint_name(step, kind, fmt))
            if fmt == "torch":
                if kind == "optims":
                    files.require_torch(f"writing {path}")
                    nets = collections.OrderedDict(
                        (
                            k,
                            {
                                "state": v["state"],
                                "param_groups": [
                                    {**optim.torch_param_group_defaults(self.hyper(k)), **g} for g in v["param_groups"]
                                ],
                            },
                        )
                        for k, v in nets.items()
                    )
                written[kind] = files.save_torch(path, nets)
            else:
                tensors, meta = collections.OrderedDict(), {"format": "pt", "facejax_step": str(step)}
                for net, sd in nets.items():
                    if kind == "optims":
                        for i, entry in sd["state"].items():
                            for name, value in entry.items():
                                tensors[f"{net}.state.{i}.{name}"] = np.asarray(value)
                        meta[f"{net}.param_groups"] = json.dumps(sd["param_groups"])
                    else:
                        for key, value in sd.items():
                            tensors[f"{net}.{key}"] = value
                written[kind] = files.save_safetensors(path, tensors, meta)
        return written

    # ---------------------------------------------------------------- import

    @staticmethod
    def read(path: str) -> dict:
        """A checkpoint file as {network: state_dict or Adam state}, from either format."""
        if path.endswith(".safetensors"):
            tensors, meta = files.load_safetensors(path)
            if any(k.endswith(".param_groups") for k in meta):
                out = {}
                for key, value in tensors.items():
                    net, _, i, name = key.split(".", 3)
                    out.setdefault(net, {"state": {}, "param_groups": []})["state"].setdefault(int(i), {})[name] = value
                for key, value in meta.items():
                    if key.endswith(".param_groups"):
                        out.setdefault(key[: -len(".param_groups")], {"state": {}})["param_groups"] = json.loads(value)
                return out
            return files.split_by_network(tensors, path)
        obj = files.load_torch(path)
        if not isinstance(obj, dict):
            raise FacejaxError(
                f"{path} holds a {type(obj).__name__}, expected a dict keyed by network name "
                f"(generator, mapping_network, ...)"
            )
        return obj

    def _nets_from(self, content: dict, path: str, kind: str) -> dict:
        """{network: pure params} of the networks of one nets / nets_ema file."""
        content = convert.strip_module_prefix(content)
        wanted = self.file_networks(kind)
        out = {}
        for name in wanted:
            if name not in content:
                if name == "fan":
                    continue  # filled from config.fan_weights by the caller
                raise FacejaxError(
                    f"{path} has no '{name}' network (it has: {', '.join(content) or 'nothing'}); "
                    f"a {kind} file of the original holds {', '.join(wanted)}"
                )
            out[name] = convert.from_torch(
                content[name], self.nets[name], source=path, explain=explainer(self.config, name)
            )
        extra = [k for k in content if k not in wanted]
        if extra:
            hint = " (FAN is only part of w_hpf > 0 files: check config.model.w_hpf)" if "fan" in extra else ""
            raise FacejaxError(f"{path} has networks {extra} that this config does not build{hint}")
        return out

    def load(self, paths: dict[str, str]) -> dict:
        """{kind: content} of the files, every network checked against this config (the first tensor that does
        not fit raises CheckpointMismatch); nets / nets_ema content is {network: pure params}, optims content is
        the raw {network: Adam state_dict}."""
        loaded = {}
        for kind, path in paths.items():
            content = self.read(path)
            if kind == "optims":
                loaded[kind] = convert.strip_module_prefix(content)
                missing = [k for k in self.file_networks("optims") if k not in loaded[kind]]
                if missing:
                    raise FacejaxError(f"{path} has no optimizer state for {', '.join(missing)}")
            else:
                loaded[kind] = self._nets_from(content, path, kind)
        return loaded

    def build_state(
        self, loaded: dict, paths: dict[str, str], *, step: int, rng, optimizers, init_fn, load_fan=None
    ) -> tuple:
        """(TrainState, notes) at ``step`` with root key data ``rng``, from the loaded files.

        nets -> params, nets_ema -> ema; with only one of them, it is used for both (noted). optims -> the Adam
        states; without, fresh optimizer states (noted). The discriminator comes only from a nets file; without
        one it is freshly initialised (``init_fn()``, a fresh TrainState, is called only then). FAN goes to
        state.frozen: from the files (nets, else nets_ema), else from ``load_fan()`` (default: config.fan_weights).
        """
        notes = []
        nets, ema = loaded.get("nets"), loaded.get("nets_ema")
        if nets is None:
            notes.append(
                f"no {os.path.basename(paths['nets_ema']).replace('nets_ema', 'nets')}: training resumes "
                f"from the EMA weights (nets_ema) and a freshly initialised discriminator"
            )
            nets = dict(ema)
            nets["discriminator"] = jax.device_get(init_fn().params["discriminator"])
        if ema is None:
            notes.append(
                f"no {os.path.basename(paths['nets']).replace('nets', 'nets_ema')}: the EMA networks "
                f"start as a copy of nets"
            )
            ema = {k: v for k, v in nets.items() if k in self.file_networks("nets_ema")}
        params = {k: nets[k] for k in NETS}
        ema = {k: ema[k] for k in EMA_NETS}
        frozen = {}
        if self.uses_fan:
            fan_weights = loaded.get("nets", {}).get("fan", loaded.get("nets_ema", {}).get("fan"))
            if fan_weights is None:
                fan_weights = load_fan() if load_fan is not None else read_fan_weights(self.config)
                notes.append(f"the files have no 'fan' network: FAN from config.fan_weights={self.config.fan_weights}")
            frozen["fan"] = fan_weights
        to_jax = lambda tree: jax.tree.map(jnp.asarray, tree)  # noqa: E731
        params, ema, frozen = to_jax(params), to_jax(ema), to_jax(frozen)
        opt_state = {k: optimizers[k].init(params[k]) for k in self.file_networks("optims")}
        if "optims" in loaded:
            for name in self.file_networks("optims"):
                opt_state[name] = optim.adam_from_torch(
                    loaded["optims"][name], opt_state[name], self.nets[name], source=paths["optims"]
                )
        else:
            notes.append("no optims file: the optimizers start fresh (Adam moments zero, step count 0)")
        state = TrainState(
            step=jnp.asarray(step, jnp.int32),
            rng=jnp.asarray(rng),
            params=params,
            opt_state=opt_state,
            ema=ema,
            frozen=frozen,
        )
        return state, notes
