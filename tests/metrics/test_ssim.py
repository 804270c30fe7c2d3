"""SSIM / MS-SSIM / PSNR vs NumPy/SciPy references written the way skimage and pytorch-msssim compute them
(skimage is not installed here: its gaussian SSIM is scipy.ndimage.gaussian_filter, mode reflect,
truncate 3.5, cropped by the window radius)."""

import jax
import numpy as np
import pytest
from scipy import ndimage

from facejax.metrics import ssim as ssim_lib
from facejax.nn import kernels


def _ssim_maps(x, y, r):
    """skimage.metrics.structural_similarity(gaussian_weights=True, sigma=1.5,
    use_sample_covariance=False) per channel: (ssim map, cs map), cropped by 5 px."""

    def f(a):
        return ndimage.gaussian_filter(a, 1.5, truncate=3.5, mode="reflect")

    c1, c2 = (0.01 * r) ** 2, (0.03 * r) ** 2
    ux, uy = f(x), f(y)
    vx, vy, vxy = f(x * x) - ux * ux, f(y * y) - uy * uy, f(x * y) - ux * uy
    cs = (2 * vxy + c2) / (vx + vy + c2)
    s = (2 * ux * uy + c1) / (ux * ux + uy * uy + c1) * cs
    return s[5:-5, 5:-5], cs[5:-5, 5:-5]


def ref_ssim(x, y, r):
    return np.mean([_ssim_maps(x[..., c], y[..., c], r)[0].mean() for c in range(x.shape[-1])])


def ref_ms_ssim(x, y, r, weights=ssim_lib.MS_SSIM_WEIGHTS):
    """pytorch-msssim's ms_ssim for one HWC image."""

    def pool(a):  # F.avg_pool2d(kernel 2, padding=s % 2), zeros counted
        ph, pw = a.shape[0] % 2, a.shape[1] % 2
        a = np.pad(a, ((ph, ph), (pw, pw), (0, 0)))
        h, w = a.shape[0] // 2 * 2, a.shape[1] // 2 * 2
        return a[:h, :w].reshape(h // 2, 2, w // 2, 2, -1).mean(axis=(1, 3))

    per_channel = []
    for level in range(len(weights)):
        maps = [_ssim_maps(x[..., c], y[..., c], r) for c in range(x.shape[-1])]
        s = np.array([m[0].mean() for m in maps])
        cs = np.array([m[1].mean() for m in maps])
        if level < len(weights) - 1:
            per_channel.append(np.maximum(cs, 0) ** weights[level])
            x, y = pool(x), pool(y)
    per_channel.append(np.maximum(s, 0) ** weights[-1])
    return np.mean(np.prod(per_channel, axis=0))


def _pair(shape, seed, noise):
    rng = np.random.default_rng(seed)
    x = ndimage.gaussian_filter(rng.uniform(-1, 1, shape), (0, 2, 2, 0))  # structure, not white noise
    x = x / np.abs(x).max()
    return x.astype(np.float32), np.clip(x + rng.normal(0, noise, shape), -1, 1).astype(np.float32)


@pytest.mark.parametrize("path", ["cpu_tuned", "native"])  # config.kernels: banded matrices / depthwise convs
def test_ssim_and_psnr_match_references(path):
    x, y = _pair((3, 48, 40, 3), 0, 0.1)
    with kernels.use(path):
        got = np.asarray(jax.jit(ssim_lib.ssim, static_argnums=2)(x, y, 2.0))
        grad = np.asarray(jax.grad(lambda a: ssim_lib.ssim(a, y[:1], 2.0)[0])(x[:1]))
    want = [ref_ssim(x[i].astype(np.float64), y[i].astype(np.float64), 2.0) for i in range(3)]
    np.testing.assert_allclose(got, want, atol=2e-5)
    # the gradient (SSIM as a loss) against central differences of the reference at a few pixels
    x64, y64 = x[0].astype(np.float64), y[0].astype(np.float64)
    for i, j, c in ((0, 0, 0), (20, 17, 1), (47, 39, 2), (5, 30, 0)):
        d = np.zeros_like(x64)
        d[i, j, c] = 1e-4
        fd = (ref_ssim(x64 + d, y64, 2.0) - ref_ssim(x64 - d, y64, 2.0)) / 2e-4
        np.testing.assert_allclose(grad[0, i, j, c], fd, atol=2e-5, rtol=1e-3, err_msg=str((i, j, c)))
    assert 0.3 < got.min() < got.max() < 0.99
    np.testing.assert_allclose(np.asarray(ssim_lib.ssim(x, x, 2.0)), 1.0, atol=1e-5)
    mse = np.mean((x.astype(np.float64) - y) ** 2, axis=(1, 2, 3))
    np.testing.assert_allclose(np.asarray(ssim_lib.psnr(x, y, 2.0)), 10 * np.log10(4.0 / mse), rtol=1e-5)
    # C1, C2 scale with the data range: images and range scaled together give the same SSIM
    got255 = np.asarray(ssim_lib.ssim(x * 127.5, y * 127.5, data_range=255.0))
    np.testing.assert_allclose(got255, got, atol=2e-5)
    assert not np.allclose(np.asarray(ssim_lib.ssim(x * 127.5, y * 127.5, data_range=2.0)), got, atol=1e-3)


def test_ms_ssim_matches_pytorch_msssim_algorithm():
    x, y = _pair((2, 170, 165, 3), 1, 0.15)  # odd sides at several scales: padded pooling
    got = np.asarray(jax.jit(ssim_lib.ms_ssim, static_argnums=2)(x, y, 2.0))
    want = [ref_ms_ssim(x[i].astype(np.float64), y[i].astype(np.float64), 2.0) for i in range(2)]
    np.testing.assert_allclose(got, want, atol=5e-5)
    assert 0.2 < got.min() < 0.99


def test_size_errors():
    x = np.zeros((1, 10, 12, 3), np.float32)
    with pytest.raises(ValueError, match="at least 11 px"):
        ssim_lib.ssim(x, x, 2.0)
    y = np.zeros((1, 160, 200, 3), np.float32)
    with pytest.raises(ValueError, match="at least 161 px"):
        ssim_lib.ms_ssim(y, y, 2.0)
