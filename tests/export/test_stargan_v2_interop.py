"""StarGAN v2 <-> the original PyTorch files: every key of the original's modules, strict loading with equal
outputs, identical tensors after torch -> facejax -> torch, the release's quirks, clear mismatch errors.

Small widths (32 px, FAN at 64 px / width 8) except the layout checks, which build the 256 px networks
abstractly (and the reference modules on the CPU: torch's meta device imports torch._dynamo, which can
crash beside TensorFlow in a CUDA build of torch).
"""

import collections
import os

import jax
import numpy as np
import pytest
from tests.export.states import random_state

from facejax import configs, registry
from facejax.errors import FacejaxError
from facejax.export import convert, files, optim
from facejax.export.convert import CheckpointMismatch
from facejax.families.stargan_v2 import torch_layout
from facejax.train.state import bind

torch = pytest.importorskip("torch")
from facejax.families.stargan_v2 import torch_ref as ref  # noqa: E402
from facejax.families.stargan_v2 import torch_wing as wing  # noqa: E402

pytestmark = pytest.mark.torch

SMALL = {
    "img_size": 32,
    "model.dim_in": 16,
    "model.max_conv_dim": 32,
    "model.hidden_dim": 32,
    "model.style_dim": 16,
    "model.latent_dim": 8,
    "model.num_domains": 3,
    "model.fan_img_size": 64,
    "model.fan_width": 8,
}


def _config(**overrides):
    return configs.load("stargan_v2:synthetic", **{**SMALL, **overrides})


def torch_nets(config):
    """The reference modules of a config (eval mode), keyed by the original's network names."""
    c, m = config, config.model
    nets = {
        "generator": ref.Generator(c.img_size, m.style_dim, m.max_conv_dim, m.w_hpf, m.dim_in),
        "mapping_network": ref.MappingNetwork(m.latent_dim, m.style_dim, m.num_domains, m.hidden_dim),
        "style_encoder": ref.StyleEncoder(c.img_size, m.style_dim, m.num_domains, m.max_conv_dim, m.dim_in),
        "discriminator": ref.Discriminator(c.img_size, m.num_domains, m.max_conv_dim, m.dim_in),
    }
    if m.w_hpf > 0:
        nets["fan"] = wing.FAN(m.fan_img_size, m.fan_width)
    return {k: v.eval() for k, v in nets.items()}


def _nchw(a):
    return torch.from_numpy(np.ascontiguousarray(np.asarray(a).transpose(0, 3, 1, 2)))


def _close(flax_out, torch_out, atol=1e-4, relative=False):
    """max |flax - torch| <= atol (times max |torch| when relative: FAN's random-weight heatmaps reach ~1e2)."""
    t = torch_out.detach().numpy()
    if t.ndim == 4:
        t = t.transpose(0, 2, 3, 1)
    f = np.asarray(flax_out)
    assert f.shape == t.shape
    err = float(np.max(np.abs(f - t)))
    scale = max(1.0, float(np.max(np.abs(t)))) if relative else 1.0
    assert err <= atol * scale, (err, scale)
    return err


# ------------------------------------------------------------------------------------------ layouts at 256 px


@pytest.mark.parametrize(
    "preset, nets",
    [
        ("celeba_hq", ("generator", "mapping_network", "style_encoder", "discriminator", "fan")),
        ("afhq", ("generator", "mapping_network", "style_encoder", "discriminator")),
    ],
)
def test_full_size_files_hold_every_key_of_the_original_modules(preset, nets):
    config = configs.load(f"stargan_v2:{preset}")
    layout = torch_layout.TorchLayout(config)
    assert layout.file_networks("nets") == nets
    assert layout.file_networks("nets_ema") == tuple(n for n in nets if n != "discriminator")
    assert layout.file_networks("optims") == ("generator", "mapping_network", "style_encoder", "discriminator")
    for name, module in torch_nets(config).items():
        expected = module.state_dict()
        net = layout.nets[name]
        assert net.keys() == list(expected), name  # same keys, same (registration) order
        assert net.shapes() == {k: tuple(v.shape) for k, v in expected.items()}, name
        assert {t.key: t.torch_dtype for t in net.tensors} == {
            k: str(v.dtype).replace("torch.", "") for k, v in expected.items()
        }, name
        assert [t.key for t in net.parameters()] == [k for k, _ in module.named_parameters()], name
    if preset == "celeba_hq":
        assert "hpf.filter" in layout.nets["generator"].keys()
        assert sum(int(np.prod(t.torch_shape)) for t in layout.nets["fan"].parameters()) == 6_333_603


