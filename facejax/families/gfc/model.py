"""Generative Face Completion networks (Li, Liu, Yang, Yang, CVPR 2017) as the original's Caffe prototxts build
them (shared/reference/completion_beauty.md A.3-A.5): ``Model_G``, ``Model_localD`` / ``Model_globalD`` and
``Model_parsing``.

Attribute names are the prototxts' layer names (``conv0_1``, ``conv1_1_new``, ``fc3``, ``defc3``,
``conv_decode3_4``, ``reconstruction_new``, ``conv5`` ...), so the parameter path ``('fc3', 'kernel')`` is the
PyTorch key ``fc3.weight`` of the reference modules (facejax/families/gfc/torch_ref.py) and the Caffe blob
``fc3[0]``. Images are NHWC in [-1, 1]; ``dtype`` is the compute dtype, parameters float32, outputs float32.

Widths are config fields; the defaults are the original's. Every conv is 3x3, pad 1, with ReLU, unless noted.
Init is Caffe's: ``msra`` with ``variance_norm: AVERAGE`` (std sqrt(4 / (fan_in + fan_out))) in G and the
parsing net, N(0, 0.001) for G's output conv, N(0, 0.02) in the discriminators, biases 0.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from flax import nnx

from facejax.nn import randomness
from facejax.nn.layers import Conv2d, Dtype, Linear
from facejax.nn.unpool import max_pool2_argmax, max_unpool2

# Helen's: background, skin, brows l/r, eyes l/r, nose, upper lip, inner mouth, lower lip, hair
NUM_PARSING_CLASSES = 11


def msra_average(key, shape, dtype=jnp.float32):
    """Caffe's MSRAFiller with variance_norm AVERAGE: N(0, 2 / n), n = (fan_in + fan_out) / 2."""
    if len(shape) == 4:  # HWIO
        kh, kw, cin, cout = shape
        fan_in, fan_out = kh * kw * cin, kh * kw * cout
    else:  # (in, out)
        fan_in, fan_out = shape
    return math.sqrt(4.0 / (fan_in + fan_out)) * jax.random.normal(key, shape, dtype)


def gaussian(std: float):
    """Caffe's gaussian filler N(0, std^2)."""
    return lambda key, shape, dtype=jnp.float32: std * jax.random.normal(key, shape, dtype)


def _conv(cin, cout, init=msra_average, k=3, stride=1, pad=1, **kw):
    return Conv2d(cin, cout, k, stride, pad, kernel_init=init, **kw)


