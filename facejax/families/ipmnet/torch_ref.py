"""PyTorch reference of the IPM-Net networks (huangzhikun1995/IPM-Net ``networks.py`` / ``resnet.py``), for parity
and export tests.

Written from the facts in ``reference/makeup.md`` section 2.3-2.4: MUNIT-style module classes with the original's
attribute names and ``Sequential`` indices, hence its ``state_dict`` keys (100 generator tensors at the original's
size, the AdaIN layers' dummy ``running_mean`` / ``running_var`` buffers and the unused smoothing filter ``sf``
included; ``cnns.{s}.{i}.conv.*`` and ``cnns.{s}.{n}.*`` for each discriminator).
``AdaINGen.encode(images, mask, texture, u=None)``: u None draws ``random.random()`` as the original does; tests
pass it. Also the trainer's loss pieces (``MsImageDis.calc_dis_loss`` / ``calc_gen_loss``) and the Caffe-style
ResNet-50 (``fc`` omitted: IPM-Net never uses it).
"""

from __future__ import annotations

import math
import random

import torch
import torch.nn.functional as F
from torch import nn


class LayerNorm(nn.Module):
    def __init__(self, num_features, eps=1e-5, affine=True):
        super().__init__()
        self.num_features, self.eps, self.affine = num_features, eps, affine
        if affine:
            self.gamma = nn.Parameter(torch.Tensor(num_features).uniform_())
            self.beta = nn.Parameter(torch.zeros(num_features))

    def forward(self, x):
        shape = [-1] + [1] * (x.dim() - 1)
        flat = x.reshape(x.size(0), -1)
        mean, std = flat.mean(1).view(*shape), flat.std(1).view(*shape)
        x = (x - mean) / (std + self.eps)
        if self.affine:
            shape = [1, -1] + [1] * (x.dim() - 2)
            x = x * self.gamma.view(*shape) + self.beta.view(*shape)
        return x


class AdaptiveInstanceNorm2d(nn.Module):
    def __init__(self, num_features, eps=1e-5, momentum=0.1):
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.weight = None
        self.bias = None
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))

    def forward(self, x):
        b, c = x.size(0), x.size(1)
        rm, rv = self.running_mean.repeat(b), self.running_var.repeat(b)
        out = F.batch_norm(
            x.contiguous().view(1, b * c, *x.size()[2:]), rm, rv, self.weight, self.bias, True, self.momentum, self.eps
        )
        return out.view(b, c, *x.size()[2:])


class Conv2dBlock(nn.Module):
    def __init__(
        self, input_dim, output_dim, kernel_size, stride, padding=0, norm="none", activation="relu", pad_type="zero"
    ):
        super().__init__()
        self.pad = {"reflect": nn.ReflectionPad2d, "replicate": nn.ReplicationPad2d, "zero": nn.ZeroPad2d}[pad_type](
            padding
        )
        if norm == "in":
            self.norm = nn.InstanceNorm2d(output_dim)
        elif norm == "ln":
            self.norm = LayerNorm(output_dim)
        elif norm == "adain":
            self.norm = AdaptiveInstanceNorm2d(output_dim)
        else:
            self.norm = None
        self.activation = {
            "relu": nn.ReLU(inplace=True),
            "lrelu": nn.LeakyReLU(0.2, inplace=True),
            "tanh": nn.Tanh(),
            "none": None,
        }[activation]
        self.conv = nn.Conv2d(input_dim, output_dim, kernel_size, stride, bias=True)

    def forward(self, x):
        x = self.conv(self.pad(x))
        if self.norm is not None:
            x = self.norm(x)
        if self.activation is not None:
            x = self.activation(x)
        return x


class ResBlock(nn.Module):
    def __init__(self, dim, norm="in", activation="relu", pad_type="zero"):
        super().__init__()
        self.model = nn.Sequential(
            Conv2dBlock(dim, dim, 3, 1, 1, norm, activation, pad_type),
            Conv2dBlock(dim, dim, 3, 1, 1, norm, "none", pad_type),
        )

    def forward(self, x):
        return self.model(x) + x


class ResBlocks(nn.Module):
    def __init__(self, num_blocks, dim, norm="in", activation="relu", pad_type="zero"):
        super().__init__()
        self.model = nn.Sequential(*[ResBlock(dim, norm, activation, pad_type) for _ in range(num_blocks)])

    def forward(self, x):
        return self.model(x)


