"""FAN, the frozen face-alignment network whose landmark heatmaps give StarGAN v2 its masks when w_hpf > 0.

Layer for layer as clovaai/stargan-v2 ``core/wing.py`` (shared/reference/stargan_v2.md §2.5, Appendix A):
a CoordConv stem (RGB + row/column coordinates + radius, 7x7 stride 2), ConvBlocks (three bias-free 3x3 convs
of out/2, out/4, out/4 channels, concatenated, plus a BN-ReLU-1x1 shortcut when the width changes), one
hourglass of depth 4 with its own CoordConv, and a 1x1 head with 98 WFLW landmark heatmaps + 1 boundary map.
Attribute names mirror the PyTorch modules (``conv1.conv``, ``m0.b2_plus_1``, ``downsample.2`` ...), so a
parameter path is mechanically a key of ``wing.ckpt``'s ``state_dict``.

BatchNorm is always in eval mode (FAN is never trained): ``BatchNorm`` holds the running statistics and
``num_batches_tracked`` as ``nnx.Param`` too, because the train state keeps Params only; nothing ever
updates them (FAN is in no optimizer, and the family stops gradients at its input).

Sizes: the original works at 256 px (its CoordConv grids are 256x256 and 64x64, ``get_heatmap`` resizes any
input to 256). ``img_size`` and ``width`` (64: blocks of 64/128/256 channels) default to that; smaller values
exist only so that tests of the w_hpf > 0 training path run in seconds on a CPU (config.model.fan_img_size,
config.model.fan_width). FAN is computed in float32 whatever the family's compute dtype: its masks threshold
and min-max normalise heatmaps, which low precision would move.

``masks(fan, x)`` is the original's ``FAN.get_heatmap`` + ``preprocess``: resize to ``img_size`` (bilinear,
align_corners=False), map [-1, 1] to [0, 1], run FAN, drop the boundary channel, upsample the heatmaps x4
(bilinear, align_corners=True), then per-part truncation, normalisation, shifts and powers, summed to two
single-channel masks (coarse: face line, eyebrows, eyes, nose, mouth; fine: without face line, mouth and
eyebrows), each (N, img_size, img_size, 1) in [0, 1].
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from facejax.nn.layers import Conv2d, ReLU, avg_pool2, resize_bilinear, upsample_nearest2

NUM_LANDMARKS = 98  # WFLW; the head has one more channel, the boundary map
BN_EPS = 1e-5


class BatchNorm(nnx.Module):
    """PyTorch ``BatchNorm2d`` in eval mode: ``(x - running_mean) / sqrt(running_var + eps) * weight + bias``.

    ``scale``/``bias``/``mean``/``var``/``num_batches_tracked`` export as ``weight``/``bias``/``running_mean``/
    ``running_var``/``num_batches_tracked`` (int64 in PyTorch, int32 here).
    """

    def __init__(self, num_features: int):
        self.num_features = num_features
        self.scale = nnx.Param(jnp.ones((num_features,), jnp.float32))
        self.bias = nnx.Param(jnp.zeros((num_features,), jnp.float32))
        self.mean = nnx.Param(jnp.zeros((num_features,), jnp.float32))
        self.var = nnx.Param(jnp.ones((num_features,), jnp.float32))
        self.num_batches_tracked = nnx.Param(jnp.zeros((), jnp.int32))

    def __call__(self, x: jax.Array) -> jax.Array:
        inv = jax.lax.rsqrt(self.var[...] + BN_EPS) * self.scale[...]
        return (x - self.mean[...]) * inv + self.bias[...]


def coord_channels(height: int, width: int) -> np.ndarray:
    """(height, width, 3): row coordinate, column coordinate (both in [-1, 1]) and radius / max radius."""
    rows = np.broadcast_to((np.arange(height, dtype=np.float32) / (height - 1) * 2 - 1)[:, None], (height, width))
    cols = np.broadcast_to((np.arange(width, dtype=np.float32) / (width - 1) * 2 - 1)[None, :], (height, width))
    radius = np.sqrt(rows**2 + cols**2)
    return np.stack([rows, cols, radius / radius.max()], axis=-1).astype(np.float32)


class CoordConv(nnx.Module):
    """Concatenates the coordinate channels of a fixed ``size`` x ``size`` grid, then ``conv`` (with bias).

    The original's boundary channels never apply here (FAN's only hourglass is its first, ``first_one=True``).
    """

    def __init__(
        self,
        size: int,
        in_features: int,
        out_features: int,
        kernel_size: int,
        stride: int,
        padding: int,
        *,
        rngs: nnx.Rngs,
    ):
        self.size = size
        self.conv = Conv2d(in_features + 3, out_features, kernel_size, stride, padding, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        if x.shape[1:3] != (self.size, self.size):
            raise ValueError(f"CoordConv expects {self.size}x{self.size} inputs, got {x.shape[1]}x{x.shape[2]}")
        coords = jnp.broadcast_to(
            jnp.asarray(coord_channels(self.size, self.size)), (x.shape[0], self.size, self.size, 3)
        )
        return self.conv(jnp.concatenate([x, coords], axis=-1))


class ConvBlock(nnx.Module):
    """``cat(conv1(relu(bn1 x)), conv2(relu(bn2 .)), conv3(relu(bn3 .))) + shortcut(x)``."""

    def __init__(self, in_planes: int, out_planes: int, *, rngs: nnx.Rngs):
        half, quarter = out_planes // 2, out_planes // 4
        self.bn1 = BatchNorm(in_planes)
        self.conv1 = Conv2d(in_planes, half, 3, 1, 1, use_bias=False, rngs=rngs)
        self.bn2 = BatchNorm(half)
        self.conv2 = Conv2d(half, quarter, 3, 1, 1, use_bias=False, rngs=rngs)
        self.bn3 = BatchNorm(quarter)
        self.conv3 = Conv2d(quarter, quarter, 3, 1, 1, use_bias=False, rngs=rngs)
        if in_planes != out_planes:
            self.downsample = nnx.List(
                [BatchNorm(in_planes), ReLU(), Conv2d(in_planes, out_planes, 1, 1, 0, use_bias=False, rngs=rngs)]
            )
        else:
            self.downsample = None

    def __call__(self, x: jax.Array) -> jax.Array:
        out1 = self.conv1(jax.nn.relu(self.bn1(x)))
        out2 = self.conv2(jax.nn.relu(self.bn2(out1)))
        out3 = self.conv3(jax.nn.relu(self.bn3(out2)))
        residual = x
        if self.downsample is not None:
            for layer in self.downsample:
                residual = layer(residual)
        return jnp.concatenate([out1, out2, out3], axis=-1) + residual


def hourglass_block_names(depth: int) -> list[str]:
    """The hourglass's ConvBlocks in the original's registration order (b1_4, b2_4, b1_3, ..., b3_4 at depth 4)."""
    names = []
    for level in range(depth, 0, -1):
        names += [f"b1_{level}", f"b2_{level}"]
    names.append("b2_plus_1")
    names += [f"b3_{level}" for level in range(1, depth + 1)]
    return names


class HourGlass(nnx.Module):
    """CoordConv (1x1) then a recursive hourglass: ``b1(x) + up(b3(inner(b2(avg_pool(x)))))``."""

    def __init__(self, depth: int, features: int, size: int, *, rngs: nnx.Rngs):
        self.depth = depth
        self.coordconv = CoordConv(size, features, features, 1, 1, 0, rngs=rngs)
        for name in hourglass_block_names(depth):
            setattr(self, name, ConvBlock(features, features, rngs=rngs))

    def _level(self, level: int, x: jax.Array) -> jax.Array:
        up1 = getattr(self, f"b1_{level}")(x)
        low = getattr(self, f"b2_{level}")(avg_pool2(x))
        low = self._level(level - 1, low) if level > 1 else self.b2_plus_1(low)
        low = getattr(self, f"b3_{level}")(low)
        return up1 + upsample_nearest2(low)

    def __call__(self, x: jax.Array) -> jax.Array:
        return self._level(self.depth, self.coordconv(x))


class FAN(nnx.Module):
    """``FAN(num_modules=1)`` of core/wing.py: 6,333,603 parameters at the defaults (img_size 256, width 64).

    ``__call__`` takes NHWC images in [0, 1] of ``img_size`` px and returns (N, img_size/4, img_size/4, 99).
    """

    def __init__(self, img_size: int = 256, width: int = 64, num_landmarks: int = NUM_LANDMARKS, *, rngs: nnx.Rngs):
        if img_size < 64 or img_size & (img_size - 1):
            raise ValueError(f"FAN: img_size must be a power of two >= 64, got {img_size}")
        if width < 2 or width % 2:
            raise ValueError(f"FAN: width must be even and >= 2, got {width}")
        self.img_size = img_size
        self.width = width
        w = width
        self.conv1 = CoordConv(img_size, 3, w, 7, 2, 3, rngs=rngs)
        self.bn1 = BatchNorm(w)
        self.conv2 = ConvBlock(w, 2 * w, rngs=rngs)
        self.conv3 = ConvBlock(2 * w, 2 * w, rngs=rngs)
        self.conv4 = ConvBlock(2 * w, 4 * w, rngs=rngs)
        self.m0 = HourGlass(4, 4 * w, img_size // 4, rngs=rngs)
        self.top_m_0 = ConvBlock(4 * w, 4 * w, rngs=rngs)
        self.conv_last0 = Conv2d(4 * w, 4 * w, 1, 1, 0, rngs=rngs)
        self.bn_end0 = BatchNorm(4 * w)
        self.l0 = Conv2d(4 * w, num_landmarks + 1, 1, 1, 0, rngs=rngs)

    def __call__(self, x01: jax.Array) -> jax.Array:
        x = jax.nn.relu(self.bn1(self.conv1(x01.astype(jnp.float32))))
        x = avg_pool2(self.conv2(x))
        x = self.conv4(self.conv3(x))
        x = self.top_m_0(self.m0(x))
        x = jax.nn.relu(self.bn_end0(self.conv_last0(x)))
        return self.l0(x)


# ------------------------------------------------------------------------------------------------------
# heatmaps -> masks (core/wing.py get_heatmap and preprocess)

# WFLW landmark index ranges [start, end) used by the original's preprocess.
CHIN = (8, 25)
EYEBROWS = (33, 51)
EYEBROW_EDGES = (33, 46)
NOSE = (51, 55)
NOSTRILS = (55, 60)
EYES = (60, 76)
LIP_EDGES = (76, 82)
LIP_UPPER = (77, 82)
LIP_LOWER = (83, 88)
LIP_INNER = (88, 96)


def resize_align_corners(x: jax.Array, size: int) -> jax.Array:
    """PyTorch ``F.interpolate(x, size, mode="bilinear", align_corners=True)`` on NHWC input, as two small
    interpolation matrices (``jax.image.resize`` has no align_corners mode)."""

    def matrix(n_in: int, n_out: int) -> np.ndarray:
        m = np.zeros((n_out, n_in), np.float64)
        src = np.arange(n_out) * ((n_in - 1) / (n_out - 1)) if n_out > 1 else np.zeros(1)
        lo = np.clip(np.floor(src).astype(int), 0, n_in - 1)
        hi = np.minimum(lo + 1, n_in - 1)
        frac = src - lo
        m[np.arange(n_out), lo] += 1 - frac
        m[np.arange(n_out), hi] += frac
        return m.astype(np.float32)

    mh, mw = jnp.asarray(matrix(x.shape[1], size)), jnp.asarray(matrix(x.shape[2], size))
    hp = jax.lax.Precision.HIGHEST
    return jnp.einsum("oh,nhwc,pw->nopc", mh, x.astype(jnp.float32), mw, precision=hp)


def _shift(x: jax.Array, n: int) -> jax.Array:
    """The original's ``shift(x, N)``: a cyclic shift of the rows, N up (N > 0) or -N down (N < 0)."""
    return jnp.roll(x, -n, axis=1)