# ------------------------------------------------------------------------------------------ export


@pytest.mark.parametrize("w_hpf", [0.0, 1.0])
def test_exported_files_load_strictly_into_the_reference_and_give_the_same_outputs(tmp_path, w_hpf):
    config = _config(**{"model.w_hpf": w_hpf})
    family = registry.create(config)
    layout = family.torch_layout()
    state = random_state(family, seed=int(w_hpf))
    written = layout.write(layout.export(state, with_optim=True), str(tmp_path), 1234, "torch")
    assert {k: os.path.basename(v) for k, v in written.items()} == {
        "nets": "001234_nets.ckpt",
        "nets_ema": "001234_nets_ema.ckpt",
        "optims": "001234_optims.ckpt",
    }
    loaded = {k: torch.load(v, weights_only=True) for k, v in written.items()}
    assert list(loaded["nets"]) == list(layout.file_networks("nets"))
    assert list(loaded["optims"]["generator"]) == ["state", "param_groups"]
    if w_hpf:
        assert torch.equal(loaded["nets"]["generator"]["hpf.filter"], ref.HighPass(1.0).filter)
        assert all(torch.equal(loaded["nets"]["fan"][k], v) for k, v in loaded["nets_ema"]["fan"].items())

    rng = np.random.default_rng(5)
    n = 3
    x = rng.uniform(-1, 1, (n, 32, 32, 3)).astype(np.float32)
    y = np.array([0, 2, 1])
    z = rng.standard_normal((n, config.model.latent_dim)).astype(np.float32)
    s = rng.standard_normal((n, config.model.style_dim)).astype(np.float32)
    masks = tuple(rng.uniform(0, 1, (n, 64, 64, 1)).astype(np.float32) for _ in range(2)) if w_hpf else None
    x64 = (x.repeat(2, 1).repeat(2, 2) + 1) / 2  # FAN's input: [0, 1] at its size

    def forward(params):
        nets = {name: bind(family.graphdefs[name], params[name]) for name in params}
        out = {
            "generator": nets["generator"](x, s, masks),
            "mapping_network": nets["mapping_network"](z, y),
            "style_encoder": nets["style_encoder"](x, y),
            "discriminator": nets["discriminator"](x, y),
        }
        if "fan" in nets:
            out["fan"] = nets["fan"](x64)
        return out

    with jax.default_matmul_precision("highest"):
        outs = jax.jit(forward)({**state.frozen, **state.params})
    tnets = torch_nets(config)
    for name, sd in loaded["nets"].items():
        tnets[name].load_state_dict(sd, strict=True)
    ty = torch.from_numpy(y)
    with torch.no_grad():
        _close(
            outs["generator"],
            tnets["generator"](_nchw(x), torch.from_numpy(s), masks and tuple(_nchw(m) for m in masks)),
        )
        _close(outs["mapping_network"], tnets["mapping_network"](torch.from_numpy(z), ty))
        _close(outs["style_encoder"], tnets["style_encoder"](_nchw(x), ty))
        _close(outs["discriminator"], tnets["discriminator"](_nchw(x), ty))
        if w_hpf:
            _close(outs["fan"], tnets["fan"](_nchw(x64)), relative=True)
    # nets_ema: the EMA weights, loading as strictly
    tnets = torch_nets(config)
    for name, sd in loaded["nets_ema"].items():
        tnets[name].load_state_dict(sd, strict=True)
        expected = convert.to_torch({**state.frozen, **state.ema}[name], layout.nets[name])  # FAN: frozen
        assert all(np.array_equal(v.numpy(), expected[k]) for k, v in sd.items()), name
    # safetensors: the same tensors under network-prefixed keys (the format sorts its keys)
    st = layout.write(layout.export(state, with_optim=True), str(tmp_path / "st"), 1234, "safetensors")
    flat, meta = files.load_safetensors(st["nets_ema"])
    assert sorted(flat) == sorted(f"{net}.{key}" for net, sd in loaded["nets_ema"].items() for key in sd)
    assert all(
        np.array_equal(flat[f"{net}.{key}"], v.numpy())
        for net, sd in loaded["nets_ema"].items()
        for key, v in sd.items()
    )
    back = layout.read(st["optims"])
    entry = loaded["optims"]["discriminator"]["state"][3]
    np.testing.assert_array_equal(back["discriminator"]["state"][3]["exp_avg_sq"], entry["exp_avg_sq"].numpy())
    assert meta["format"] == "pt"


