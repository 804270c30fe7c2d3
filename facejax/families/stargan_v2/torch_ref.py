"""PyTorch reference of the StarGAN v2 networks (clovaai/stargan-v2 ``core/model.py``), for parity and export.

Written from the facts in ``reference/stargan_v2.md`` §1-2: same module classes, attribute names, registration
order and therefore the same ``state_dict`` keys and shapes as the original (NCHW, OIHW, Linear [out, in]),
including the ``hpf.filter`` buffer of current master. Two extensions, both equal to the original at their
defaults: ``dim_in`` (0 = ``2**14 // img_size``) and mask/HPF sizes ``(img_size//8, img_size//4, img_size//2)``
instead of the hard-coded ``{32, 64, 128}`` (see ``facejax.families.stargan_v2.model.Generator``).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def _base_width(img_size: int, dim_in: int) -> int:
    return dim_in if dim_in > 0 else 2**14 // img_size


class ResBlk(nn.Module):
    def __init__(self, dim_in, dim_out, actv=nn.LeakyReLU(0.2), normalize=False, downsample=False):
        super().__init__()
        self.actv = actv
        self.normalize = normalize
        self.downsample = downsample
        self.learned_sc = dim_in != dim_out
        self.conv1 = nn.Conv2d(dim_in, dim_in, 3, 1, 1)
        self.conv2 = nn.Conv2d(dim_in, dim_out, 3, 1, 1)
        if self.normalize:
            self.norm1 = nn.InstanceNorm2d(dim_in, affine=True)
            self.norm2 = nn.InstanceNorm2d(dim_in, affine=True)
        if self.learned_sc:
            self.conv1x1 = nn.Conv2d(dim_in, dim_out, 1, 1, 0, bias=False)

    def _shortcut(self, x):
        if self.learned_sc:
            x = self.conv1x1(x)
        if self.downsample:
            x = F.avg_pool2d(x, 2)
        return x

    def _residual(self, x):
        if self.normalize:
            x = self.norm1(x)
        x = self.conv1(self.actv(x))
        if self.downsample:
            x = F.avg_pool2d(x, 2)
        if self.normalize:
            x = self.norm2(x)
        return self.conv2(self.actv(x))

    def forward(self, x):
        return (self._shortcut(x) + self._residual(x)) / math.sqrt(2)


class AdaIN(nn.Module):
    def __init__(self, style_dim, num_features):
        super().__init__()
        self.norm = nn.InstanceNorm2d(num_features, affine=False)
        self.fc = nn.Linear(style_dim, num_features * 2)

    def forward(self, x, s):
        h = self.fc(s)[:, :, None, None]
        gamma, beta = torch.chunk(h, chunks=2, dim=1)
        return (1 + gamma) * self.norm(x) + beta


class AdainResBlk(nn.Module):
    def __init__(self, dim_in, dim_out, style_dim=64, w_hpf=0, actv=nn.LeakyReLU(0.2), upsample=False):
        super().__init__()
        self.w_hpf = w_hpf
        self.actv = actv
        self.upsample = upsample
        self.learned_sc = dim_in != dim_out
        self.conv1 = nn.Conv2d(dim_in, dim_out, 3, 1, 1)
        self.conv2 = nn.Conv2d(dim_out, dim_out, 3, 1, 1)
        self.norm1 = AdaIN(style_dim, dim_in)
        self.norm2 = AdaIN(style_dim, dim_out)
        if self.learned_sc:
            self.conv1x1 = nn.Conv2d(dim_in, dim_out, 1, 1, 0, bias=False)

    def _shortcut(self, x):
        if self.upsample:
            x = F.interpolate(x, scale_factor=2, mode="nearest")
        if self.learned_sc:
            x = self.conv1x1(x)
        return x

    def _residual(self, x, s):
        x = self.actv(self.norm1(x, s))
        if self.upsample:
            x = F.interpolate(x, scale_factor=2, mode="nearest")
        x = self.conv1(x)
        x = self.actv(self.norm2(x, s))
        return self.conv2(x)

    def forward(self, x, s):
        out = self._residual(x, s)
        if self.w_hpf == 0:
            out = (out + self._shortcut(x)) / math.sqrt(2)
        return out


class HighPass(nn.Module):
    def __init__(self, w_hpf, device=None):
        super().__init__()
        kernel = torch.tensor([[-1.0, -1.0, -1.0], [-1.0, 8.0, -1.0], [-1.0, -1.0, -1.0]], device=device)
        self.register_buffer("filter", kernel / w_hpf)

    def forward(self, x):
        c = x.size(1)
        weight = self.filter.unsqueeze(0).unsqueeze(1).repeat(c, 1, 1, 1)
        return F.conv2d(x, weight, padding=1, groups=c)


class Generator(nn.Module):
    def __init__(self, img_size=256, style_dim=64, max_conv_dim=512, w_hpf=1, dim_in=0):
        super().__init__()
        dim_in = _base_width(img_size, dim_in)
        self.img_size = img_size
        self.hpf_sizes = (img_size // 8, img_size // 4, img_size // 2)
        self.from_rgb = nn.Conv2d(3, dim_in, 3, 1, 1)
        self.encode = nn.ModuleList()
        self.decode = nn.ModuleList()
        self.to_rgb = nn.Sequential(
            nn.InstanceNorm2d(dim_in, affine=True), nn.LeakyReLU(0.2), nn.Conv2d(dim_in, 3, 1, 1, 0)
        )
        repeat_num = int(math.log2(img_size)) - 4
        if w_hpf > 0:
            repeat_num += 1
        dim_out = dim_in
        for _ in range(repeat_num):
            dim_out = min(dim_in * 2, max_conv_dim)
            self.encode.append(ResBlk(dim_in, dim_out, normalize=True, downsample=True))
            self.decode.insert(0, AdainResBlk(dim_out, dim_in, style_dim, w_hpf=w_hpf, upsample=True))
            dim_in = dim_out
        for _ in range(2):
            self.encode.append(ResBlk(dim_out, dim_out, normalize=True))
            self.decode.insert(0, AdainResBlk(dim_out, dim_out, style_dim, w_hpf=w_hpf))
        if w_hpf > 0:
            self.hpf = HighPass(w_hpf)

    def forward(self, x, s, masks=None):
        x = self.from_rgb(x)
        cache = {}
        for block in self.encode:
            if masks is not None and x.size(2) in self.hpf_sizes:
                cache[x.size(2)] = x
            x = block(x)
        for block in self.decode:
            x = block(x, s)
            if masks is not None and x.size(2) in self.hpf_sizes:
                mask = masks[0] if x.size(2) == self.hpf_sizes[0] else masks[1]
                mask = F.interpolate(mask, size=x.size(2), mode="bilinear")
                x = x + self.hpf(mask * cache[x.size(2)])
        return self.to_rgb(x)


class MappingNetwork(nn.Module):
    def __init__(self, latent_dim=16, style_dim=64, num_domains=2, hidden_dim=512):
        super().__init__()
        layers = [nn.Linear(latent_dim, hidden_dim), nn.ReLU()]
        for _ in range(3):
            layers += [nn.Linear(hidden_dim, hidden_dim), nn.ReLU()]
        self.shared = nn.Sequential(*layers)
        self.unshared = nn.ModuleList()
        for _ in range(num_domains):
            head = []
            for _ in range(3):
                head += [nn.Linear(hidden_dim, hidden_dim), nn.ReLU()]
            head.append(nn.Linear(hidden_dim, style_dim))
            self.unshared.append(nn.Sequential(*head))

    def forward(self, z, y):
        h = self.shared(z)
        out = torch.stack([head(h) for head in self.unshared], dim=1)
        return out[torch.arange(y.size(0), device=y.device), y]


def _trunk(img_size, dim_in, max_conv_dim):
    dim_in = _base_width(img_size, dim_in)
    blocks = [nn.Conv2d(3, dim_in, 3, 1, 1)]
    dim_out = dim_in
    for _ in range(int(math.log2(img_size)) - 2):
        dim_out = min(dim_in * 2, max_conv_dim)
        blocks.append(ResBlk(dim_in, dim_out, downsample=True))
        dim_in = dim_out
    blocks += [nn.LeakyReLU(0.2), nn.Conv2d(dim_out, dim_out, 4, 1, 0), nn.LeakyReLU(0.2)]
    return blocks, dim_out


class StyleEncoder(nn.Module):
    def __init__(self, img_size=256, style_dim=64, num_domains=2, max_conv_dim=512, dim_in=0):
        super().__init__()
        blocks, dim_out = _trunk(img_size, dim_in, max_conv_dim)
        self.shared = nn.Sequential(*blocks)
        self.unshared = nn.ModuleList([nn.Linear(dim_out, style_dim) for _ in range(num_domains)])

    def forward(self, x, y):
        h = self.shared(x).view(x.size(0), -1)
        out = torch.stack([head(h) for head in self.unshared], dim=1)
        return out[torch.arange(y.size(0), device=y.device), y]


class Discriminator(nn.Module):
    def __init__(self, img_size=256, num_domains=2, max_conv_dim=512, dim_in=0):
        super().__init__()
        blocks, dim_out = _trunk(img_size, dim_in, max_conv_dim)
        blocks.append(nn.Conv2d(dim_out, num_domains, 1, 1, 0))
        self.main = nn.Sequential(*blocks)

    def forward(self, x, y):
        out = self.main(x).view(x.size(0), -1)
        return out[torch.arange(y.size(0), device=y.device), y]
