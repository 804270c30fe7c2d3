"""IPM-Net pictures: makeup transfer per (non-makeup face, makeup reference) pair, the makeup-level sweep, grids.

test.py's inference: out = decode(content(src), alpha * E_S(src) + (1 - alpha) * E_S(ref), r_src), alpha the makeup
level (0 = the reference's full makeup, 1 = none). The output is unbounded; the original saves it with
``make_grid(normalize=True, scale_each=True)``: each image min-max stretched to [0, 1]
(config.sample.normalize = "minmax"; "clip" clamps [-1, 1] instead).

The compiled generator belongs to a ``Sampler``, which the family creates with its ``makeup`` function.

Folders (``facejax sample --src=DIR --ref=DIR``):
  --src   faces without makeup with their maps: ``DIR/images/<name>`` (or directly in DIR) and either
          ``DIR/segs/<name>.png`` (MT
          parsing maps, labels 0..13) or ``DIR/mask/<name>.png`` + ``DIR/highcontract/<name>.png`` (as
          ``facejax prepare ipmnet_maps`` writes them, or the original's ``testB_mask`` / ``testB_highcontract``)
  --ref   made-up faces: ``DIR/images/<name>`` or images directly in DIR (only their style code is used)
"""

from __future__ import annotations

import os

import jax
import numpy as np

from facejax import images
from facejax.errors import FacejaxError
from facejax.families.ipmnet import preprocess
from facejax.families.ipmnet.settings import alphas
from facejax.metrics.preprocess import list_images


def to_display(x, mode: str = "minmax") -> np.ndarray:
    """Float images -> uint8: per-image min-max stretch as torchvision's make_grid(normalize=True, scale_each=True)
    + save_image, or [-1, 1] clamped."""
    x = np.asarray(x, np.float32)
    if mode == "clip":
        return images.to_uint8(x)
    lo = x.min(axis=(-3, -2, -1), keepdims=True)
    hi = x.max(axis=(-3, -2, -1), keepdims=True)
    y = (np.clip(x, lo, hi) - lo) / (hi - lo + 1e-5)
    return np.clip(np.floor(y * 255.0 + 0.5), 0, 255).astype(np.uint8)