# ------------------------------------------------------------------------------------------ import


def _torch_files(config, folder, step=30000, seed=0):
    """The original's three files from randomly initialised reference modules (BN statistics and counters
    random, Adam state for every parameter the original's Adam would have stepped)."""
    torch.manual_seed(seed)
    nets = torch_nets(config)
    with torch.no_grad():
        for module in nets.values():
            for m in module.modules():
                if isinstance(m, torch.nn.BatchNorm2d):
                    m.running_mean.normal_(0, 0.1)
                    m.running_var.uniform_(0.5, 1.5)
                    m.num_batches_tracked.fill_(int(torch.randint(0, 1000, ())))
                    m.weight.normal_(1, 0.1)
                    m.bias.normal_(0, 0.1)
    layout = torch_layout.TorchLayout(config)
    content = {"nets": {k: m.state_dict() for k, m in nets.items()}}
    content["nets_ema"] = {
        k: collections.OrderedDict(
            (key, v + 0.01 if key != "hpf.filter" and v.is_floating_point() else v.clone())
            for key, v in content["nets"][k].items()
        )
        for k in layout.file_networks("nets_ema")
        if k != "fan"
    }
    if "fan" in nets:
        content["nets_ema"]["fan"] = content["nets"]["fan"]
    optims = {}
    for name in layout.file_networks("optims"):
        params = list(nets[name].named_parameters())
        unused = {f"decode.{i}.conv1x1.weight" for i in range(10)} if config.model.w_hpf > 0 else set()
        state = {
            i: {"step": torch.tensor(float(step)), "exp_avg": torch.randn_like(p), "exp_avg_sq": torch.rand_like(p)}
            for i, (key, p) in enumerate(params)
            if key not in unused
        }
        # what the installed torch.optim.Adam(lr, betas=(0, 0.99), weight_decay=1e-4) writes
        group = {**optim.torch_param_group_defaults(layout.hyper(name)), "params": list(range(len(params)))}
        optims[name] = {"state": state, "param_groups": [group]}
    content["optims"] = optims
    paths = {}
    os.makedirs(folder, exist_ok=True)
    for kind, obj in content.items():
        paths[kind] = os.path.join(folder, f"{step:06d}_{kind}.ckpt")
        torch.save(obj, paths[kind])
    return content, paths


def _import(config, paths, seed=1):
    family = registry.create(config)
    layout = family.torch_layout()
    base = random_state(family, seed)  # stands in for a fresh init (its discriminator)
    state, notes = layout.build_state(
        layout.load(paths), paths, step=7, rng=base.rng, optimizers=family.optimizers, init_fn=lambda: base
    )
    return family, layout, base, state, notes


def test_round_trip_torch_facejax_torch_gives_identical_tensors(tmp_path):
    config = _config(**{"model.w_hpf": 1.0})
    content, paths = _torch_files(config, str(tmp_path))
    step, found = files.find_checkpoint_files(str(tmp_path))
    assert (step, found) == (30000, paths)
    _, layout, _, state, notes = _import(config, paths)
    assert notes == []
    out = layout.write(layout.export(state, with_optim=True), str(tmp_path / "out"), step, "torch")
    for kind in ("nets", "nets_ema"):
        again = torch.load(out[kind], weights_only=True)
        assert list(again) == list(content[kind])
        for net, sd in content[kind].items():
            assert list(again[net]) == list(sd), (kind, net)
            for key, v in sd.items():
                w = again[net][key]
                assert w.dtype == v.dtype and torch.equal(w, v), (kind, net, key)
    again = torch.load(out["optims"], weights_only=True)
    for net, opt in content["optims"].items():
        assert again[net]["param_groups"] == opt["param_groups"], net
        assert sorted(again[net]["state"]) == sorted(opt["state"]), net
        for i, entry in opt["state"].items():
            for name, v in entry.items():
                assert torch.equal(again[net]["state"][i][name], v), (net, i, name)


