"""PyTorch reference of the GFC networks (Yijunmaverick/GenerativeFaceCompletion's Caffe prototxts
``Model_G``, ``Model_localD`` / ``Model_globalD``, ``Model_parsing``), for parity and export.

The original is Caffe, so there is no PyTorch original to match: these modules are facejax's documented layout.
Module attribute names are the prototxts' layer names, so a state_dict key is ``<layer>.weight`` /
``<layer>.bias`` with Caffe's own blob shapes (conv [out, in, kh, kw], InnerProduct [out, in]): a Caffe model's
blobs map one-to-one onto these keys. SegNet's Upsample is ``F.max_unpool2d`` with the indices of
``nn.MaxPool2d(2, 2, return_indices=True)``; fc3 reads the pool3 map flattened in (C, H, W) order, as Caffe's
InnerProduct does. Discriminators return logits (the prototxts' final Sigmoid is in the loss).
"""

from __future__ import annotations

import math

import torch.nn.functional as F
from torch import nn


def _conv(cin, cout, k=3, stride=1, pad=1):
    return nn.Conv2d(cin, cout, k, stride, pad)


class ModelG(nn.Module):
    """Model_G: forward(x) -> the 3-channel reconstruction (linear output)."""

    def __init__(self, img_size: int = 128, widths=(32, 64, 128, 256), dec_width: int = 64, fc_dim: int = 4096):
        super().__init__()
        c0, c1, c2, c3 = widths
        d = dec_width
        self.c3, self.s = c3, img_size // 16
        self.conv0_1, self.conv0_2 = _conv(3, c0), _conv(c0, c0)
        self.conv1_1_new, self.conv1_2 = _conv(c0, c1), _conv(c1, c1)
        self.conv2_1, self.conv2_2 = _conv(c1, c2), _conv(c2, c2)
        self.conv3_1, self.conv3_2, self.conv3_3, self.conv3_4 = (
            _conv(c2, c3),
            _conv(c3, c3),
            _conv(c3, c3),
            _conv(c3, c3),
        )
        self.fc3 = nn.Linear(c3 * self.s * self.s, fc_dim)
        self.defc3 = nn.Linear(fc_dim, c3 * self.s * self.s)
        self.conv_decode3_4, self.conv_decode3_3 = _conv(c3, d), _conv(d, d)
        self.conv_decode3_2, self.conv_decode3_1 = _conv(d, d), _conv(d, c2)
        self.conv_decode2_2, self.conv_decode2_1 = _conv(c2, d), _conv(d, c1)
        self.conv_decode1_2, self.conv_decode1_1_new = _conv(c1, d), _conv(d, c0)
        self.conv_decode0_2, self.conv_decode0_1 = _conv(c0, c0), _conv(c0, c0)
        self.reconstruction_new = _conv(c0, 3)
        self.pool = nn.MaxPool2d(2, 2, return_indices=True)

    def forward(self, x):
        idx = []
        for convs in (
            (self.conv0_1, self.conv0_2),
            (self.conv1_1_new, self.conv1_2),
            (self.conv2_1, self.conv2_2),
            (self.conv3_1, self.conv3_2, self.conv3_3, self.conv3_4),
        ):
            for conv in convs:
                x = F.relu(conv(x))
            x, i = self.pool(x)
            idx.append(i)
        x = F.relu(self.fc3(x.flatten(1)))
        x = F.relu(self.defc3(x)).view(-1, self.c3, self.s, self.s)
        for convs, i in zip(
            (
                (self.conv_decode3_4, self.conv_decode3_3, self.conv_decode3_2, self.conv_decode3_1),
                (self.conv_decode2_2, self.conv_decode2_1),
                (self.conv_decode1_2, self.conv_decode1_1_new),
                (self.conv_decode0_2, self.conv_decode0_1),
            ),
            reversed(idx),
        ):
            x = F.max_unpool2d(x, i, 2, 2)
            for conv in convs:
                x = F.relu(conv(x))
        return self.reconstruction_new(x)


class Discriminator(nn.Module):
    """Model_localD (in_size 64, base 64, first 1: conv1_1 .. conv4_2, conv5) / Model_globalD (128, 32, first 0:
    conv0_1 .. conv4_2, conv5): forward(x) -> (B,) logits. Stage k (0-based) is ``conv{first+k}_1`` 3x3 and
    ``conv{first+k}_2`` 4x4 stride 2, width base * 2^k capped at max_width."""

    def __init__(self, in_size: int = 64, base: int = 64, max_width: int = 512, first: int = 1):
        super().__init__()
        self.n = n = int(round(math.log2(in_size / 4)))
        self.first = first
        cin = 3
        for k in range(n):
            w = min(base * 2**k, max_width)
            setattr(self, f"conv{first + k}_1", _conv(cin, w))
            setattr(self, f"conv{first + k}_2", _conv(w, w, 4, 2, 1))
            cin = w
        setattr(self, f"conv{first + n}", _conv(cin, 1, 4, 1, 0))

    def forward(self, x):
        for i in range(self.first, self.first + self.n):
            x = F.leaky_relu(getattr(self, f"conv{i}_1")(x), 0.2)
            x = F.leaky_relu(getattr(self, f"conv{i}_2")(x), 0.2)
        return getattr(self, f"conv{self.first + self.n}")(x).flatten()


class ModelParsing(nn.Module):
    """Model_parsing: forward(x) -> (B, num_classes, H, W) logits; Dropout(0.5) after each decoder conv."""

    def __init__(
        self, widths=(64, 128, 256, 512, 512), last_width: int = 32, num_classes: int = 11, dropout: float = 0.5
    ):
        super().__init__()
        cin = 3
        for block, (w, n) in enumerate(zip(widths, (2, 2, 4, 4, 4)), 1):
            for k in range(1, n + 1):
                setattr(self, f"conv{block}_{k}", _conv(cin, w))
                cin = w
        for k, out in zip(range(5, 0, -1), list(widths[:4])[::-1] + [last_width]):
            setattr(self, f"conv_decode{k}", _conv(cin, out))
            cin = out
        self.conv_decode0 = _conv(cin, num_classes)
        self.pool = nn.MaxPool2d(2, 2, return_indices=True)
        self.drop = nn.Dropout(dropout)

    def forward(self, x):
        idx = []
        for block, n in enumerate((2, 2, 4, 4, 4), 1):
            for k in range(1, n + 1):
                x = F.relu(getattr(self, f"conv{block}_{k}")(x))
            x, i = self.pool(x)
            idx.append(i)
        for k in range(5, 0, -1):
            x = self.drop(F.relu(getattr(self, f"conv_decode{k}")(F.max_unpool2d(x, idx[k - 1], 2, 2))))
        return self.conv_decode0(x)
