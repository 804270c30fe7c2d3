"""BeautyGAN pictures: per-pair makeup transfer and removal, grids, and folder-to-folder translation.

G(x, y) gives both directions at once: fake_A = the non-makeup source x wearing the reference y's makeup
("makeup"), fake_B = y with its makeup removed, guided by x ("de-makeup"). The compiled generator belongs to a
``Sampler``, which the family creates with its ``generate`` function; pictures are drawn from G's trained weights
(the original keeps no EMA).
"""

from __future__ import annotations

import os

import jax
import numpy as np

from facejax import images
from facejax.errors import FacejaxError
from facejax.families.beautygan import preprocess
from facejax.metrics.preprocess import list_images


def to_display(x, minmax: bool = False) -> np.ndarray:
    """[-1, 1] float images (..., H, W, 3) -> uint8. minmax (config.save_minmax): the reference's test()
    ``save_image(de_norm(x), normalize=True)``: clamped to [0, 1], each picture min-max stretched, * 255 + 0.5
    truncated; else (x + 1) / 2 clamped and rounded (images.to_uint8)."""
    if not minmax:
        return images.to_uint8(x)
    y = np.clip((np.asarray(x, np.float32) + np.float32(1)) / np.float32(2), 0, 1)
    lo = y.min(axis=(-3, -2, -1), keepdims=True)
    hi = y.max(axis=(-3, -2, -1), keepdims=True)
    y = (y - lo) / np.maximum(hi - lo, np.float32(1e-5))
    return np.clip(y * np.float32(255) + np.float32(0.5), 0, 255).astype(np.uint8)