def test_release_files_with_module_prefix_no_hpf_filter_and_only_nets_ema(tmp_path):
    config = _config(**{"model.w_hpf": 1.0})
    content, _ = _torch_files(config, str(tmp_path / "orig"))
    release = {
        net: collections.OrderedDict((f"module.{k}", v) for k, v in sd.items() if k != "hpf.filter")
        for net, sd in content["nets_ema"].items()
        if net != "fan"
    }
    wing_file = tmp_path / "wing.ckpt"  # the release's wing.ckpt: {'state_dict': ...}, extra keys, no counters
    fan_sd = {k: v for k, v in content["nets"]["fan"].items() if not k.endswith("num_batches_tracked")}
    torch.save({"state_dict": {**fan_sd, "m1.extra.weight": torch.zeros(3)}, "epoch": 7}, wing_file)
    os.makedirs(tmp_path / "celeba_hq")
    torch.save(release, tmp_path / "celeba_hq" / "100000_nets_ema.ckpt")
    step, paths = files.find_checkpoint_files(str(tmp_path / "celeba_hq" / "100000_nets_ema.ckpt"))
    assert step == 100000 and list(paths) == ["nets_ema"]
    family, layout, base, state, notes = _import(_config(**{"model.w_hpf": 1.0, "fan_weights": str(wing_file)}), paths)
    assert any("training resumes from the EMA weights" in n for n in notes)
    assert any("optimizers start fresh" in n for n in notes)
    assert any("FAN from config.fan_weights" in n for n in notes)
    for net in ("generator", "mapping_network", "style_encoder"):
        expected = convert.from_torch(
            {k: v.numpy() for k, v in content["nets_ema"][net].items()}, layout.nets[net], source="x"
        )
        for path, v in convert.flatten(expected).items():
            np.testing.assert_array_equal(convert.flatten(state.ema[net])[path], v)
            np.testing.assert_array_equal(convert.flatten(state.params[net])[path], v)
    for path, v in convert.flatten(base.params["discriminator"]).items():  # fresh (the base state's)
        np.testing.assert_array_equal(convert.flatten(state.params["discriminator"])[path], v)
    assert "fan" not in state.params and "fan" not in state.ema  # frozen: its own field
    fan_params = convert.flatten(state.frozen["fan"])
    np.testing.assert_array_equal(
        fan_params[("conv1", "conv", "kernel")],
        content["nets"]["fan"]["conv1.conv.weight"].numpy().transpose(2, 3, 1, 0),
    )
    assert int(fan_params[("bn1", "num_batches_tracked")]) == 0  # absent from the file: PyTorch's initial 0


def test_mismatched_config_names_the_first_tensor_and_the_field(tmp_path):
    config = _config(**{"model.w_hpf": 1.0})
    _, paths = _torch_files(config, str(tmp_path))
    cases = [
        (
            {"img_size": 64},
            r"\[generator\]: tensor 'encode\.4\.conv1\.weight'.*missing.*config\.img_size=32 "
            r"\(this config has 64\)",
        ),
        (
            {"model.num_domains": 2},
            r"\[mapping_network\]: tensor 'unshared\.2\.0\.weight' \[32, 32\] is in the "
            r"file but not.*config\.model\.num_domains=3",
        ),
        (
            {"model.w_hpf": 0.0},
            r"\[generator\]: tensor 'decode\.2\.conv1\.weight' has shape \[32, 32, 3, 3\] in "
            r"the file, this config expects \[16, 32, 3, 3\].*config\.model\.w_hpf=1\.0",
        ),
        (
            {"model.style_dim": 8},
            r"\[generator\]: tensor 'decode\.0\.norm1\.fc\.weight' has shape \[64, 16\].*"
            r"config\.model\.style_dim=16",
        ),
    ]
    for change, pattern in cases:
        layout = torch_layout.TorchLayout(_config(**{"model.w_hpf": 1.0, **change}))
        with pytest.raises(CheckpointMismatch, match=pattern):
            layout.load(paths)
    bad_filter = dict(torch.load(paths["nets"], weights_only=True))
    bad_filter["generator"]["hpf.filter"] = bad_filter["generator"]["hpf.filter"] / 2
    torch.save(bad_filter, tmp_path / "000001_nets.ckpt")
    with pytest.raises(CheckpointMismatch, match=r"buffer 'hpf\.filter' differs .*config\.model\.w_hpf"):
        torch_layout.TorchLayout(config).load({"nets": str(tmp_path / "000001_nets.ckpt")})
    with pytest.raises(FacejaxError, match="Table 1 row"):
        torch_layout.TorchLayout(_config(**{"model.style": "label"}))
    (tmp_path / "weights.ckpt").write_bytes(b"")
    with pytest.raises(FacejaxError, match=r"weights\.ckpt: the file name must be <step>_<nets\|nets_ema\|optims>"):
        files.find_checkpoint_files(str(tmp_path / "weights.ckpt"))
