"""PyTorch reference of StarGAN v2's FAN (clovaai/stargan-v2 ``core/wing.py``), for parity and export checks.

Written from the facts in ``reference/stargan_v2.md`` §2.5 and Appendix A: the same module classes, attribute
names and registration order, hence the same ``state_dict`` keys and shapes as the original (``conv1.conv.weight``
[64, 6, 7, 7], BatchNorm running statistics and ``num_batches_tracked``, ``m0.b2_plus_1.*``, ``l0.weight`` [99, 256,
1, 1]). The coordinate channels are plain tensors built in ``forward``, not buffers, as in the original.
``get_heatmap`` and ``preprocess`` reproduce the original's mask computation, quirks included (cyclic row shifts,
shifts scaled by ``H // 256`` except the eyes', the fine mask's NaN clean-up that looks at the coarse mask).

Two extensions, equal to the original at their defaults: ``img_size`` (256: the CoordConv grids are
``img_size`` and ``img_size // 4``) and ``width`` (64: blocks of 64/128/256 channels), for fast tests.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

NUM_LANDMARKS = 98


def _coords(height, width, device):
    rows = (torch.arange(height, dtype=torch.float32, device=device) / (height - 1) * 2 - 1)[:, None].expand(
        height, width
    )
    cols = (torch.arange(width, dtype=torch.float32, device=device) / (width - 1) * 2 - 1)[None, :].expand(
        height, width
    )
    radius = torch.sqrt(rows**2 + cols**2)
    return torch.stack([rows, cols, radius / radius.max()])  # (3, H, W)


class CoordConvTh(nn.Module):
    """RGB/feature channels + row, column and radius channels of a fixed grid, then ``conv``."""

    def __init__(self, height, width, in_channels, out_channels, kernel_size, stride, padding):
        super().__init__()
        self.height, self.width = height, width
        self.conv = nn.Conv2d(in_channels + 3, out_channels, kernel_size, stride, padding)

    def forward(self, x):
        coords = _coords(self.height, self.width, x.device).unsqueeze(0).expand(x.size(0), -1, -1, -1)
        return self.conv(torch.cat([x, coords], dim=1))


class ConvBlock(nn.Module):
    def __init__(self, in_planes, out_planes):
        super().__init__()
        half, quarter = out_planes // 2, out_planes // 4
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = nn.Conv2d(in_planes, half, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(half)
        self.conv2 = nn.Conv2d(half, quarter, 3, 1, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(quarter)
        self.conv3 = nn.Conv2d(quarter, quarter, 3, 1, 1, bias=False)
        self.downsample = None
        if in_planes != out_planes:
            self.downsample = nn.Sequential(
                nn.BatchNorm2d(in_planes), nn.ReLU(True), nn.Conv2d(in_planes, out_planes, 1, 1, bias=False)
            )

    def forward(self, x):
        a = self.conv1(F.relu(self.bn1(x)))
        b = self.conv2(F.relu(self.bn2(a)))
        c = self.conv3(F.relu(self.bn3(b)))
        shortcut = x if self.downsample is None else self.downsample(x)
        return torch.cat([a, b, c], dim=1) + shortcut


class HourGlass(nn.Module):
    def __init__(self, depth, features, size):
        super().__init__()
        self.depth = depth
        self.coordconv = CoordConvTh(size, size, features, features, 1, 1, 0)
        self._register(depth, features)

    def _register(self, level, features):
        self.add_module(f"b1_{level}", ConvBlock(features, features))
        self.add_module(f"b2_{level}", ConvBlock(features, features))
        if level > 1:
            self._register(level - 1, features)
        else:
            self.add_module(f"b2_plus_{level}", ConvBlock(features, features))
        self.add_module(f"b3_{level}", ConvBlock(features, features))

    def _level(self, level, x):
        up = self._modules[f"b1_{level}"](x)
        low = self._modules[f"b2_{level}"](F.avg_pool2d(x, 2, stride=2))
        if level > 1:
            low = self._level(level - 1, low)
        else:
            low = self._modules[f"b2_plus_{level}"](low)
        low = self._modules[f"b3_{level}"](low)
        return up + F.interpolate(low, scale_factor=2, mode="nearest")

    def forward(self, x):
        return self._level(self.depth, self.coordconv(x))


class FAN(nn.Module):
    def __init__(self, img_size=256, width=64, num_landmarks=NUM_LANDMARKS):
        super().__init__()
        w = width
        self.img_size = img_size
        self.conv1 = CoordConvTh(img_size, img_size, 3, w, 7, 2, 3)
        self.bn1 = nn.BatchNorm2d(w)
        self.conv2 = ConvBlock(w, 2 * w)
        self.conv3 = ConvBlock(2 * w, 2 * w)
        self.conv4 = ConvBlock(2 * w, 4 * w)
        self.add_module("m0", HourGlass(4, 4 * w, img_size // 4))
        self.add_module("top_m_0", ConvBlock(4 * w, 4 * w))
        self.add_module("conv_last0", nn.Conv2d(4 * w, 4 * w, 1, 1, 0))
        self.add_module("bn_end0", nn.BatchNorm2d(4 * w))
        self.add_module("l0", nn.Conv2d(4 * w, num_landmarks + 1, 1, 1, 0))

    def forward(self, x):
        """x in [0, 1], NCHW at img_size -> (N, 99, img_size/4, img_size/4)."""
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.avg_pool2d(self.conv2(x), 2, stride=2)
        x = self.conv4(self.conv3(x))
        x = self.top_m_0(self.m0(x))
        x = F.relu(self.bn_end0(self.conv_last0(x)))
        return self.l0(x)

    @torch.no_grad()
    def get_heatmap(self, x, b_preprocess=True):
        """[-1, 1] images of any size -> (coarse, fine) masks, each (N, 1, img_size, img_size)."""
        x = F.interpolate(x, size=self.img_size, mode="bilinear")
        maps = self(x * 0.5 + 0.5)[:, :-1]
        if not b_preprocess:
            return maps
        maps = F.interpolate(maps, scale_factor=x.size(2) // maps.size(2), mode="bilinear", align_corners=True)
        return preprocess(maps)


# ---------------------------------------------------------------------------------------- preprocess

_PARTS = {  # WFLW index ranges [start, end)
    "chin": (8, 25),
    "eyebrows": (33, 51),
    "eyebrowsedges": (33, 46),
    "nose": (51, 55),
    "nostrils": (55, 60),
    "eyes": (60, 76),
    "lipedges": (76, 82),
    "lipupper": (77, 82),
    "liplower": (83, 88),
    "lipinner": (88, 96),
}


def _shift_rows(x, n):
    """Cyclic shift of dim 2 by n rows up (n >= 0) or -n rows down, through an index permutation."""
    h = x.size(2)
    perm = (torch.arange(h) + n) % h
    return x[:, :, perm.to(x.device), :]


def preprocess(x):
    """(N, 98, H, W) heatmaps -> (coarse, fine) masks (N, 1, H, W)."""
    h = x.size(2)
    sw = h // 256
    x = torch.where(x < 0.1, torch.zeros_like(x), x)
    n, c = x.shape[:2]
    flat = x.reshape(n * c, -1)
    lo = flat.min(dim=1, keepdim=True)[0]
    hi = flat.max(dim=1, keepdim=True)[0]
    x = ((flat - lo) / (hi - lo + 1e-6)).reshape(x.shape).clone()
    for part, n_shift, power in (
        ("chin", 0, 3),
        ("eyebrows", -7 * sw, 2),
        ("nostrils", 8 * sw, 4),
        ("lipupper", -8 * sw, 4),
        ("liplower", 8 * sw, 4),
        ("lipinner", -2 * sw, 3),
    ):
        a, b = _PARTS[part]
        x[:, a:b] = _shift_rows(x[:, a:b], n_shift) ** power
    chin, brows, lips = _PARTS["chin"], _PARTS["eyebrowsedges"], _PARTS["lipedges"]
    zero = list(range(0, chin[0])) + list(range(chin[1], 33)) + [brows[0], brows[1], lips[0], lips[1]]
    x[:, zero] = 0
    a, b = _PARTS["nose"]
    x[:, a + 1 : b] = _shift_rows(x[:, a + 1 : b], 4 * sw)
    a, b = _PARTS["eyes"]
    eyes = x[:, a:b].clone()
    x[:, a:b] = _shift_rows(eyes, -8) ** 3 + _shift_rows(eyes, -24)
    x2 = x.clone()
    x2[:, chin[0] : chin[1]] = 0
    x2[:, _PARTS["lipedges"][0] : _PARTS["lipinner"][1]] = 0
    x2[:, _PARTS["eyebrows"][0] : _PARTS["eyebrows"][1]] = 0
    coarse = x.sum(dim=1, keepdim=True)
    fine = x2.sum(dim=1, keepdim=True)
    coarse[coarse != coarse] = 0
    fine[coarse != coarse] = 0  # the original's check looks at the already cleaned coarse mask
    return coarse.clamp(0, 1), fine.clamp(0, 1)
