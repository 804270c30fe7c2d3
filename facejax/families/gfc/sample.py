"""GFC pictures: input / masked / completed grids, and `facejax sample --src=DIR --mask=FILE|TYPE`.

The completed image is the original's test output (demo_face128.m): G's output pasted into the hole of the
input, the rest untouched (its optional Poisson blending is not applied). Inputs are scaled as the demo's
(im2single * 2 - 1; data.test_input), the same as the evaluation's. The hole is filled with U(-1, 1)
noise from a fixed key, so a run's pictures are reproducible.
"""

from __future__ import annotations

import os

import jax
import numpy as np

from facejax import images
from facejax.errors import FacejaxError
from facejax.families.gfc import data, masks
from facejax.metrics.preprocess import list_images

NOISE_SEED = 1234


class Completer:
    """G's completion of images with holes, compiled once (chunks of a fixed size) and owned by the family."""

    def __init__(self, family):
        self._fn = jax.jit(family.complete)

    def __call__(self, g_params, x: np.ndarray, mask: np.ndarray, chunk: int = 8, seed: int = NOISE_SEED):
        n = len(x)
        m = np.broadcast_to(mask, (n,) + mask.shape[-3:]) if mask.ndim == 3 else mask
        pad = (-n) % chunk
        xp = np.concatenate([x, np.repeat(x[-1:], pad, 0)]) if pad else np.asarray(x)
        mp = np.concatenate([m, np.repeat(m[-1:], pad, 0)]) if pad else np.asarray(m)
        ins, outs = [], []
        for i in range(0, len(xp), chunk):
            key = jax.random.fold_in(jax.random.key(seed), i)
            x_in, _, comp = self._fn(g_params, xp[i : i + chunk], mp[i : i + chunk].astype(np.float32), key)
            ins.append(np.asarray(x_in))
            outs.append(np.asarray(comp))
        return np.concatenate(ins)[:n], np.concatenate(outs)[:n]


def complete(family, g_params, x: np.ndarray, mask: np.ndarray, chunk: int = 8, seed: int = NOISE_SEED):
    """(masked inputs, completed images) as numpy, for images x (N, S, S, 3) and one mask (S, S, 1) or one per
    image, by G's parameters `g_params`; in chunks of `chunk` (padded) so that the generator compiles once."""
    return family.completer(g_params, x, mask, chunk, seed)


def completion_grid(family, g_params, x: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """One row per image: the input, the masked input (noise in the hole), the completed image."""
    x_in, comp = complete(family, g_params, x, mask, chunk=max(1, min(8, len(x))))
    tiles = np.stack([x, x_in, comp], axis=1)
    return images.make_grid(images.to_uint8(tiles.reshape((-1,) + x.shape[1:])), ncol=3)


def complete_arrays(family, g_params, src, mask) -> np.ndarray:
    """uint8 (len(src), S, S, 3): the completed images (what complete_folder writes under completed/) of uint8
    images scaled by data.test_input; `mask` as --mask (an image file or a mask type) or an array, 1 = the hole:
    (S, S), (S, S, 1) for every image or (N, S, S, 1) one per image."""
    s = family.config.img_size
    if mask is None or isinstance(mask, str):
        mask = masks.resolve(family.config, mask or family.config.sample.mask_type)[1]
    mask = np.asarray(mask, np.float32)
    mask = mask[..., None] if mask.shape in ((s, s), (len(src), s, s)) else mask
    if mask.shape[-3:] != (s, s, 1) or mask.ndim not in (3, 4) or (mask.ndim == 4 and len(mask) != len(src)):
        raise FacejaxError(
            f"mask of shape {mask.shape}: expected ({s}, {s}[, 1]) for every image or ({len(src)}, {s}, {s}, 1), "
            f"1 = the hole (config.img_size={s})"
        )
    x = np.stack([data.test_input(np.asarray(a, np.uint8), family.config) for a in src]).astype(np.float32)
    return images.to_uint8(complete(family, g_params, x, mask)[1])


def folder_masks(config, mask_dir: str, paths) -> np.ndarray:
    """(N, S, S, 1) masks of --mask=DIR, one per --src image: DIR/<image stem>.png (white = the hole); a missing one
    is one line naming the image and the file expected."""
    out = []
    for p in paths:
        stem = os.path.splitext(os.path.basename(p))[0]
        found = [os.path.join(mask_dir, stem + e) for e in (".png", ".jpg", ".jpeg", ".bmp")]
        found = [f for f in found if os.path.isfile(f)]
        if not found:
            raise FacejaxError(
                f"--mask folder {mask_dir} has no mask for --src image {os.path.basename(p)}: expected "
                f"{os.path.join(mask_dir, stem)}.png, the same size as the image, white = the hole (or give one mask "
                f"file or a mask type of config.masks, {', '.join(sorted(config.masks))}, for every image)"
            )
        out.append(masks.mask_from_file(found[0], config.img_size))
    return np.stack(out).astype(np.float32)


def complete_folder(family, g_params, src_dir: str, mask_spec: str, out_dir: str) -> dict:
    """Every image of the flat folder src_dir, scaled by data.test_input (resized to img_size if needed), completed
    with the mask `mask_spec` (an image file, white = hole, a mask type of config.masks, or a folder with one mask
    per image, <image stem>.png). Writes
    ``masked/<stem>.png``, ``completed/<stem>.png`` and the grid ``completion_<mask>.png`` (input / masked /
    completed per row)."""
    paths = list_images(src_dir, "--src folder")
    stems = [os.path.splitext(os.path.basename(p))[0] for p in paths]
    if len(set(stems)) != len(stems):
        raise FacejaxError(f"--src folder {src_dir} has two images with the same name stem; outputs are <stem>.png")
    if os.path.isdir(mask_spec):
        name, mask = os.path.basename(os.path.normpath(mask_spec)), folder_masks(family.config, mask_spec, paths)
    else:
        name, mask = masks.resolve(family.config, mask_spec)
    x = np.stack([data.load_test_image(p, family.config) for p in paths]).astype(np.float32)
    x_in, comp = complete(family, g_params, x, mask)
    for stem, a, b in zip(stems, images.to_uint8(x_in), images.to_uint8(comp)):
        images.save_png(os.path.join(out_dir, "masked", f"{stem}.png"), a)
        images.save_png(os.path.join(out_dir, "completed", f"{stem}.png"), b)
    tiles = np.stack([x, x_in, comp], axis=1)
    grid = images.make_grid(images.to_uint8(tiles.reshape((-1,) + x.shape[1:])), ncol=3)
    path = images.save_png(os.path.join(out_dir, f"completion_{name}.png"), grid)
    return {
        "grid": path,
        "count": len(paths),
        "images": len(paths),
        "mask": name,
        "masked_dir": os.path.join(out_dir, "masked"),
        "completed_dir": os.path.join(out_dir, "completed"),
    }
