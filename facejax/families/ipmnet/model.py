"""IPM-Net networks (Huang et al., IJCAI 2020) as huangzhikun1995/IPM-Net's ``networks.py`` codes them
(shared/reference/makeup.md section 2.3): the MUNIT-style ``AdaINGen`` with the residual r_x input and final
convolution, the multi-scale LSGAN discriminator ``MsImageDis``, and the Caffe-style ResNet-50 identity network.

Attribute names and ``nnx.List`` indices are the original's module names and ``Sequential`` indices, so the path
``('dec', 'model', 0, 'model', 1, 'model', 0, 'conv', 'kernel')`` is the PyTorch key
``dec.model.0.model.1.model.0.conv.weight``. Parameter-free layers (pooling, upsampling) hold their index.
Images are NHWC in [-1, 1]; masks and textures (B, H, W, 1) with mask 1 = keep (background / identity) and
0 = makeup area, texture in [0, 1].

Generator:
  encode(x, mask, texture, u) -> (content, style, r_x): style = enc_style(x) (B, style_dim);
      r_x = m * x - texture * 2 * (0.8 + 0.4 * u) with m = (where(mask == 0, -1, mask) + 1) / 2 (the original's
      no-op for binary masks), u (B,) in [0, 1] (the original draws one Python random.random() per call);
      content = enc_content(r_x).
  decode(content, style, r_x) = final_conv(dec_body(content; AdaIN params = mlp(style)) + r_x), unbounded.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from flax import nnx

from facejax.nn.layers import Conv2d, Dtype, Linear, instance_norm, upsample_nearest2

PAD_MODES = {"reflect": "reflect", "zero": "constant", "replicate": "edge"}


def _run(layers, x):
    for layer in layers:
        x = layer(x)
    return x


class LayerNorm(nnx.Module):
    """MUNIT's LayerNorm: per sample over (C, H, W), unbiased std, (x - mean) / (std + eps), then per-channel
    gamma / beta. gamma starts U(0, 1), beta 0 (the original's initialisation)."""

    def __init__(self, num_features: int, eps: float = 1e-5, *, param_dtype: Dtype = jnp.float32, rngs: nnx.Rngs):
        self.eps = eps
        self.gamma = nnx.Param(jax.random.uniform(rngs.params(), (num_features,), param_dtype))
        self.beta = nnx.Param(jnp.zeros((num_features,), param_dtype))

    def __call__(self, x):
        dtype = x.dtype
        x = x.astype(jnp.float32)
        n = math.prod(x.shape[1:])
        mean = jnp.mean(x, axis=(1, 2, 3), keepdims=True)
        std = jnp.sqrt(jnp.sum(jnp.square(x - mean), axis=(1, 2, 3), keepdims=True) / (n - 1))
        y = (x - mean) / (std + self.eps)
        return (y * self.gamma[...] + self.beta[...]).astype(dtype)


class AdaptiveInstanceNorm2d(nnx.Module):
    """Instance norm (biased variance, eps 1e-5) with per-example weight / bias given at call time (the original
    assigns them from the MLP before each decode). Holds no parameters; its PyTorch buffers running_mean /
    running_var (zeros / ones, never updated) are rebuilt by the exporter."""

    def __init__(self, num_features: int):
        self.num_features = num_features

    def __call__(self, x, weight, bias):
        y = instance_norm(x.astype(jnp.float32))
        return (y * weight[:, None, None, :] + bias[:, None, None, :]).astype(x.dtype)


class Conv2dBlock(nnx.Module):
    """MUNIT's Conv2dBlock: pad -> conv (bias) -> norm -> activation. norm: none | in (affine False) | ln |
    adain; activation: relu | lrelu (0.2) | tanh | none; pad_type: reflect | zero | replicate."""

    def __init__(
        self,
        cin: int,
        cout: int,
        k: int,
        s: int,
        p: int,
        norm: str = "none",
        activation: str = "relu",
        pad_type: str = "reflect",
        *,
        dtype: Dtype = jnp.float32,
        param_dtype: Dtype = jnp.float32,
        rngs: nnx.Rngs,
    ):
        self.pad, self.pad_mode = p, PAD_MODES[pad_type]
        self.norm_type, self.activation = norm, activation
        self.dtype = dtype
        if norm == "ln":
            self.norm = LayerNorm(cout, param_dtype=param_dtype, rngs=rngs)
        elif norm == "adain":
            self.norm = AdaptiveInstanceNorm2d(cout)
        else:
            self.norm = None
        self.conv = Conv2d(cin, cout, k, s, 0, dtype=dtype, param_dtype=param_dtype, rngs=rngs)

    def __call__(self, x, adain=None):
        p = self.pad
        if p:
            x = jnp.pad(x, ((0, 0), (p, p), (p, p), (0, 0)), mode=self.pad_mode)
        x = self.conv(x)
        if self.norm_type == "in":
            x = instance_norm(x)
        elif self.norm_type == "ln":
            x = self.norm(x)
        elif self.norm_type == "adain":
            x = self.norm(x, *adain)
        if self.activation == "relu":
            x = jax.nn.relu(x)
        elif self.activation == "lrelu":
            x = jax.nn.leaky_relu(x, 0.2)
        elif self.activation == "tanh":
            x = jnp.tanh(x)
        return x


class ResBlock(nnx.Module):
    """x + [CB(3x3, norm, act), CB(3x3, norm, none)](x)."""

    def __init__(self, dim: int, norm: str, activation: str = "relu", pad_type: str = "reflect", **kw):
        self.model = nnx.List(
            [
                Conv2dBlock(dim, dim, 3, 1, 1, norm, activation, pad_type, **kw),
                Conv2dBlock(dim, dim, 3, 1, 1, norm, "none", pad_type, **kw),
            ]
        )

    def __call__(self, x, adain=None):
        if adain is None:
            return x + self.model[1](self.model[0](x))
        return x + self.model[1](self.model[0](x, adain[0]), adain[1])


class ResBlocks(nnx.Module):
    def __init__(self, n: int, dim: int, norm: str, activation: str = "relu", pad_type: str = "reflect", **kw):
        self.model = nnx.List([ResBlock(dim, norm, activation, pad_type, **kw) for _ in range(n)])

    def __call__(self, x, adain=None):
        for i, block in enumerate(self.model):
            x = block(x, None if adain is None else adain[2 * i : 2 * i + 2])
        return x


class GlobalAvgPool(nnx.Module):
    def __call__(self, x):
        return jnp.mean(x.astype(jnp.float32), axis=(1, 2), keepdims=True).astype(x.dtype)


class Upsample(nnx.Module):
    def __call__(self, x):
        return upsample_nearest2(x)


class StyleEncoder(nnx.Module):
    """CB(3, dim, 7, 1, 3) ReLU, 2 x CB(4, 2, 1) doubling, n_downsample - 2 x CB(4, 2, 1), global average pool,
    Conv1x1(-> style_dim). No norm."""

    def __init__(self, n_downsample: int, dim: int, style_dim: int, activ: str, pad_type: str, **kw):
        layers = [Conv2dBlock(3, dim, 7, 1, 3, "none", activ, pad_type, **kw)]
        for _ in range(2):
            layers.append(Conv2dBlock(dim, 2 * dim, 4, 2, 1, "none", activ, pad_type, **kw))
            dim *= 2
        for _ in range(n_downsample - 2):
            layers.append(Conv2dBlock(dim, dim, 4, 2, 1, "none", activ, pad_type, **kw))
        layers += [GlobalAvgPool(), Conv2d(dim, style_dim, 1, 1, 0, **kw)]
        self.model = nnx.List(layers)

    def __call__(self, x):
        return _run(self.model, x)[:, 0, 0, :]


class ContentEncoder(nnx.Module):
    """CB(3, dim, 7, 1, 3, IN), n_downsample x CB(4, 2, 1, IN) doubling, ResBlocks(n_res, IN)."""

    def __init__(self, n_downsample: int, n_res: int, dim: int, activ: str, pad_type: str, **kw):
        layers = [Conv2dBlock(3, dim, 7, 1, 3, "in", activ, pad_type, **kw)]
        for _ in range(n_downsample):
            layers.append(Conv2dBlock(dim, 2 * dim, 4, 2, 1, "in", activ, pad_type, **kw))
            dim *= 2
        layers.append(ResBlocks(n_res, dim, "in", activ, pad_type, **kw))
        self.model = nnx.List(layers)
        self.output_dim = dim

    def __call__(self, x):
        return _run(self.model, x)


class Decoder(nnx.Module):
    """ResBlocks(n_res, AdaIN), n_upsample x [Upsample x2, CB(5, 1, 2, LN) halving], CB(7, 1, 3, none, none);
    then + r_x and final_conv = Conv2d(3, 3, 7, 1, zero padding 3)."""

    def __init__(self, n_upsample: int, n_res: int, dim: int, activ: str, pad_type: str, **kw):
        layers = [ResBlocks(n_res, dim, "adain", activ, pad_type, **kw)]
        for _ in range(n_upsample):
            layers += [Upsample(), Conv2dBlock(dim, dim // 2, 5, 1, 2, "ln", activ, pad_type, **kw)]
            dim //= 2
        layers.append(Conv2dBlock(dim, 3, 7, 1, 3, "none", "none", pad_type, **kw))
        self.model = nnx.List(layers)
        self.final_conv = nnx.List([Conv2d(3, 3, 7, 1, 3, **kw)])

    def __call__(self, content, adain, r_x):
        h = self.model[0](content, adain)
        h = _run(self.model[1:], h)
        return self.final_conv[0](h + r_x.astype(h.dtype))


class MLP(nnx.Module):
    """LinearBlock(in, dim) ReLU, n_blk - 2 x LinearBlock(dim, dim) ReLU, LinearBlock(dim, out) (no activation)."""

    def __init__(self, in_dim: int, out_dim: int, dim: int, n_blk: int = 3, **kw):
        dims = [in_dim] + [dim] * (n_blk - 1) + [out_dim]
        self.model = nnx.List([_LinearBlock(dims[i], dims[i + 1], **kw) for i in range(n_blk)])

    def __call__(self, x):
        for i, layer in enumerate(self.model):
            x = layer(x)
            if i < len(self.model) - 1:
                x = jax.nn.relu(x)
        return x


class _LinearBlock(nnx.Module):
    def __init__(self, cin: int, cout: int, **kw):
        self.fc = Linear(cin, cout, **kw)

    def __call__(self, x):
        return self.fc(x)


class Generator(nnx.Module):
    """``AdaINGen``: enc_style, enc_content, dec, mlp, and the smoothing filter ``sf`` (ResBlocks(4, 3 channels,
    no norm): built but never called, kept because the original's state_dict has it)."""

    def __init__(
        self,
        dim: int = 64,
        mlp_dim: int = 256,
        style_dim: int = 128,
        n_downsample: int = 2,
        n_res: int = 4,
        activ: str = "relu",
        pad_type: str = "reflect",
        *,
        dtype: Dtype = jnp.float32,
        param_dtype: Dtype = jnp.float32,
        rngs: nnx.Rngs,
    ):
        kw = dict(dtype=dtype, param_dtype=param_dtype, rngs=rngs)
        self.style_dim, self.n_res = style_dim, n_res
        self.enc_style = StyleEncoder(4, dim, style_dim, activ, pad_type, **kw)
        self.enc_content = ContentEncoder(n_downsample, n_res, dim, activ, pad_type, **kw)
        c = self.enc_content.output_dim
        self.content_dim = c
        self.dec = Decoder(n_downsample, n_res, c, activ, pad_type, **kw)
        self.mlp = MLP(style_dim, 2 * c * 2 * n_res, mlp_dim, 3, **kw)
        self.sf = ResBlocks(4, 3, "none", activ, pad_type, **kw)

    def encode(self, x, mask, texture, u):
        """(content, style (B, style_dim), r_x)."""
        style = self.enc_style(x).astype(jnp.float32)
        r_x = residual_input(x, mask, texture, u)
        return self.enc_content(r_x), style, r_x

    def adain_params(self, style):
        """[(weight, bias)] per AdaIN layer in dec.modules() order; each layer reads [mean -> bias, std ->
        weight] from consecutive slices of the MLP's output (the original's assign_adain_params)."""
        p = self.mlp(style).astype(jnp.float32)
        c = self.content_dim
        return [
            (p[:, (2 * i + 1) * c : (2 * i + 2) * c], p[:, 2 * i * c : (2 * i + 1) * c]) for i in range(2 * self.n_res)
        ]

    def decode(self, content, style, r_x):
        return self.dec(content, self.adain_params(style), r_x).astype(jnp.float32)

    def __call__(self, x, mask, texture, u, style=None):
        """decode(encode(x)) with x's own style code, or ``style`` when given."""
        c, s, r = self.encode(x, mask, texture, u)
        return self.decode(c, s if style is None else style, r)


def residual_input(x, mask, texture, u):
    """r_x = m * x - t * 2 * (0.8 + 0.4 * u); m = (where(mask == 0, -1, mask) + 1) / 2; u per example (B,)."""
    m = mask.astype(jnp.float32)
    m = (jnp.where(m == 0, -1.0, m) + 1.0) / 2.0
    scale = (2.0 * (0.8 + 0.4 * jnp.asarray(u, jnp.float32)))[:, None, None, None]
    return m * x.astype(jnp.float32) - texture.astype(jnp.float32) * scale


def avg_pool3_s2_p1(x):
    """PyTorch AvgPool2d(3, stride=2, padding=1, count_include_pad=False) on NHWC input."""
    pad = ((0, 0), (1, 1), (1, 1), (0, 0))
    window, strides = (1, 3, 3, 1), (1, 2, 2, 1)
    s = jax.lax.reduce_window(x, 0.0, jax.lax.add, window, strides, pad)
    ones = jnp.ones((1,) + x.shape[1:3] + (1,), x.dtype)
    n = jax.lax.reduce_window(ones, 0.0, jax.lax.add, window, strides, pad)
    return s / n


class Discriminator(nnx.Module):
    """``MsImageDis``: num_scales nets of [CB(3, dim, 4, 2, 1, lrelu), n_layer - 1 x CB(4, 2, 1) doubling,
    Conv1x1(-> 1)], the input average-pooled (3, s2, p1, count_include_pad=False) between scales.
    Returns the list of (B, h, w) score maps, finest first."""

    def __init__(
        self,
        dim: int = 64,
        n_layer: int = 4,
        num_scales: int = 3,
        activ: str = "lrelu",
        pad_type: str = "reflect",
        *,
        dtype: Dtype = jnp.float32,
        param_dtype: Dtype = jnp.float32,
        rngs: nnx.Rngs,
    ):
        kw = dict(dtype=dtype, param_dtype=param_dtype, rngs=rngs)

        def net():
            d = dim
            layers = [Conv2dBlock(3, d, 4, 2, 1, "none", activ, pad_type, **kw)]
            for _ in range(n_layer - 1):
                layers.append(Conv2dBlock(d, 2 * d, 4, 2, 1, "none", activ, pad_type, **kw))
                d *= 2
            layers.append(Conv2d(d, 1, 1, 1, 0, **kw))
            return nnx.List(layers)

        self.cnns = nnx.List([net() for _ in range(num_scales)])

    def __call__(self, x):
        outs = []
        for i, net in enumerate(self.cnns):
            outs.append(_run(net, x)[..., 0].astype(jnp.float32))
            if i < len(self.cnns) - 1:
                x = avg_pool3_s2_p1(x)
        return outs


def score_sizes(img_size: int, n_layer: int, num_scales: int) -> list[int]:
    """Sides of the discriminator's score maps (16, 8, 4 for 256 px); checks reflect padding stays valid."""
    out, s = [], img_size
    for _ in range(num_scales):
        h = s
        for _ in range(n_layer):
            if h < 2:  # reflect padding 1 needs a side of at least 2
                return out + [0]
            h = (h + 2 - 4) // 2 + 1
        out.append(h)
        s = (s + 2 - 3) // 2 + 1
    return out


# ------------------------------------------------------------------------------------------------ identity net

VGG_MEAN_BGR = (103.939, 116.779, 123.680)


def vgg_preprocess(x):
    """RGB [-1, 1] -> BGR [0, 255] minus the VGG means (MUNIT's vgg_preprocess)."""
    bgr = x[..., ::-1].astype(jnp.float32)
    return (bgr + 1.0) * 127.5 - jnp.asarray(VGG_MEAN_BGR, jnp.float32)


def _resnet_conv_init(key, shape, dtype=jnp.float32):
    """resnet.py's init: normal(0, sqrt(2 / n)), n = kh * kw * out_channels."""
    n = shape[0] * shape[1] * shape[3]
    return jax.random.normal(key, shape, dtype) * math.sqrt(2.0 / n)


class BatchNorm(nnx.Module):
    """BatchNorm2d (eps 1e-5): ``scale``/``bias`` (weight 1, bias 0 at init) and the running ``mean``/``var``
    (0 / 1), all frozen. train=True normalises with the batch statistics (biased variance) of each of ``groups``
    equal parts of the batch (one PyTorch forward each); train=False with the running statistics."""

    def __init__(self, n: int, *, rngs=None):
        self.scale = nnx.Param(jnp.ones((n,), jnp.float32))
        self.bias = nnx.Param(jnp.zeros((n,), jnp.float32))
        self.mean = nnx.Param(jnp.zeros((n,), jnp.float32))
        self.var = nnx.Param(jnp.ones((n,), jnp.float32))

    def __call__(self, x, train: bool, groups: int = 1):
        if train:
            b = x.shape[0]
            g = x.reshape((groups, b // groups) + x.shape[1:])
            mean = jnp.mean(g, axis=(1, 2, 3), keepdims=True)
            var = jnp.mean(jnp.square(g - mean), axis=(1, 2, 3), keepdims=True)
            y = ((g - mean) * jax.lax.rsqrt(var + 1e-5)).reshape(x.shape)
        else:
            y = (x - self.mean[...]) * jax.lax.rsqrt(self.var[...] + 1e-5)
        return y * self.scale[...] + self.bias[...]


class Bottleneck(nnx.Module):
    """Caffe-style bottleneck: the stride sits on the first 1x1 conv."""

    def __init__(self, inplanes: int, planes: int, stride: int, downsample: bool, *, rngs: nnx.Rngs):
        conv = dict(use_bias=False, kernel_init=_resnet_conv_init, rngs=rngs)
        self.conv1 = Conv2d(inplanes, planes, 1, stride, 0, **conv)
        self.bn1 = BatchNorm(planes)
        self.conv2 = Conv2d(planes, planes, 3, 1, 1, **conv)
        self.bn2 = BatchNorm(planes)
        self.conv3 = Conv2d(planes, planes * 4, 1, 1, 0, **conv)
        self.bn3 = BatchNorm(planes * 4)
        if downsample:
            self.downsample = nnx.List([Conv2d(inplanes, planes * 4, 1, stride, 0, **conv), BatchNorm(planes * 4)])
        else:
            self.downsample = None

    def __call__(self, x, train, groups):
        out = jax.nn.relu(self.bn1(self.conv1(x), train, groups))
        out = jax.nn.relu(self.bn2(self.conv2(out), train, groups))
        out = self.bn3(self.conv3(out), train, groups)
        sc = x if self.downsample is None else self.downsample[1](self.downsample[0](x), train, groups)
        return jax.nn.relu(out + sc)


class ResNet(nnx.Module):
    """resnet.py's ResNet (VGGFace2, Caffe style), without ``fc`` (IPM-Net never uses it): conv7x7/2, BN, ReLU,
    MaxPool(3, 2, ceil_mode), layer1..4, AvgPool(7, stride 1) (a smaller window when the map is smaller than 7,
    facejax's extension for images under 224 px). ``width`` 64 and ``layers`` (3, 4, 6, 3) are ResNet-50."""

    def __init__(self, layers=(3, 4, 6, 3), width: int = 64, *, rngs: nnx.Rngs):
        self.conv1 = Conv2d(3, width, 7, 2, 3, use_bias=False, kernel_init=_resnet_conv_init, rngs=rngs)
        self.bn1 = BatchNorm(width)
        inplanes = width
        for i, n in enumerate(layers):
            planes = width * 2**i
            blocks = []
            for j in range(n):
                stride = 2 if (i > 0 and j == 0) else 1
                blocks.append(
                    Bottleneck(inplanes, planes, stride, j == 0 and (stride != 1 or inplanes != planes * 4), rngs=rngs)
                )
                inplanes = planes * 4
            setattr(self, f"layer{i + 1}", nnx.List(blocks))
        self.num_layers = len(layers)

    def __call__(self, x, train: bool = False, groups: int = 1):
        """Features (B, h, w, C) of images in [-1, 1] (vgg_preprocess applied here)."""
        x = jax.nn.relu(self.bn1(self.conv1(vgg_preprocess(x)), train, groups))
        x = max_pool3_s2_ceil(x)
        for i in range(self.num_layers):
            for block in getattr(self, f"layer{i + 1}"):
                x = block(x, train, groups)
        k = min(7, x.shape[1], x.shape[2])
        return jax.lax.reduce_window(x, 0.0, jax.lax.add, (1, k, k, 1), (1, 1, 1, 1), "VALID") / (k * k)


def max_pool3_s2_ceil(x):
    """MaxPool2d(3, stride 2, padding 0, ceil_mode=True) on NHWC input."""

    def extra(n):
        out = -(-(n - 3) // 2) + 1
        if (out - 1) * 2 >= n:  # the last window must start inside the input
            out -= 1
        return (out - 1) * 2 + 3 - n

    pad = ((0, 0), (0, extra(x.shape[1])), (0, extra(x.shape[2])), (0, 0))
    return jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, 3, 3, 1), (1, 2, 2, 1), pad)
