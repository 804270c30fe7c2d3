"""Frechet Inception Distance from streaming statistics, as pytorch-fid computes it.

Features are extracted by a jitted function sharded over the mesh's `data` axis (see `Extractor`),
gathered to every host with `multihost_utils.process_allgather`, and folded into `RunningStats`
in float64 on the host batch by batch (Chan et al.'s pairwise update of mean and scatter matrix),
so no host ever holds all features and every host ends with the same statistics. The distance is
pytorch-fid's `calculate_frechet_distance`: scipy.linalg.sqrtm of sigma1 @ sigma2 (with its eps
retry when the product is singular) and the real part. Statistics files are pytorch-fid's `.npz`
(`mu`, `sigma`), interchangeable with its `--save-stats` output.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable

import jax
import numpy as np
from jax.experimental import multihost_utils

from facejax.errors import FacejaxError
from facejax.train import mesh as mesh_lib


class RunningStats:
    """Mean and covariance (np.cov, ddof=1) of feature rows seen so far, in float64.

    While no more rows than the feature dimension have been seen, the rows are kept too (at most
    dim x dim float64): for such small sets the "eigh" distance uses them (see frechet_distance).
    """

    def __init__(self, dim: int):
        self.n = 0
        self.mean = np.zeros((dim,), np.float64)
        self.m2 = np.zeros((dim, dim), np.float64)  # scatter matrix sum (x - mean)(x - mean)^T
        self._rows = []

    def update(self, rows) -> None:
        x = np.asarray(rows, np.float64)
        if x.ndim != 2 or x.shape[1] != self.mean.shape[0]:
            raise ValueError(f"expected feature rows of width {self.mean.shape[0]}, got shape {x.shape}")
        nb = x.shape[0]
        if nb == 0:
            return
        mb = x.mean(axis=0)
        xc = x - mb
        delta = mb - self.mean
        n = self.n + nb
        self.m2 += xc.T @ xc + np.outer(delta, delta) * (self.n * nb / n)
        self.mean += delta * (nb / n)
        self.n = n
        if self._rows is not None:
            self._rows.append(x)
            if n > self.mean.shape[0]:
                self._rows = None

    @property
    def rows(self):
        """All rows seen (float64), while there are no more than the feature dimension; else None."""
        return None if self._rows is None or not self._rows else np.concatenate(self._rows)

    @property
    def mu(self) -> np.ndarray:
        return self.mean.copy()

    @property
    def sigma(self) -> np.ndarray:
        if self.n < 2:
            raise FacejaxError(f"FID needs at least 2 images per set to estimate a covariance, got {self.n}")
        return self.m2 / (self.n - 1)

    def save(self, path: str) -> str:
        save_stats(path, self.mu, self.sigma)
        return path


def save_stats(path: str, mu, sigma) -> None:
    """pytorch-fid's statistics file: np.savez_compressed(path, mu=mu, sigma=sigma)."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    np.savez_compressed(path, mu=np.asarray(mu), sigma=np.asarray(sigma))


def load_stats(path: str) -> tuple[np.ndarray, np.ndarray]:
    if not os.path.isfile(path):
        raise FacejaxError(
            f"statistics file {path!r} does not exist; expected a pytorch-fid .npz with "
            f"'mu' and 'sigma' (written by `facejax eval fid_stats` or pytorch-fid --save-stats)"
        )
    try:
        with np.load(path) as f:
            if "mu" not in f.files or "sigma" not in f.files:
                raise FacejaxError(f"{path} holds {sorted(f.files)}; expected pytorch-fid's 'mu' and 'sigma'")
            return np.asarray(f["mu"]), np.asarray(f["sigma"])
    except FacejaxError:
        raise
    except Exception as e:
        raise FacejaxError(f"{path}: unreadable .npz ({type(e).__name__}: {e})") from None


def _sqrtm(a: np.ndarray) -> np.ndarray:
    from scipy import linalg

    out = linalg.sqrtm(a)
    return out[0] if isinstance(out, tuple) else out


METHODS = ("sqrtm", "eigh")


def trace_sqrt_product(sigma1, sigma2) -> float:
    """Tr(sqrtm(sigma1 sigma2)) from two symmetric eigendecompositions: the eigenvalues of
    sigma1 sigma2 are those of S sigma2 S with S = sigma1^(1/2), which is symmetric PSD. Negative
    rounding-level eigenvalues count as 0, as the real part of scipy's principal square root does."""
    w, v = np.linalg.eigh(sigma1)
    root = (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T
    m = root @ sigma2 @ root
    ev = np.linalg.eigvalsh((m + m.T) / 2.0)
    return float(np.sum(np.sqrt(np.clip(ev, 0.0, None))))


def frechet_distance(mu1, sigma1, mu2, sigma2, eps: float = 1e-6, method: str = "sqrtm") -> float:
    """d^2 = |mu1 - mu2|^2 + Tr(sigma1 + sigma2 - 2 sqrt(sigma1 sigma2)).

    method "sqrtm" is pytorch-fid's computation step for step (scipy.linalg.sqrtm, eps retry, real
    part); "eigh" gets the same trace from symmetric eigendecompositions, equal to 1e-6 relative or
    better and ~20x faster at 2048-d on a CPU (scipy's sqrtm takes a minute there on 2 cores).
    """
    if method not in METHODS:
        raise FacejaxError(f"FID method {method!r}: expected one of {', '.join(METHODS)}")
    mu1, mu2 = np.atleast_1d(mu1), np.atleast_1d(mu2)
    sigma1, sigma2 = np.atleast_2d(sigma1), np.atleast_2d(sigma2)
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape:
        raise FacejaxError(
            f"the two statistics differ in size (mu {mu1.shape} vs {mu2.shape}, sigma "
            f"{sigma1.shape} vs {sigma2.shape}): were they computed with the same network?"
        )
    diff = mu1 - mu2
    if method == "eigh":
        s1, s2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
        return float(diff.dot(diff) + np.trace(s1) + np.trace(s2) - 2 * trace_sqrt_product(s1, s2))
    covmean = _sqrtm(sigma1.dot(sigma2))
    if not np.isfinite(covmean).all():
        offset = np.eye(sigma1.shape[0]) * eps
        covmean = _sqrtm((sigma1 + offset).dot(sigma2 + offset))
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            m = np.max(np.abs(covmean.imag))
            raise FacejaxError(
                f"FID: the matrix square root has an imaginary component {m:g}; too few "
                f"images for the feature dimension?"
            )
        covmean = covmean.real
    return float(diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))


