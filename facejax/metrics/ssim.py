"""SSIM, MS-SSIM and PSNR on NHWC image batches, per image.

SSIM follows Wang et al. 2004 as pytorch-msssim implements it (and as skimage's
`structural_similarity(..., gaussian_weights=True, sigma=1.5, use_sample_covariance=False)` does
on the interior): an 11x11 Gaussian window with sigma 1.5 (separable, normalised), applied without
padding ("valid"), population (co)variances, C1 = (0.01 R)^2, C2 = (0.03 R)^2 with R the data range;
the SSIM map is averaged over space and channels. MS-SSIM is pytorch-msssim's `ms_ssim`: 5 scales
with weights (0.0448, 0.2856, 0.3001, 0.2363, 0.1333), contrast-structure terms (clamped at 0) of the
first 4 scales, SSIM (clamped at 0) of the last, 2x2 average pooling between scales (zero padding
of 1 on odd sides, counted in the mean, as F.avg_pool2d(padding=s % 2)); images need a side larger
than 160 px. PSNR is 10 log10(R^2 / MSE) per image.

facejax images are in [-1, 1]: data_range=2.0. For uint8-style [0, 255] arrays use 255.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from facejax.nn import kernels

MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


def gaussian_window(size: int = 11, sigma: float = 1.5) -> np.ndarray:
    coords = np.arange(size, dtype=np.float64) - size // 2
    g = np.exp(-(coords**2) / (2 * sigma**2))
    return (g / g.sum()).astype(np.float32)


def _band(n: int, win: np.ndarray) -> np.ndarray:
    """(n - len(win) + 1, n) matrix whose row i holds the window at columns i .. i + len(win) - 1."""
    m = np.zeros((n - len(win) + 1, n), np.float32)
    for i in range(m.shape[0]):
        m[i, i : i + len(win)] = win
    return m


def _filter_valid(x: jax.Array, win: np.ndarray) -> jax.Array:
    """Separable valid correlation of NHWC x with the 1-D window along H, then W (per channel). Path per
    ``config.kernels`` (facejax/nn/kernels.py): cpu_tuned, two matrix products with banded matrices (the same
    sums; XLA:CPU runs them ~10x faster than grouped convolutions); native, two depthwise convolutions."""
    if not kernels.cpu_tuned():
        return _filter_valid_conv(x, win)
    hi = jax.lax.Precision.HIGHEST
    x = jnp.einsum("oh,nhwc->nowc", jnp.asarray(_band(x.shape[1], win)), x, precision=hi)
    return jnp.einsum("pw,nowc->nopc", jnp.asarray(_band(x.shape[2], win)), x, precision=hi)


def _filter_valid_conv(x: jax.Array, win: np.ndarray) -> jax.Array:
    """The same filter as two depthwise (feature_group_count = C) valid convolutions, (n, 1) then (1, n)."""
    c, n = x.shape[-1], len(win)
    w = jnp.broadcast_to(jnp.asarray(win, x.dtype)[:, None, None, None], (n, 1, 1, c))  # HWIO, I = 1 per group
    for k in (w, w.reshape(1, n, 1, c)):
        x = jax.lax.conv_general_dilated(
            x,
            k,
            (1, 1),
            "VALID",
            dimension_numbers=("NHWC", "HWIO", "NHWC"),
            feature_group_count=c,
            precision=jax.lax.Precision.HIGHEST,
        )
    return x


def _ssim_and_cs(x, y, data_range, win, k1=0.01, k2=0.03):
    """Per-image-per-channel SSIM and contrast-structure means, (N, C) each."""
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    mu1, mu2 = _filter_valid(x, win), _filter_valid(y, win)
    mu1_sq, mu2_sq, mu12 = mu1 * mu1, mu2 * mu2, mu1 * mu2
    s1 = _filter_valid(x * x, win) - mu1_sq
    s2 = _filter_valid(y * y, win) - mu2_sq
    s12 = _filter_valid(x * y, win) - mu12
    cs_map = (2 * s12 + c2) / (s1 + s2 + c2)
    ssim_map = ((2 * mu12 + c1) / (mu1_sq + mu2_sq + c1)) * cs_map
    return jnp.mean(ssim_map, axis=(1, 2)), jnp.mean(cs_map, axis=(1, 2))


def _check(x, y, min_side, what):
    if x.shape != y.shape or x.ndim != 4:
        raise ValueError(f"{what}: expected two NHWC batches of the same shape, got {x.shape} and {y.shape}")
    if min(x.shape[1:3]) < min_side:
        raise ValueError(f"{what}: images must be at least {min_side} px on each side, got {x.shape[1:3]}")


def ssim(x, y, data_range: float, win_size: int = 11, sigma: float = 1.5) -> jax.Array:
    """(N,) SSIM of NHWC batches x and y."""
    x, y = jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.float32)
    _check(x, y, win_size, "ssim")
    s, _ = _ssim_and_cs(x, y, data_range, gaussian_window(win_size, sigma))
    return jnp.mean(s, axis=1)


def _avg_pool2_pad_odd(x):
    ph, pw = x.shape[1] % 2, x.shape[2] % 2
    pads = ((0, 0), (ph, ph), (pw, pw), (0, 0))
    return jax.lax.reduce_window(x, 0.0, jax.lax.add, (1, 2, 2, 1), (1, 2, 2, 1), pads) / 4.0


def ms_ssim(x, y, data_range: float, weights=MS_SSIM_WEIGHTS, win_size: int = 11, sigma: float = 1.5) -> jax.Array:
    """(N,) MS-SSIM of NHWC batches x and y (pytorch-msssim's ms_ssim, per image)."""
    x, y = jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.float32)
    levels = len(weights)
    min_side = (win_size - 1) * 2 ** (levels - 1) + 1
    _check(x, y, min_side, "ms_ssim")
    win = gaussian_window(win_size, sigma)
    terms = []
    for i in range(levels):
        s, cs = _ssim_and_cs(x, y, data_range, win)
        if i < levels - 1:
            terms.append(jax.nn.relu(cs))
            x, y = _avg_pool2_pad_odd(x), _avg_pool2_pad_odd(y)
    terms.append(jax.nn.relu(s))
    stacked = jnp.stack(terms)  # (levels, N, C)
    w = jnp.asarray(weights, jnp.float32).reshape(-1, 1, 1)
    return jnp.mean(jnp.prod(stacked**w, axis=0), axis=1)


def psnr(x, y, data_range: float) -> jax.Array:
    """(N,) PSNR in dB; identical images give +inf."""
    x, y = jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.float32)
    if x.shape != y.shape:
        raise ValueError(f"psnr: shapes differ, {x.shape} vs {y.shape}")
    mse = jnp.mean(jnp.square(x - y), axis=tuple(range(1, x.ndim)))
    return 10.0 * jnp.log10(data_range**2 / mse)
