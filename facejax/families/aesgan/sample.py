"""AesGAN pictures: grids of input / masked input / reference / output, and ``facejax sample --src --ref``.

Folder mode: every face of --src gets its eyes in-painted. Eye positions come from an optional ``eyes.json`` in
each folder, ``{"<file name>": [[y_left, x_left], [y_right, x_right]], ...}`` in pixels of that file (Celeb-ID's
data.json gives them as eye_left / eye_right x, y); a face without an entry uses config.sample.eye_centers (the
aligned frame's mean eye positions, as fractions of the side). The reference of each face is chosen
automatically among the --ref images (config.sample.reference = "auto": the original's selection, aesthetic
score plus SSIM to the masked face, all --ref images counted as the same person with open eyes) or given
("given": the --ref image with the same file stem).
"""

from __future__ import annotations

import json
import os

import jax
import numpy as np
from PIL import Image

from facejax import images
from facejax.errors import FacejaxError
from facejax.families import base
from facejax.families.aesgan import data as data_lib
from facejax.families.aesgan import selection
from facejax.metrics.preprocess import list_images


class Sampler:
    """AesGAN's compiled functions outside the train step, created once by the family (``family.sampler``): the
    in-painting of a batch and the frozen aesthetic network's eye scores. Each compiles on first use."""

    def __init__(self, family):
        self._inpaint = jax.jit(lambda g, x, e, r, re: family.inpaint(g, x, e, r, re))
        self._scores = jax.jit(lambda p, x, e: family.net("E", p).score(family.eye_crops(x, e)))

    def inpaint(self, g_params, batch) -> tuple[np.ndarray, np.ndarray]:
        """(composite, masked input) of a batch {x, eyes, ref, ref_eyes}."""
        out, _, m3 = self._inpaint(g_params, batch["x"], batch["eyes"], batch["ref"], batch["ref_eyes"])
        return np.asarray(out), np.asarray(batch["x"]) * (1 - np.asarray(m3))

    def eye_scores(self, e_params, x, eyes):
        """(B,) aesthetic score of the images' eye crops."""
        return self._scores(e_params, x, eyes)


def grid(x, masked, ref, out) -> np.ndarray:
    """One row per face: input, masked input, reference, output."""
    tiles = np.stack([x, masked, ref, out], axis=1)
    return images.make_grid(images.to_uint8(tiles.reshape((-1,) + tiles.shape[2:])), ncol=4)


def grids(family, state, inputs) -> dict:
    """The periodic grid, from the current generator (AesGAN keeps no EMA)."""
    out, masked = family.sampler.inpaint(state.params["G"], inputs)
    return {"inpainting": grid(inputs["x"], masked, inputs["ref"], out)}


def _eyes(folder: str, paths, size: int, default) -> np.ndarray:
    table = {}
    path = os.path.join(folder, "eyes.json")
    if os.path.isfile(path):
        try:
            with open(path) as f:
                table = json.load(f)
        except (OSError, ValueError) as e:
            raise FacejaxError(f"{path} is not readable JSON ({e}); expected {{file name: [[y, x], [y, x]]}}") from None
    out = []
    for p in paths:
        name = os.path.basename(p)
        if name not in table:
            out.append(default)
            continue
        try:
            with Image.open(p) as im:
                w, h = im.size
            e = np.asarray(table[name], np.float64).reshape(2, 2) / np.array([h, w])
        except (ValueError, TypeError):
            raise FacejaxError(
                f"{path}: entry {name!r} is {table[name]!r}; expected [[y, x], [y, x]] in pixels"
            ) from None
        out.append(e.astype(np.float32))
    return np.stack(out).astype(np.float32)


def _default_eyes(config) -> np.ndarray:
    try:
        v = np.asarray([float(t) for t in str(config.sample.eye_centers).split(",")], np.float32).reshape(2, 2)
    except ValueError:
        raise FacejaxError(
            f"config.sample.eye_centers={config.sample.eye_centers!r}: expected 'y_l,x_l,y_r,x_r' "
            f"as fractions of the side"
        ) from None
    return v


def choose_references(family, e_params, xs, eyes, refs, ref_eyes) -> np.ndarray:
    """For each face, the index of its reference among refs by the original's rule (faces and refs as one
    identity; refs all candidates)."""
    s = family.config.img_size
    scores = np.asarray(family.eye_scores(e_params, refs, ref_eyes))
    picks = []
    for i in range(len(xs)):
        imgs = np.concatenate([xs[i : i + 1], refs])[None]
        e = np.concatenate([eyes[i : i + 1], ref_eyes])[None]
        k = imgs.shape[1]
        valid = np.ones((1, k), bool)
        opened = np.concatenate([[np.nan], np.ones(len(refs))])[None].astype(np.float32)
        sc = np.concatenate([[0.0], scores])[None].astype(np.float32)
        _, best, _ = selection.select(
            imgs, e, valid, opened, sc, axes=tuple(float(a) for a in family.axes), raster=family.config.mask_raster
        )
        picks.append(int(np.asarray(best)[0, 0]) - 1)
    del s
    return np.asarray(picks)


FOLDER_INPUTS = base.FolderInputs(
    src="AesGAN: faces whose eyes are in-painted (eye positions from an optional eyes.json in the folder)",
    ref="AesGAN: reference faces with open eyes (each --src face's chosen automatically, or the --ref image with "
    "the same file stem: config.sample.reference='given')",
    ref_required=True,
)


