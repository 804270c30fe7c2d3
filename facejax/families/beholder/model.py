"""Beholder-GAN's networks: PGGAN's G_paper and D_paper with the beauty conditioning (completion_beauty.md C.4).

Both hold every resolution from 4x4 to the configured one from the start (the train state never changes shape);
a call runs the layers of one level of detail: ``level`` = log2 of the resolution being trained (static) and
``fade`` = the weight of the previous resolution's path while the new layers fade in (traced; 0 when stable),
as the original's lod_in - lod.

Generator (G_paper, fused_scale): combo = pixel_norm(concat(z, beta)) (normalize_latents);
  blocks[0]  4x4: dense (gain sqrt(2)/4, no bias) to nf(1) x 4 x 4 (in the original's NCHW order), one bias per
             channel (apply_bias after the reshape: [nf(1)], not [nf(1) * 16]), lrelu, pixel norm;
             conv 3x3, lrelu, pixel norm
  blocks[i]  (2^(i+2))^2: conv0_up (fused upsample + 3x3), conv1 3x3; each lrelu + pixel norm; nf(i+1) maps
  torgb[i]   1x1 conv, gain 1, linear
  fading:    torgb[L](y) + (upsample(torgb[L-1](x)) - torgb[L](y)) * fade

Discriminator (D_paper): the input of every fromrgb is concat(image at that resolution, label_map(beta));
  fromrgb[i] 1x1 conv to nf(i+1), lrelu
  blocks[i]  (2^(i+2))^2, i >= 1: conv0 3x3 to nf(i+1), conv1_down (fused 3x3 + avg pool) to nf(i); lrelu each
  blocks[0]  4x4: minibatch stddev, conv 3x3 to nf(1), dense0 to nf(0) (NCHW flattening), dense1 (gain 1) to
             1 + label_size outputs; the score is output 0 (the AC-GAN label outputs are unused, as the original)
  fading:    x = blocks[L](fromrgb[L](img)); x += (fromrgb[L-1](downscale(img)) - x) * fade

Attribute names follow the original's variable scopes (see torch_layout.py for the tensor names).
"""

from __future__ import annotations

import jax.numpy as jnp
from flax import nnx

from facejax.families.beholder.layers import (
    SQRT2,
    EqConv,
    EqConvDown,
    EqConvUp,
    EqDense,
    downscale2d,
    label_map,
    lrelu,
    minibatch_stddev,
    pixel_norm,
)
from facejax.nn.layers import upsample_nearest2


def nf(stage: int, fmap_base: int, fmap_decay: float, fmap_max: int) -> int:
    return min(int(fmap_base / (2.0 ** (stage * fmap_decay))), fmap_max)


class GBlock4(nnx.Module):
    def __init__(self, cin: int, c: int, *, rngs):
        self.c = c
        self.dense = EqDense(cin, c * 16, gain=SQRT2 / 4, bias_size=c, rngs=rngs)
        self.conv = EqConv(c, c, 3, rngs=rngs)

    def __call__(self, x):
        x = self.dense.matmul(x).reshape(x.shape[0], self.c, 4, 4).transpose(0, 2, 3, 1)
        x = pixel_norm(lrelu(x + self.dense.bias[...]))
        return pixel_norm(lrelu(self.conv(x)))


class GBlock(nnx.Module):
    def __init__(self, cin: int, c: int, *, rngs):
        self.conv0_up = EqConvUp(cin, c, 3, rngs=rngs)
        self.conv1 = EqConv(c, c, 3, rngs=rngs)

    def __call__(self, x):
        x = pixel_norm(lrelu(self.conv0_up(x)))
        return pixel_norm(lrelu(self.conv1(x)))