class Sampler:
    """IPM-Net's pictures from generator weights: makeup(g_params, x, mask, texture, ref, alpha, u) (the family's,
    test.py's inference) compiled once per object and batch shape."""

    def __init__(self, config, makeup):
        self.config = config
        self._gen = jax.jit(makeup)

    def outputs(self, g_params, xs, maps, refs, alphas, chunk: int = 8) -> np.ndarray:
        """(len(refs), len(alphas), len(xs), H, W, 3): xs[i] with refs[j]'s makeup at level alphas[k]. maps: (N, H, W,
        2) mask, texture. Sources go in chunks of `chunk` (padded) so that the generator compiles once."""
        u = self.config.sample.texture_u
        n = len(xs)
        pad = (-n) % chunk
        xp = np.concatenate([xs, np.repeat(xs[-1:], pad, 0)]) if pad else np.asarray(xs)
        mp = np.concatenate([maps, np.repeat(maps[-1:], pad, 0)]) if pad else np.asarray(maps)
        out = np.zeros((len(refs), len(alphas)) + tuple(xp.shape), np.float32)
        for j, r in enumerate(refs):
            for k, a in enumerate(alphas):
                for i in range(0, len(xp), chunk):
                    x, m = xp[i : i + chunk], mp[i : i + chunk]
                    ref = np.repeat(np.asarray(r)[None], len(x), 0)
                    out[j, k, i : i + chunk] = np.asarray(
                        self._gen(g_params, x, m[..., :1], m[..., 1:], ref, np.float32(a), u)
                    )
        return out[:, :, :n]

    def grids(self, g_params, inputs) -> dict:
        """'makeup': top row a blank then the references, each row a source then its transfers (level
        config.sample.level); 'levels': per source (with the first reference) the alpha sweep."""
        c = self.config
        xs, maps, refs = inputs["x_src"], inputs["extra_src"], inputs["x_ref"]
        sweep = alphas(c)
        level = self.outputs(g_params, xs, maps, refs, [c.sample.level])[:, 0]  # (R, N, ...)
        mode = c.sample.normalize
        blank = np.full_like(to_display(xs[:1], "clip"), 255)
        rows = [np.concatenate([blank, to_display(refs, "clip")])]
        for i in range(len(xs)):
            rows.append(np.concatenate([to_display(xs[i : i + 1], "clip"), to_display(level[:, i], mode)]))
        makeup = images.make_grid(np.concatenate(rows), ncol=len(refs) + 1)
        lv = self.outputs(g_params, xs, maps, refs[:1], sweep)[0]  # (A, N, ...)
        tiles = [
            np.concatenate(
                [to_display(xs[i : i + 1], "clip"), to_display(refs[:1], "clip"), to_display(lv[:, i], mode)]
            )
            for i in range(len(xs))
        ]
        levels = images.make_grid(np.concatenate(tiles), ncol=len(sweep) + 2)
        return {"makeup": makeup, "levels": levels}

    def translate_arrays(self, g_params, src, parsing, ref, alpha=None) -> np.ndarray:
        """uint8 (len(src), len(ref), S, S, 3): src[i] (with its parsing map parsing[i]) wearing ref[j]'s makeup at
        level `alpha` (default config.sample.level), displayed as `folders` writes makeup/<src>__<ref>.png."""
        c = self.config
        if parsing is None or len(parsing) != len(src):
            raise FacejaxError(
                "family 'ipmnet': give parsing= with src, one MT face-parsing map (uint8 labels 0..13, H x W) per "
                f"source image ({len(src)}), the maps --src's segs/ folder holds"
            )
        if ref is None:
            raise FacejaxError("family 'ipmnet': give ref= (made-up faces whose makeup the sources take)")
        xs, maps = [], []
        for img, seg in zip(src, parsing):
            if int(np.max(seg)) > 13:
                raise FacejaxError("a parsing map has values above 13: expected MT parsing labels 0..13")
            x, m, t = preprocess.maps_input(img, seg, c.img_size, c.data.load_size, c.data.map_filter)
            xs.append(x)
            maps.append(np.concatenate([m, t], axis=-1))
        xs, maps = np.stack(xs).astype(np.float32), np.stack(maps).astype(np.float32)
        refs = np.stack([reference_input(r, c) for r in ref]).astype(np.float32)
        level = self.outputs(g_params, xs, maps, refs, [c.sample.level if alpha is None else float(alpha)])[:, 0]
        return to_display(level, c.sample.normalize).transpose(1, 0, 2, 3, 4)

    def folders(self, g_params, src_dir: str, ref_dir: str, out_dir: str) -> dict:
        """Every --src face with every --ref face. Writes ``makeup/<src>__<ref>.png`` (level config.sample.level),
        ``levels/<src>__<ref>.png`` (source, reference, then the outputs at config.sample.alphas), and the grid
        ``makeup.png``."""
        c = self.config
        src_paths, xs, maps = read_sources(src_dir, c)
        ref_paths, refs = read_references(ref_dir, c)
        for what, ps in (("--src", src_paths), ("--ref", ref_paths)):
            stems = [_stem(p) for p in ps]
            if len(set(stems)) != len(stems):
                raise FacejaxError(
                    f"{what} has two images with the same name stem; output files are named "
                    f"<src stem>__<ref stem>.png, so stems must be unique"
                )
        sweep = alphas(c)
        level = self.outputs(g_params, xs, maps, refs, [c.sample.level])[:, 0]
        lv = self.outputs(g_params, xs, maps, refs, sweep)
        mode = c.sample.normalize
        for j, rp in enumerate(ref_paths):
            for i, sp in enumerate(src_paths):
                name = f"{_stem(sp)}__{_stem(rp)}.png"
                images.save_png(os.path.join(out_dir, "makeup", name), to_display(level[j, i], mode))
                row = np.concatenate(
                    [
                        to_display(xs[i : i + 1], "clip"),
                        to_display(refs[j : j + 1], "clip"),
                        to_display(lv[j, :, i], mode),
                    ]
                )
                images.save_png(os.path.join(out_dir, "levels", name), images.make_grid(row, ncol=len(row)))
        g = self.grids(g_params, {"x_src": xs, "extra_src": maps, "x_ref": refs})
        grid = images.save_png(os.path.join(out_dir, "makeup.png"), g["makeup"])
        pairs = len(src_paths) * len(ref_paths)
        return {
            "grid": grid,
            "count": pairs,
            "pairs": pairs,
            "alphas": sweep,
            "makeup_dir": os.path.join(out_dir, "makeup"),
            "levels_dir": os.path.join(out_dir, "levels"),
        }


