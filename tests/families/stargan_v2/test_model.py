"""StarGAN v2 networks: parameter counts and state-dict layout of the original, shapes, PyTorch parity, bf16."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from facejax.families.stargan_v2.model import (
    Discriminator,
    Generator,
    MappingNetwork,
    StyleEncoder,
    frozen_parameter_mask,
)
from facejax.families.stargan_v2.torch_layout import module_key_shapes as torch_key_shapes
from facejax.families.stargan_v2.torch_layout import module_state_dict as flax_to_torch_state_dict
from facejax.nn.layers import count_params

SMALL = dict(dim_in=16, max_conv_dim=64)  # widths of the CPU presets

# (w_hpf, num_domains) -> logged / derived counts of the original at 256 px (reference §1.7)
CONFIGS = {
    "celeba_hq": (1.0, 2, dict(generator=43_467_395, mapping=2_438_272, style=20_916_928, disc=20_852_290)),
    "afhq": (0.0, 3, dict(generator=33_892_995, mapping=3_259_072, style=20_949_760, disc=20_852_803)),
}


def _abstract_nets(w_hpf, num_domains, img_size=256, **widths):
    return dict(
        generator=nnx.eval_shape(lambda: Generator(img_size, w_hpf=w_hpf, **widths, rngs=nnx.Rngs(0))),
        mapping=nnx.eval_shape(lambda: MappingNetwork(num_domains=num_domains, rngs=nnx.Rngs(0))),
        style=nnx.eval_shape(lambda: StyleEncoder(img_size, num_domains=num_domains, **widths, rngs=nnx.Rngs(0))),
        disc=nnx.eval_shape(lambda: Discriminator(img_size, num_domains=num_domains, **widths, rngs=nnx.Rngs(0))),
    )


def _materialize(make, seed=0):
    """Build a module without running its initializers (slow on CPU at full width): shapes from eval_shape,
    kernels N(0, 2/fan_in) as he_init, biases and norm scales randomised so that their mapping is tested too."""
    graphdef, state = nnx.split(nnx.eval_shape(make))
    rng = np.random.default_rng(seed)

    def fill(path, sds):
        name = str(path[-2].key)
        if name == "kernel":
            fan_in = math.prod(sds.shape[:-1])
            return jnp.asarray(rng.standard_normal(sds.shape, np.float32) * math.sqrt(2.0 / fan_in))
        offset = 1.0 if name == "scale" else 0.0
        return jnp.asarray(offset + 0.1 * rng.standard_normal(sds.shape, np.float32))

    return nnx.merge(graphdef, jax.tree_util.tree_map_with_path(fill, state))


def _inputs(b, img_size, seed=0, style_dim=64, k=3):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, (b, img_size, img_size, 3)).astype(np.float32)
    s = rng.standard_normal((b, style_dim)).astype(np.float32)
    y = rng.integers(0, k, (b,))
    masks = tuple(rng.uniform(0, 1, (b, size, size, 1)).astype(np.float32) for size in (img_size, img_size + 13))
    return x, s, y, masks


# ---------------------------------------------------------------- sizes and layout of the original


@pytest.mark.parametrize("preset", sorted(CONFIGS))
def test_param_counts_equal_original_at_256(preset):
    w_hpf, k, expected = CONFIGS[preset]
    counts = {name: count_params(net) for name, net in _abstract_nets(w_hpf, k).items()}
    assert counts == expected


def _expected_generator_keys(blocks, style_dim=64, w_hpf=0.0):
    """Keys and shapes written out from the per-block patterns of reference §2.1."""
    d0 = blocks[0][1]  # base width = encode.0 input
    out = {
        "from_rgb.weight": (d0, 3, 3, 3), "from_rgb.bias": (d0,),
        "to_rgb.0.weight": (d0,), "to_rgb.0.bias": (d0,), "to_rgb.2.weight": (3, d0, 1, 1), "to_rgb.2.bias": (3,),
    }  # fmt: skip
    for prefix, ci, co in blocks:
        if prefix.startswith("encode"):
            shapes = {"conv1.weight": (ci, ci, 3, 3), "conv1.bias": (ci,),
                      "conv2.weight": (co, ci, 3, 3), "conv2.bias": (co,),
                      "norm1.weight": (ci,), "norm1.bias": (ci,),
                      "norm2.weight": (ci,), "norm2.bias": (ci,)}  # fmt: skip
        else:
            shapes = {"conv1.weight": (co, ci, 3, 3), "conv1.bias": (co,),
                      "conv2.weight": (co, co, 3, 3), "conv2.bias": (co,),
                      "norm1.fc.weight": (2 * ci, style_dim), "norm1.fc.bias": (2 * ci,),
                      "norm2.fc.weight": (2 * co, style_dim), "norm2.fc.bias": (2 * co,)}  # fmt: skip
        if ci != co:
            shapes["conv1x1.weight"] = (co, ci, 1, 1)
        out.update({f"{prefix}.{k}": v for k, v in shapes.items()})
    if w_hpf > 0:
        out["hpf.filter"] = (3, 3)
    return out


CELEBA_G_BLOCKS = [  # reference §2.1 table, CelebA-HQ (w_hpf=1)
    ("encode.0", 64, 128), ("encode.1", 128, 256), ("encode.2", 256, 512), ("encode.3", 512, 512),
    ("encode.4", 512, 512), ("encode.5", 512, 512), ("encode.6", 512, 512),
    ("decode.0", 512, 512), ("decode.1", 512, 512), ("decode.2", 512, 512), ("decode.3", 512, 512),
    ("decode.4", 512, 256), ("decode.5", 256, 128), ("decode.6", 128, 64),
]  # fmt: skip
AFHQ_G_BLOCKS = [  # reference §2.1, AFHQ (w_hpf=0)
    ("encode.0", 64, 128), ("encode.1", 128, 256), ("encode.2", 256, 512), ("encode.3", 512, 512),
    ("encode.4", 512, 512), ("encode.5", 512, 512),
    ("decode.0", 512, 512), ("decode.1", 512, 512), ("decode.2", 512, 512),
    ("decode.3", 512, 256), ("decode.4", 256, 128), ("decode.5", 128, 64),
]  # fmt: skip


def test_generator_state_dict_layout_matches_reference_table():
    celeba = torch_key_shapes(_abstract_nets(1.0, 2)["generator"])
    assert celeba == _expected_generator_keys(CELEBA_G_BLOCKS, w_hpf=1.0)
    assert len(celeba) == 124 + 1
    assert celeba["decode.4.conv1x1.weight"] == (256, 512, 1, 1)
    assert celeba["to_rgb.2.weight"] == (3, 64, 1, 1)
    assert celeba["encode.6.norm2.weight"] == (512,)
    assert celeba["decode.6.norm1.fc.weight"] == (256, 64)
    afhq = torch_key_shapes(_abstract_nets(0.0, 3)["generator"])
    assert afhq == _expected_generator_keys(AFHQ_G_BLOCKS)
    assert len(afhq) == 108


def test_other_nets_state_dict_layout_matches_reference():
    nets = _abstract_nets(1.0, 2)
    mapping, style, disc = (torch_key_shapes(nets[n]) for n in ("mapping", "style", "disc"))
    assert (len(mapping), len(style), len(disc)) == (24, 35, 33)
    assert mapping["shared.0.weight"] == (512, 16) and mapping["unshared.1.6.weight"] == (64, 512)
    assert style["shared.8.weight"] == (512, 512, 4, 4) and style["shared.3.conv1x1.weight"] == (512, 256, 1, 1)
    assert style["unshared.1.weight"] == (64, 512) and "shared.4.conv1x1.weight" not in style
    assert disc["main.10.weight"] == (2, 512, 1, 1) and disc["main.10.bias"] == (2,)
    assert {k: v for k, v in disc.items() if not k.startswith("main.10")} == {
        k.replace("shared.", "main.", 1): v for k, v in style.items() if k.startswith("shared.")
    }


# ---------------------------------------------------------------- frozen parameters


def _true_paths(mask):
    return sorted(
        ".".join(str(getattr(k, "key", k)) for k in path) for path, v in jax.tree_util.tree_leaves_with_path(mask) if v
    )


def test_frozen_parameter_mask_marks_unused_decoder_shortcuts():
    for preset, expected in [("celeba_hq", [f"decode.{i}.conv1x1.kernel" for i in (4, 5, 6)]), ("afhq", [])]:
        w_hpf, k, _ = CONFIGS[preset]
        params = nnx.state(_abstract_nets(w_hpf, k)["generator"], nnx.Param)
        mask = frozen_parameter_mask(params)
        assert _true_paths(mask) == expected, preset
        assert jax.tree.structure(mask) == jax.tree.structure(nnx.as_pure(params))
        pure = params.to_pure_dict()
        assert _true_paths(frozen_parameter_mask(pure, w_hpf=w_hpf)) == expected
    with pytest.raises(ValueError, match="w_hpf"):
        frozen_parameter_mask(pure)


def test_frozen_parameters_stay_put_under_masked_optimizer():
    """The recipe for the trainer: label the frozen params and give them `set_to_zero` (coupled decay included)."""
    gen = _materialize(lambda: Generator(32, w_hpf=1.0, **SMALL, rngs=nnx.Rngs(0)))
    labels = jax.tree.map(lambda f: "frozen" if f else "train", frozen_parameter_mask(nnx.state(gen, nnx.Param)))
    adam_l2 = optax.chain(optax.add_decayed_weights(1e-4), optax.adam(1e-2, b1=0.0, b2=0.99))
    opt = nnx.Optimizer(
        gen, optax.multi_transform({"train": adam_l2, "frozen": optax.set_to_zero()}, labels), wrt=nnx.Param
    )
    before = nnx.state(gen, nnx.Param).to_pure_dict()
    grads = jax.tree.map(jnp.ones_like, nnx.state(gen, nnx.Param))  # even a nonzero gradient must not move them
    nnx.jit(lambda opt, gen, grads: opt.update(gen, grads))(opt, gen, grads)
    after = nnx.state(gen, nnx.Param).to_pure_dict()
    for i in (2, 3):  # the 64->32 and 32->16 decode blocks have conv1x1 at these widths
        np.testing.assert_array_equal(after["decode"][i]["conv1x1"]["kernel"], before["decode"][i]["conv1x1"]["kernel"])
    assert not np.array_equal(after["decode"][2]["conv1"]["kernel"], before["decode"][2]["conv1"]["kernel"])
    assert not np.array_equal(after["encode"][0]["conv1x1"]["kernel"], before["encode"][0]["conv1x1"]["kernel"])


def test_frozen_parameters_are_never_read():
    gen = _materialize(lambda: Generator(32, w_hpf=1.0, **SMALL, rngs=nnx.Rngs(0)))
    frozen = frozen_parameter_mask(nnx.state(gen, nnx.Param))
    poisoned = jax.tree.map(
        lambda f, p: jnp.full_like(p, jnp.nan) if f else p, frozen, nnx.as_pure(nnx.state(gen, nnx.Param))
    )
    nnx.update(gen, poisoned)
    x, s, _, masks = _inputs(1, 32)
    out = nnx.jit(lambda g, x, s, m: g(x, s, m))(gen, x, s, masks)
    assert bool(jnp.all(jnp.isfinite(out)))


# ---------------------------------------------------------------- shapes and arguments


@pytest.mark.parametrize("img_size", [32, 64])
@pytest.mark.parametrize("w_hpf", [0.0, 1.0])
def test_forward_shapes(img_size, w_hpf):
    b, k = 2, 3
    nets = _abstract_nets(w_hpf, k, img_size, **SMALL)
    mapping = nnx.eval_shape(
        lambda: MappingNetwork(latent_dim=4, style_dim=64, num_domains=k, hidden_dim=32, rngs=nnx.Rngs(0))
    )
    x = jax.ShapeDtypeStruct((b, img_size, img_size, 3), jnp.float32)
    y = jax.ShapeDtypeStruct((b,), jnp.int32)
    s = nnx.eval_shape(lambda f, z, y: f(z, y), mapping, jax.ShapeDtypeStruct((b, 4), jnp.float32), y)
    assert (s.shape, s.dtype) == ((b, 64), jnp.float32)
    assert nnx.eval_shape(lambda e, x, y: e(x, y), nets["style"], x, y).shape == (b, 64)
    assert nnx.eval_shape(lambda d, x, y: d(x, y), nets["disc"], x, y).shape == (b,)
    gen = nets["generator"]
    out = nnx.eval_shape(lambda g, x, s: g(x, s), gen, x, s)
    assert (out.shape, out.dtype) == (x.shape, jnp.float32)
    masks = (jax.ShapeDtypeStruct((b, 40, 40, 1), jnp.float32), jax.ShapeDtypeStruct((b, 17, 17, 1), jnp.float32))
    assert nnx.eval_shape(lambda g, x, s, m: g(x, s, m), gen, x, s, masks).shape == x.shape  # masks at any size
    graphdef, params = nnx.split(gen)
    with_masks = str(jax.make_jaxpr(lambda p, x, s, m: nnx.merge(graphdef, p)(x, s, m))(params, x, s, masks))
    without = str(jax.make_jaxpr(lambda p, x, s, m: nnx.merge(graphdef, p)(x, s))(params, x, s, masks))
    assert (with_masks == without) == (w_hpf == 0)  # masks are ignored without the HPF path


def test_bad_img_size_raises_clear_error():
    for size in (16, 48):
        with pytest.raises(ValueError, match="power of two"):
            nnx.eval_shape(lambda: Generator(size, rngs=nnx.Rngs(0)))
    with pytest.raises(ValueError, match="power of two"):
        nnx.eval_shape(lambda: Discriminator(100, rngs=nnx.Rngs(0)))


def test_unselected_domain_heads_get_zero_grads():
    mapping = _materialize(
        lambda: MappingNetwork(latent_dim=4, style_dim=8, num_domains=3, hidden_dim=16, rngs=nnx.Rngs(0))
    )
    loss = lambda m: jnp.sum(m(jnp.ones((2, 4)), jnp.array([0, 0])) ** 2)  # noqa: E731
    grads = nnx.jit(nnx.grad(loss))(mapping)
    assert float(jnp.abs(grads["unshared"][0][6]["kernel"][...]).max()) > 0
    for head in (1, 2):
        assert all(float(jnp.abs(g).max()) == 0 for g in jax.tree.leaves(grads["unshared"][head]))


def test_bfloat16_compute_close_to_float32():
    x, s, _, masks = _inputs(2, 64, seed=9)
    g32 = _materialize(lambda: Generator(64, w_hpf=1.0, **SMALL, rngs=nnx.Rngs(0)), seed=3)
    g16 = _materialize(lambda: Generator(64, w_hpf=1.0, **SMALL, dtype=jnp.bfloat16, rngs=nnx.Rngs(0)), seed=3)
    assert all(p.dtype == jnp.float32 for p in jax.tree.leaves(nnx.state(g16, nnx.Param)))
    forward = nnx.jit(lambda g, x, s, m: g(x, s, m))
    ref, out = forward(g32, x, s, masks), forward(g16, x, s, masks)
    assert out.dtype == jnp.float32
    rel = float(jnp.linalg.norm(out - ref) / jnp.linalg.norm(ref))
    assert 0 < rel < 5e-2, rel
    jaxpr = str(jax.make_jaxpr(lambda x: g16(x, s, masks))(x))
    assert "conv_general_dilated" in jaxpr and "bf16[2,64,64,16]" in jaxpr


# ---------------------------------------------------------------- parity with the PyTorch reference modules


def _load_into_torch(flax_module, torch_module):
    torch = pytest.importorskip("torch")
    state = {k: torch.from_numpy(v.copy()) for k, v in flax_to_torch_state_dict(flax_module).items()}
    torch_module.load_state_dict(state, strict=True)
    return torch_module.eval()


def _nchw(a):
    import torch

    return torch.from_numpy(np.ascontiguousarray(np.asarray(a).transpose(0, 3, 1, 2)))


def _assert_close(flax_out, torch_out, atol=1e-4):
    torch_out = torch_out.detach().numpy()
    if torch_out.ndim == 4:
        torch_out = torch_out.transpose(0, 2, 3, 1)
    flax_out = np.asarray(flax_out)
    assert flax_out.shape == torch_out.shape
    assert np.max(np.abs(flax_out - torch_out)) <= atol, np.max(np.abs(flax_out - torch_out))


@pytest.mark.torch
@pytest.mark.parametrize("w_hpf, path", [(0.0, "auto"), (1.0, "cpu_tuned"), (1.0, "native")])
def test_generator_matches_torch_reference(w_hpf, path):
    """Both kernel paths (config.kernels; the generator's encoder and decoder use the fused conv+pool and
    upsample+conv) give the original's outputs, hence the same outputs to tolerance."""
    torch = pytest.importorskip("torch")
    from facejax.families.stargan_v2 import torch_ref as ref
    from facejax.nn import kernels

    gen = _materialize(lambda: Generator(64, w_hpf=w_hpf, **SMALL, rngs=nnx.Rngs(0)), seed=1)
    tgen = _load_into_torch(gen, ref.Generator(64, w_hpf=w_hpf, **SMALL))
    x, s, _, masks = _inputs(2, 64)
    masks = masks if w_hpf > 0 else None
    with jax.default_matmul_precision("highest"), kernels.use(path):
        out = nnx.jit(lambda g, x, s, m: g(x, s, m))(gen, x, s, masks)
    with torch.no_grad():
        tout = tgen(_nchw(x), torch.from_numpy(s), None if masks is None else tuple(_nchw(m) for m in masks))
    _assert_close(out, tout)