class Generator(nnx.Module):
    """``Model_G``: encoder (a new 32-wide stage, then VGG-19 conv1_2 .. conv3_4; 2x2 max pools keeping their
    argmax), two fully connected layers, and a SegNet decoder that max-unpools with those argmaxes.

    widths (c0, c1, c2, c3): the encoder stages (32, 64, 128, 256); dec_width: the decoder's inner convs (64);
    fc_dim: fc3's output (4096). fc3 reads the pool3 map flattened in Caffe's (C, H, W) order and defc3's output is
    reshaped back the same way, so the weights are the original's. The output conv is linear (no tanh).
    """

    def __init__(
        self,
        img_size: int = 128,
        widths=(32, 64, 128, 256),
        dec_width: int = 64,
        fc_dim: int = 4096,
        *,
        dtype: Dtype = jnp.float32,
        param_dtype: Dtype = jnp.float32,
        rngs: nnx.Rngs,
    ):
        c0, c1, c2, c3 = widths
        d = dec_width
        kw = dict(dtype=dtype, param_dtype=param_dtype, rngs=rngs)
        self.dtype, self.bottleneck, self.c3 = dtype, img_size // 16, c3
        self.conv0_1, self.conv0_2 = _conv(3, c0, **kw), _conv(c0, c0, **kw)
        self.conv1_1_new, self.conv1_2 = _conv(c0, c1, **kw), _conv(c1, c1, **kw)
        self.conv2_1, self.conv2_2 = _conv(c1, c2, **kw), _conv(c2, c2, **kw)
        self.conv3_1 = _conv(c2, c3, **kw)
        self.conv3_2, self.conv3_3, self.conv3_4 = (_conv(c3, c3, **kw) for _ in range(3))
        flat = c3 * self.bottleneck**2
        self.fc3 = Linear(flat, fc_dim, kernel_init=msra_average, **kw)
        self.defc3 = Linear(fc_dim, flat, kernel_init=msra_average, **kw)
        self.conv_decode3_4, self.conv_decode3_3 = _conv(c3, d, **kw), _conv(d, d, **kw)
        self.conv_decode3_2, self.conv_decode3_1 = _conv(d, d, **kw), _conv(d, c2, **kw)
        self.conv_decode2_2, self.conv_decode2_1 = _conv(c2, d, **kw), _conv(d, c1, **kw)
        self.conv_decode1_2, self.conv_decode1_1_new = _conv(c1, d, **kw), _conv(d, c0, **kw)
        self.conv_decode0_2, self.conv_decode0_1 = _conv(c0, c0, **kw), _conv(c0, c0, **kw)
        self.reconstruction_new = _conv(c0, 3, gaussian(0.001), **kw)

    def __call__(self, x: jax.Array) -> jax.Array:
        relu = jax.nn.relu
        h, masks = x.astype(self.dtype), []
        stages = (
            (self.conv0_1, self.conv0_2),
            (self.conv1_1_new, self.conv1_2),
            (self.conv2_1, self.conv2_2),
            (self.conv3_1, self.conv3_2, self.conv3_3, self.conv3_4),
        )
        for convs in stages:
            for conv in convs:
                h = relu(conv(h))
            h, idx = max_pool2_argmax(h)
            masks.append(idx)
        b = h.shape[0]
        h = relu(self.fc3(h.transpose(0, 3, 1, 2).reshape(b, -1)))  # Caffe flattens (C, H, W)
        s = self.bottleneck
        h = relu(self.defc3(h)).reshape(b, self.c3, s, s).transpose(0, 2, 3, 1)
        stages = (
            (self.conv_decode3_4, self.conv_decode3_3, self.conv_decode3_2, self.conv_decode3_1),
            (self.conv_decode2_2, self.conv_decode2_1),
            (self.conv_decode1_2, self.conv_decode1_1_new),
            (self.conv_decode0_2, self.conv_decode0_1),
        )
        for convs, idx in zip(stages, reversed(masks)):
            h = max_unpool2(h, idx)
            for conv in convs:
                h = relu(conv(h))
        return self.reconstruction_new(h).astype(jnp.float32)


def num_d_stages(in_size: int) -> int:
    """Stages of a discriminator for an in_size input: each halves it, down to 4x4 (64 -> 4, 128 -> 5)."""
    return int(round(math.log2(in_size / 4)))


LOCAL_D_FIRST, GLOBAL_D_FIRST = 1, 0  # the prototxts' first stage: Model_localD conv1_1, Model_globalD conv0_1


def d_layer_names(num_stages: int, first: int) -> list[str]:
    """The prototxt's layer names of a discriminator: ``conv{i}_1``, ``conv{i}_2`` for i = first .. first + n - 1,
    then ``conv{first + n}`` (local D: conv1_1 .. conv4_2, conv5; global D: conv0_1 .. conv4_2, conv5)."""
    stages = range(first, first + num_stages)
    return [f"conv{i}_{j}" for i in stages for j in (1, 2)] + [f"conv{first + num_stages}"]


