"""PyTorch reference modules of AesGAN (the original is TF1: AliceQLin/AesGAN), for parity tests and export.

The original ships no PyTorch code, so these modules define facejax's documented layout for it: module names are
the original's TF variable scopes (``e_c1``, ``re_3.conv2``, ``gen_deconv1``, ``dis_conv_2_4``, ``dis_fully3``,
``g_r7_c1``, ``bn_decon3`` ...), tensors in PyTorch's conventions:

  conv ``w`` [kh, kw, in, out]             -> ``<scope>.weight`` [out, in, kh, kw]; ``biases`` -> ``.bias``
  conv2d_transpose ``w`` [kh, kw, out, in] -> ``<scope>.weight`` [in, out, kh, kw] (ConvTranspose2d)
  fully_connect ``Matrix`` [in, out]       -> ``<scope>.weight`` [out, in]; ``bias``
  instance norm ``scale`` / ``offset``     -> ``.weight`` / ``.bias``
  slim batch norm gamma/beta/moving_*      -> BatchNorm2d ``weight``/``bias``/``running_mean``/``running_var``
  spectral norm                            -> ``weight_bar`` (the unnormalised weight), ``weight_u`` [out],
                                              ``weight_v`` [in * kh * kw] (power-iteration vectors), after ``bias``

TF semantics kept: SAME padding (explicit ``F.pad``, the smaller half before), ``conv2d_transpose`` SAME with 2x
output (ConvTranspose2d with padding 0, cropped), instance norm eps 1e-5 over H, W, LeakyReLU 0.2, spectral norm
with one power iteration per forward (x / (||x|| + 1e-12)) that the gradient flows through (TF's ops.spectral_norm
has no stop_gradient; ``Discriminator(grad_through_iteration=False)``: u, v constants), the discriminator's dense
layers reading the features flattened in TF's (h, w, c) order, slim BatchNorm eps 1e-3. Inputs and outputs are NCHW
in [-1, 1].
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn import Parameter


def same_pads(n: int, k: int, s: int):
    out = -(-n // s)
    total = max((out - 1) * s + k - n, 0)
    return total // 2, total - total // 2


def pad_same(x, k: int, s: int):
    (t, b), (l, r) = same_pads(x.shape[2], k, s), same_pads(x.shape[3], k, s)
    return F.pad(x, (l, r, t, b))


class SameConv2d(nn.Conv2d):
    def __init__(self, cin, cout, k, s=1, bias=True):
        super().__init__(cin, cout, k, s, 0, bias=bias)

    def forward(self, x):
        return super().forward(pad_same(x, self.kernel_size[0], self.stride[0]))


class SameDeconv(nn.ConvTranspose2d):
    """tf.nn.conv2d_transpose(SAME, stride 2, output 2n)."""

    def __init__(self, cin, cout, k=5):
        super().__init__(cin, cout, k, 2, 0)

    def forward(self, x):
        h, w = x.shape[2], x.shape[3]
        bh, bw = same_pads(2 * h, self.kernel_size[0], 2)[0], same_pads(2 * w, self.kernel_size[0], 2)[0]
        return super().forward(x)[:, :, bh : bh + 2 * h, bw : bw + 2 * w]


class InstanceNorm(nn.Module):
    def __init__(self, n):
        super().__init__()
        self.weight = Parameter(torch.ones(n))
        self.bias = Parameter(torch.zeros(n))

    def forward(self, x):
        mean = x.mean(dim=(2, 3), keepdim=True)
        var = ((x - mean) ** 2).mean(dim=(2, 3), keepdim=True)
        return (x - mean) / torch.sqrt(var + 1e-5) * self.weight[None, :, None, None] + self.bias[None, :, None, None]


def _l2n(v, eps=1e-12):
    return v / (v.norm() + eps)


class SpectralNorm:
    """Forward pre-hook: weight = weight_bar / sigma after one power iteration (TF ops.spectral_norm); with
    ``grad_through_iteration`` sigma is differentiated through the iteration, as TF does."""

    def __init__(self, grad_through_iteration: bool = True):
        self.grad_through_iteration = grad_through_iteration

    @staticmethod
    def apply(module, grad_through_iteration: bool = True):
        w = module.weight
        height = w.shape[0]
        width = w.view(height, -1).shape[1]
        module.register_parameter("weight_u", Parameter(_l2n(torch.randn(height)), requires_grad=False))
        module.register_parameter("weight_v", Parameter(_l2n(torch.randn(width)), requires_grad=False))
        module.register_parameter("weight_bar", Parameter(w.data))
        del module._parameters["weight"]
        module.weight = w.data.clone()
        module.register_forward_pre_hook(SpectralNorm(grad_through_iteration))
        return module

    def __call__(self, module, inputs):
        w = module.weight_bar
        w_mat = w.view(w.shape[0], -1)
        if self.grad_through_iteration:
            v = _l2n(torch.mv(w_mat.t(), module.weight_u.detach()))
            u = _l2n(torch.mv(w_mat, v))
            module.weight_v.data = v.detach().clone()
            module.weight_u.data = u.detach().clone()
            sigma = u.dot(w_mat.mv(v))
        else:
            with torch.no_grad():
                module.weight_v.data = _l2n(torch.mv(w_mat.t(), module.weight_u.data))
                module.weight_u.data = _l2n(torch.mv(w_mat, module.weight_v.data))
            sigma = module.weight_u.dot(w_mat.mv(module.weight_v))
        module.weight = w / sigma


class Residual(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.conv1, self.in1 = SameConv2d(dim, dim, 3), InstanceNorm(dim)
        self.conv2, self.in2 = SameConv2d(dim, dim, 3), InstanceNorm(dim)

    def forward(self, x):
        return F.relu(x + self.in2(self.conv2(F.relu(self.in1(self.conv1(x))))))


class Generator(nn.Module):
    """encode_decode: forward(x_masked, inv_mask, ref, ref_mask) -> tanh image."""

    def __init__(self, dim: int = 64, n_res: int = 6):
        super().__init__()
        self.n_res = n_res
        self.e_c1, self.e_in1 = SameConv2d(12, dim, 7), InstanceNorm(dim)
        self.e_c2, self.e_in2 = SameConv2d(dim, 2 * dim, 4, 2), InstanceNorm(2 * dim)
        self.e_c3, self.e_in3 = SameConv2d(2 * dim, 4 * dim, 4, 2), InstanceNorm(4 * dim)
        for i in range(n_res):
            setattr(self, f"re_{i + 1}", Residual(4 * dim))
        self.gen_deconv1, self.gen_in = SameDeconv(4 * dim, 2 * dim), InstanceNorm(2 * dim)
        self.g_deconv_1_1, self.gen_in_1_1 = SameDeconv(2 * dim, dim // 2), InstanceNorm(dim // 2)
        self.gen_conv_1_2 = SameConv2d(dim // 2 + 12, 3, 7)

    def forward(self, x_masked, inv_mask, ref, ref_mask):
        x = torch.cat([x_masked, inv_mask, ref, ref_mask], 1)
        h = F.relu(self.e_in1(self.e_c1(x)))
        h = F.relu(self.e_in2(self.e_c2(h)))
        h = F.relu(self.e_in3(self.e_c3(h)))
        for i in range(self.n_res):
            h = getattr(self, f"re_{i + 1}")(h)
        h = F.relu(self.gen_in(self.gen_deconv1(h)))
        h = F.relu(self.gen_in_1_1(self.g_deconv_1_1(h)))
        return torch.tanh(self.gen_conv_1_2(torch.cat([h, x], 1)))


class Discriminator(nn.Module):
    """discriminate: forward(image, ref, local) -> (B,) logits."""

    def __init__(self, img_size: int = 256, dim: int = 64, grad_through_iteration: bool = True):
        super().__init__()
        widths = [min(dim * 2 ** (i + 1), 8 * dim) for i in range(5)]
        flat = (img_size // 32) ** 2 * widths[-1]
        sn = lambda m: SpectralNorm.apply(m, grad_through_iteration)  # noqa: E731
        cin = 6
        for i, w in enumerate(widths):
            setattr(self, f"dis_conv_{i}", sn(SameConv2d(cin, w, 5, 2)))
            cin = w
        self.dis_fully1 = sn(nn.Linear(flat, widths[-1]))
        cin = 3
        for i, w in enumerate(widths):
            setattr(self, f"dis_conv_2_{i}", sn(SameConv2d(cin, w, 5, 2)))
            cin = w
        self.dis_fully2 = sn(nn.Linear(flat, widths[-1]))
        self.dis_fully3 = sn(nn.Linear(2 * widths[-1], 1))

    def _branch(self, prefix, x, fc):
        for i in range(5):
            x = F.leaky_relu(getattr(self, f"{prefix}{i}")(x), 0.2)
        return fc(x.permute(0, 2, 3, 1).flatten(1))  # TF's NHWC flatten order

    def forward(self, image, ref, local):
        g = self._branch("dis_conv_", torch.cat([image, ref], 1), self.dis_fully1)
        loc = self._branch("dis_conv_2_", local, self.dis_fully2)
        return self.dis_fully3(torch.cat([g, loc], 1))[:, 0]


class EyeNet(nn.Module):
    """eyenet.conv_net (g_*) plus facejax's scoring head (s_*) and reconstruction branch (r_*)."""

    def __init__(self, dim: int = 64, head_dim: int = 1024):
        super().__init__()
        self.g_e0_c, self.g_e0_bn = SameConv2d(3, dim, 7, bias=False), InstanceNorm(dim)
        self.g_e1_c, self.g_e1_bn = SameConv2d(dim, 2 * dim, 3, 2, bias=False), InstanceNorm(2 * dim)
        self.g_e2_c, self.g_e2_bn = SameConv2d(2 * dim, 4 * dim, 3, 2, bias=False), InstanceNorm(4 * dim)
        d = 4 * dim
        for k in range(1, 10):
            setattr(self, f"g_r{k}_c0", SameConv2d(d, d, 3, bias=False))
            setattr(self, f"g_r{k}_bn0", InstanceNorm(d))
            setattr(self, f"g_r{k}_c1", SameConv2d(d, d, 3, bias=False))
            setattr(self, f"g_r{k}_bn1", InstanceNorm(d))
        self.s_fc1, self.s_fc2 = nn.Linear(d, head_dim), nn.Linear(head_dim, 2)
        self.r_d1, self.r_in1 = nn.ConvTranspose2d(d, 2 * dim, 3, 2, 1, 1), InstanceNorm(2 * dim)
        self.r_d2, self.r_in2 = nn.ConvTranspose2d(2 * dim, dim, 3, 2, 1, 1), InstanceNorm(dim)
        self.r_c3 = SameConv2d(dim, 3, 7)

    def features(self, x):
        h = F.relu(self.g_e0_bn(self.g_e0_c(x)))
        h = F.relu(self.g_e1_bn(self.g_e1_c(h)))
        h = F.relu(self.g_e2_bn(self.g_e2_c(h)))
        for k in range(1, 10):
            r = F.relu(getattr(self, f"g_r{k}_bn0")(getattr(self, f"g_r{k}_c0")(h)))
            h = F.relu(h + getattr(self, f"g_r{k}_bn1")(getattr(self, f"g_r{k}_c1")(r)))
        return h

    def forward(self, x):
        """(logits (B, 2), reconstruction) in eval mode (no dropout)."""
        f = self.features(x)
        logits = self.s_fc2(F.relu(self.s_fc1(f.mean(dim=(2, 3)))))
        h = F.relu(self.r_in1(self.r_d1(f)))
        h = F.relu(self.r_in2(self.r_d2(h)))
        return logits, torch.tanh(self.r_c3(h))


