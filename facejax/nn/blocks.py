"""Residual and style-modulated blocks shared by several families (first user: StarGAN v2).

Attribute names follow the PyTorch modules of clovaai/stargan-v2 (``conv1``, ``conv2``, ``norm1``, ``norm2``,
``conv1x1``, ``fc``) so that exporting is a mechanical rename. Activations are NHWC.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from flax import nnx

from facejax.nn.layers import (
    Conv2d,
    Dtype,
    InstanceNorm,
    Linear,
    ReLU,
    _normalize_f32,
    avg_pool2,
    conv3x3_avg_pool2,
    upsample2_conv3x3,
    upsample_nearest2,
)

_INV_SQRT2 = 1.0 / math.sqrt(2.0)
_LRELU_SLOPE = 0.2


def _lrelu(x: jax.Array) -> jax.Array:
    return jax.nn.leaky_relu(x, _LRELU_SLOPE)


class ResBlk(nnx.Module):
    """Pre-activation residual block; output ``(shortcut(x) + residual(x)) / sqrt(2)``.

    residual: ``[norm1] -> LReLU(0.2) -> conv1 (dim_in->dim_in) -> [avg_pool2] -> [norm2] -> LReLU -> conv2``;
    shortcut: ``[conv1x1 (no bias), if dim_in != dim_out] -> [avg_pool2]``. ``norm2`` acts on ``dim_in`` channels
    (it sits between conv1 and conv2). Norms are affine instance norms.
    """

    def __init__(
        self,
        dim_in: int,
        dim_out: int,
        normalize: bool = False,
        downsample: bool = False,
        *,
        dtype: Dtype = jnp.float32,
        param_dtype: Dtype = jnp.float32,
        rngs: nnx.Rngs,
    ):
        kw = dict(dtype=dtype, param_dtype=param_dtype, rngs=rngs)
        self.normalize = normalize
        self.downsample = downsample
        self.learned_sc = dim_in != dim_out
        self.conv1 = Conv2d(dim_in, dim_in, 3, 1, 1, **kw)
        self.conv2 = Conv2d(dim_in, dim_out, 3, 1, 1, **kw)
        if normalize:
            self.norm1 = InstanceNorm(dim_in, affine=True, **kw)
            self.norm2 = InstanceNorm(dim_in, affine=True, **kw)
        else:
            self.norm1 = self.norm2 = None
        self.conv1x1 = Conv2d(dim_in, dim_out, 1, 1, 0, use_bias=False, **kw) if self.learned_sc else None

    # The original pools after conv1x1 and after conv1; pooling is linear, so pooling first (shortcut) and
    # folding the pool into conv1 (residual) compute the same function with 2-4x fewer FLOPs there.

    def _shortcut(self, x: jax.Array) -> jax.Array:
        if self.downsample:
            x = avg_pool2(x)
        if self.conv1x1 is not None:
            x = self.conv1x1(x)
        return x

    def _residual(self, x: jax.Array) -> jax.Array:
        if self.normalize:
            x = self.norm1(x)
        x = _lrelu(x)
        x = conv3x3_avg_pool2(self.conv1, x) if self.downsample else self.conv1(x)
        if self.normalize:
            x = self.norm2(x)
        return self.conv2(_lrelu(x))

    def __call__(self, x: jax.Array) -> jax.Array:
        return (self._shortcut(x) + self._residual(x)) * _INV_SQRT2


class AdaIN(nnx.Module):
    """Adaptive instance norm: ``(1 + gamma) * IN(x) + beta`` with ``[gamma, beta] = fc(s)`` (gamma first).

    The instance norm has no affine parameters; the modulation is done in float32 and cast to ``dtype``.
    """

    def __init__(
        self,
        style_dim: int,
        num_features: int,
        *,
        dtype: Dtype = jnp.float32,
        param_dtype: Dtype = jnp.float32,
        rngs: nnx.Rngs,
    ):
        self.num_features = num_features
        self.dtype = dtype
        self.fc = Linear(style_dim, 2 * num_features, dtype=dtype, param_dtype=param_dtype, rngs=rngs)

    def __call__(self, x: jax.Array, s: jax.Array) -> jax.Array:
        h = self.fc(s).astype(jnp.float32)[:, None, None, :]
        gamma, beta = h[..., : self.num_features], h[..., self.num_features :]
        return ((1.0 + gamma) * _normalize_f32(x, 1e-5) + beta).astype(self.dtype)


class AdainResBlk(nnx.Module):
    """Style-modulated residual block of the StarGAN v2 decoder.

    residual: ``norm1(x, s) -> LReLU -> [nearest x2] -> conv1 -> norm2(., s) -> LReLU -> conv2``;
    shortcut: ``[nearest x2] -> [conv1x1 (no bias), if dim_in != dim_out]``.
    ``w_hpf == 0``: output ``(residual + shortcut) / sqrt(2)``; ``w_hpf > 0``: output ``residual`` only; ``conv1x1``
    is still created (the original's state dict has it) but the forward pass never uses it.
    """

    def __init__(
        self,
        dim_in: int,
        dim_out: int,
        style_dim: int = 64,
        w_hpf: float = 0,
        upsample: bool = False,
        *,
        dtype: Dtype = jnp.float32,
        param_dtype: Dtype = jnp.float32,
        rngs: nnx.Rngs,
    ):
        kw = dict(dtype=dtype, param_dtype=param_dtype, rngs=rngs)
        self.w_hpf = float(w_hpf)
        self.upsample = upsample
        self.learned_sc = dim_in != dim_out
        self.conv1 = Conv2d(dim_in, dim_out, 3, 1, 1, **kw)
        self.conv2 = Conv2d(dim_out, dim_out, 3, 1, 1, **kw)
        self.norm1 = AdaIN(style_dim, dim_in, **kw)
        self.norm2 = AdaIN(style_dim, dim_out, **kw)
        if self.learned_sc:
            # Mark the kernel when the forward pass never reads it, so that `frozen_parameter_mask` can find it
            # from the parameter state alone (metadata travels with the nnx.Param through split/merge).
            self.conv1x1 = Conv2d(dim_in, dim_out, 1, 1, 0, use_bias=False, **kw)
            if self.w_hpf > 0:
                self.conv1x1.kernel.set_metadata(unused_in_forward=True)
        else:
            self.conv1x1 = None

    # The original upsamples before conv1x1 and before conv1; nearest upsampling commutes with a 1x1 conv,
    # and conv1 after it is four 2x2 convs at the input resolution: the same function, fewer FLOPs.

    def _shortcut(self, x: jax.Array) -> jax.Array:
        if self.conv1x1 is not None:
            x = self.conv1x1(x)
        if self.upsample:
            x = upsample_nearest2(x)
        return x

    def _residual(self, x: jax.Array, s: jax.Array) -> jax.Array:
        x = _lrelu(self.norm1(x, s))
        x = upsample2_conv3x3(self.conv1, x) if self.upsample else self.conv1(x)
        x = _lrelu(self.norm2(x, s))
        return self.conv2(x)

    def __call__(self, x: jax.Array, s: jax.Array) -> jax.Array:
        out = self._residual(x, s)
        if self.w_hpf == 0:
            out = (out + self._shortcut(x)) * _INV_SQRT2
        return out


def highpass_kernel(w_hpf: float) -> jax.Array:
    """The constant 3x3 filter ``[[-1,-1,-1],[-1,8,-1],[-1,-1,-1]] / w_hpf`` (PyTorch buffer ``hpf.filter``)."""
    k = -jnp.ones((3, 3), jnp.float32)
    return k.at[1, 1].set(8.0) / w_hpf


class HighPass(nnx.Module):
    """Depthwise 3x3 high-pass filter with zero padding 1 (StarGAN v2's ``HighPass``).

    The filter is a constant rebuilt from ``w_hpf`` at call time, not a variable: the module has no state. The
    exporter writes it as the buffer ``hpf.filter`` (float32 [3, 3]) that the original's state dict carries.
    """

    def __init__(self, w_hpf: float, *, dtype: Dtype = jnp.float32):
        if w_hpf <= 0:
            raise ValueError(f"HighPass needs w_hpf > 0, got {w_hpf}")
        self.w_hpf = float(w_hpf)
        self.dtype = dtype

    def __call__(self, x: jax.Array) -> jax.Array:
        c = x.shape[-1]
        kernel = jnp.broadcast_to(highpass_kernel(self.w_hpf)[:, :, None, None], (3, 3, 1, c))
        return jax.lax.conv_general_dilated(
            x.astype(self.dtype),
            kernel.astype(self.dtype),
            window_strides=(1, 1),
            padding=((1, 1), (1, 1)),
            dimension_numbers=("NHWC", "HWIO", "NHWC"),
            feature_group_count=c,
        )


class Tanh(nnx.Module):
    """Parameter-free module, so that module lists keep PyTorch ``Sequential`` indices."""

    def __call__(self, x: jax.Array) -> jax.Array:
        return jnp.tanh(x)


def run_layers(layers, x: jax.Array) -> jax.Array:
    """A PyTorch ``Sequential``: each layer of the list on the previous one's output."""
    for layer in layers:
        x = layer(x)
    return x


class ConvINResidualBlock(nnx.Module):
    """``x + main(x)``, main = [Conv3x3, IN, ReLU, Conv3x3, IN] (no conv biases, affine IN): the residual block of
    StarGAN v1 and of BeautyGAN's generator, whose ``Sequential`` indices the list keeps (``main.3.weight``).
    ``kernel_init`` is the family's (PyTorch's default uniform, or BeautyGAN's xavier normal)."""

    def __init__(
        self, dim: int, kernel_init, *, dtype: Dtype = jnp.float32, param_dtype: Dtype = jnp.float32, rngs: nnx.Rngs
    ):
        kw = dict(dtype=dtype, param_dtype=param_dtype, rngs=rngs)
        conv = dict(use_bias=False, kernel_init=kernel_init, **kw)
        self.main = nnx.List(
            [
                Conv2d(dim, dim, 3, 1, 1, **conv),
                InstanceNorm(dim, affine=True, **kw),
                ReLU(),
                Conv2d(dim, dim, 3, 1, 1, **conv),
                InstanceNorm(dim, affine=True, **kw),
            ]
        )

    def __call__(self, x: jax.Array) -> jax.Array:
        return x + run_layers(self.main, x)