class Generator(nnx.Module):
    def __init__(
        self,
        resolution_log2: int,
        label_size: int,
        latent_size: int,
        widths,
        *,
        normalize_latents: bool = True,
        rngs: nnx.Rngs,
    ):
        """widths[i] = nf(i + 1): the maps of the (2^(i+2))^2 block."""
        self.resolution_log2 = resolution_log2
        self.normalize_latents = normalize_latents
        n = resolution_log2 - 1
        blocks = [GBlock4(latent_size + label_size, widths[0], rngs=rngs)]
        blocks += [GBlock(widths[i - 1], widths[i], rngs=rngs) for i in range(1, n)]
        self.blocks = nnx.List(blocks)
        self.torgb = nnx.List([EqConv(widths[i], 3, 1, gain=1.0, rngs=rngs) for i in range(n)])

    def __call__(self, z, beta, level: int, fade=None):
        x = jnp.concatenate([z, beta], axis=1)
        if self.normalize_latents:
            x = pixel_norm(x)
        top = level - 2
        prev = None
        for i in range(top + 1):
            prev, x = x, self.blocks[i](x)
        img = self.torgb[top](x)
        if fade is not None and top > 0:
            old = upsample_nearest2(self.torgb[top - 1](prev))
            img = img + (old - img) * fade
        return img


class DBlock(nnx.Module):
    def __init__(self, cin: int, cout: int, *, rngs):
        self.conv0 = EqConv(cin, cin, 3, rngs=rngs)
        self.conv1_down = EqConvDown(cin, cout, 3, rngs=rngs)

    def __call__(self, x):
        return lrelu(self.conv1_down(lrelu(self.conv0(x))))


class DBlock4(nnx.Module):
    def __init__(self, c1: int, c0: int, outputs: int, mbstd_group_size: int, *, rngs):
        self.mbstd_group_size = mbstd_group_size
        extra = 1 if mbstd_group_size > 1 else 0
        self.conv = EqConv(c1 + extra, c1, 3, rngs=rngs)
        self.dense0 = EqDense(c1 * 16, c0, rngs=rngs)
        self.dense1 = EqDense(c0, outputs, gain=1.0, rngs=rngs)

    def __call__(self, x, chunks: int = 1, shards: int = 1):
        if self.mbstd_group_size > 1:
            x = minibatch_stddev(x, self.mbstd_group_size, chunks, shards)
        x = lrelu(self.conv(x))
        x = x.transpose(0, 3, 1, 2).reshape(x.shape[0], -1)  # the original flattens NCHW
        return self.dense1(lrelu(self.dense0(x)))


class Discriminator(nnx.Module):
    def __init__(
        self,
        resolution_log2: int,
        label_size: int,
        widths,
        c0: int,
        *,
        label_groups: int = 4,
        mbstd_group_size: int = 4,
        rngs: nnx.Rngs,
    ):
        """widths[i] = nf(i + 1) as in the generator; c0 = nf(0)."""
        self.label_groups = label_groups
        n = resolution_log2 - 1
        self.fromrgb = nnx.List([EqConv(4, widths[i], 1, rngs=rngs) for i in range(n)])
        blocks = [DBlock4(widths[0], c0, 1 + label_size, mbstd_group_size, rngs=rngs)]
        blocks += [DBlock(widths[i], widths[i - 1], rngs=rngs) for i in range(1, n)]
        self.blocks = nnx.List(blocks)

    def _from(self, i, img, beta):
        res = img.shape[1]
        return lrelu(self.fromrgb[i](jnp.concatenate([img, label_map(beta, res, self.label_groups)], axis=-1)))

    def __call__(self, img, beta, level: int, fade=None, chunks: int = 1, shards: int = 1):
        """(N, 1 + label_size): the score (column 0) and the unused AC-GAN label outputs of (N, 2^level, 2^level,
        3) images conditioned on beta (N, label_size). `chunks` > 1: img
        interleaves that many minibatches (row = example * chunks + k: one call for several, the minibatch stddev
        still per minibatch); `shards`: the minibatch stddev groups within each of that many contiguous
        sub-batches (layers.minibatch_stddev)."""
        top = level - 2
        x = self._from(top, img, beta)
        x = self.blocks[top](x, chunks, shards) if top == 0 else self.blocks[top](x)
        if fade is not None and top > 0:
            x = x + (self._from(top - 1, downscale2d(img), beta) - x) * fade
        for i in range(top - 1, 0, -1):
            x = self.blocks[i](x)
        return self.blocks[0](x, chunks, shards) if top > 0 else x
