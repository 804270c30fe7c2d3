"""PGGAN's two image-statistics metrics, as its metrics/ folder computes them (numpy + scipy, uint8 NCHW inputs).

Sliced Wasserstein distance (metrics/sliced_wasserstein.py; Karras et al. 2018, Table 1): a Laplacian pyramid
of each image (cv2.pyrDown-style 5x5 binomial filter, mirror borders) from the full resolution down to 16 px;
at every level, 128 random 7x7x3 neighbourhoods per image; the descriptors of each level standardised per
channel (mean and std over all neighbourhoods and pixels) and flattened; the distance between the real and the
fake descriptor sets = the mean |sorted projection difference| over 4 repeats of 128 random unit directions;
reported x 1e3 per level ("SWDx1e3_<res>") and their average.

MS-SSIM (metrics/ms_ssim.py, TF's image_encoder msssim): mean over consecutive pairs of generated images
(0-1, 2-3, ...) of the 5-scale MS-SSIM, data range 255, an 11x11 Gaussian (sigma 1.5) shrunk to the image
when smaller (sigma scaled with it), 'valid' filtering, 2x2 averaging between scales. A diversity score of the
generator: lower is more varied (Beholder-GAN's table: 0.274).

Randomness (neighbourhood positions, directions) comes from a numpy Generator the caller seeds.
"""

from __future__ import annotations

import numpy as np
import scipy.ndimage
import scipy.signal

NHOOD, NHOODS_PER_IMAGE, DIR_REPEATS, DIRS_PER_REPEAT = 7, 128, 4, 128
_G = np.float32([[1, 4, 6, 4, 1], [4, 16, 24, 16, 4], [6, 24, 36, 24, 6], [4, 16, 24, 16, 4], [1, 4, 6, 4, 1]]) / 256.0


def pyr_down(x):
    return scipy.ndimage.convolve(x, _G[None, None], mode="mirror")[:, :, ::2, ::2]


def pyr_up(x):
    s = x.shape
    out = np.zeros((s[0], s[1], s[2] * 2, s[3] * 2), x.dtype)
    out[:, :, ::2, ::2] = x
    return scipy.ndimage.convolve(out, _G[None, None] * 4.0, mode="mirror")


def laplacian_pyramid(x, levels: int):
    pyr = [np.float32(x)]
    for _ in range(1, levels):
        pyr.append(pyr_down(pyr[-1]))
        pyr[-2] -= pyr_up(pyr[-1])
    return pyr


def descriptors(level, rng: np.random.Generator, nhoods_per_image: int = NHOODS_PER_IMAGE, size: int = NHOOD):
    """(N * nhoods, 3, size, size) random neighbourhoods of one pyramid level (N, 3, H, W)."""
    s = level.shape
    n = nhoods_per_image * s[0]
    h = size // 2
    nh, ch, x, y = np.ogrid[0:n, 0:3, -h : h + 1, -h : h + 1]
    img = nh // nhoods_per_image
    x = x + rng.integers(h, s[3] - h, size=(n, 1, 1, 1))
    y = y + rng.integers(h, s[2] - h, size=(n, 1, 1, 1))
    return level.flat[((img * s[1] + ch) * s[2] + y) * s[3] + x]


def finalize(desc):
    desc = np.concatenate(desc, axis=0) if isinstance(desc, list) else desc
    desc = desc - np.mean(desc, axis=(0, 2, 3), keepdims=True)
    desc = desc / np.std(desc, axis=(0, 2, 3), keepdims=True)
    return desc.reshape(desc.shape[0], -1)


def sliced_wasserstein(a, b, rng: np.random.Generator, repeats: int = DIR_REPEATS, dirs: int = DIRS_PER_REPEAT):
    results = []
    for _ in range(repeats):
        d = rng.standard_normal((a.shape[1], dirs))
        d = (d / np.sqrt(np.sum(np.square(d), axis=0, keepdims=True))).astype(np.float32)
        pa, pb = np.sort(a @ d, axis=0), np.sort(b @ d, axis=0)
        results.append(np.mean(np.abs(pa - pb)))
    return float(np.mean(results))


