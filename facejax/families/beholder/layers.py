"""PGGAN's layers (networks.py of tkarras/progressive_growing_of_gans, which Beholder-GAN forks), NHWC.

Equalized learning rate (use_wscale): every weight is stored as drawn, N(0, 1), and multiplied at run time by
wscale = gain / sqrt(fan_in), so Adam's step has the same size for every layer. Biases start at zero. The
stored (unscaled) weights are what the optimizer updates, what checkpoints hold and what export writes.

  EqConv        conv2d, k x k, 'SAME' zero padding; kernel (k, k, in, out)
  EqConvUp      upscale2d_conv2d: the fused nearest x2 upsampling + 3x3 conv. The original stores it as a
                transposed convolution, kernel (k, k, out, in), padded and summed to 4x4, applied with
                conv2d_transpose (stride 2). That is exactly nearest x2 upsampling followed by a 3x3 conv with the
                spatially flipped kernel (in, out swapped), which is how it is computed here; fan_in = k^2 * in.
  EqConvDown    conv2d_downscale2d: 3x3 conv + 2x2 average pooling fused as one 4x4 stride-2 conv (kernel padded,
                summed over the 4 shifts, x 0.25); kernel (k, k, in, out)
  EqDense       dense; kernel (in, out); bias (out) or, for G's 4x4 block, one per channel (added after the reshape)
  pixel_norm    x / sqrt(mean(x^2 over channels) + 1e-8)
  minibatch_stddev  the std over groups of `group_size` examples (example i with i + M, i + 2M ...), averaged
                over channels and pixels, appended as one feature map
  label_map     Beholder-GAN's conditioning channel of D: beta split into `groups` groups of raters, their means
                written into a zero map at row res/2 - 1, columns (res - groups)/2 onwards
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from flax import nnx

from facejax.nn.layers import conv4x4_s2, upsample_nearest2

SQRT2 = math.sqrt(2.0)


def _normal(rngs, shape):
    return nnx.Param(jax.random.normal(rngs.params(), shape, jnp.float32))


def _conv(x, k):
    pad = k.shape[0] // 2
    return jax.lax.conv_general_dilated(
        x, k, (1, 1), ((pad, pad), (pad, pad)), dimension_numbers=("NHWC", "HWIO", "NHWC")
    )


class EqConv(nnx.Module):
    def __init__(self, cin: int, cout: int, k: int, gain: float = SQRT2, *, rngs: nnx.Rngs):
        self.wscale = gain / math.sqrt(k * k * cin)
        self.kernel = _normal(rngs, (k, k, cin, cout))
        self.bias = nnx.Param(jnp.zeros((cout,), jnp.float32))

    def __call__(self, x):
        return _conv(x, self.kernel[...] * self.wscale) + self.bias[...]


class EqConvUp(nnx.Module):
    def __init__(self, cin: int, cout: int, k: int = 3, gain: float = SQRT2, *, rngs: nnx.Rngs):
        self.wscale = gain / math.sqrt(k * k * cin)
        self.kernel = _normal(rngs, (k, k, cout, cin))  # the original's [k, k, fmaps, in]
        self.bias = nnx.Param(jnp.zeros((cout,), jnp.float32))

    def __call__(self, x):
        k = jnp.transpose(self.kernel[...][::-1, ::-1], (0, 1, 3, 2)) * self.wscale
        return _conv(upsample_nearest2(x), k) + self.bias[...]


class EqConvDown(nnx.Module):
    def __init__(self, cin: int, cout: int, k: int = 3, gain: float = SQRT2, *, rngs: nnx.Rngs):
        self.wscale = gain / math.sqrt(k * k * cin)
        self.kernel = _normal(rngs, (k, k, cin, cout))
        self.bias = nnx.Param(jnp.zeros((cout,), jnp.float32))

    def __call__(self, x):
        w = jnp.pad(self.kernel[...] * self.wscale, ((1, 1), (1, 1), (0, 0), (0, 0)))
        w = (w[1:, 1:] + w[:-1, 1:] + w[1:, :-1] + w[:-1, :-1]) * 0.25
        return conv4x4_s2(x, w) + self.bias[...]


class EqDense(nnx.Module):
    def __init__(self, cin: int, cout: int, gain: float = SQRT2, *, bias_size: int | None = None, rngs: nnx.Rngs):
        """bias_size: the length of the bias when it is not one per unit (G's 4x4 Dense: one per channel, added
        by the caller after the reshape, as the original's apply_bias on [N, C, 4, 4])."""
        self.wscale = gain / math.sqrt(cin)
        self.kernel = _normal(rngs, (cin, cout))
        self.bias = nnx.Param(jnp.zeros((cout if bias_size is None else bias_size,), jnp.float32))

    def matmul(self, x):
        return jnp.dot(x, self.kernel[...] * self.wscale)

    def __call__(self, x):
        return self.matmul(x) + self.bias[...]


def lrelu(x):
    return jnp.maximum(x * 0.2, x)


def pixel_norm(x, eps: float = 1e-8):
    return x * jax.lax.rsqrt(jnp.mean(jnp.square(x), axis=-1, keepdims=True) + eps)


def minibatch_stddev(x, group_size: int = 4, chunks: int = 1, shards: int = 1):
    """PGGAN's minibatch stddev. Rows are ordered (shard, example, chunk): `shards` contiguous sub-batches (one per
    device: the original's multi-GPU minibatch split, each GPU grouping its own examples; no communication
    between devices), each holding `chunks` minibatches interleaved (several D calls in one). Within a shard and
    chunk, example e = g * M + m is grouped with the others of the same m, as the original's reshape."""
    n, h, w, c = x.shape
    local = n // (shards * chunks)
    g = min(group_size, local)
    y = x.reshape(shards, g, local // g, chunks, h, w, c)
    y = y - jnp.mean(y, axis=1, keepdims=True)
    y = jnp.sqrt(jnp.mean(jnp.square(y), axis=1) + 1e-8)  # (shards, M, chunks, h, w, c)
    y = jnp.mean(y, axis=(3, 4, 5))[:, None]  # (shards, 1, M, chunks)
    y = jnp.broadcast_to(y, (shards, g, local // g, chunks)).reshape(n, 1, 1, 1)
    return jnp.concatenate([x, jnp.broadcast_to(y, (n, h, w, 1))], axis=-1)


def downscale2d(x):
    n, h, w, c = x.shape
    return jnp.mean(x.reshape(n, h // 2, 2, w // 2, 2, c), axis=(2, 4))


def label_map(beta, res: int, groups: int):
    """(N, res, res, 1): the group means of beta at row res/2 - 1, columns (res - groups)//2 .. + groups."""
    n, size = beta.shape
    means = jnp.mean(beta.reshape(n, groups, size // groups), axis=2)
    dx = (res - groups) // 2
    out = jnp.zeros((n, res, res, 1), beta.dtype)
    return out.at[:, res // 2 - 1, dx : dx + groups, 0].set(means)
