"""TensorFlow-1 layer semantics that AesGAN's original code (AliceQLin/AesGAN, TF1) relies on, in Flax NNX.

- ``SameConv2d`` / ``SameSpectralConv2d``: TF's ``padding="SAME"``. Padding is ``max((ceil(n / s) - 1) * s + k -
  n, 0)`` in total, the smaller half before: a 5x5 stride-2 conv on an even side pads 1 before and 2 after, which
  PyTorch's symmetric ``padding`` cannot express (the reference modules pad explicitly).
- ``SameDeconv``: ``tf.nn.conv2d_transpose(..., padding="SAME")`` with output ``2n``: PyTorch's
  ``ConvTranspose2d(padding=0)`` cropped to rows/cols ``[pad_before, pad_before + 2n)`` (``pad_before`` of the
  forward SAME conv).
- ``TFInstanceNorm``: ops.instance_norm / eyenet's "batch_norm": per-instance moments over H, W, eps 1e-5, learned
  ``scale`` ~ N(1, 0.02) and ``offset`` 0 (exported as ``weight`` / ``bias``).
- ``SpectralLinear``: ops.fully_connect with ``spectral_norm``; TF's matrix is (in, out) and its power iteration
  keeps ``u`` (out); facejax keeps ``u`` and ``v`` as facejax.nn.spectral_norm does (norm "add": x / (||x|| +
  1e-12), as TF's ``_l2normalize``). ``sn_grad`` (both spectral layers): the gradient flows through the power
  iteration as in ops.spectral_norm, which has no stop_gradient (False: through W / sigma only, PyTorch's way).
- ``BatchNorm``: slim's ``batch_norm`` (eps 1e-3, decay 0.999, scale and centre) with PyTorch's names.
- ``per_image_standardization``, ``crop_resize`` (TF1 ``resize_images`` bilinear, no half-pixel centres).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from flax import nnx

from facejax.nn.conv_transpose import ConvTranspose2d
from facejax.nn.layers import Conv2d, _pair
from facejax.nn.spectral_norm import SpectralConv2d, SpectralVector, power_iteration, sigma

_NHWC = ("NHWC", "HWIO", "NHWC")

# tf.truncated_normal_initializer(stddev=0.02): AesGAN's conv2d / de_conv weights (ops.py)
trunc_normal_002 = jax.nn.initializers.truncated_normal(0.02)
# tf.random_normal_initializer(stddev=0.02): ops.fully_connect's Matrix
normal_002 = jax.nn.initializers.normal(0.02)
# tf.get_variable's default (glorot uniform): eyenet.py and model_contour.py weights
glorot_uniform = jax.nn.initializers.glorot_uniform()


def same_pads(n: int, k: int, s: int) -> tuple[int, int]:
    """(before, after) of TF's SAME padding along a side of n pixels, kernel k, stride s."""
    out = -(-n // s)
    total = max((out - 1) * s + k - n, 0)
    return total // 2, total - total // 2


def pad_same(x: jax.Array, kernel_size, stride) -> jax.Array:
    (kh, kw), (sh, sw) = _pair(kernel_size), _pair(stride)
    ph, pw = same_pads(x.shape[1], kh, sh), same_pads(x.shape[2], kw, sw)
    if ph == (0, 0) and pw == (0, 0):
        return x
    return jnp.pad(x, ((0, 0), ph, pw, (0, 0)))


class SameConv2d(Conv2d):
    """``Conv2d`` with TF's SAME padding (computed from the input size at call time)."""

    def __init__(self, in_features: int, out_features: int, kernel_size, stride=1, use_bias: bool = True, **kw):
        super().__init__(in_features, out_features, kernel_size, stride, 0, use_bias, **kw)

    def __call__(self, x: jax.Array) -> jax.Array:
        return super().__call__(pad_same(x, self.kernel_size, self.stride))


class SameSpectralConv2d(SpectralConv2d):
    """``SpectralConv2d`` (norm "add", one power iteration per call) with TF's SAME padding."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        kernel_size,
        stride=1,
        use_bias: bool = True,
        sn_grad: bool = False,
        **kw,
    ):
        kw.setdefault("norm", "add")
        super().__init__(
            in_features, out_features, kernel_size, stride, 0, use_bias, grad_through_iteration=sn_grad, **kw
        )

    def __call__(self, x: jax.Array, update: bool = True) -> jax.Array:
        return super().__call__(pad_same(x, self.kernel_size, self.stride), update)


class SpectralLinear(nnx.Module):
    """Dense layer (``kernel`` (in, out), ``bias``) whose weight is divided by its spectral-norm estimate; ``u``
    (out,) and ``v`` (in,) are ``SpectralVector`` state, one power iteration per call with ``update``."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        kernel_init=normal_002,
        eps: float = 1e-12,
        sn_grad: bool = False,
        dtype=jnp.float32,
        param_dtype=jnp.float32,
        rngs: nnx.Rngs,
    ):
        self.in_features, self.out_features, self.eps, self.dtype = in_features, out_features, eps, dtype
        self.sn_grad = sn_grad
        self.kernel = nnx.Param(kernel_init(rngs.params(), (in_features, out_features), param_dtype))
        self.bias = nnx.Param(jnp.zeros((out_features,), param_dtype))
        u = jax.random.normal(rngs.params(), (out_features,), jnp.float32)
        v = jax.random.normal(rngs.params(), (in_features,), jnp.float32)
        self.u = SpectralVector(u / jnp.linalg.norm(u))
        self.v = SpectralVector(v / jnp.linalg.norm(v))

    def __call__(self, x: jax.Array, update: bool = True) -> jax.Array:
        w_mat = self.kernel[...].astype(jnp.float32).T  # PyTorch's (out, in)
        u, v = self.u[...], self.v[...]
        if update:
            u, v = power_iteration(w_mat, u, v, 1, self.eps, "add", self.sn_grad)
            self.u[...] = jax.lax.stop_gradient(u)
            self.v[...] = jax.lax.stop_gradient(v)
        w = self.kernel[...].astype(jnp.float32) / sigma(w_mat, u, v)
        return jnp.dot(x.astype(self.dtype), w.astype(self.dtype)) + self.bias[...].astype(self.dtype)