def _stem(p):
    return os.path.splitext(os.path.basename(p))[0]


def _find(folder, stem):
    for ext in (".png", ".jpg", ".jpeg", ".bmp"):
        p = os.path.join(folder, stem + ext)
        if os.path.isfile(p):
            return p
    return None


def _missing_map(src_dir, image, what):
    """The one line for a --src image without the maps IPM-Net's encoder reads: which file, and how to make it."""
    stem = _stem(image)
    return FacejaxError(
        f"--src {src_dir!r}: {what} for {os.path.basename(image)}: IPM-Net reads each face with its makeup mask and "
        f"texture, made from an MT face-parsing map (labels 0..13): put it at {os.path.join(src_dir, 'segs', stem)}"
        f".png, or write mask/ and highcontract/ from images/ + segs/ with `facejax prepare ipmnet_maps "
        f"--manual_dir={src_dir} --out=OUT` (it reads DIR/images/ and DIR/segs/) and give --src=OUT"
    )


def read_sources(src_dir: str, config):
    """(paths, images (N, S, S, 3), maps (N, S, S, 2)) of a --src folder (layouts: module docstring; the faces may
    also lie directly in the folder, beside segs/). A face without its maps is one line naming the file expected."""
    c = config
    img_dir = os.path.join(src_dir, "images")
    if not os.path.isdir(img_dir):
        img_dir = src_dir
    paths = list_images(img_dir, "--src images folder")
    segs, mask_dir, tex_dir = (os.path.join(src_dir, d) for d in ("segs", "mask", "highcontract"))
    xs, maps = [], []
    for p in paths:
        seg = _find(segs, _stem(p)) if os.path.isdir(segs) else None
        if seg is not None:
            x, m, t = preprocess.read_maps(p, seg, c.img_size, c.data.load_size, c.data.map_filter)
        elif os.path.isdir(mask_dir) and os.path.isdir(tex_dir):
            mask, tex = _find(mask_dir, _stem(p)), _find(tex_dir, _stem(p))
            if mask is None or tex is None:
                missing = os.path.join(mask_dir if mask is None else tex_dir, _stem(p)) + ".png"
                raise _missing_map(src_dir, p, f"no {missing}")
            x, m, t = preprocess.read_map_files(p, mask, tex, c.img_size, c.data.load_size, c.data.map_filter)
        else:
            raise _missing_map(src_dir, p, f"no parsing map {os.path.join(segs, _stem(p))}.png")
        xs.append(x)
        maps.append(np.concatenate([m, t], axis=-1))
    return paths, np.stack(xs).astype(np.float32), np.stack(maps).astype(np.float32)


def read_references(ref_dir: str, config):
    """(paths, images (N, S, S, 3)) of a --ref folder: DIR/images/<name> or images directly in DIR."""
    c = config
    folder = os.path.join(ref_dir, "images") if os.path.isdir(os.path.join(ref_dir, "images")) else ref_dir
    paths = list_images(folder, "--ref folder")
    recipe = preprocess.recipe(c)
    return paths, np.stack([images.read(p, recipe) for p in paths]).astype(np.float32)


def reference_input(img_uint8, config) -> np.ndarray:
    """A reference face (uint8 (H, W, 3)) as read_references reads a file (test.py's img_transform)."""
    return images.prepare(np.asarray(img_uint8, np.uint8), preprocess.recipe(config))