class StyleEncoder(nn.Module):
    def __init__(self, n_downsample, input_dim, dim, style_dim, norm, activ, pad_type):
        super().__init__()
        layers = [Conv2dBlock(input_dim, dim, 7, 1, 3, norm, activ, pad_type)]
        for _ in range(2):
            layers.append(Conv2dBlock(dim, 2 * dim, 4, 2, 1, norm, activ, pad_type))
            dim *= 2
        for _ in range(n_downsample - 2):
            layers.append(Conv2dBlock(dim, dim, 4, 2, 1, norm, activ, pad_type))
        layers += [nn.AdaptiveAvgPool2d(1), nn.Conv2d(dim, style_dim, 1, 1, 0)]
        self.model = nn.Sequential(*layers)
        self.output_dim = dim

    def forward(self, x):
        return self.model(x)


class ContentEncoder(nn.Module):
    def __init__(self, n_downsample, n_res, input_dim, dim, norm, activ, pad_type):
        super().__init__()
        layers = [Conv2dBlock(input_dim, dim, 7, 1, 3, norm, activ, pad_type)]
        for _ in range(n_downsample):
            layers.append(Conv2dBlock(dim, 2 * dim, 4, 2, 1, norm, activ, pad_type))
            dim *= 2
        layers.append(ResBlocks(n_res, dim, norm, activ, pad_type))
        self.model = nn.Sequential(*layers)
        self.output_dim = dim

    def forward(self, x):
        return self.model(x)