class SameDeconv(ConvTranspose2d):
    """``tf.nn.conv2d_transpose(x, w, [b, 2h, 2w, out], strides 2, "SAME")`` with a k x k kernel (kh, kw, out, in):
    a PyTorch ConvTranspose2d(k, 2, padding=0) cropped to the SAME conv's frame."""

    def __init__(self, in_features: int, out_features: int, kernel_size: int = 5, **kw):
        super().__init__(in_features, out_features, kernel_size, 2, 0, **kw)

    def __call__(self, x: jax.Array) -> jax.Array:
        h, w = x.shape[1], x.shape[2]
        k = self.kernel_size[0] if isinstance(self.kernel_size, tuple) else self.kernel_size
        (bh, _), (bw, _) = same_pads(2 * h, k, 2), same_pads(2 * w, k, 2)
        y = super().__call__(x)
        return y[:, bh : bh + 2 * h, bw : bw + 2 * w]


class TFInstanceNorm(nnx.Module):
    """TF1 instance norm with learned ``scale`` (init N(1, 0.02)) and ``offset`` (PyTorch names weight / bias)."""

    def __init__(self, num_features: int, *, eps: float = 1e-5, dtype=jnp.float32, rngs: nnx.Rngs):
        self.eps, self.dtype = eps, dtype
        self.scale = nnx.Param(1.0 + 0.02 * jax.random.normal(rngs.params(), (num_features,), jnp.float32))
        self.bias = nnx.Param(jnp.zeros((num_features,), jnp.float32))

    def __call__(self, x: jax.Array) -> jax.Array:
        x = x.astype(jnp.float32)
        mean = jnp.mean(x, axis=(1, 2), keepdims=True)
        var = jnp.mean(jnp.square(x - mean), axis=(1, 2), keepdims=True)
        y = (x - mean) * jax.lax.rsqrt(var + self.eps) * self.scale[...] + self.bias[...]
        return y.astype(self.dtype)