@pytest.mark.torch
def test_full_width_celeba_generator_matches_torch_reference():
    torch = pytest.importorskip("torch")
    from facejax.families.stargan_v2 import torch_ref as ref

    gen = _materialize(lambda: Generator(256, w_hpf=1.0, rngs=nnx.Rngs(0)), seed=2)
    tgen = ref.Generator(256, w_hpf=1)
    assert torch_key_shapes(gen) == {k: tuple(v.shape) for k, v in tgen.state_dict().items()}
    tgen = _load_into_torch(gen, tgen)
    x, s, _, masks = _inputs(1, 256, seed=3)
    masks = (masks[0], masks[0][:, ::2, ::2])  # a 256 and a 128 mask
    with jax.default_matmul_precision("highest"):
        out = nnx.jit(lambda g, x, s, m: g(x, s, m))(gen, x, s, masks)
    with torch.no_grad():
        tout = tgen(_nchw(x), torch.from_numpy(s), tuple(_nchw(m) for m in masks))
    _assert_close(out, tout)


@pytest.mark.torch
def test_mapping_style_encoder_discriminator_match_torch_reference():
    torch = pytest.importorskip("torch")
    from facejax.families.stargan_v2 import torch_ref as ref

    k = 3
    x, _, y, _ = _inputs(4, 64, seed=4, k=k)
    z = np.random.default_rng(5).standard_normal((4, 16)).astype(np.float32)
    mapping = _materialize(lambda: MappingNetwork(num_domains=k, rngs=nnx.Rngs(0)), seed=6)
    style_enc = _materialize(lambda: StyleEncoder(64, num_domains=k, **SMALL, rngs=nnx.Rngs(0)), seed=7)
    disc = _materialize(lambda: Discriminator(64, num_domains=k, **SMALL, rngs=nnx.Rngs(0)), seed=8)
    tmapping = _load_into_torch(mapping, ref.MappingNetwork(num_domains=k))
    tstyle = _load_into_torch(style_enc, ref.StyleEncoder(64, num_domains=k, **SMALL))
    tdisc = _load_into_torch(disc, ref.Discriminator(64, num_domains=k, **SMALL))
    ty = torch.from_numpy(y)
    with jax.default_matmul_precision("highest"):
        outs = nnx.jit(lambda f, e, d, z, x, y: (f(z, y), e(x, y), d(x, y)))(mapping, style_enc, disc, z, x, y)
    with torch.no_grad():
        for out, tout in zip(outs, (tmapping(torch.from_numpy(z), ty), tstyle(_nchw(x), ty), tdisc(_nchw(x), ty))):
            _assert_close(out, tout)


@pytest.mark.torch
@pytest.mark.parametrize("preset", sorted(CONFIGS))
def test_full_size_layout_matches_torch_reference(preset):
    pytest.importorskip("torch")
    from facejax.families.stargan_v2 import torch_ref as ref

    w_hpf, k, _ = CONFIGS[preset]
    nets = _abstract_nets(w_hpf, k)
    torch_nets = dict(
        generator=ref.Generator(256, w_hpf=w_hpf),
        mapping=ref.MappingNetwork(num_domains=k),
        style=ref.StyleEncoder(256, num_domains=k),
        disc=ref.Discriminator(256, num_domains=k),
    )
    for name, tnet in torch_nets.items():
        expected = {key: tuple(v.shape) for key, v in tnet.state_dict().items()}
        assert torch_key_shapes(nets[name]) == expected, name
        n_params = sum(p.numel() for p in tnet.parameters())
        assert n_params == CONFIGS[preset][2][name], name