def swd_resolutions(size: int) -> list[int]:
    out = []
    while size >= 16:
        out.append(size)
        size //= 2
    return out


class SWD:
    """Feed uint8 NCHW batches of reals, then of fakes; `distances()` -> {"SWDx1e3_<res>": v, ..., "SWDx1e3_avg"}."""

    def __init__(self, size: int, rng: np.random.Generator):
        self.resolutions = swd_resolutions(size)
        if not self.resolutions:
            raise ValueError(f"SWD needs images of at least 16 px, got {size}")
        self.rng = rng
        self.desc = {"reals": [[] for _ in self.resolutions], "fakes": [[] for _ in self.resolutions]}

    def feed(self, kind: str, batch_uint8):
        for i, level in enumerate(laplacian_pyramid(batch_uint8, len(self.resolutions))):
            self.desc[kind][i].append(descriptors(level, self.rng))

    def distances(self) -> dict:
        out = {}
        for i, res in enumerate(self.resolutions):
            a, b = finalize(self.desc["reals"][i]), finalize(self.desc["fakes"][i])
            n = min(len(a), len(b))
            out[f"SWDx1e3_{res}"] = 1e3 * sliced_wasserstein(a[:n], b[:n], self.rng)
        out["SWDx1e3_avg"] = float(np.mean(list(out.values())))
        return out


def _gauss(size, sigma):
    radius = size // 2
    offset, start, stop = 0.0, -radius, radius + 1
    if size % 2 == 0:
        offset, stop = 0.5, stop - 1
    x, y = np.mgrid[offset + start : stop, offset + start : stop]
    g = np.exp(-((x**2 + y**2) / (2.0 * sigma**2)))
    return g / g.sum()


def _ssim(img1, img2, max_val=255, filter_size=11, filter_sigma=1.5, k1=0.01, k2=0.03):
    img1, img2 = img1.astype(np.float32), img2.astype(np.float32)
    _, h, w, _ = img1.shape
    size = min(filter_size, h, w)
    sigma = size * filter_sigma / filter_size if filter_size else 0
    if filter_size:
        win = np.reshape(_gauss(size, sigma), (1, size, size, 1))
        conv = lambda a: scipy.signal.fftconvolve(a, win, mode="valid")  # noqa: E731
        mu1, mu2 = conv(img1), conv(img2)
        s11, s22, s12 = conv(img1 * img1), conv(img2 * img2), conv(img1 * img2)
    else:
        mu1, mu2, s11, s22, s12 = img1, img2, img1 * img1, img2 * img2, img1 * img2
    mu11, mu22, mu12 = mu1 * mu1, mu2 * mu2, mu1 * mu2
    s11, s22, s12 = s11 - mu11, s22 - mu22, s12 - mu12
    c1, c2 = (k1 * max_val) ** 2, (k2 * max_val) ** 2
    v1, v2 = 2.0 * s12 + c2, s11 + s22 + c2
    ssim = np.mean(((2.0 * mu12 + c1) * v1) / ((mu11 + mu22 + c1) * v2), axis=(1, 2, 3))
    return ssim, np.mean(v1 / v2, axis=(1, 2, 3))


def msssim(img1, img2, max_val=255, weights=(0.0448, 0.2856, 0.3001, 0.2363, 0.1333)) -> float:
    """Mean MS-SSIM of NHWC batches img1[i] vs img2[i] (PGGAN's msssim)."""
    weights = np.asarray(weights)
    im1, im2 = img1.astype(np.float32), img2.astype(np.float32)
    mssim, mcs = [], []
    for _ in range(weights.size):
        s, cs = _ssim(im1, im2, max_val)
        mssim.append(s)
        mcs.append(cs)
        im1, im2 = [
            (x[:, 0::2, 0::2] + x[:, 1::2, 0::2] + x[:, 0::2, 1::2] + x[:, 1::2, 1::2]) * 0.25 for x in (im1, im2)
        ]
    mssim, mcs = np.clip(np.asarray(mssim), 0.0, np.inf), np.clip(np.asarray(mcs), 0.0, np.inf)
    return float(np.mean(np.prod(mcs[:-1] ** weights[:-1, None], axis=0) * (mssim[-1] ** weights[-1])))
