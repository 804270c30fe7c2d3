"""Shared primitives: PyTorch semantics (padding, norms, resizing), init statistics, dtype convention."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from facejax.nn.blocks import HighPass, highpass_kernel
from facejax.nn.layers import (
    Conv2d,
    InstanceNorm,
    Linear,
    avg_pool2,
    count_params,
    instance_norm,
    resize_bilinear,
    upsample_nearest2,
)


def _rand(shape, seed=0, scale=1.0, offset=0.0):
    return (np.random.default_rng(seed).standard_normal(shape) * scale + offset).astype(np.float32)


def _np_init(key, shape, dtype):
    """Initializer without jax.random (whose per-shape compile dominates small tests on CPU)."""
    return jnp.asarray(_rand(shape, seed=sum(shape)) * 0.3, dtype)


def _nchw(x):
    return np.ascontiguousarray(np.asarray(x).transpose(0, 3, 1, 2))


def _nhwc(t):
    return t.detach().numpy().transpose(0, 2, 3, 1)


# ---------------------------------------------------------------- init and dtype (no torch needed)


@pytest.mark.parametrize("make", [lambda r: Conv2d(256, 128, 3, 1, 1, rngs=r), lambda r: Linear(1024, 512, rngs=r)])
def test_he_init_is_untruncated_normal_with_fan_in_std(make):
    layer = make(nnx.Rngs(0))
    w = np.asarray(layer.kernel[...])
    fan_in = int(np.prod(w.shape[:-1]))
    std = math.sqrt(2.0 / fan_in)
    assert abs(w.std() / std - 1.0) < 0.05
    assert abs(w.mean()) < 0.05 * std
    # An untruncated normal has ~4.55% of its mass beyond 2 std; jax's truncated he_normal has none.
    assert 0.035 < np.mean(np.abs(w) > 2 * std) < 0.056
    np.testing.assert_array_equal(np.asarray(layer.bias[...]), 0.0)


def test_params_stay_float32_and_compute_in_dtype():
    conv = Conv2d(4, 8, 3, 1, 1, dtype=jnp.bfloat16, kernel_init=_np_init, rngs=nnx.Rngs(0))
    norm = InstanceNorm(8, affine=True, dtype=jnp.bfloat16)
    y = norm(conv(jnp.ones((1, 5, 5, 4), jnp.float32)))
    assert y.dtype == jnp.bfloat16
    assert all(p.dtype == jnp.float32 for p in jax.tree_util.tree_leaves(nnx.state(conv)))
    x = jnp.asarray(_rand((2, 6, 6, 3), offset=100.0), jnp.bfloat16)  # large mean: needs float32 statistics
    ref = instance_norm(x.astype(jnp.float32))
    out = instance_norm(x)
    assert out.dtype == jnp.bfloat16
    assert float(jnp.max(jnp.abs(out.astype(jnp.float32) - ref))) < 0.05


def test_count_params_on_abstract_module():
    abstract = nnx.eval_shape(lambda: Conv2d(3, 5, 3, rngs=nnx.Rngs(0)))
    assert count_params(abstract) == 3 * 5 * 9 + 5
    assert count_params(nnx.state(abstract, nnx.Param)) == 3 * 5 * 9 + 5
    assert count_params(InstanceNorm(7, affine=False)) == 0


def test_highpass_has_no_state():
    assert len(jax.tree_util.tree_leaves(nnx.state(HighPass(1.0)))) == 0
    with pytest.raises(ValueError):
        HighPass(0.0)


# ---------------------------------------------------------------- parity with PyTorch


@pytest.mark.torch
@pytest.mark.parametrize(
    "cin,cout,k,stride,pad,bias,groups,hw",
    [
        (3, 8, 3, 1, 1, True, 1, 9),
        (6, 4, 4, 1, 0, True, 1, 4),
        (4, 6, 3, 2, 1, True, 2, 8),
        (5, 7, 1, 1, 0, False, 1, 6),
    ],
)
def test_conv2d_matches_torch(cin, cout, k, stride, pad, bias, groups, hw):
    torch = pytest.importorskip("torch")
    conv = Conv2d(cin, cout, k, stride, pad, use_bias=bias, groups=groups, kernel_init=_np_init, rngs=nnx.Rngs(1))
    if bias:
        conv.bias[...] = jnp.asarray(_rand((cout,), 3))
    x = _rand((2, hw, hw, cin), 2)
    with jax.default_matmul_precision("highest"):
        y = np.asarray(conv(jnp.asarray(x)))
    w = torch.from_numpy(np.ascontiguousarray(np.asarray(conv.kernel[...]).transpose(3, 2, 0, 1)))
    b = torch.from_numpy(np.array(conv.bias[...])) if bias else None
    ref = torch.nn.functional.conv2d(torch.from_numpy(_nchw(x)), w, b, stride=stride, padding=pad, groups=groups)
    assert y.shape == _nhwc(ref).shape
    np.testing.assert_allclose(y, _nhwc(ref), atol=1e-5)


@pytest.mark.torch
def test_linear_matches_torch():
    torch = pytest.importorskip("torch")
    lin = Linear(7, 5, kernel_init=_np_init, rngs=nnx.Rngs(0))
    lin.bias[...] = jnp.asarray(_rand((5,), 1))
    x = _rand((3, 7), 2)
    with jax.default_matmul_precision("highest"):
        y = np.asarray(lin(jnp.asarray(x)))
    ref = torch.nn.functional.linear(
        torch.from_numpy(x),
        torch.from_numpy(np.asarray(lin.kernel[...]).T.copy()),
        torch.from_numpy(np.array(lin.bias[...])),
    )
    np.testing.assert_allclose(y, ref.numpy(), atol=1e-5)


@pytest.mark.torch
def test_instance_norm_matches_torch():
    torch = pytest.importorskip("torch")
    x = _rand((2, 7, 5, 6), 0, scale=3.0, offset=1.5)
    np.testing.assert_allclose(
        np.asarray(instance_norm(jnp.asarray(x))),
        _nhwc(torch.nn.InstanceNorm2d(6)(torch.from_numpy(_nchw(x)))),
        atol=1e-5,
    )
    norm = InstanceNorm(6, affine=True)
    norm.scale[...] = jnp.asarray(_rand((6,), 1))
    norm.bias[...] = jnp.asarray(_rand((6,), 2))
    tnorm = torch.nn.InstanceNorm2d(6, affine=True)
    with torch.no_grad():
        tnorm.weight.copy_(torch.from_numpy(np.array(norm.scale[...])))
        tnorm.bias.copy_(torch.from_numpy(np.array(norm.bias[...])))
    np.testing.assert_allclose(np.asarray(norm(jnp.asarray(x))), _nhwc(tnorm(torch.from_numpy(_nchw(x)))), atol=1e-5)


@pytest.mark.torch
@pytest.mark.parametrize("src,dst", [(8, 16), (8, 13), (5, 32), (32, 16), (64, 8), (32, 12), (256, 32), (17, 17)])
def test_resize_bilinear_matches_torch_interpolate(src, dst):
    torch = pytest.importorskip("torch")
    x = _rand((2, src, src, 3), src * 7 + dst)
    ref = torch.nn.functional.interpolate(torch.from_numpy(_nchw(x)), size=dst, mode="bilinear", align_corners=False)
    np.testing.assert_allclose(np.asarray(resize_bilinear(jnp.asarray(x), dst)), _nhwc(ref), atol=1e-5)


@pytest.mark.torch
def test_resize_bilinear_non_square_matches_torch():
    torch = pytest.importorskip("torch")
    x = _rand((1, 12, 20, 2), 4)
    ref = torch.nn.functional.interpolate(
        torch.from_numpy(_nchw(x)), size=(7, 30), mode="bilinear", align_corners=False
    )
    np.testing.assert_allclose(np.asarray(resize_bilinear(jnp.asarray(x), (7, 30))), _nhwc(ref), atol=1e-5)


@pytest.mark.torch
def test_pool_upsample_highpass_match_torch():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x = _rand((2, 8, 6, 4), 5)
    tx = torch.from_numpy(_nchw(x))
    np.testing.assert_allclose(np.asarray(avg_pool2(jnp.asarray(x))), _nhwc(F.avg_pool2d(tx, 2)), atol=1e-6)
    np.testing.assert_array_equal(
        np.asarray(upsample_nearest2(jnp.asarray(x))), _nhwc(F.interpolate(tx, scale_factor=2, mode="nearest"))
    )
    kernel = torch.from_numpy(np.array(highpass_kernel(0.5)))
    ref = F.conv2d(tx, kernel[None, None].repeat(4, 1, 1, 1), padding=1, groups=4)
    with jax.default_matmul_precision("highest"):
        np.testing.assert_allclose(np.asarray(HighPass(0.5)(jnp.asarray(x))), _nhwc(ref), atol=1e-5)