class BatchNorm(nnx.Module):
    """slim ``batch_norm(scale=True)``: eps 1e-3; ``train=True`` normalises with the batch's moments over N, H, W
    (biased variance) and, with ``update``, moves the running statistics (PyTorch's rule: momentum 1 - decay,
    unbiased variance) and counts the batch; ``train=False`` uses the running statistics. Every tensor is an
    ``nnx.Param`` (the train state keeps Params only); the optimizer leaves mean/var/num_batches_tracked alone."""

    def __init__(self, n: int, *, eps: float = 1e-3, momentum: float = 1e-3):
        self.eps, self.momentum = eps, momentum
        self.scale = nnx.Param(jnp.ones((n,), jnp.float32))
        self.bias = nnx.Param(jnp.zeros((n,), jnp.float32))
        self.mean = nnx.Param(jnp.zeros((n,), jnp.float32))
        self.var = nnx.Param(jnp.ones((n,), jnp.float32))
        self.num_batches_tracked = nnx.Param(jnp.zeros((), jnp.int32))

    def __call__(self, x: jax.Array, train: bool, update: bool = False) -> jax.Array:
        x = x.astype(jnp.float32)
        if train:
            mean = jnp.mean(x, axis=(0, 1, 2))
            var = jnp.mean(jnp.square(x - mean), axis=(0, 1, 2))
            if update:
                n = x.shape[0] * x.shape[1] * x.shape[2]
                m = self.momentum
                unbiased = var * (n / max(n - 1, 1))
                self.mean[...] = (1 - m) * self.mean[...] + m * jax.lax.stop_gradient(mean)
                self.var[...] = (1 - m) * self.var[...] + m * jax.lax.stop_gradient(unbiased)
                self.num_batches_tracked[...] = self.num_batches_tracked[...] + 1
        else:
            mean, var = self.mean[...], self.var[...]
        return (x - mean) * jax.lax.rsqrt(var + self.eps) * self.scale[...] + self.bias[...]


BN_STATS = ("mean", "var", "num_batches_tracked")


def trained_mask(tree):
    """A bool pytree over a pure state dict: False for BatchNorm running statistics and spectral-norm vectors
    (state the forward pass sets), True for the weights an optimizer trains."""

    def rec(node):
        if isinstance(node, dict):
            sn = "kernel" in node and "u" in node and "v" in node
            bn = "scale" in node and "mean" in node and "var" in node
            return {
                k: (False if (sn and k in ("u", "v")) or (bn and k in BN_STATS) else rec(v)) for k, v in node.items()
            }
        return True

    return rec(tree)


def per_image_standardization(x: jax.Array) -> jax.Array:
    """tf.image.per_image_standardization: (x - mean) / max(std, 1 / sqrt(num_elements)) per image."""
    x = x.astype(jnp.float32)
    n = math.prod(x.shape[1:])
    mean = jnp.mean(x, axis=(1, 2, 3), keepdims=True)
    std = jnp.sqrt(jnp.mean(jnp.square(x - mean), axis=(1, 2, 3), keepdims=True))
    return (x - mean) / jnp.maximum(std, 1.0 / math.sqrt(n))


def _interp_matrix(start, n_crop: int, n_img: int, size: int) -> jax.Array:
    """(B, size, n_img) weights: output i samples the crop at i * n_crop / size (TF1 bilinear, neighbours
    clamped to the crop) from a crop starting at `start` (B,) in an axis of n_img pixels."""
    src = jnp.arange(size, dtype=jnp.float32) * (n_crop / size)
    i0 = jnp.floor(src)
    frac = src - i0
    i1 = jnp.minimum(i0 + 1, n_crop - 1)
    lo = jnp.clip(start[:, None] + i0[None], 0, n_img - 1).astype(jnp.int32)
    hi = jnp.clip(start[:, None] + i1[None], 0, n_img - 1).astype(jnp.int32)
    return jax.nn.one_hot(lo, n_img) * (1 - frac)[None, :, None] + jax.nn.one_hot(hi, n_img) * frac[None, :, None]


def crop_resize(x: jax.Array, top, left, height: float, width: float, size: int) -> jax.Array:
    """Bilinear crop-and-resize of NHWC x to (size, size): ``tf.image.crop_to_bounding_box`` then TF1's
    ``resize_images(BILINEAR)`` (align_corners False, no half-pixel centres): output pixel i samples the crop at
    i * crop / size, neighbours clamped to the crop. ``top``, ``left``: scalars or (B,) arrays (per-example boxes,
    rounded to whole pixels like crop_to_bounding_box); ``height``, ``width``: the crop's size in pixels.

    Computed as two batched products with interpolation matrices (no gather across the batch: a batch split over
    devices stays split)."""
    b, h, w, _ = x.shape
    top = jnp.broadcast_to(jnp.round(jnp.asarray(top, jnp.float32)), (b,))
    left = jnp.broadcast_to(jnp.round(jnp.asarray(left, jnp.float32)), (b,))
    wy = _interp_matrix(top, int(round(height)), h, size)
    wx = _interp_matrix(left, int(round(width)), w, size)
    hi = jax.lax.Precision.HIGHEST
    y = jnp.einsum("boh,bhwc->bowc", wy, x.astype(jnp.float32), precision=hi)
    return jnp.einsum("bpw,bowc->bopc", wx, y, precision=hi)
