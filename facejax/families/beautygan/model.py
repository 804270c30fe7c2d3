"""BeautyGAN networks (Li et al., ACM MM 2018) as wtjiang98/BeautyGAN_pytorch ``net.py`` builds them
(shared/reference/makeup.md section 3.2): ``Generator_branch`` and the spectrally normalised 70x70 PatchGAN
``Discriminator``.

Attribute names and ``nnx.List`` indices are the original's module names and ``Sequential`` indices, so the
parameter path ``('main', 3, 'main', 0, 'kernel')`` is the PyTorch key ``main.3.main.0.weight``. Layers without
parameters (ReLU, LeakyReLU, Tanh) hold their Sequential index. Images are NHWC in [-1, 1]; ``dtype`` is the
compute dtype, parameters are float32, outputs float32.

Generator(x, y) -> (fake_A, fake_B): x is the non-makeup face, y the makeup reference; fake_A is x wearing y's
makeup (head ``branch_1``), fake_B is y with its makeup removed (head ``branch_2``). Widths follow ``conv_dim``
(64 in the original) and ``repeat_num`` residual blocks (6); the image side must be a multiple of 4.

Discriminator(x) -> (B, h, w) patch scores (no sigmoid; LSGAN targets). ``conv_dim`` 64 and ``repeat_num`` 3
give the 70x70 PatchGAN: 30x30 scores for 256 px. Every conv is spectrally normalised with the original's custom
SpectralNorm (``norm="add"``: one power iteration on every forward, including the first); each call updates the
layers' ``u``/``v`` state unless ``update=False``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from facejax.nn.blocks import ConvINResidualBlock, Tanh
from facejax.nn.blocks import run_layers as _run
from facejax.nn.conv_transpose import ConvTranspose2d, xavier_normal_torch
from facejax.nn.layers import Conv2d, Dtype, InstanceNorm, LeakyReLU, ReLU
from facejax.nn.spectral_norm import SpectralConv2d

D_SLOPE = 0.01  # nn.LeakyReLU(0.01) in the original's discriminator


class ResidualBlock(ConvINResidualBlock):
    """``main`` = [Conv3x3, IN, ReLU, Conv3x3, IN]; output x + main(x). Convs without bias (xavier normal), IN
    affine."""

    def __init__(self, dim: int, **kw):
        super().__init__(dim, xavier_normal_torch, **kw)


class Generator(nnx.Module):
    """``Generator_branch(conv_dim, repeat_num)``: two input branches, a shared trunk, two output heads.

    Branch_0 (x) / Branch_1 (y): Conv7x7(3->c) IN ReLU Conv4x4/2(c->2c) IN ReLU; concatenated (4c channels);
    main: Conv4x4/2(4c->4c) IN ReLU, repeat_num ResidualBlocks, ConvT4x4/2(4c->2c) IN ReLU, ConvT4x4/2(2c->c) IN
    ReLU; heads branch_1 / branch_2: Conv3x3 IN ReLU Conv3x3 IN ReLU Conv7x7(c->3) Tanh. No conv has a bias;
    IN is affine (PyTorch InstanceNorm2d(affine=True), eps 1e-5). Init: xavier_normal on every conv (the
    original's weights_init_xavier), IN weight 1 / bias 0.
    """

    def __init__(
        self,
        conv_dim: int = 64,
        repeat_num: int = 6,
        *,
        dtype: Dtype = jnp.float32,
        param_dtype: Dtype = jnp.float32,
        rngs: nnx.Rngs,
    ):
        kw = dict(dtype=dtype, param_dtype=param_dtype, rngs=rngs)
        conv = dict(use_bias=False, kernel_init=xavier_normal_torch, **kw)
        c = conv_dim
        self.dtype = dtype

        def branch():
            return nnx.List(
                [
                    Conv2d(3, c, 7, 1, 3, **conv),
                    InstanceNorm(c, affine=True, **kw),
                    ReLU(),
                    Conv2d(c, 2 * c, 4, 2, 1, **conv),
                    InstanceNorm(2 * c, affine=True, **kw),
                    ReLU(),
                ]
            )

        self.Branch_0 = branch()
        self.Branch_1 = branch()
        d = 4 * c
        main = [Conv2d(d, d, 4, 2, 1, **conv), InstanceNorm(d, affine=True, **kw), ReLU()]
        main += [ResidualBlock(d, **kw) for _ in range(repeat_num)]
        main += [
            ConvTranspose2d(d, d // 2, 4, 2, 1, use_bias=False, **kw),
            InstanceNorm(d // 2, affine=True, **kw),
            ReLU(),
            ConvTranspose2d(d // 2, d // 4, 4, 2, 1, use_bias=False, **kw),
            InstanceNorm(d // 4, affine=True, **kw),
            ReLU(),
        ]
        self.main = nnx.List(main)

        def head():
            return nnx.List(
                [
                    Conv2d(c, c, 3, 1, 1, **conv),
                    InstanceNorm(c, affine=True, **kw),
                    ReLU(),
                    Conv2d(c, c, 3, 1, 1, **conv),
                    InstanceNorm(c, affine=True, **kw),
                    ReLU(),
                    Conv2d(c, 3, 7, 1, 3, **conv),
                    Tanh(),
                ]
            )

        self.branch_1 = head()
        self.branch_2 = head()

    def __call__(self, x: jax.Array, y: jax.Array) -> tuple[jax.Array, jax.Array]:
        if x.shape[1] % 4 or x.shape[2] % 4:
            raise ValueError(f"BeautyGAN's generator needs image sides divisible by 4, got {x.shape[1:3]}")
        h = jnp.concatenate([_run(self.Branch_0, x), _run(self.Branch_1, y)], axis=-1)
        h = _run(self.main, h)
        return _run(self.branch_1, h).astype(jnp.float32), _run(self.branch_2, h).astype(jnp.float32)


class Discriminator(nnx.Module):
    """``Discriminator(image_size, conv_dim, repeat_num, norm='SN')``: 70x70 PatchGAN, LeakyReLU(0.01).

    main: SN-Conv4x4/2(3->c), then repeat_num - 1 SN-Conv4x4/2 doubling the width, then SN-Conv4x4/1 (p1)
    doubling it once more, each followed by LeakyReLU; conv1: SN-Conv4x4/1 (p1, no bias) to one channel.
    """

    def __init__(
        self,
        conv_dim: int = 64,
        repeat_num: int = 3,
        *,
        dtype: Dtype = jnp.float32,
        param_dtype: Dtype = jnp.float32,
        rngs: nnx.Rngs,
    ):
        kw = dict(norm="add", dtype=dtype, param_dtype=param_dtype, rngs=rngs)
        layers = [SpectralConv2d(3, conv_dim, 4, 2, 1, **kw), LeakyReLU(D_SLOPE)]
        cur = conv_dim
        for _ in range(1, repeat_num):
            layers += [SpectralConv2d(cur, cur * 2, 4, 2, 1, **kw), LeakyReLU(D_SLOPE)]
            cur *= 2
        layers += [SpectralConv2d(cur, cur * 2, 4, 1, 1, **kw), LeakyReLU(D_SLOPE)]
        self.main = nnx.List(layers)
        self.conv1 = SpectralConv2d(cur * 2, 1, 4, 1, 1, use_bias=False, **kw)
        self.repeat_num = repeat_num

    def __call__(self, x: jax.Array, update: bool = True) -> jax.Array:
        h = x
        for layer in self.main:
            h = layer(h, update) if isinstance(layer, SpectralConv2d) else layer(h)
        return self.conv1(h, update)[..., 0].astype(jnp.float32)


def output_size(img_size: int, repeat_num: int) -> int:
    """Side of the discriminator's score map (30 for 256 px and 3 downsamplings); < 1 means too small."""
    s = img_size
    for _ in range(repeat_num):
        s = (s + 2 - 4) // 2 + 1
    return s - 2
