"""StarGAN v2 networks (Choi et al., CVPR 2020), layer for layer as clovaai/stargan-v2 ``core/model.py``.

Attribute names and list indices mirror the original PyTorch modules, so a parameter path such as
``('decode', 4, 'norm1', 'fc', 'kernel')`` is the PyTorch key ``decode.4.norm1.fc.weight`` (kernel transposed).
Parameterless layers (LeakyReLU/ReLU) occupy their ``nn.Sequential`` index in the ``nnx.List`` so indices agree.

Images are NHWC in [-1, 1]. ``dtype`` is the compute dtype (bfloat16 for mixed precision); parameters are
float32 and every network returns float32. All state is ``nnx.Param``: there are no batch statistics, buffers
or RNG streams (the high-pass filter is a constant rebuilt from ``w_hpf``).

``dim_in=0`` means the original's ``2**14 // img_size`` base width; a positive value overrides it (small
presets). ``max_conv_dim`` caps the width (512 in the original).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from flax import nnx

from facejax.nn.blocks import AdainResBlk, HighPass, ResBlk
from facejax.nn.layers import Conv2d, Dtype, InstanceNorm, LeakyReLU, Linear, ReLU, resize_bilinear

UNUSED_IN_FORWARD = "unused_in_forward"  # nnx.Param metadata key set by AdainResBlk when w_hpf > 0


def _log2_size(img_size: int, minimum: int, net: str) -> int:
    if img_size < minimum or img_size & (img_size - 1):
        raise ValueError(f"{net}: img_size must be a power of two >= {minimum}, got {img_size}")
    return int(math.log2(img_size))


def _base_width(img_size: int, dim_in: int) -> int:
    width = dim_in if dim_in > 0 else 2**14 // img_size
    if width < 1:
        raise ValueError(f"base width 2**14 // img_size is 0 for img_size={img_size}; pass dim_in > 0")
    return width


def _run(layers, x: jax.Array) -> jax.Array:
    for layer in layers:
        x = layer(x)
    return x


def _select(out: jax.Array, y: jax.Array) -> jax.Array:
    """``out[arange(B), y]`` for ``out`` of shape (B, K, ...)."""
    idx = jnp.asarray(y, jnp.int32).reshape((-1,) + (1,) * (out.ndim - 1))
    return jnp.take_along_axis(out, idx, axis=1)[:, 0]


class Generator(nnx.Module):
    """Encoder/decoder generator: ``from_rgb``, ``encode`` (ResBlk with IN), ``decode`` (AdainResBlk), ``to_rgb``.

    ``repeat_num = log2(img_size) - 4`` down/up-sampling stages (+1 when ``w_hpf > 0``), then two bottleneck
    blocks; the output has no tanh. ``img_size`` must be a power of two >= 32.

    Mask / high-pass skip path (only when ``masks`` is given and ``w_hpf > 0``; masks are ignored when
    ``w_hpf == 0``, where the original's trainer never passes any): the input of every encode block whose
    spatial size is in ``hpf_sizes`` is cached (a later block at the same size overwrites it), and after every
    decode block whose output size ``h`` is in ``hpf_sizes``: ``x += hpf(resize(mask, h) * cache[h])`` with
    ``mask = masks[0]`` at ``h == img_size // 8`` and ``masks[1]`` otherwise, resized bilinearly
    (align_corners=False, no antialias).

    Generalisation: the original hard-codes ``hpf_sizes = {32, 64, 128}``, which assumes 256 px. Here
    ``hpf_sizes = (img_size // 8, img_size // 4, img_size // 2)``, identical at 256 px. With ``w_hpf > 0`` the
    bottleneck is always 8x8, so at 64 px the coarse size 8 is the bottleneck: the cache holds the last
    bottleneck input and both bottleneck decode blocks add the coarse term. At 32 px the coarse size (4) is
    never reached and ``masks[0]`` is unused.
    """

    def __init__(
        self,
        img_size: int = 256,
        style_dim: int = 64,
        max_conv_dim: int = 512,
        w_hpf: float = 1.0,
        dim_in: int = 0,
        *,
        dtype: Dtype = jnp.float32,
        param_dtype: Dtype = jnp.float32,
        rngs: nnx.Rngs,
    ):
        log2 = _log2_size(img_size, 32, "Generator")
        kw = dict(dtype=dtype, param_dtype=param_dtype, rngs=rngs)
        self.img_size = img_size
        self.w_hpf = float(w_hpf)
        self.dtype = dtype
        self.hpf_sizes = (img_size // 8, img_size // 4, img_size // 2)
        dim = _base_width(img_size, dim_in)
        self.from_rgb = Conv2d(3, dim, 3, 1, 1, **kw)
        self.to_rgb = nnx.List([InstanceNorm(dim, affine=True, **kw), LeakyReLU(0.2), Conv2d(dim, 3, 1, 1, 0, **kw)])
        repeat_num = log2 - 4 + (1 if self.w_hpf > 0 else 0)
        encode, decode = [], []
        for _ in range(repeat_num):
            dim_out = min(dim * 2, max_conv_dim)
            encode.append(ResBlk(dim, dim_out, normalize=True, downsample=True, **kw))
            decode.insert(0, AdainResBlk(dim_out, dim, style_dim, self.w_hpf, upsample=True, **kw))
            dim = dim_out
        for _ in range(2):  # bottleneck
            encode.append(ResBlk(dim, dim, normalize=True, **kw))
            decode.insert(0, AdainResBlk(dim, dim, style_dim, self.w_hpf, **kw))
        self.encode = nnx.List(encode)
        self.decode = nnx.List(decode)
        self.hpf = HighPass(self.w_hpf, dtype=dtype) if self.w_hpf > 0 else None

    def __call__(self, x: jax.Array, s: jax.Array, masks=None) -> jax.Array:
        use_masks = masks is not None and self.hpf is not None
        x = self.from_rgb(x)
        cache = {}
        for block in self.encode:
            if use_masks and x.shape[1] in self.hpf_sizes:
                cache[x.shape[1]] = x
            x = block(x)
        for block in self.decode:
            x = block(x, s)
            h = x.shape[1]
            if use_masks and h in self.hpf_sizes:
                mask = masks[0] if h == self.hpf_sizes[0] else masks[1]
                mask = resize_bilinear(jnp.asarray(mask, jnp.float32), x.shape[1:3]).astype(x.dtype)
                x = x + self.hpf(mask * cache[h])
        return _run(self.to_rgb, x).astype(jnp.float32)


class MappingNetwork(nnx.Module):
    """z -> style code: ``shared`` (4 Linear+ReLU) and one ``unshared`` head per domain (3 Linear+ReLU, Linear).

    All heads are evaluated and the one of domain ``y`` is selected, so unselected heads get zero gradients.
    """

    def __init__(
        self,
        latent_dim: int = 16,
        style_dim: int = 64,
        num_domains: int = 2,
        hidden_dim: int = 512,
        *,
        dtype: Dtype = jnp.float32,
        param_dtype: Dtype = jnp.float32,
        rngs: nnx.Rngs,
    ):
        kw = dict(dtype=dtype, param_dtype=param_dtype, rngs=rngs)
        shared = [Linear(latent_dim, hidden_dim, **kw), ReLU()]
        for _ in range(3):
            shared += [Linear(hidden_dim, hidden_dim, **kw), ReLU()]
        self.shared = nnx.List(shared)
        heads = []
        for _ in range(num_domains):
            head = []
            for _ in range(3):
                head += [Linear(hidden_dim, hidden_dim, **kw), ReLU()]
            head.append(Linear(hidden_dim, style_dim, **kw))
            heads.append(nnx.List(head))
        self.unshared = nnx.List(heads)

    def __call__(self, z: jax.Array, y: jax.Array) -> jax.Array:
        h = _run(self.shared, z)
        out = jnp.stack([_run(head, h) for head in self.unshared], axis=1)  # (B, K, style_dim)
        return _select(out, y).astype(jnp.float32)


def _trunk(img_size: int, dim_in: int, max_conv_dim: int, net: str, kw: dict) -> tuple[list, int]:
    """Shared body of StyleEncoder and Discriminator: indices 0..9 of the original's Sequential."""
    log2 = _log2_size(img_size, 8, net)
    dim = _base_width(img_size, dim_in)
    layers = [Conv2d(3, dim, 3, 1, 1, **kw)]
    for _ in range(log2 - 2):  # down to 4x4
        dim_out = min(dim * 2, max_conv_dim)
        layers.append(ResBlk(dim, dim_out, downsample=True, **kw))
        dim = dim_out
    layers += [LeakyReLU(0.2), Conv2d(dim, dim, 4, 1, 0, **kw), LeakyReLU(0.2)]  # 4x4 valid conv -> 1x1
    return layers, dim


class StyleEncoder(nnx.Module):
    """Image -> style code: ``shared`` trunk (ResBlks without norm, 4x4 valid conv), one Linear per domain."""

    def __init__(
        self,
        img_size: int = 256,
        style_dim: int = 64,
        num_domains: int = 2,
        max_conv_dim: int = 512,
        dim_in: int = 0,
        *,
        dtype: Dtype = jnp.float32,
        param_dtype: Dtype = jnp.float32,
        rngs: nnx.Rngs,
    ):
        kw = dict(dtype=dtype, param_dtype=param_dtype, rngs=rngs)
        layers, dim = _trunk(img_size, dim_in, max_conv_dim, "StyleEncoder", kw)
        self.shared = nnx.List(layers)
        self.unshared = nnx.List([Linear(dim, style_dim, **kw) for _ in range(num_domains)])

    def __call__(self, x: jax.Array, y: jax.Array) -> jax.Array:
        h = _run(self.shared, x)
        h = h.reshape(h.shape[0], -1)  # 1x1 spatial, so NHWC/NCHW flatten orders agree
        out = jnp.stack([head(h) for head in self.unshared], axis=1)
        return _select(out, y).astype(jnp.float32)


class Discriminator(nnx.Module):
    """Multi-task discriminator: ``main`` = trunk + 1x1 conv to one real/fake logit per domain."""

    def __init__(
        self,
        img_size: int = 256,
        num_domains: int = 2,
        max_conv_dim: int = 512,
        dim_in: int = 0,
        *,
        dtype: Dtype = jnp.float32,
        param_dtype: Dtype = jnp.float32,
        rngs: nnx.Rngs,
    ):
        kw = dict(dtype=dtype, param_dtype=param_dtype, rngs=rngs)
        layers, dim = _trunk(img_size, dim_in, max_conv_dim, "Discriminator", kw)
        layers.append(Conv2d(dim, num_domains, 1, 1, 0, **kw))
        self.main = nnx.List(layers)

    def __call__(self, x: jax.Array, y: jax.Array) -> jax.Array:
        out = _run(self.main, x)
        out = out.reshape(out.shape[0], -1)  # (B, K)
        return _select(out, y).astype(jnp.float32)


def _key_name(k) -> str:
    for attr in ("key", "name", "idx"):
        if hasattr(k, attr):
            return str(getattr(k, attr))
    return str(k)


def _is_decode_conv1x1_kernel(names: list[str]) -> bool:
    if names and names[-1] == "value":  # path into an nnx.Variable
        names = names[:-1]
    return len(names) >= 3 and names[0] == "decode" and names[-2:] == ["conv1x1", "kernel"]


def frozen_parameter_mask(generator_params_state, *, w_hpf: float | None = None):
    """Bool pytree, True for generator parameters the forward pass never uses (keep them out of the optimizer).

    These are the ``decode.*.conv1x1`` kernels when ``w_hpf > 0``: the original's Adam skips them (their grad is
    None), so they stay at their init values and are exported as such; nothing is frozen when ``w_hpf == 0``.

    Input: ``nnx.state(generator, nnx.Param)`` (or an abstract one from ``nnx.eval_shape``); the decision is read
    from the ``unused_in_forward`` metadata that the generator puts on those params. Each ``nnx.Variable`` is
    replaced by a bool, i.e. the result has the structure of ``nnx.as_pure(state)``, and is a valid mask prefix
    for the Variable-wrapped state too (``optax.masked`` accepts both). For a pure dict of arrays (no metadata),
    pass ``w_hpf`` explicitly; then the decision is made from the paths.
    """

    def decide(path, leaf):
        if w_hpf is not None:
            return bool(w_hpf > 0) and _is_decode_conv1x1_kernel([_key_name(k) for k in path])
        if isinstance(leaf, nnx.Variable):
            return bool(leaf.get_metadata().get(UNUSED_IN_FORWARD, False))
        raise ValueError(
            "frozen_parameter_mask: the state holds plain arrays (no nnx.Param metadata); "
            "pass w_hpf=<the generator's w_hpf> or give nnx.state(generator, nnx.Param)"
        )

    return jax.tree_util.tree_map_with_path(
        decide, generator_params_state, is_leaf=lambda v: isinstance(v, nnx.Variable)
    )
