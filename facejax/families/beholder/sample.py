"""Beholder-GAN pictures: a fixed z with beta swept over beauty levels (inference_cond.py), as grids.

Level i draws beta ~ N(config.sample.levels[i], config.sample.level_std) per rater, clipped to [0, 1] (the
original's 5 levels 0.2 .. 1.0, std 0.08); with config.sample.total_agreement every rater gives exactly the
level. Each grid row is one z, its columns the levels from least to most attractive. Images come from the EMA
generator at the level of detail of the checkpoint's step (upscaled to img_size while the net still grows).
"""

from __future__ import annotations

import jax
import numpy as np

from facejax import images


def level_betas(config, n: int, rng: np.random.Generator) -> np.ndarray:
    """(levels, n, raters) beta vectors of the configured beauty levels."""
    s = config.sample
    levels = np.asarray(s.levels, np.float32)[:, None, None]
    shape = (len(s.levels), n, config.num_raters)
    if s.total_agreement:
        return np.broadcast_to(levels, shape).astype(np.float32)
    return np.clip(rng.normal(levels, s.level_std, shape), 0.0, 1.0).astype(np.float32)


def inputs(family, n: int) -> dict:
    c = family.config
    rng = np.random.default_rng(c.sample.seed)
    z = rng.standard_normal((n, family.latent_size)).astype(np.float32)
    return {"z": z, "betas": level_betas(c, n, rng)}


class Renderer:
    """G's images at a level of detail, compiled once per (level, fade) and owned by the family."""

    def __init__(self, family):
        self.family = family
        self._fns = {}

    def __call__(self, level: int, fade):
        """render(g_params, z, beta) at (level, fade)."""
        if (level, fade) not in self._fns:
            family = self.family
            self._fns[(level, fade)] = jax.jit(lambda g, z, b: family.render(g, z, b, level, fade))
        return self._fns[(level, fade)]


def sweep(family, g_params, z, betas, step: int) -> np.ndarray:
    """(n, levels, S, S, 3): G(z_j, betas[i, j]) for every level i."""
    render = family.renderer(*family.level_of(step))
    out = [np.asarray(render(g_params, z, b)) for b in betas]
    return np.stack(out, axis=1)


def grids(family, state, inp) -> dict:
    imgs = sweep(family, state.sampling_params()["G"], inp["z"], inp["betas"], int(state.step))
    n, k = imgs.shape[:2]
    return {"beauty_levels": images.make_grid(images.to_uint8(imgs.reshape((n * k,) + imgs.shape[2:])), ncol=k)}
