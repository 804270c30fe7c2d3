"""AesGAN's generator and discriminator as the original builds them (AliceQLin/AesGAN ``AesGAN.py``,
``encode_decode`` and ``discriminate``; completion_beauty.md B.5-B.6), with TF1 layer semantics (layers.py).

Attribute names are the original's TF variable scopes (``e_c1``, ``residual_re_1`` -> ``re_1``, ``gen_deconv1``,
``dis_conv_2_3``, ``dis_fully3`` ...), which the PyTorch reference modules and the export layout keep.

Generator(x_masked, inv_mask, ref, ref_mask) -> (B, S, S, 3) in [-1, 1]: the four inputs (masks as 3 channels)
concatenated (12 channels): c7s1-g IN ReLU, c4s2-2g IN ReLU, c4s2-4g IN ReLU, ``n_res`` residual blocks (conv3
IN ReLU conv3 IN, add, ReLU), deconv5/2 -> 2g IN ReLU, deconv5/2 -> g/2 IN ReLU, concatenated with the 12-channel
input (long skip), c7s1-3, tanh. Every conv has a bias (ops.conv2d), weights ~ truncated N(0, 0.02), IN scales
~ N(1, 0.02). g = 64, n_res = 6 in the original (256 px). The image side must be a multiple of 4.

Discriminator(image, ref, local) -> (B,) logits: a global branch on [image, ref] (6 channels) and a local branch on
image * M, each five SN-conv5/2 (widths min(d * 2^(i+1), 8d): 128, 256, 512, 512, 512 for d = 64) with LeakyReLU
0.2, flattened (TF's h, w, c order) into an SN-dense layer of 8d; the two concatenated into an SN-dense logit.
Every conv and dense layer is spectrally normalised with one power iteration per call (``update``); ``sn_grad``
(the original's, default): the gradient flows through that iteration, as TF's ops.spectral_norm.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from facejax.families.aesgan.layers import (
    SameConv2d,
    SameDeconv,
    SameSpectralConv2d,
    SpectralLinear,
    TFInstanceNorm,
    trunc_normal_002,
)


def lrelu(x, alpha: float = 0.2):
    return jnp.maximum(x, alpha * x)


class Residual(nnx.Module):
    """ops.Residual: relu(x + in2(conv2(relu(in1(conv1(x)))))), 3x3 convs with bias."""

    def __init__(self, dim: int, *, dtype=jnp.float32, rngs: nnx.Rngs):
        conv = dict(kernel_init=trunc_normal_002, dtype=dtype, rngs=rngs)
        self.conv1 = SameConv2d(dim, dim, 3, 1, **conv)
        self.in1 = TFInstanceNorm(dim, dtype=dtype, rngs=rngs)
        self.conv2 = SameConv2d(dim, dim, 3, 1, **conv)
        self.in2 = TFInstanceNorm(dim, dtype=dtype, rngs=rngs)

    def __call__(self, x):
        h = self.in2(self.conv2(jax.nn.relu(self.in1(self.conv1(x)))))
        return jax.nn.relu(x + h)


class Generator(nnx.Module):
    def __init__(self, dim: int = 64, n_res: int = 6, *, dtype=jnp.float32, rngs: nnx.Rngs):
        self.n_res, self.dtype = n_res, dtype
        conv = dict(kernel_init=trunc_normal_002, dtype=dtype, rngs=rngs)
        nin = dict(dtype=dtype, rngs=rngs)
        self.e_c1 = SameConv2d(12, dim, 7, 1, **conv)
        self.e_in1 = TFInstanceNorm(dim, **nin)
        self.e_c2 = SameConv2d(dim, 2 * dim, 4, 2, **conv)
        self.e_in2 = TFInstanceNorm(2 * dim, **nin)
        self.e_c3 = SameConv2d(2 * dim, 4 * dim, 4, 2, **conv)
        self.e_in3 = TFInstanceNorm(4 * dim, **nin)
        for i in range(n_res):
            setattr(self, f"re_{i + 1}", Residual(4 * dim, **nin))
        self.gen_deconv1 = SameDeconv(4 * dim, 2 * dim, 5, **conv)
        self.gen_in = TFInstanceNorm(2 * dim, **nin)
        self.g_deconv_1_1 = SameDeconv(2 * dim, dim // 2, 5, **conv)
        self.gen_in_1_1 = TFInstanceNorm(dim // 2, **nin)
        self.gen_conv_1_2 = SameConv2d(dim // 2 + 12, 3, 7, 1, **conv)

    def __call__(self, x_masked, inv_mask, ref, ref_mask):
        if x_masked.shape[1] % 4 or x_masked.shape[2] % 4:
            raise ValueError(f"AesGAN's generator needs image sides divisible by 4, got {x_masked.shape[1:3]}")
        x = jnp.concatenate([x_masked, inv_mask, ref, ref_mask], axis=-1).astype(self.dtype)
        h = jax.nn.relu(self.e_in1(self.e_c1(x)))
        h = jax.nn.relu(self.e_in2(self.e_c2(h)))
        h = jax.nn.relu(self.e_in3(self.e_c3(h)))
        for i in range(self.n_res):
            h = getattr(self, f"re_{i + 1}")(h)
        h = jax.nn.relu(self.gen_in(self.gen_deconv1(h)))
        h = jax.nn.relu(self.gen_in_1_1(self.g_deconv_1_1(h)))
        out = self.gen_conv_1_2(jnp.concatenate([h, x], axis=-1))
        return jnp.tanh(out.astype(jnp.float32))


def d_widths(dim: int) -> list[int]:
    return [min(dim * 2 ** (i + 1), 8 * dim) for i in range(5)]


class Discriminator(nnx.Module):
    def __init__(self, img_size: int, dim: int = 64, *, sn_grad: bool = True, dtype=jnp.float32, rngs: nnx.Rngs):
        if img_size % 32:
            raise ValueError(f"AesGAN's discriminator needs an image side divisible by 32, got {img_size}")
        self.dtype = dtype
        sn = dict(kernel_init=trunc_normal_002, sn_grad=sn_grad, dtype=dtype, rngs=rngs)
        widths = d_widths(dim)
        cin = 6
        for i, w in enumerate(widths):
            setattr(self, f"dis_conv_{i}", SameSpectralConv2d(cin, w, 5, 2, **sn))
            cin = w
        flat = (img_size // 32) ** 2 * widths[-1]
        self.dis_fully1 = SpectralLinear(flat, widths[-1], sn_grad=sn_grad, dtype=dtype, rngs=rngs)
        cin = 3
        for i, w in enumerate(widths):
            setattr(self, f"dis_conv_2_{i}", SameSpectralConv2d(cin, w, 5, 2, **sn))
            cin = w
        self.dis_fully2 = SpectralLinear(flat, widths[-1], sn_grad=sn_grad, dtype=dtype, rngs=rngs)
        self.dis_fully3 = SpectralLinear(2 * widths[-1], 1, sn_grad=sn_grad, dtype=dtype, rngs=rngs)

    def _branch(self, prefix, x, fc, update):
        h = x.astype(self.dtype)
        for i in range(5):
            h = lrelu(getattr(self, f"{prefix}{i}")(h, update))
        return fc(h.reshape(h.shape[0], -1), update)

    def __call__(self, image, ref, local, update: bool = True):
        g = self._branch("dis_conv_", jnp.concatenate([image, ref], axis=-1), self.dis_fully1, update)
        loc = self._branch("dis_conv_2_", local, self.dis_fully2, update)
        return self.dis_fully3(jnp.concatenate([g, loc], axis=-1), update)[:, 0].astype(jnp.float32)