_ENC = (
    ("conv1", "bn_conv1", 7, 1, False),
    ("conv2", "bn_conv2", 3, 1, True),
    ("conv3", "bn_conv3", 3, 2, False),
    ("conv4", "bn_conv4", 3, 2, True),
    ("conv5", "bn_conv5", 3, 4, False),
    ("conv6", "bn_conv6", 3, 4, False),
    ("conv7", "bn_conv7", 3, 4, True),
    ("conv8", "bn_conv8", 3, 8, False),
    ("conv9", "bn_conv9", 3, 8, False),
    ("conv10", "bn_conv10", 3, 8, True),
    ("conv11", "bn_conv11", 3, 8, False),
    ("conv12", "bn_conv12", 3, 8, False),
    ("conv13", "bn_conv13", 3, 8, True),
    ("conv14", "bn_conv14", 3, 64, False),
    ("conv15", "bn_deconv6", 1, 8, False),
)
_DEC = (
    ("deconv5", "bn_deconv5", 8.0),
    ("deconv4", "bn_deconv4", 4.0),
    ("deconv3", "bn_decon3", 2.0),
    ("deconv2", "bn_deconv2", 1.0),
    ("deconv1", "bn_deconv1", 0.5),
)


class ParsingNet(nn.Module):
    """model_contour.build_model; train() mode = the original's is_training=True (batch statistics)."""

    def __init__(self, width: int = 64, num_classes: int = 11):
        super().__init__()
        cin = 3
        for name, bn, k, mult, _ in _ENC:
            setattr(self, name, SameConv2d(cin, mult * width, k, bias=False))
            setattr(self, bn, nn.BatchNorm2d(mult * width, eps=1e-3, momentum=1e-3))
            cin = mult * width
        for name, bn, mult in _DEC:
            out = max(int(mult * width), 1)
            setattr(self, name, SameConv2d(cin, out, 5, bias=False))
            setattr(self, bn, nn.BatchNorm2d(out, eps=1e-3, momentum=1e-3))
            cin = out
        self.deconv0 = SameConv2d(cin, num_classes, 5, bias=False)
        self.pool = nn.MaxPool2d(2, 2, return_indices=True)
        self.unpool = nn.MaxUnpool2d(2, 2)

    def forward(self, x):
        idx = []
        for name, bn, _, _, pool in _ENC:
            x = F.relu(getattr(self, bn)(getattr(self, name)(x)))
            if pool:
                x, i = self.pool(x)
                idx.append(i)
        for (name, bn, _), i in zip(_DEC, reversed(idx)):
            x = F.relu(getattr(self, bn)(getattr(self, name)(self.unpool(x, i))))
        return self.deconv0(x)