def trace_sqrt_product_low_rank(x1, x2) -> float:
    """Tr(sqrtm(sigma1 sigma2)) from the rows themselves (n1, n2 <= dim): with A, B the centred rows
    scaled by 1/sqrt(n - 1), sigma1 sigma2 = A^T A B^T B has the nonzero eigenvalues of
    (A B^T)(A B^T)^T, so the trace is the nuclear norm of the n1 x n2 matrix A B^T."""
    a = np.asarray(x1, np.float64)
    b = np.asarray(x2, np.float64)
    a = (a - a.mean(0)) / np.sqrt(len(a) - 1)
    b = (b - b.mean(0)) / np.sqrt(len(b) - 1)
    return float(np.sum(np.linalg.svd(a @ b.T, compute_uv=False)))


def fid_from_stats(a: RunningStats, b: RunningStats, method: str = "sqrtm") -> float:
    """FID of two feature sets. With method "eigh" and sets no larger than the feature dimension
    (rows kept), the trace term comes from the rows (trace_sqrt_product_low_rank): exact and cheap."""
    ra, rb = a.rows, b.rows
    if method == "eigh" and ra is not None and rb is not None:
        diff = a.mu - b.mu
        return float(diff.dot(diff) + np.trace(a.sigma) + np.trace(b.sigma) - 2 * trace_sqrt_product_low_rank(ra, rb))
    return frechet_distance(a.mu, a.sigma, b.mu, b.sigma, method=method)


# ------------------------------------------------------------------------------------ sharded extraction


def padded_batch_size(batch_size: int, mesh) -> int:
    """The smallest multiple of the device count that is >= batch_size."""
    n = mesh.devices.size
    return max(n, int(math.ceil(batch_size / n)) * n)


class Extractor:
    """fn(params, images) -> rows, jitted with params replicated and images sharded over `data`.

    `__call__(local_images)` takes this process's slice of a global batch (numpy, equal size on every
    process) and returns the rows of the whole global batch on every host (numpy).
    """

    def __init__(self, fn: Callable, params, mesh=None):
        self.mesh = mesh if mesh is not None else mesh_lib.make_mesh()
        rep, data = mesh_lib.replicated(self.mesh), mesh_lib.batch_sharding(self.mesh)
        self.params = jax.device_put(params, rep)
        self.fn = jax.jit(fn, in_shardings=(rep, data), out_shardings=data)

    def global_array(self, local: np.ndarray) -> jax.Array:
        return jax.make_array_from_process_local_data(mesh_lib.batch_sharding(self.mesh), np.asarray(local))

    def device_rows(self, local: np.ndarray) -> jax.Array:
        return self.fn(self.params, self.global_array(local))

    def __call__(self, local: np.ndarray) -> np.ndarray:
        return gather(self.device_rows(local))


def gather(x: jax.Array) -> np.ndarray:
    """A global array sharded over `data` -> the whole array as numpy on every host."""
    if jax.process_count() == 1:
        return np.asarray(jax.device_get(x))
    return np.asarray(multihost_utils.process_allgather(x, tiled=True))


def process_slices(n_items: int, global_batch: int) -> Iterable[tuple[list[int], int]]:
    """For each global batch over items 0..n_items-1: (this process's item indices, padded with -1 past
    the end, and the number of valid rows in the global batch). Process i holds rows
    [i * local, (i + 1) * local) of every global batch, as make_array_from_process_local_data expects."""
    p, n_proc = jax.process_index(), jax.process_count()
    if global_batch % n_proc:
        raise FacejaxError(f"batch {global_batch} does not split over {n_proc} processes")
    local = global_batch // n_proc
    for start in range(0, n_items, global_batch):
        idx = [start + p * local + j for j in range(local)]
        yield [i if i < n_items else -1 for i in idx], min(global_batch, n_items - start)


def stats_of(
    n_items: int, load: Callable[[list[int]], np.ndarray], extractor: Extractor, global_batch: int, dim: int
) -> RunningStats:
    """Statistics of the features of items 0..n_items-1; load(indices) -> this process's images
    (index -1 = padding: any image of the right shape)."""
    stats = RunningStats(dim)
    for idx, valid in process_slices(n_items, global_batch):
        stats.update(extractor(load(idx))[:valid])
    return stats
