"""PyTorch reference of Beholder-GAN's networks and beauty predictor, for parity and export.

The original is TF1 (PGGAN's networks.py as forked by beholdergan, completion_beauty.md C.4); there is no PyTorch
original to match, so these modules are facejax's documented PyTorch layout of it, written from the TF code's
facts and computed the way the TF graph computes them, NCHW:

  * PGGAN's "linear" structure at the full resolution, driven by ``lod_in`` as the original (lerp_clip between
    levels of detail): G's output is always full-size (lower levels upscaled), D reads a full-size image;
  * equalized learning rate: weights stored as drawn (N(0, 1)), multiplied by gain / sqrt(fan_in) at run time;
  * the fused layers as the original computes them: ``Conv0_up`` pads and sums its 3x3 kernel to 4x4 and runs a
    stride-2 transposed convolution; ``Conv1_down`` pads, sums and quarters its kernel and runs a stride-2 conv;
  * Beholder's D conditioning: beta's group means in a 4th input channel of every FromRGB.

Tensor names (state_dict keys) and layouts, TF variable in brackets (R = log2 resolution, lod = R - res):

  Generator      blocks.0.dense.weight  [nf(1)*16, L+Z]   Linear layout          [4x4/Dense/weight  (L+Z, nf*16)]
                 blocks.0.dense.bias    [nf(1)]  one per channel, after the reshape [4x4/Dense/bias  (nf,)]
                 blocks.0.conv.weight   [nf(1), nf(1), 3, 3]  Conv2d (OIHW)      [4x4/Conv/weight]
                 blocks.i.conv0_up.weight [nf(i), nf(i+1), 3, 3]  ConvTranspose2d  [2^(i+2)x../Conv0_up/weight]
                 blocks.i.conv1.weight  [nf(i+1), nf(i+1), 3, 3]                 [../Conv1/weight]
                 torgb.i.weight         [3, nf(i+1), 1, 1]                       [ToRGB_lod{R-2-i}/weight]
  Discriminator  fromrgb.i.weight       [nf(i+1), 4, 1, 1]  (RGB + label channel) [FromRGB_lod{R-2-i}/weight]
                 blocks.i.conv0.weight, blocks.i.conv1_down.weight (i >= 1)      [../Conv0, ../Conv1_down]
                 blocks.0.conv.weight [nf(1), nf(1)+1, 3, 3], blocks.0.dense0.weight [nf(0), nf(1)*16],
                 blocks.0.dense1.weight [1+L, nf(0)]                             [4x4/Conv, Dense0, Dense1]
  every layer also has ``bias``. Beauty predictor: torchvision's vgg16_bn state_dict with classifier.6 =
  Linear(hidden, num_raters) (the original's VGG16_beauty_rates.pt), see ``VGG16BN``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

SQRT2 = math.sqrt(2.0)


class EqConv(nn.Module):
    def __init__(self, cin, cout, k, gain=SQRT2):
        super().__init__()
        self.wscale = gain / math.sqrt(k * k * cin)
        self.weight = nn.Parameter(torch.randn(cout, cin, k, k))
        self.bias = nn.Parameter(torch.zeros(cout))

    def forward(self, x):
        return F.conv2d(x, self.weight * self.wscale, self.bias, padding=self.weight.shape[-1] // 2)


class EqConvUp(nn.Module):
    """upscale2d_conv2d: weight [in, out, k, k] (TF [k, k, out, in]), padded + summed, transposed stride-2 conv."""

    def __init__(self, cin, cout, k=3, gain=SQRT2):
        super().__init__()
        self.wscale = gain / math.sqrt(k * k * cin)
        self.weight = nn.Parameter(torch.randn(cin, cout, k, k))
        self.bias = nn.Parameter(torch.zeros(cout))

    def forward(self, x):
        w = F.pad(self.weight * self.wscale, (1, 1, 1, 1))
        w = w[:, :, 1:, 1:] + w[:, :, :-1, 1:] + w[:, :, 1:, :-1] + w[:, :, :-1, :-1]
        return F.conv_transpose2d(x, w, self.bias, stride=2, padding=1)


class EqConvDown(nn.Module):
    """conv2d_downscale2d: weight padded, summed, x 0.25, stride-2 conv ('SAME' = padding 1 for 4x4 on even sizes)."""

    def __init__(self, cin, cout, k=3, gain=SQRT2):
        super().__init__()
        self.wscale = gain / math.sqrt(k * k * cin)
        self.weight = nn.Parameter(torch.randn(cout, cin, k, k))
        self.bias = nn.Parameter(torch.zeros(cout))

    def forward(self, x):
        w = F.pad(self.weight * self.wscale, (1, 1, 1, 1))
        w = (w[:, :, 1:, 1:] + w[:, :, :-1, 1:] + w[:, :, 1:, :-1] + w[:, :, :-1, :-1]) * 0.25
        return F.conv2d(x, w, self.bias, stride=2, padding=1)


class EqDense(nn.Module):
    """bias_size: a bias that is not one per unit (G's 4x4 Dense: one per channel, added after the reshape)."""

    def __init__(self, cin, cout, gain=SQRT2, bias_size=None):
        super().__init__()
        self.wscale = gain / math.sqrt(cin)
        self.weight = nn.Parameter(torch.randn(cout, cin))
        self.bias = nn.Parameter(torch.zeros(cout if bias_size is None else bias_size))

    def forward(self, x):
        return F.linear(x.flatten(1), self.weight * self.wscale, self.bias)

    def matmul(self, x):
        return F.linear(x.flatten(1), self.weight * self.wscale)


def lrelu(x):
    return torch.maximum(x * 0.2, x)


def pixel_norm(x, eps=1e-8):
    return x * torch.rsqrt(torch.mean(x * x, dim=1, keepdim=True) + eps)


def upscale2d(x, factor=2):
    return x if factor == 1 else x.repeat_interleave(factor, 2).repeat_interleave(factor, 3)


def downscale2d(x, factor=2):
    return x if factor == 1 else F.avg_pool2d(x, factor)


def lerp_clip(a, b, t):
    return a + (b - a) * min(max(t, 0.0), 1.0)


def minibatch_stddev(x, group_size=4):
    g = min(group_size, x.shape[0])
    s = x.shape
    y = x.reshape(g, -1, s[1], s[2], s[3])
    y = y - y.mean(dim=0, keepdim=True)
    y = torch.sqrt((y * y).mean(dim=0) + 1e-8)
    y = y.mean(dim=(1, 2, 3), keepdim=True)  # [M, 1, 1, 1]
    y = y.repeat(g, 1, s[2], s[3])
    return torch.cat([x, y], dim=1)


def label_map(labels, res, groups=4):
    """The original's tf.split / reduce_mean / tf.pad of the beauty vector, at resolution res."""
    means = torch.stack([c.mean(dim=1) for c in torch.split(labels, labels.shape[1] // groups, dim=1)], dim=1)
    dx, dy = (res - groups) // 2, res // 2
    m = F.pad(means[:, None, :], (dx, res - groups - dx, dy - 1, dy))
    return m[:, None]


def nf(stage, fmap_base=8192, fmap_decay=1.0, fmap_max=512):
    return min(int(fmap_base / (2.0 ** (stage * fmap_decay))), fmap_max)


class GBlock4(nn.Module):
    def __init__(self, cin, c):
        super().__init__()
        self.c = c
        self.dense = EqDense(cin, c * 16, gain=SQRT2 / 4, bias_size=c)
        self.conv = EqConv(c, c, 3)

    def forward(self, x):
        # G_paper: dense (no bias), reshape to [N, nf, 4, 4], apply_bias (one per channel), act, pixel norm
        x = self.dense.matmul(x).reshape(-1, self.c, 4, 4) + self.dense.bias[None, :, None, None]
        x = pixel_norm(lrelu(x))
        return pixel_norm(lrelu(self.conv(x)))


class GBlock(nn.Module):
    def __init__(self, cin, c):
        super().__init__()
        self.conv0_up = EqConvUp(cin, c, 3)
        self.conv1 = EqConv(c, c, 3)

    def forward(self, x):
        return pixel_norm(lrelu(self.conv1(pixel_norm(lrelu(self.conv0_up(x))))))


class Generator(nn.Module):
    """G_paper with beta concatenated to z; forward(z, beta, lod_in) -> full-resolution images, NCHW."""

    def __init__(
        self,
        resolution,
        label_size,
        fmap_base=8192,
        fmap_decay=1.0,
        fmap_max=512,
        latent_size=None,
        normalize_latents=True,
    ):
        super().__init__()
        self.R = int(math.log2(resolution))
        f = lambda s: nf(s, fmap_base, fmap_decay, fmap_max)  # noqa: E731
        latent_size = latent_size or f(0)
        self.normalize_latents = normalize_latents
        self.blocks = nn.ModuleList(
            [GBlock4(latent_size + label_size, f(1))] + [GBlock(f(r - 2), f(r - 1)) for r in range(3, self.R + 1)]
        )
        self.torgb = nn.ModuleList([EqConv(f(r - 1), 3, 1, gain=1.0) for r in range(2, self.R + 1)])

    def forward(self, z, beta, lod_in=0.0):
        x = torch.cat([z, beta], dim=1)
        if self.normalize_latents:
            x = pixel_norm(x)
        x = self.blocks[0](x)
        out = self.torgb[0](x)
        for r in range(3, self.R + 1):
            lod = self.R - r
            x = self.blocks[r - 2](x)
            out = lerp_clip(self.torgb[r - 2](x), upscale2d(out), lod_in - lod)
        return out


class DBlock4(nn.Module):
    def __init__(self, c1, c0, outputs, mbstd_group_size=4):
        super().__init__()
        self.mbstd_group_size = mbstd_group_size
        self.conv = EqConv(c1 + (1 if mbstd_group_size > 1 else 0), c1, 3)
        self.dense0 = EqDense(c1 * 16, c0)
        self.dense1 = EqDense(c0, outputs, gain=1.0)

    def forward(self, x):
        if self.mbstd_group_size > 1:
            x = minibatch_stddev(x, self.mbstd_group_size)
        return self.dense1(lrelu(self.dense0(lrelu(self.conv(x)))))


class DBlock(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.conv0 = EqConv(cin, cin, 3)
        self.conv1_down = EqConvDown(cin, cout, 3)

    def forward(self, x):
        return lrelu(self.conv1_down(lrelu(self.conv0(x))))


class Discriminator(nn.Module):
    """D_paper with Beholder's label channel; forward(images, beta, lod_in) -> (scores [N, 1], labels [N, L])."""

    def __init__(
        self, resolution, label_size, fmap_base=8192, fmap_decay=1.0, fmap_max=512, label_groups=4, mbstd_group_size=4
    ):
        super().__init__()
        self.R = int(math.log2(resolution))
        self.label_groups = label_groups
        f = lambda s: nf(s, fmap_base, fmap_decay, fmap_max)  # noqa: E731
        self.fromrgb = nn.ModuleList([EqConv(4, f(r - 1), 1) for r in range(2, self.R + 1)])
        self.blocks = nn.ModuleList(
            [DBlock4(f(1), f(0), 1 + label_size, mbstd_group_size)]
            + [DBlock(f(r - 1), f(r - 2)) for r in range(3, self.R + 1)]
        )

    def _from(self, img, beta, r):
        x = torch.cat([img, label_map(beta, img.shape[-1], self.label_groups)], dim=1)
        return lrelu(self.fromrgb[r - 2](x))

    def forward(self, images, beta, lod_in=0.0):
        img = images
        x = self._from(img, beta, self.R)
        for r in range(self.R, 2, -1):
            lod = self.R - r
            x = self.blocks[r - 2](x)
            img = downscale2d(img)
            x = lerp_clip(x, self._from(img, beta, r - 1), lod_in - lod)
        out = self.blocks[0](x)
        return out[:, :1], out[:, 1:]


# ------------------------------------------------------------------------------------------------ predictor


class VGG16BN(nn.Module):
    """torchvision's vgg16_bn layout (features cfg "D" with BatchNorm, AdaptiveAvgPool2d, classifier) with the
    last Linear replaced by Linear(hidden, num_raters), as train_beauty_prediction.py builds it; widths, hidden
    and pool_size default to torchvision's (the tiny ones serve tests)."""

    def __init__(self, num_raters=60, widths=(64, 128, 256, 512, 512), hidden=4096, pool_size=7, dropout=0.5):
        super().__init__()
        layers, cin = [], 3
        for w, n in zip(widths, (2, 2, 3, 3, 3)):
            for _ in range(n):
                layers += [nn.Conv2d(cin, w, 3, padding=1), nn.BatchNorm2d(w), nn.ReLU(inplace=True)]
                cin = w
            layers.append(nn.MaxPool2d(2, 2))
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d((pool_size, pool_size))
        self.classifier = nn.Sequential(
            nn.Linear(cin * pool_size * pool_size, hidden),
            nn.ReLU(True),
            nn.Dropout(dropout),
            nn.Linear(hidden, hidden),
            nn.ReLU(True),
            nn.Dropout(dropout),
            nn.Linear(hidden, num_raters),
        )

    def forward(self, x):
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))
