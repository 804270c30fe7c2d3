"""Primitive layers shared by every facejax family.

Conventions (all families):

- Activations are NHWC. Conv kernels are HWIO, dense kernels are (in, out); the exporter transposes them to
  PyTorch's OIHW / (out, in).
- Every module takes ``dtype`` (the compute dtype, float32 by default, bfloat16 for mixed precision) and
  ``param_dtype`` (float32). Parameters are stored in ``param_dtype`` and cast to ``dtype`` at use; inputs are
  cast to ``dtype``. Normalisation statistics are always computed in float32.
- Default initialisation is the one most PyTorch GAN repositories apply explicitly: ``kaiming_normal_``
  (fan_in, relu gain), i.e. an *untruncated* normal with std sqrt(2 / fan_in), and zero biases.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp
from flax import nnx

from facejax.nn import kernels

Dtype = jnp.dtype | type

# PyTorch `kaiming_normal_(w, mode="fan_in", nonlinearity="relu")`. jax's `he_normal` is a *truncated* normal,
# which has a different spread; "normal" here is the untruncated one.
he_normal_torch = jax.nn.initializers.variance_scaling(2.0, "fan_in", "normal")
zeros_init = jax.nn.initializers.zeros


def _pair(v: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(v, int):
        return (v, v)
    a, b = v
    return (int(a), int(b))


class Conv2d(nnx.Module):
    """2-D convolution with PyTorch semantics: integer ``padding`` is symmetric zero padding.

    Holds ``kernel`` (kh, kw, in_features // groups, out_features) and, if ``use_bias``, ``bias`` (out_features,).
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        kernel_size: int | Sequence[int],
        stride: int | Sequence[int] = 1,
        padding: int | Sequence[int] = 0,
        use_bias: bool = True,
        groups: int = 1,
        *,
        dtype: Dtype = jnp.float32,
        param_dtype: Dtype = jnp.float32,
        kernel_init: nnx.Initializer = he_normal_torch,
        bias_init: nnx.Initializer = zeros_init,
        rngs: nnx.Rngs,
    ):
        if in_features % groups or out_features % groups:
            raise ValueError(
                f"in_features={in_features} and out_features={out_features} must be divisible by groups={groups}"
            )
        self.in_features = in_features
        self.out_features = out_features
        self.kernel_size = _pair(kernel_size)
        self.stride = _pair(stride)
        self.padding = _pair(padding)
        self.groups = groups
        self.dtype = dtype
        kshape = (*self.kernel_size, in_features // groups, out_features)
        self.kernel = nnx.Param(kernel_init(rngs.params(), kshape, param_dtype))
        self.bias = nnx.Param(bias_init(rngs.params(), (out_features,), param_dtype)) if use_bias else None

    def __call__(self, x: jax.Array) -> jax.Array:
        x = x.astype(self.dtype)
        ph, pw = self.padding
        y = jax.lax.conv_general_dilated(
            x,
            self.kernel[...].astype(self.dtype),
            window_strides=self.stride,
            padding=((ph, ph), (pw, pw)),
            dimension_numbers=("NHWC", "HWIO", "NHWC"),
            feature_group_count=self.groups,
        )
        if self.bias is not None:
            y = y + self.bias[...].astype(self.dtype)
        return y


class Linear(nnx.Module):
    """Dense layer holding ``kernel`` (in_features, out_features) and optional ``bias``."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        use_bias: bool = True,
        *,
        dtype: Dtype = jnp.float32,
        param_dtype: Dtype = jnp.float32,
        kernel_init: nnx.Initializer = he_normal_torch,
        bias_init: nnx.Initializer = zeros_init,
        rngs: nnx.Rngs,
    ):
        self.in_features = in_features
        self.out_features = out_features
        self.dtype = dtype
        self.kernel = nnx.Param(kernel_init(rngs.params(), (in_features, out_features), param_dtype))
        self.bias = nnx.Param(bias_init(rngs.params(), (out_features,), param_dtype)) if use_bias else None

    def __call__(self, x: jax.Array) -> jax.Array:
        y = jnp.dot(x.astype(self.dtype), self.kernel[...].astype(self.dtype))
        if self.bias is not None:
            y = y + self.bias[...].astype(self.dtype)
        return y


class LeakyReLU(nnx.Module):
    """Parameter-free module, so that module lists keep PyTorch ``Sequential`` indices."""

    def __init__(self, negative_slope: float = 0.2):
        self.negative_slope = negative_slope

    def __call__(self, x: jax.Array) -> jax.Array:
        return jax.nn.leaky_relu(x, self.negative_slope)


class ReLU(nnx.Module):
    """Parameter-free module, so that module lists keep PyTorch ``Sequential`` indices."""

    def __call__(self, x: jax.Array) -> jax.Array:
        return jax.nn.relu(x)


def _normalize_f32(x: jax.Array, eps: float) -> jax.Array:
    """Per-sample, per-channel standardisation over H, W (biased variance), in float32."""
    x = x.astype(jnp.float32)
    mean = jnp.mean(x, axis=(1, 2), keepdims=True)
    var = jnp.mean(jnp.square(x - mean), axis=(1, 2), keepdims=True)
    return (x - mean) * jax.lax.rsqrt(var + eps)


def instance_norm(x: jax.Array, eps: float = 1e-5) -> jax.Array:
    """PyTorch ``InstanceNorm2d(affine=False)`` on NHWC input; statistics in float32, result in ``x.dtype``."""
    return _normalize_f32(x, eps).astype(x.dtype)


class InstanceNorm(nnx.Module):
    """PyTorch ``InstanceNorm2d(num_features, affine=..., track_running_stats=False)``, eps 1e-5.

    With ``affine`` it holds ``scale`` (ones) and ``bias`` (zeros), exported as ``weight`` / ``bias``.
    The affine transform is applied in float32, the result is cast to ``dtype``.
    """

    def __init__(
        self,
        num_features: int,
        affine: bool = False,
        eps: float = 1e-5,
        *,
        dtype: Dtype = jnp.float32,
        param_dtype: Dtype = jnp.float32,
        rngs: nnx.Rngs | None = None,
    ):
        self.num_features = num_features
        self.eps = eps
        self.dtype = dtype
        if affine:
            self.scale = nnx.Param(jnp.ones((num_features,), param_dtype))
            self.bias = nnx.Param(jnp.zeros((num_features,), param_dtype))
        else:
            self.scale = None
            self.bias = None

    def __call__(self, x: jax.Array) -> jax.Array:
        y = _normalize_f32(x, self.eps)
        if self.scale is not None:
            y = y * self.scale[...].astype(jnp.float32) + self.bias[...].astype(jnp.float32)
        return y.astype(self.dtype)


def avg_pool2(x: jax.Array) -> jax.Array:
    """PyTorch ``F.avg_pool2d(x, 2)`` on NHWC input (2x2 mean, stride 2; odd trailing rows/cols dropped)."""
    b, h, w, c = x.shape
    h2, w2 = h // 2, w // 2
    x = x[:, : 2 * h2, : 2 * w2, :].reshape(b, h2, 2, w2, 2, c)
    return jnp.mean(x, axis=(2, 4), dtype=jnp.float32).astype(x.dtype)


def upsample_nearest2(x: jax.Array) -> jax.Array:
    """PyTorch ``F.interpolate(x, scale_factor=2, mode="nearest")`` on NHWC input (exact)."""
    return jnp.repeat(jnp.repeat(x, 2, axis=1), 2, axis=2)


def _is_plain_3x3(conv: Conv2d) -> bool:
    return conv.kernel_size == (3, 3) and conv.stride == (1, 1) and conv.padding == (1, 1) and conv.groups == 1


_NHWC = ("NHWC", "HWIO", "NHWC")


def _conv4x4_s2_plain(x: jax.Array, k: jax.Array) -> jax.Array:
    return jax.lax.conv_general_dilated(x, k, (2, 2), ((1, 1), (1, 1)), dimension_numbers=_NHWC)


# A 4x4, stride-2, zero-padding-1 convolution whose derivatives of every order are built from the same three
# first-order forms (the convolution, its input gradient and its kernel gradient). Left to autodiff, the
# second-order terms (R1's double backward through D) become window-dilated convolutions in unusual layouts
# that XLA:CPU runs on a slow generic path: 15x slower than the original conv3x3 + pool at full width.
# config.kernels="native" differentiates the plain convolution by autodiff instead (facejax/nn/kernels.py).


def conv4x4_s2(x: jax.Array, k: jax.Array) -> jax.Array:
    """``conv(x, k)`` with a 4x4 HWIO kernel, stride 2, zero padding 1, NHWC (path per ``config.kernels``)."""
    return _conv4x4_s2_tuned(x, k) if kernels.cpu_tuned() else _conv4x4_s2_plain(x, k)


@jax.custom_vjp
def _conv4x4_s2_tuned(x: jax.Array, k: jax.Array) -> jax.Array:
    return _conv4x4_s2_plain(x, k)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def _conv4x4_s2_input_grad(g: jax.Array, k: jax.Array, x_shape: tuple) -> jax.Array:
    x = jax.ShapeDtypeStruct(x_shape, g.dtype)
    return jax.linear_transpose(lambda x: _conv4x4_s2_plain(x, k), x)(g)[0]


@jax.custom_vjp
def _conv4x4_s2_kernel_grad(x: jax.Array, g: jax.Array) -> jax.Array:
    k = jax.ShapeDtypeStruct((4, 4, x.shape[-1], g.shape[-1]), x.dtype)
    return jax.linear_transpose(lambda k: _conv4x4_s2_plain(x, k), k)(g)[0]


def _conv_fwd(x, k):
    return _conv4x4_s2_tuned(x, k), (x, k)


def _conv_bwd(res, g):
    x, k = res
    return _conv4x4_s2_input_grad(g, k, x.shape), _conv4x4_s2_kernel_grad(x, g)


def _input_grad_fwd(g, k, x_shape):
    return _conv4x4_s2_input_grad(g, k, x_shape), (g, k)


def _input_grad_bwd(x_shape, res, c):  # <c, Pin(g, k)> = <conv(c, k), g>
    g, k = res
    return _conv4x4_s2_tuned(c, k), _conv4x4_s2_kernel_grad(c, g)


def _kernel_grad_fwd(x, g):
    return _conv4x4_s2_kernel_grad(x, g), (x, g)


def _kernel_grad_bwd(res, c):  # <c, Pk(x, g)> = <g, conv(x, c)>
    x, g = res
    return _conv4x4_s2_input_grad(g, c, x.shape), _conv4x4_s2_tuned(x, c)


_conv4x4_s2_tuned.defvjp(_conv_fwd, _conv_bwd)
_conv4x4_s2_input_grad.defvjp(_input_grad_fwd, _input_grad_bwd)
_conv4x4_s2_kernel_grad.defvjp(_kernel_grad_fwd, _kernel_grad_bwd)


def conv3x3_avg_pool2(conv: Conv2d, x: jax.Array) -> jax.Array:
    """``avg_pool2(conv(x))`` for a 3x3, stride-1, zero-padding-1 ``conv``, computed as one 4x4 stride-2
    convolution whose kernel is the 3x3 kernel convolved with the 2x2 box (both maps are linear, so this is
    the same function): 16 instead of 36 multiply-adds per output and no full-resolution intermediate.
    config.kernels="native": the convolution, then the pool (facejax/nn/kernels.py)."""
    h, w = x.shape[1:3]
    if not kernels.cpu_tuned() or not _is_plain_3x3(conv) or h % 2 or w % 2:
        return avg_pool2(conv(x))
    k = conv.kernel[...]

    def shift(dy, dx):
        return jnp.pad(k, ((dy, 1 - dy), (dx, 1 - dx), (0, 0), (0, 0)))

    k4 = 0.25 * (shift(0, 0) + shift(1, 0) + shift(0, 1) + shift(1, 1))
    y = conv4x4_s2(x.astype(conv.dtype), k4.astype(conv.dtype))
    if conv.bias is not None:
        y = y + conv.bias[...].astype(conv.dtype)
    return y


def _upsample_phase_kernels(k: jax.Array) -> list[jax.Array]:
    """The four 2x2 kernels of a 3x3 kernel applied after nearest x2 upsampling, one per output phase
    (row parity a, column parity b), in the order (0, 0), (0, 1), (1, 0), (1, 1). Output row 2i+a reads
    upsampled rows 2i+a-1..2i+a+1, i.e. input rows (i-1, i, i) for a = 0 and (i, i, i+1) for a = 1."""
    rows = (jnp.stack([k[0], k[1] + k[2]]), jnp.stack([k[0] + k[1], k[2]]))
    out = []
    for r in rows:
        out.append(jnp.stack([r[:, 0], r[:, 1] + r[:, 2]], axis=1))
        out.append(jnp.stack([r[:, 0] + r[:, 1], r[:, 2]], axis=1))
    return out


def upsample2_conv3x3(conv: Conv2d, x: jax.Array) -> jax.Array:
    """``conv(upsample_nearest2(x))`` for a 3x3, stride-1, zero-padding-1 ``conv``, computed as four 2x2
    convolutions at the input resolution (one per output phase) interleaved: the same function with 16
    instead of 36 multiply-adds per output and no upsampled intermediate. config.kernels="native": the
    upsampling, then the convolution (facejax/nn/kernels.py)."""
    if not kernels.cpu_tuned() or not _is_plain_3x3(conv):
        return conv(upsample_nearest2(x))
    b, h, w, _ = x.shape
    x = x.astype(conv.dtype)
    phases = []
    for (a, c), k in zip(((0, 0), (0, 1), (1, 0), (1, 1)), _upsample_phase_kernels(conv.kernel[...])):
        phases.append(
            jax.lax.conv_general_dilated(
                x, k.astype(conv.dtype), (1, 1), ((1 - a, a), (1 - c, c)), dimension_numbers=("NHWC", "HWIO", "NHWC")
            )
        )
    rows = [jnp.stack(phases[0:2], axis=3), jnp.stack(phases[2:4], axis=3)]  # (b, h, w, 2, o) per row parity
    y = jnp.stack(rows, axis=2).reshape(b, 2 * h, 2 * w, -1)
    if conv.bias is not None:
        y = y + conv.bias[...].astype(conv.dtype)
    return y


def resize_bilinear(x: jax.Array, size: int | Sequence[int]) -> jax.Array:
    """PyTorch ``F.interpolate(x, size, mode="bilinear", align_corners=False)`` (no antialias) on NHWC input.

    ``jax.image.resize`` uses the same half-pixel convention, but antialiases when downsampling unless told not
    to; PyTorch's bilinear mode never does. Computed in float32, returned in ``x.dtype``.
    """
    h, w = _pair(size)
    if (h, w) == tuple(x.shape[1:3]):
        return x
    y = jax.image.resize(x.astype(jnp.float32), (x.shape[0], h, w, x.shape[3]), "bilinear", antialias=False)
    return y.astype(x.dtype)


def count_params(module_or_state) -> int:
    """Number of scalar parameters (``nnx.Param`` only) of a module, or of any state/pytree of arrays.

    Works on abstract modules from ``nnx.eval_shape`` (shapes only, nothing allocated).
    """
    if isinstance(module_or_state, nnx.Module):
        module_or_state = nnx.state(module_or_state, nnx.Param)
    return sum(math.prod(getattr(leaf, "shape", ())) for leaf in jax.tree_util.tree_leaves(module_or_state))