def aesthetic_params(family, state):
    """E's params for the automatic reference choice: the state's, or (an imported run, whose state holds none)
    config.aesthetic.checkpoint's; one line naming both ways out when neither is there."""
    if not base.placeholder(state.frozen["E"]):
        return state.frozen["E"]
    if not family.config.aesthetic.checkpoint:
        raise FacejaxError(
            "config.sample.reference='auto' chooses each face's reference with the aesthetic network, which this run "
            "holds none of (an import): set --config.aesthetic.checkpoint=<an aesgan_aesthetic run>, or pair each "
            "--src face with the --ref image of the same file stem: --config.sample.reference=given"
        )
    return family.frozen("E")


def inpaint_all(family, state, xs, eyes, refs, ref_eyes, pick=None, chunk: int = 8):
    """(outputs, masked inputs, reference index of each face): every face in-painted with refs[pick[i]] (chosen by
    choose_references when pick is None), in padded chunks of `chunk` so that G compiles once."""
    if pick is None:
        pick = choose_references(family, aesthetic_params(family, state), xs, eyes, refs, ref_eyes)
    outs, masked = [], []
    for i in range(0, len(xs), chunk):
        idx = np.arange(i, min(i + chunk, len(xs)))
        pad = np.concatenate([idx, np.repeat(idx[-1:], chunk - len(idx))])
        o, m = family.sampler.inpaint(
            state.params["G"],
            {"x": xs[pad], "eyes": eyes[pad], "ref": refs[pick[pad]], "ref_eyes": ref_eyes[pick[pad]]},
        )
        outs.append(o[: len(idx)])
        masked.append(m[: len(idx)])
    return np.concatenate(outs), np.concatenate(masked), pick


def translate_arrays(family, state, src, ref, eyes=None, ref_eyes=None) -> np.ndarray:
    """uint8 (len(src), S, S, 3): each face with its eyes in-painted from a reference of `ref` (chosen by the
    original's rule, or ref[i] for src[i] with config.sample.reference='given'), as sample_folders writes
    inpainted/<stem>.png. eyes / ref_eyes: (N, 2, 2) [[y_left, x_left], [y_right, x_right]] as fractions of the
    side, one per image (default config.sample.eye_centers, as for a file without an eyes.json entry)."""
    c = family.config
    s = c.img_size
    if ref is None:
        raise FacejaxError("family 'aesgan': give ref= (reference faces with open eyes) with src")
    xs = np.stack([data_lib.face_input(a, s, c.data.bytescale) for a in src])
    refs = np.stack([data_lib.face_input(a, s, c.data.bytescale) for a in ref])
    default = _default_eyes(c)

    def positions(e, n, what):
        if e is None:
            return np.broadcast_to(default, (n, 2, 2)).astype(np.float32)
        e = np.asarray(e, np.float32)
        if e.shape != (n, 2, 2):
            raise FacejaxError(
                f"{what} of shape {e.shape}: expected ({n}, 2, 2), [[y_left, x_left], [y_right, x_right]] per "
                f"image as fractions of the side"
            )
        return e

    eyes, ref_eyes = positions(eyes, len(xs), "eyes"), positions(ref_eyes, len(refs), "ref_eyes")
    pick = None
    if c.sample.reference == "given":
        if len(refs) != len(xs):
            raise FacejaxError(
                f"config.sample.reference='given' pairs src[i] with ref[i]: got {len(xs)} sources and {len(refs)} "
                f"references; use reference='auto' to choose"
            )
        pick = np.arange(len(xs))
    return images.to_uint8(inpaint_all(family, state, xs, eyes, refs, ref_eyes, pick)[0])


def sample_folders(family, state, request: base.FolderRequest, out_dir: str, chunk: int = 8) -> dict:
    """In-paints every --src face with its reference from --ref; writes ``inpainted/<src stem>.png`` and the grid
    ``inpainting.png`` (input / masked / reference / output) at img_size. Returns {"grid", "count", "pairs" (the
    same count), "references" {src stem: ref file}, "inpainted_dir"}."""
    src_dir, ref_dir = request.src, request.ref
    if not ref_dir:
        raise FacejaxError("family 'aesgan': --src needs --ref (the reference faces whose open eyes are copied)")
    c = family.config
    s = c.img_size
    src_paths, ref_paths = list_images(src_dir, "--src folder"), list_images(ref_dir, "--ref folder")
    default = _default_eyes(c)
    xs = np.stack([data_lib.read_face(p, s, c.data.bytescale) for p in src_paths])
    refs = np.stack([data_lib.read_face(p, s, c.data.bytescale) for p in ref_paths])
    eyes, ref_eyes = _eyes(src_dir, src_paths, s, default), _eyes(ref_dir, ref_paths, s, default)
    stems = [os.path.splitext(os.path.basename(p))[0] for p in src_paths]
    if c.sample.reference == "given":
        ref_stems = {os.path.splitext(os.path.basename(p))[0]: j for j, p in enumerate(ref_paths)}
        missing = [st for st in stems if st not in ref_stems]
        if missing:
            raise FacejaxError(
                f"config.sample.reference='given' pairs --src and --ref images by file stem; --ref has "
                f"no {missing[0]!r} (and {len(missing) - 1} more); use reference='auto' to choose"
            )
        pick = np.asarray([ref_stems[st] for st in stems])
    else:
        pick = None
    outs, masked, pick = inpaint_all(family, state, xs, eyes, refs, ref_eyes, pick, chunk)
    written = {}
    for st, o in zip(stems, images.to_uint8(outs)):
        images.save_png(os.path.join(out_dir, "inpainted", f"{st}.png"), o)
    written["grid"] = images.save_png(os.path.join(out_dir, "inpainting.png"), grid(xs, masked, refs[pick], outs))
    written["count"] = written["pairs"] = len(stems)
    written["references"] = {st: os.path.basename(ref_paths[j]) for st, j in zip(stems, pick)}
    written["inpainted_dir"] = os.path.join(out_dir, "inpainted")
    return written
