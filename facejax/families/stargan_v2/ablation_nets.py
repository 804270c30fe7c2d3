"""Networks of the StarGAN v2 paper's Table 1 rows A and B: StarGAN v1's generator and its ACGAN discriminator.

Layer for layer as StarGAN v1 (Choi et al., CVPR 2018; shared/reference/stargan_v2.md section 5.2). Attribute
names and ``nn.Sequential`` indices follow that code (``main.<i>``, ``conv1``, ``conv2``; parameter-free
ReLU / LeakyReLU / Tanh keep their index), so a parameter path maps mechanically to a PyTorch key. Images are
NHWC in [-1, 1]; ``dtype`` is the compute dtype, parameters are float32 and outputs float32.

At conv_dim 64 / 6 residual blocks / 5 domains the generator has 8,430,528 parameters, and the discriminator
44,762,048 at 128 px, as StarGAN v1's.

Rows C and D need no new modules: C is StarGAN v2's Generator with ``style_dim = num_domains`` fed the one-hot
target label, D is the same Generator with ``style_dim = num_domains + latent_dim`` and a StyleEncoder with one
head (``num_domains=1``, ``style_dim=latent_dim``) predicting z (see ``losses.LabelStyle`` / ``LatentStyle``).

Design decisions the reference marks "inferred" or leaves open:

- ACGAN depth at other sizes. StarGAN v1 uses six 4x4 stride-2 convs at 128 px (a 2x2 map); here the depth is
  ``min(6, log2(img_size) - 1)``: six at 128 and 256 px (v1's own 256-px setting keeps six, a 4x4 map), fewer
  below 128 px so the map never shrinks under 2x2 (32 px: four convs). ``model.v1_repeat_num`` is the
  generator's residual-block count only; the class head's kernel is ``img_size / 2**depth``.
- Domain classification uses softmax cross-entropy over the K domains (v1's RaFD mode: domains are exclusive),
  not v1's per-attribute BCE (its CelebA mode).
- Initialisation: StarGAN v1 never re-initialises its modules, so PyTorch's defaults apply: conv and
  transposed-conv weights and biases U(-1/sqrt(fan_in), 1/sqrt(fan_in)), where PyTorch's fan_in of a transposed
  conv is ``out_channels * kh * kw``; instance-norm affine weight 1, bias 0.
- Instance norm: v1 builds ``InstanceNorm2d(track_running_stats=True)``. Its running buffers only matter in
  ``eval()`` mode; this port always normalises with the instance's own statistics (what v1 training does) and
  keeps no buffers (the state holds parameters only).
- The multi-task D (row B) under WGAN-GP: the critic value is the output of the domain selected by the label
  (``y_org`` for real, ``y_trg`` for fake images); the gradient penalty on real/fake interpolates differentiates
  the ``y_org`` output (the real end's domain, as R1 does for v2). See ``losses.d_wgan_gp``.
- Row C ("tuning"): AdaIN is fed the one-hot target label directly as the style vector, so each AdaIN's own
  ``fc`` is the "linear layer" on the label; the adversarial loss switches to the non-saturating one with R1
  (the reference marks both as inferred). The cycle goes back with the source's one-hot label.
- Row D (latent code): z is injected without a mapping network and is not domain-specific: the style vector
  is ``[one_hot(y_trg), z]``. The style encoder (one head shared by all domains) predicts z; its prediction
  replaces z for reference-guided styles and for the cycle, which goes back with ``[one_hot(y_org), E(x_src)]``
  (the counterpart of v2's ``E(x_src, y_org)``). The latent reconstruction ``mean |E(G(x, s)) - z|`` has weight
  lambda_sty; the diversity term is computed with weight lambda_ds = 0 (as in row E).
- Label rows (A-C) use ``y_ref`` (the reference batch's label) as the target domain, like StarGAN v2, where v1
  permutes the source labels; ``y_trg`` may equal ``y_org`` in both.
- A and B drop StarGAN v2's weight decay (v1's Adam has none) and use ``lambda_cyc = 10`` (v1's lambda_rec);
  C keeps v2's settings (``lambda_cyc = 1``, weight decay 1e-4, betas (0, 0.99), n_critic 1). v1's batch of
  16 and its linear learning-rate decay are not reproduced: every row trains with the preset's batch size and
  a constant learning rate, as StarGAN v2 does.
- Every row keeps an EMA (0.999) of its generator-side nets for sampling, which v1 does not have; the
  trained (non-EMA) parameters are unaffected.
- On iterations where the generator is not updated (n_critic > 1), its loss metrics read 0.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from flax import nnx

from facejax.nn.blocks import ConvINResidualBlock, Tanh
from facejax.nn.blocks import run_layers as _run
from facejax.nn.layers import Conv2d, Dtype, InstanceNorm, LeakyReLU, ReLU

ACGAN_MAX_DEPTH = 6  # StarGAN v1's d_repeat_num


def _uniform(bound: float):
    def init(key, shape, dtype=jnp.float32):
        return jax.random.uniform(key, shape, dtype, -bound, bound)

    return init


def _conv(cin, cout, k, stride, pad, bias, kw):
    """Conv2d with PyTorch's default init: weight and bias U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
    init = _uniform(1.0 / math.sqrt(cin * k * k))
    return Conv2d(cin, cout, k, stride, pad, use_bias=bias, kernel_init=init, bias_init=init, **kw)