class Decoder(nn.Module):
    def __init__(self, n_upsample, n_res, dim, output_dim, res_norm="adain", activ="relu", pad_type="zero"):
        super().__init__()
        layers = [ResBlocks(n_res, dim, res_norm, activ, pad_type)]
        for _ in range(n_upsample):
            layers += [nn.Upsample(scale_factor=2), Conv2dBlock(dim, dim // 2, 5, 1, 2, "ln", activ, pad_type)]
            dim //= 2
        layers.append(Conv2dBlock(dim, output_dim, 7, 1, 3, "none", "none", pad_type))
        self.model = nn.Sequential(*layers)
        self.final_conv = nn.Sequential(nn.Conv2d(3, 3, 7, 1, padding=3))

    def forward(self, x, r_x):
        return self.final_conv(self.model(x) + r_x)


class LinearBlock(nn.Module):
    def __init__(self, input_dim, output_dim, norm="none", activation="relu"):
        super().__init__()
        self.fc = nn.Linear(input_dim, output_dim, bias=True)
        self.activation = nn.ReLU(inplace=True) if activation == "relu" else None

    def forward(self, x):
        x = self.fc(x)
        return self.activation(x) if self.activation is not None else x


class MLP(nn.Module):
    def __init__(self, input_dim, output_dim, dim, n_blk, norm="none", activ="relu"):
        super().__init__()
        layers = [LinearBlock(input_dim, dim, norm, activ)]
        layers += [LinearBlock(dim, dim, norm, activ) for _ in range(n_blk - 2)]
        layers.append(LinearBlock(dim, output_dim, "none", "none"))
        self.model = nn.Sequential(*layers)

    def forward(self, x):
        return self.model(x.view(x.size(0), -1))


class AdaINGen(nn.Module):
    """params: dim, style_dim, n_downsample, n_res, activ, pad_type, mlp_dim (configs/config.yaml 'gen')."""

    def __init__(self, input_dim, params):
        super().__init__()
        dim, style_dim = params["dim"], params["style_dim"]
        n_down, n_res, activ, pad = params["n_downsample"], params["n_res"], params["activ"], params["pad_type"]
        self.enc_style = StyleEncoder(4, input_dim, dim, style_dim, "none", activ, pad)
        self.enc_content = ContentEncoder(n_down, n_res, input_dim, dim, "in", activ, pad)
        self.dec = Decoder(n_down, n_res, self.enc_content.output_dim, input_dim, "adain", activ, pad)
        self.mlp = MLP(style_dim, self.get_num_adain_params(self.dec), params["mlp_dim"], 3, "none", activ)
        self.sf = ResBlocks(4, 3, "none", activ, pad)  # built, never called

    def encode(self, images, mask, texture, u=None):
        style = self.enc_style(images)
        mask = mask.clone()
        mask[mask == 0] = -1
        mask = (mask + 1) / 2
        u = random.random() if u is None else u
        r_x = mask * images - texture * 2 * (0.8 + 0.4 * u)
        return self.enc_content(r_x), style, r_x

    def decode(self, content, style, r_x):
        self.assign_adain_params(self.mlp(style), self.dec)
        return self.dec(content, r_x)

    def forward(self, images, mask, texture, u=None):
        c, s, r = self.encode(images, mask, texture, u)
        return self.decode(c, s, r)

    @staticmethod
    def assign_adain_params(adain_params, model):
        for m in model.modules():
            if m.__class__.__name__ == "AdaptiveInstanceNorm2d":
                mean = adain_params[:, : m.num_features]
                std = adain_params[:, m.num_features : 2 * m.num_features]
                m.bias = mean.contiguous().view(-1)
                m.weight = std.contiguous().view(-1)
                if adain_params.size(1) > 2 * m.num_features:
                    adain_params = adain_params[:, 2 * m.num_features :]

    @staticmethod
    def get_num_adain_params(model):
        return sum(2 * m.num_features for m in model.modules() if m.__class__.__name__ == "AdaptiveInstanceNorm2d")


class MsImageDis(nn.Module):
    """params: n_layer, gan_type (lsgan), dim, norm (none), activ (lrelu), num_scales, pad_type."""

    def __init__(self, input_dim, params):
        super().__init__()
        self.n_layer, self.dim, self.num_scales = params["n_layer"], params["dim"], params["num_scales"]
        self.norm, self.activ, self.pad_type = params["norm"], params["activ"], params["pad_type"]
        self.input_dim = input_dim
        self.downsample = nn.AvgPool2d(3, stride=2, padding=[1, 1], count_include_pad=False)
        self.cnns = nn.ModuleList([self._make_net() for _ in range(self.num_scales)])

    def _make_net(self):
        dim = self.dim
        layers = [Conv2dBlock(self.input_dim, dim, 4, 2, 1, "none", self.activ, self.pad_type)]
        for _ in range(self.n_layer - 1):
            layers.append(Conv2dBlock(dim, dim * 2, 4, 2, 1, self.norm, self.activ, self.pad_type))
            dim *= 2
        layers.append(nn.Conv2d(dim, 1, 1, 1, 0))
        return nn.Sequential(*layers)

    def forward(self, x):
        outputs = []
        for model in self.cnns:
            outputs.append(model(x))
            x = self.downsample(x)
        return outputs

    def calc_dis_loss(self, input_fake, input_real):
        input_real = input_real.detach().requires_grad_()
        outs0, outs1 = self.forward(input_fake), self.forward(input_real)
        loss = 0
        for out0, out1 in zip(outs0, outs1):
            loss = loss + torch.mean(out0**2) + torch.mean((out1 - 1) ** 2)
            grad = torch.autograd.grad(out1.sum(), input_real, create_graph=True)[0]
            loss = loss + 0.01 * grad.pow(2).view(grad.size(0), -1).sum(1).mean()
        return loss

    def calc_gen_loss(self, input_fake):
        return sum(torch.mean((out - 1) ** 2) for out in self.forward(input_fake))


# ------------------------------------------------------------------------------------------------ identity net


def vgg_preprocess(batch):
    r, g, b = torch.chunk(batch, 3, dim=1)
    batch = (torch.cat((b, g, r), dim=1) + 1) * 255 * 0.5
    mean = torch.tensor([103.939, 116.779, 123.680], dtype=batch.dtype).view(1, 3, 1, 1)
    return batch - mean


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, kernel_size=1, stride=stride, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        residual = x if self.downsample is None else self.downsample(x)
        return self.relu(out + residual)


class ResNet(nn.Module):
    """Caffe-style ResNet (VGGFace2's), include_top=False; ``width`` 64 / layers (3, 4, 6, 3) = ResNet-50."""

    def __init__(self, layers=(3, 4, 6, 3), width=64):
        super().__init__()
        self.inplanes = width
        self.conv1 = nn.Conv2d(3, width, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=0, ceil_mode=True)
        for i, n in enumerate(layers):
            setattr(self, f"layer{i + 1}", self._make_layer(width * 2**i, n, 1 if i == 0 else 2))
        self.num_layers = len(layers)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                n = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
                m.weight.data.normal_(0, math.sqrt(2.0 / n))
            elif isinstance(m, nn.BatchNorm2d):
                m.weight.data.fill_(1)
                m.bias.data.zero_()

    def _make_layer(self, planes, blocks, stride):
        downsample = None
        if stride != 1 or self.inplanes != planes * 4:
            downsample = nn.Sequential(
                nn.Conv2d(self.inplanes, planes * 4, 1, stride=stride, bias=False), nn.BatchNorm2d(planes * 4)
            )
        layers = [Bottleneck(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * 4
        layers += [Bottleneck(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        for i in range(self.num_layers):
            x = getattr(self, f"layer{i + 1}")(x)
        k = min(7, x.shape[2], x.shape[3])
        return F.avg_pool2d(x, k, stride=1)