def preprocess(heatmaps: jax.Array) -> tuple[jax.Array, jax.Array]:
    """98 landmark heatmaps (N, H, W, 98) -> (coarse, fine) masks, each (N, H, W, 1) in [0, 1].

    Steps as core/wing.py ``preprocess``: zero values < 0.1; min-max normalise each map (eps 1e-6); per part a
    cyclic vertical shift (scaled by H // 256) and a power; zero the face-line ends, two eyebrow and two lip
    corner maps; shift the nose bridge; eyes become ``shift(e, -8)**3 + shift(e, -24)``; the fine mask also drops
    the face line, the lips and the eyebrows; sum over maps, NaN -> 0, clamp to [0, 1].
    """
    x = heatmaps.astype(jnp.float32)
    h = x.shape[1]
    sw = h // 256
    x = jnp.where(x < 0.1, 0.0, x)
    lo = jnp.min(x, axis=(1, 2), keepdims=True)
    hi = jnp.max(x, axis=(1, 2), keepdims=True)
    x = (x - lo) / (hi - lo + 1e-6)

    for (start, end), n, power in (
        (CHIN, 0, 3),
        (EYEBROWS, -7 * sw, 2),
        (NOSTRILS, 8 * sw, 4),
        (LIP_UPPER, -8 * sw, 4),
        (LIP_LOWER, 8 * sw, 4),
        (LIP_INNER, -2 * sw, 3),
    ):
        x = x.at[..., start:end].set(_shift(x[..., start:end], n) ** power)
    zero = (
        list(range(0, CHIN[0]))
        + list(range(CHIN[1], 33))
        + [EYEBROW_EDGES[0], EYEBROW_EDGES[1], LIP_EDGES[0], LIP_EDGES[1]]
    )
    x = x.at[..., np.array(zero)].set(0.0)
    x = x.at[..., NOSE[0] + 1 : NOSE[1]].set(_shift(x[..., NOSE[0] + 1 : NOSE[1]], 4 * sw))
    eyes = x[..., EYES[0] : EYES[1]]
    x = x.at[..., EYES[0] : EYES[1]].set(_shift(eyes, -8) ** 3 + _shift(eyes, -24))

    x2 = x.at[..., CHIN[0] : CHIN[1]].set(0.0)
    x2 = x2.at[..., LIP_EDGES[0] : LIP_INNER[1]].set(0.0)
    x2 = x2.at[..., EYEBROWS[0] : EYEBROWS[1]].set(0.0)
    coarse = jnp.sum(x, axis=-1, keepdims=True)
    fine = jnp.sum(x2, axis=-1, keepdims=True)
    # The original zeroes NaNs of the coarse mask, then indexes the fine one with the (already cleaned)
    # coarse mask's NaN positions, i.e. leaves the fine mask as it is; kept so for parity.
    coarse = jnp.where(jnp.isnan(coarse), 0.0, coarse)
    return jnp.clip(coarse, 0.0, 1.0), jnp.clip(fine, 0.0, 1.0)


def heatmaps(fan: FAN, x: jax.Array) -> jax.Array:
    """The 98 landmark heatmaps of [-1, 1] NHWC images at FAN's img_size: ``get_heatmap`` before preprocess."""
    size = fan.img_size
    x = resize_bilinear(x.astype(jnp.float32), size) * 0.5 + 0.5
    out = fan(x)[..., :NUM_LANDMARKS]
    return resize_align_corners(out, size // out.shape[1] * out.shape[1])


def masks(fan: FAN, x: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(coarse, fine) masks of [-1, 1] NHWC images of any size, (N, fan.img_size, fan.img_size, 1) each.

    No gradient flows into the masks or into FAN (the original computes them under ``torch.no_grad``).
    """
    return jax.lax.stop_gradient(preprocess(heatmaps(fan, jax.lax.stop_gradient(x))))