class ConvTranspose2d(nnx.Module):
    """PyTorch ``ConvTranspose2d(in, out, k, stride, padding, bias=False)`` on NHWC input.

    ``kernel`` has shape (k, k, in, out) and is PyTorch's weight (in, out, k, k) permuted (2, 3, 0, 1). The
    forward is the equivalent convolution of the stride-dilated input with the spatially flipped kernel and
    padding ``k - 1 - padding``; output size ``(H - 1) * stride - 2 * padding + k``.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        kernel_size: int,
        stride: int,
        padding: int,
        *,
        dtype: Dtype = jnp.float32,
        param_dtype: Dtype = jnp.float32,
        rngs: nnx.Rngs,
    ):
        self.stride, self.padding, self.kernel_size, self.dtype = stride, padding, kernel_size, dtype
        init = _uniform(1.0 / math.sqrt(out_features * kernel_size**2))  # PyTorch's fan_in of a transposed conv
        self.kernel = nnx.Param(init(rngs.params(), (kernel_size, kernel_size, in_features, out_features), param_dtype))

    def __call__(self, x: jax.Array) -> jax.Array:
        pad = self.kernel_size - 1 - self.padding
        return jax.lax.conv_general_dilated(
            x.astype(self.dtype),
            jnp.flip(self.kernel[...], (0, 1)).astype(self.dtype),
            window_strides=(1, 1),
            padding=((pad, pad), (pad, pad)),
            lhs_dilation=(self.stride, self.stride),
            dimension_numbers=("NHWC", "HWIO", "NHWC"),
        )


class ResidualBlock(ConvINResidualBlock):
    """``x + main(x)``, main = Conv3x3 -> IN -> ReLU -> Conv3x3 -> IN (no conv biases, PyTorch's default init)."""

    def __init__(self, dim: int, **kw):
        super().__init__(dim, _uniform(1.0 / math.sqrt(dim * 9)), **kw)


class GeneratorV1(nnx.Module):
    """StarGAN v1's generator: the one-hot target label tiled and concatenated to the image (3 + K channels),
    Conv7x7 -> 2 stride-2 down convs -> ``repeat_num`` residual blocks -> 2 stride-2 transposed convs ->
    Conv7x7 -> tanh; instance norm + ReLU after every conv but the last; no conv biases.

    Called like StarGAN v2's generator, ``G(x, s, masks)``, with ``s`` the (B, K) one-hot label; masks are
    ignored. ``img_size`` must be divisible by 4.
    """

    def __init__(
        self,
        num_domains: int,
        conv_dim: int = 64,
        repeat_num: int = 6,
        *,
        dtype: Dtype = jnp.float32,
        param_dtype: Dtype = jnp.float32,
        rngs: nnx.Rngs,
    ):
        kw = dict(dtype=dtype, param_dtype=param_dtype, rngs=rngs)
        self.num_domains = num_domains

        def norm_relu(dim):
            return [InstanceNorm(dim, affine=True, **kw), ReLU()]

        layers = [_conv(3 + num_domains, conv_dim, 7, 1, 3, False, kw), *norm_relu(conv_dim)]
        dim = conv_dim
        for _ in range(2):
            layers += [_conv(dim, dim * 2, 4, 2, 1, False, kw), *norm_relu(dim * 2)]
            dim *= 2
        layers += [ResidualBlock(dim, **kw) for _ in range(repeat_num)]
        for _ in range(2):
            layers += [ConvTranspose2d(dim, dim // 2, 4, 2, 1, **kw), *norm_relu(dim // 2)]
            dim //= 2
        layers += [_conv(dim, 3, 7, 1, 3, False, kw), Tanh()]
        self.main = nnx.List(layers)

    def __call__(self, x: jax.Array, s: jax.Array, masks=None) -> jax.Array:
        b, h, w, _ = x.shape
        label = jnp.broadcast_to(s.astype(x.dtype)[:, None, None, :], (b, h, w, s.shape[-1]))
        return _run(self.main, jnp.concatenate([x, label], axis=-1)).astype(jnp.float32)


def acgan_depth(img_size: int) -> int:
    """Number of stride-2 convs of the ACGAN discriminator: v1's six, fewer below 128 px (map >= 2x2)."""
    if img_size < 4 or img_size & (img_size - 1):
        raise ValueError(f"ACGANDiscriminator: img_size must be a power of two >= 4, got {img_size}")
    return min(ACGAN_MAX_DEPTH, int(math.log2(img_size)) - 1)


class ACGANDiscriminator(nnx.Module):
    """StarGAN v1's discriminator: ``main`` = 4x4 stride-2 convs (with bias) + LeakyReLU(0.01), widths
    ``conv_dim * 2**i``; ``conv1`` a 3x3 real/fake (PatchGAN) head, ``conv2`` a class head whose kernel spans the
    remaining map (both without bias).

    ``D(x, y)`` returns ``(patch logits (B, h, w), domain logits (B, K))``; ``y`` is unused (one critic for all
    domains), it is there so that every discriminator is called the same way.
    """

    def __init__(
        self,
        img_size: int = 128,
        num_domains: int = 5,
        conv_dim: int = 64,
        *,
        dtype: Dtype = jnp.float32,
        param_dtype: Dtype = jnp.float32,
        rngs: nnx.Rngs,
    ):
        kw = dict(dtype=dtype, param_dtype=param_dtype, rngs=rngs)
        depth = acgan_depth(img_size)
        layers, dim_in, dim = [], 3, conv_dim
        for _ in range(depth):
            layers += [_conv(dim_in, dim, 4, 2, 1, True, kw), LeakyReLU(0.01)]
            dim_in, dim = dim, dim * 2
        self.main = nnx.List(layers)
        self.conv1 = _conv(dim_in, 1, 3, 1, 1, False, kw)
        self.conv2 = _conv(dim_in, num_domains, img_size // 2**depth, 1, 0, False, kw)

    def __call__(self, x: jax.Array, y: jax.Array | None = None) -> tuple[jax.Array, jax.Array]:
        h = _run(self.main, x)
        out_src = self.conv1(h)[..., 0].astype(jnp.float32)
        out_cls = self.conv2(h).reshape(h.shape[0], -1).astype(jnp.float32)
        return out_src, out_cls