class Sampler:
    """BeautyGAN's pictures from generator weights: generate(g_params, x, y) -> (fake_A, fake_B) (the family's)
    compiled once per object and batch shape."""

    def __init__(self, config, generate):
        self.config = config
        self._gen = jax.jit(generate)

    def pair_outputs(self, g_params, xs, refs, chunk: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """(makeup, demakeup), each (len(refs), len(xs), H, W, 3): makeup[j, i] = xs[i] wearing refs[j]'s makeup,
        demakeup[j, i] = refs[j] with its makeup removed, guided by xs[i]. Sources go in chunks of `chunk` rows
        (padded; 0 = all at once) so that the generator compiles once whatever the number of images."""
        n = len(xs)
        size = chunk or n
        pad = (-n) % size
        xp = np.concatenate([xs, np.repeat(xs[-1:], pad, 0)]) if pad else np.asarray(xs)
        makeup, demakeup = [], []
        for r in refs:
            a_parts, b_parts = [], []
            for i in range(0, len(xp), size):
                x = xp[i : i + size]
                a, b = self._gen(g_params, x, np.repeat(np.asarray(r)[None], len(x), 0))
                a_parts.append(np.asarray(a))
                b_parts.append(np.asarray(b))
            makeup.append(np.concatenate(a_parts)[:n])
            demakeup.append(np.concatenate(b_parts)[:n])
        return np.stack(makeup), np.stack(demakeup)

    def cycle_grid(self, g_params, xs, refs) -> np.ndarray:
        """The original's training pictures, one row per pair (xs[i], refs[i]): org_A, ref_B, fake_A, fake_B, rec_A,
        rec_B with (rec_B, rec_A) = G(fake_B, fake_A)."""
        n = min(len(xs), len(refs))
        x, y = np.asarray(xs[:n]), np.asarray(refs[:n])
        fake_a, fake_b = self._gen(g_params, x, y)
        rec_b, rec_a = self._gen(g_params, fake_b, fake_a)
        tiles = np.stack([x, y, np.asarray(fake_a), np.asarray(fake_b), np.asarray(rec_a), np.asarray(rec_b)], axis=1)
        return images.make_grid(images.to_uint8(tiles.reshape((-1,) + x.shape[1:])), ncol=6)

    def grids(self, g_params, inputs) -> dict:
        xs, refs = inputs["x_src"], inputs["x_ref"]
        makeup, demakeup = self.pair_outputs(g_params, xs, refs)
        return {
            "makeup": makeup_grid(xs, refs, makeup),
            "demakeup": demakeup_grid(xs, refs, demakeup),
            "cycle": self.cycle_grid(g_params, xs, refs),
        }

    def translate_arrays(self, g_params, src, ref, direction: str = "makeup", chunk: int = 8) -> np.ndarray:
        """uint8 images of pair_outputs for uint8 images read as `folders` reads files: "makeup" (len(src), len(ref),
        S, S, 3), src[i] wearing ref[j]'s makeup; "demakeup" (len(ref), len(src), S, S, 3), ref[j] without makeup
        guided by src[i] (the files folders writes under makeup/ and demakeup/)."""
        if direction not in ("makeup", "demakeup"):
            raise FacejaxError(f"direction={direction!r}: expected 'makeup' or 'demakeup'")
        recipe = preprocess.recipe(self.config)
        xs = np.stack([images.prepare(a, recipe) for a in src])
        refs = np.stack([images.prepare(a, recipe) for a in ref])
        makeup, demakeup = self.pair_outputs(g_params, xs, refs, chunk)
        minmax = bool(self.config.save_minmax)
        if direction == "makeup":
            return to_display(makeup, minmax).transpose(1, 0, 2, 3, 4)
        return to_display(demakeup, minmax)

    def folders(self, g_params, src_dir: str, ref_dir: str, out_dir: str, chunk: int = 8) -> dict:
        """Every image of --src (faces without makeup) with every image of --ref (made-up faces), both directions.

        Writes, at img_size: ``makeup/<src>__<ref>.png`` (the source wearing the reference's makeup),
        ``demakeup/<ref>__<src>.png`` (the reference with its makeup removed, guided by the source), and the grids
        ``makeup.png`` and ``demakeup.png``. Both folders are flat (images directly inside). Every file is checked
        before anything is generated.
        """
        recipe = preprocess.recipe(self.config)
        src_paths = list_images(src_dir, "--src folder")
        ref_paths = list_images(ref_dir, "--ref folder")
        src_stems, ref_stems = _stems(src_paths, "--src"), _stems(ref_paths, "--ref")
        xs = np.stack([images.read(p, recipe) for p in src_paths])
        refs = np.stack([images.read(p, recipe) for p in ref_paths])
        makeup, demakeup = self.pair_outputs(g_params, xs, refs, chunk)
        mu, du = to_display(makeup, self.config.save_minmax), to_display(demakeup, self.config.save_minmax)
        for j, r in enumerate(ref_stems):
            for i, s in enumerate(src_stems):
                images.save_png(os.path.join(out_dir, "makeup", f"{s}__{r}.png"), mu[j, i])
                images.save_png(os.path.join(out_dir, "demakeup", f"{r}__{s}.png"), du[j, i])
        grid = images.save_png(os.path.join(out_dir, "makeup.png"), makeup_grid(xs, refs, makeup))
        dgrid = images.save_png(os.path.join(out_dir, "demakeup.png"), demakeup_grid(xs, refs, demakeup))
        pairs = len(src_stems) * len(ref_stems)
        return {
            "grid": grid,
            "count": pairs,
            "pairs": pairs,
            "demakeup_grid": dgrid,
            "makeup_dir": os.path.join(out_dir, "makeup"),
            "demakeup_dir": os.path.join(out_dir, "demakeup"),
        }


def makeup_grid(xs, refs, makeup) -> np.ndarray:
    """Top row: a blank, then the references; each row: a source, then it wearing each reference's makeup."""
    blank = np.ones_like(xs[:1])
    rows = [np.concatenate([blank, refs])]
    for i in range(len(xs)):
        rows.append(np.concatenate([xs[i : i + 1], makeup[:, i]]))
    return images.make_grid(images.to_uint8(np.concatenate(rows)), ncol=len(refs) + 1)


def demakeup_grid(xs, refs, demakeup) -> np.ndarray:
    """Top row: a blank, then the sources; each row: a reference, then it without makeup, guided by each source."""
    blank = np.ones_like(refs[:1])
    rows = [np.concatenate([blank, xs])]
    for j in range(len(refs)):
        rows.append(np.concatenate([refs[j : j + 1], demakeup[j]]))
    return images.make_grid(images.to_uint8(np.concatenate(rows)), ncol=len(xs) + 1)


def _stems(paths, what):
    stems = [os.path.splitext(os.path.basename(p))[0] for p in paths]
    seen = {}
    for s, p in zip(stems, paths):
        if s in seen:
            raise FacejaxError(
                f"{what} has two images named {s!r} ({seen[s]}, {p}); output files are named "
                f"<src stem>__<ref stem>.png, so stems must be unique"
            )
        seen[s] = p
    return stems
