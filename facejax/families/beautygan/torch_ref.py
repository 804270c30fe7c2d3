"""PyTorch reference of the BeautyGAN networks (wtjiang98/BeautyGAN_pytorch ``net.py``), for parity and export.

Written from the facts in ``reference/makeup.md`` section 3.2-3.3: the same module classes, attribute names and
``Sequential`` indices, hence the same ``state_dict`` keys and shapes as the original: ``Generator_branch``
(71 tensors at conv_dim 64, repeat_num 6; ConvTranspose2d weights [in, out, k, k]) and ``Discriminator`` with the
original's custom spectral norm, whose per-conv tensors are ``bias``, ``weight_u``, ``weight_v``, ``weight_bar``
(all registered as parameters, u and v without gradient), and whose forward pre-hook runs one power iteration
on every call (training or eval mode): v = l2normalize(W^T u), u = l2normalize(W v), l2normalize(x) =
x / (||x|| + 1e-12), weight = weight_bar / (u . W v).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import Parameter


def l2normalize(v, eps: float = 1e-12):
    return v / (v.norm() + eps)


class SpectralNorm:
    """Forward pre-hook: weight = weight_bar / sigma, sigma from one power iteration on weight_bar."""

    def __init__(self, name: str = "weight", power_iterations: int = 1):
        self.name = name
        self.power_iterations = power_iterations

    def compute_weight(self, module):
        u = getattr(module, self.name + "_u")
        v = getattr(module, self.name + "_v")
        w = getattr(module, self.name + "_bar")
        height = w.shape[0]
        w_mat = w.view(height, -1)
        with torch.no_grad():
            for _ in range(self.power_iterations):
                v.data = l2normalize(torch.mv(w_mat.data.t(), u.data))
                u.data = l2normalize(torch.mv(w_mat.data, v.data))
        sigma = u.dot(w_mat.mv(v))
        return w / sigma.expand_as(w)

    @staticmethod
    def apply(module, name: str = "weight", power_iterations: int = 1):
        fn = SpectralNorm(name, power_iterations)
        w = getattr(module, name)
        height = w.shape[0]
        width = w.view(height, -1).shape[1]
        u = Parameter(l2normalize(torch.randn(height, dtype=w.dtype)), requires_grad=False)
        v = Parameter(l2normalize(torch.randn(width, dtype=w.dtype)), requires_grad=False)
        w_bar = Parameter(w.data)
        module.register_parameter(name + "_u", u)
        module.register_parameter(name + "_v", v)
        module.register_parameter(name + "_bar", w_bar)
        del module._parameters[name]
        setattr(module, name, w_bar.data.clone())  # replaced before every forward by the hook
        module.register_forward_pre_hook(fn)
        return fn

    def __call__(self, module, inputs):
        setattr(module, self.name, self.compute_weight(module))


def spectral_norm(module, name: str = "weight", power_iterations: int = 1):
    SpectralNorm.apply(module, name, power_iterations)
    return module


class ResidualBlock(nn.Module):
    def __init__(self, dim_in: int, dim_out: int):
        super().__init__()
        self.main = nn.Sequential(
            nn.Conv2d(dim_in, dim_out, kernel_size=3, stride=1, padding=1, bias=False),
            nn.InstanceNorm2d(dim_out, affine=True),
            nn.ReLU(inplace=True),
            nn.Conv2d(dim_out, dim_out, kernel_size=3, stride=1, padding=1, bias=False),
            nn.InstanceNorm2d(dim_out, affine=True),
        )

    def forward(self, x):
        return x + self.main(x)


def _branch(conv_dim: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(3, conv_dim, kernel_size=7, stride=1, padding=3, bias=False),
        nn.InstanceNorm2d(conv_dim, affine=True),
        nn.ReLU(inplace=True),
        nn.Conv2d(conv_dim, conv_dim * 2, kernel_size=4, stride=2, padding=1, bias=False),
        nn.InstanceNorm2d(conv_dim * 2, affine=True),
        nn.ReLU(inplace=True),
    )


def _head(conv_dim: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(conv_dim, conv_dim, kernel_size=3, stride=1, padding=1, bias=False),
        nn.InstanceNorm2d(conv_dim, affine=True),
        nn.ReLU(inplace=True),
        nn.Conv2d(conv_dim, conv_dim, kernel_size=3, stride=1, padding=1, bias=False),
        nn.InstanceNorm2d(conv_dim, affine=True),
        nn.ReLU(inplace=True),
        nn.Conv2d(conv_dim, 3, kernel_size=7, stride=1, padding=3, bias=False),
        nn.Tanh(),
    )


class Generator_branch(nn.Module):  # noqa: N801 (the original's class name)
    """forward(x, y) -> (fake_A: x wearing y's makeup, fake_B: y with its makeup removed)."""

    def __init__(self, conv_dim: int = 64, repeat_num: int = 6):
        super().__init__()
        self.Branch_0 = _branch(conv_dim)
        self.Branch_1 = _branch(conv_dim)
        curr_dim = conv_dim * 2
        layers = [
            nn.Conv2d(curr_dim * 2, curr_dim * 2, kernel_size=4, stride=2, padding=1, bias=False),
            nn.InstanceNorm2d(curr_dim * 2, affine=True),
            nn.ReLU(inplace=True),
        ]
        curr_dim = curr_dim * 2
        for _ in range(repeat_num):
            layers.append(ResidualBlock(curr_dim, curr_dim))
        for _ in range(2):
            layers += [
                nn.ConvTranspose2d(curr_dim, curr_dim // 2, kernel_size=4, stride=2, padding=1, bias=False),
                nn.InstanceNorm2d(curr_dim // 2, affine=True),
                nn.ReLU(inplace=True),
            ]
            curr_dim = curr_dim // 2
        self.main = nn.Sequential(*layers)
        self.branch_1 = _head(curr_dim)
        self.branch_2 = _head(curr_dim)

    def forward(self, x, y):
        out = self.main(torch.cat((self.Branch_0(x), self.Branch_1(y)), dim=1))
        return self.branch_1(out), self.branch_2(out)


class Discriminator(nn.Module):
    """70x70 PatchGAN with the custom spectral norm on every conv; forward returns the squeezed score map."""

    def __init__(self, image_size: int = 128, conv_dim: int = 64, repeat_num: int = 3, norm: str = "SN"):
        super().__init__()
        sn = spectral_norm if norm == "SN" else (lambda m: m)
        layers = [sn(nn.Conv2d(3, conv_dim, kernel_size=4, stride=2, padding=1)), nn.LeakyReLU(0.01, inplace=True)]
        curr_dim = conv_dim
        for _ in range(1, repeat_num):
            layers += [
                sn(nn.Conv2d(curr_dim, curr_dim * 2, kernel_size=4, stride=2, padding=1)),
                nn.LeakyReLU(0.01, inplace=True),
            ]
            curr_dim = curr_dim * 2
        layers += [
            sn(nn.Conv2d(curr_dim, curr_dim * 2, kernel_size=4, stride=1, padding=1)),
            nn.LeakyReLU(0.01, inplace=True),
        ]
        curr_dim = curr_dim * 2
        self.main = nn.Sequential(*layers)
        self.conv1 = sn(nn.Conv2d(curr_dim, 1, kernel_size=4, stride=1, padding=1, bias=False))

    def forward(self, x):
        return self.conv1(self.main(x)).squeeze()