class Discriminator(nnx.Module):
    """``Model_localD`` (64x64 patch, first=1) / ``Model_globalD`` (128x128 image, first=0): per stage k = 1..n,
    named ``conv{i}_1`` 3x3 s1 and ``conv{i}_2`` 4x4 s2 p1 with i = first + k - 1 (the prototxts' names), both
    LeakyReLU(0.2), widths base * 2^(k-1) capped at max_width, no normalisation; then ``conv{first+n}`` 4x4 valid
    to one channel. Returns the (B,) logits (the original's Sigmoid is in the loss)."""

    def __init__(
        self,
        in_size: int,
        base: int,
        max_width: int = 512,
        first: int = LOCAL_D_FIRST,
        *,
        dtype: Dtype = jnp.float32,
        param_dtype: Dtype = jnp.float32,
        rngs: nnx.Rngs,
    ):
        kw = dict(dtype=dtype, param_dtype=param_dtype, rngs=rngs)
        init = gaussian(0.02)
        self.num_stages = n = num_d_stages(in_size)
        if 4 * 2**n != in_size:
            raise ValueError(f"discriminator input {in_size}: expected 4 * 2^k (64, 128, ...)")
        self.first = first
        names = self.layer_names()
        cin = 3
        for k in range(n):
            w = min(base * 2**k, max_width)
            setattr(self, names[2 * k], _conv(cin, w, init, **kw))
            setattr(self, names[2 * k + 1], _conv(w, w, init, k=4, stride=2, **kw))
            cin = w
        setattr(self, names[-1], _conv(cin, 1, init, k=4, pad=0, **kw))

    def layer_names(self) -> list[str]:
        return d_layer_names(self.num_stages, self.first)

    def __call__(self, x: jax.Array) -> jax.Array:
        h = x
        names = self.layer_names()
        for name in names[:-1]:
            h = jax.nn.leaky_relu(getattr(self, name)(h), 0.2)
        return getattr(self, names[-1])(h).reshape(x.shape[0]).astype(jnp.float32)


class Parsing(nnx.Module):
    """``Model_parsing``: the VGG-19 conv part (conv1_1 .. conv5_4, widths w1..w5, each block ending in a 2x2 max
    pool with argmax), then a SegNet decoder: per block k = 5..1, max-unpool with pool k's argmax, ``conv_decode{k}``
    (to w_{k-1}, the last to ``last_width``) + ReLU + Dropout(0.5); ``conv_decode0`` gives the class logits.

    ``__call__(x, dropout_key=None)``: dropout only with a key (Caffe's TRAIN phase, inverted scaling 1/(1-p))."""

    def __init__(
        self,
        widths=(64, 128, 256, 512, 512),
        last_width: int = 32,
        num_classes: int = NUM_PARSING_CLASSES,
        dropout: float = 0.5,
        *,
        dtype: Dtype = jnp.float32,
        param_dtype: Dtype = jnp.float32,
        rngs: nnx.Rngs,
    ):
        kw = dict(dtype=dtype, param_dtype=param_dtype, rngs=rngs)
        self.dtype, self.dropout = dtype, dropout
        cin = 3
        for block, (w, n) in enumerate(zip(widths, (2, 2, 4, 4, 4)), 1):
            for k in range(1, n + 1):
                setattr(self, f"conv{block}_{k}", _conv(cin, w, **kw))
                cin = w
        outs = list(widths[:4])[::-1] + [last_width]  # conv_decode5 .. conv_decode1
        for k, out in zip(range(5, 0, -1), outs):
            setattr(self, f"conv_decode{k}", _conv(cin, out, **kw))
            cin = out
        self.conv_decode0 = _conv(cin, num_classes, **kw)

    def __call__(self, x: jax.Array, dropout_key: jax.Array | None = None) -> jax.Array:
        relu = jax.nn.relu
        h, masks = x.astype(self.dtype), []
        for block, n in enumerate((2, 2, 4, 4, 4), 1):
            for k in range(1, n + 1):
                h = relu(getattr(self, f"conv{block}_{k}")(h))
            h, idx = max_pool2_argmax(h)
            masks.append(idx)
        keys = randomness.split(dropout_key, 5) if dropout_key is not None else [None] * 5
        for i, k in enumerate(range(5, 0, -1)):
            h = relu(getattr(self, f"conv_decode{k}")(max_unpool2(h, masks[k - 1])))
            if keys[i] is not None and self.dropout > 0:
                keep = randomness.bernoulli(keys[i], 1.0 - self.dropout, h.shape)
                h = jnp.where(keep, h / (1.0 - self.dropout), 0).astype(h.dtype)
        return self.conv_decode0(h).astype(jnp.float32)
