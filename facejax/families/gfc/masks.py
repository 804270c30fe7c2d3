"""GFC's holes: random noise-filled squares for training, named rectangles (eyes, mouth, half faces) and mask
files for evaluation and sampling, and the crops and composites the losses read.

A mask is float32 (..., S, S, 1), 1 inside the hole. The training squares are drawn inside the jitted step from
the step's key (GFC_Gen_training_G.m / _D.m): the top-left corner uniformly in
[offset, offset + span - 1] on each axis, span = S - size for the G update (offset 1: the original's
``ceil(rand * 64 + 1)`` is 2..65, 1-based) and S - size - d_margin for the D update (offset 4: 5..58). With flip
pairs, both images of a pair get the same corner. The hole is filled with U(-1, 1) noise.
"""

from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import numpy as np
from PIL import Image

from facejax.errors import FacejaxError


def corners(key, n: int, size: int, hole: int, offset: int, span: int, pairs: bool) -> jax.Array:
    """(n, 2) int32 (top, left) corners; with `pairs`, rows 2i and 2i+1 equal."""
    m = n // 2 if pairs else n
    c = offset + jax.random.randint(key, (m, 2), 0, span, jnp.int32)
    return jnp.repeat(c, 2, axis=0) if pairs else c


def square_masks(corner: jax.Array, size: int, hole: int) -> jax.Array:
    """(n, S, S, 1) masks of hole x hole squares at the given corners."""
    r = jnp.arange(size)
    rows = (r[None, :] >= corner[:, :1]) & (r[None, :] < corner[:, :1] + hole)
    cols = (r[None, :] >= corner[:, 1:]) & (r[None, :] < corner[:, 1:] + hole)
    return (rows[:, :, None] & cols[:, None, :]).astype(jnp.float32)[..., None]


def fill(x: jax.Array, mask: jax.Array, key, noise: bool = True) -> jax.Array:
    """G's input: x outside the hole, U(-1, 1) noise (or zeros) inside."""
    inside = jax.random.uniform(key, x.shape, jnp.float32, -1.0, 1.0) if noise else jnp.zeros_like(x)
    return x * (1.0 - mask) + inside * mask


def composite(truth: jax.Array, out: jax.Array, mask: jax.Array) -> jax.Array:
    """The completed image: ground truth outside the hole, G's output inside."""
    return truth * (1.0 - mask) + out * mask


def global_input(truth: jax.Array, out: jax.Array, mask: jax.Array, full_image: bool = True) -> jax.Array:
    """The global discriminator's fake: the composite. With `full_image` (the original's gradstack.m) its input
    gradient reaches G's output over the whole image, context pixels included (a straight-through composite);
    otherwise only inside the hole (plain autodiff)."""
    comp = composite(truth, out, mask)
    return out + jax.lax.stop_gradient(comp - out) if full_image else comp


def crop(x: jax.Array, corner: jax.Array, hole: int) -> jax.Array:
    """(n, hole, hole, C): each image's square at its corner (the local discriminator's input)."""
    return jax.vmap(lambda img, c: jax.lax.dynamic_slice(img, (c[0], c[1], 0), (hole, hole, x.shape[-1])))(x, corner)


# ------------------------------------------------------------------------------------------------ named masks


def parse_box(spec: str, field: str) -> tuple[float, float, float, float]:
    try:
        vals = tuple(float(v) for v in str(spec).split(","))
    except ValueError:
        vals = ()
    if (
        len(vals) != 4
        or not all(0.0 <= v <= 1.0 for v in vals)
        or vals[2] <= 0
        or vals[3] <= 0
        or vals[0] + vals[2] > 1.0 + 1e-9
        or vals[1] + vals[3] > 1.0 + 1e-9
    ):
        raise FacejaxError(
            f"{field}={spec!r}: expected 'top,left,height,width' as fractions of the image side, "
            f"inside the image (e.g. '0.25,0.25,0.5,0.5')"
        )
    return vals


def box_pixels(box, size: int) -> tuple[int, int, int, int]:
    """(top, left, height, width) in pixels of a fractional box, at least 1 px each way."""
    t, l, h, w = box
    top, left = int(round(t * size)), int(round(l * size))
    return top, left, max(1, min(int(round(h * size)), size - top)), max(1, min(int(round(w * size)), size - left))


def named_mask(config, name: str) -> np.ndarray:
    """(S, S, 1) float32 mask of config.masks.<name>."""
    if name not in config.masks:
        raise FacejaxError(
            f"unknown mask type {name!r}; config.masks defines {', '.join(sorted(config.masks))} "
            f"(or give a mask image file)"
        )
    s = config.img_size
    top, left, h, w = box_pixels(parse_box(config.masks[name], f"config.masks.{name}"), s)
    m = np.zeros((s, s, 1), np.float32)
    m[top : top + h, left : left + w] = 1.0
    return m


def mask_from_file(path: str, size: int) -> np.ndarray:
    """(S, S, 1) float32 mask from an image file: pixels brighter than mid-grey are the hole (nearest resize)."""
    try:
        with Image.open(path) as im:
            g = im.convert("L")
            if g.size != (size, size):
                g = g.resize((size, size), Image.NEAREST)
            m = (np.asarray(g) > 127).astype(np.float32)[..., None]
    except Exception as e:
        raise FacejaxError(
            f"unreadable mask image {path}: {type(e).__name__}: {e} (expected a PNG/JPEG, white = the hole to complete)"
        ) from None
    if not m.any():
        raise FacejaxError(f"mask image {path} has no white pixel: nothing to complete (white = the hole)")
    return m


def resolve(config, spec: str) -> tuple[str, np.ndarray]:
    """(name, mask) of --mask: an existing image file, or a mask type of config.masks."""
    if spec and os.path.isfile(spec):
        return os.path.splitext(os.path.basename(spec))[0], mask_from_file(spec, config.img_size)
    if spec and (os.sep in spec or spec.lower().endswith((".png", ".jpg", ".jpeg", ".bmp"))):
        raise FacejaxError(
            f"mask file {spec} does not exist (give an image file, white = the hole, or one of the "
            f"mask types {', '.join(sorted(config.masks))})"
        )
    return spec, named_mask(config, spec)


def bounding_box(mask: np.ndarray) -> tuple[int, int, int, int]:
    """(top, left, height, width) of a mask's hole."""
    rows, cols = np.nonzero(mask[..., 0] > 0)
    return int(rows.min()), int(cols.min()), int(rows.max() - rows.min() + 1), int(cols.max() - cols.min() + 1)
