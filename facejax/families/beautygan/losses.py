"""BeautyGAN objectives as wtjiang98/BeautyGAN_pytorch ``solver_makeup.py`` computes them
(shared/reference/makeup.md sections 3.4, 3.5), generalised from batch 1 to any batch.

Region masks come from the MT parsing maps (ids: makeup.md section 1): lips = 7 + 9, skin = 1 + 6 + 13 (face,
nose, neck), and the eye shadow of each eye = the face pixels (1 + 6) inside that eye's (4 or 5) bounding box
grown by ``eye_margin`` pixels (10 at 256 px; the original's ``rebound_box``).

The makeup ("histogram") loss of one region, ``criterionHis``:
  1. both images to the 0-255 scale: clamp((x + 1) / 2, 0, 1) * 255;
  2. per channel, histograms of the source region's pixels (the generated image) and of the target region's
     pixels (the reference), 256 bins of width 1 (``torch.histc(bins=256, min=0, max=256)``), normalised and
     accumulated into CDFs in float32, level by level (the original's Python loop);
  3. a lookup table: for each level i in 1..255 the first j in 1..255 with cdf_ref[j-1] <= cdf_src[i] <=
     cdf_ref[j] (else i); table[0] = 0, table[255] = 255;
  4. the matched image: each region pixel's floor level remapped by the table; no gradient;
  5. loss = sum over the region of |x - matched| / (3 H W): an L1 on the 0-255 scale, averaged over the whole
     image (no normalisation by the region's size), as the original.
It runs inside jit, per example and channel, with no host round trip (the original runs it in NumPy on the
CPU at batch 1). Its parity with a NumPy transcription of the same algorithm is tested
(tests/families/beautygan/test_losses.py). Quirks kept: a region absent from the reference leaves an identity
table (NaN CDF), so the loss is the distance to the floor levels; a region absent from the source costs 0.

Batches: every term is computed per example and averaged over the batch, so batch 1 is the original. The
original skips an iteration whose images lack an eye (4 or 5 in either parsing map) when the eye term is on;
here such an example gets weight 0 in every term, and a batch without any valid example changes nothing (the
family's step keeps parameters and optimizer states), which is the original at batch 1.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

LIPS = (7, 9)
SKIN = (1, 6, 13)
FACE = (1, 6)
LEFT_EYE, RIGHT_EYE = 4, 5
REGIONS = ("lips", "skin", "eye_left", "eye_right")


# ------------------------------------------------------------------------------------------- masks


def _isin(p, ids):
    out = jnp.zeros(p.shape, bool)
    for i in ids:
        out = out | (p == i)
    return out


EYE_BOXES = ("slice", "clip")


def _slice_range(lo, hi, n):
    """Python's slice [lo:hi] of a length-n axis (lo may be negative, hi >= 1): the (start, stop) it selects."""
    start = jnp.where(lo < 0, jnp.maximum(lo + n, 0), jnp.minimum(lo, n))
    return start, jnp.minimum(hi, n)


def eye_shadow_mask(parsing: jax.Array, eye: int, margin: int, box: str = "slice") -> tuple[jax.Array, jax.Array]:
    """(mask, present): the eye-shadow region of label `eye` (``rebound_box``); present = the eye is in the map.

    The original writes the face mask (1, 6) into the eye's mask inside ``[min - margin : max + margin + 1]`` on both
    axes (PyTorch slicing, in place). box "slice" (the original's): Python's slice rules, so a start below 0 counts
    from the far edge and the slice is then empty when the eye is nearer than `margin` px to the top or left edge;
    outside the written window the eye's own pixels stay (with an empty window the mask is the eye itself). "clip":
    the box clipped at 0 (facejax's earlier reading), face pixels inside it, nothing outside.

    parsing: (B, H, W) integer labels."""
    if box not in EYE_BOXES:
        raise ValueError(f"box={box!r}: expected one of {EYE_BOXES}")
    b, h, w = parsing.shape
    eye_px = parsing == eye
    rows, cols = jnp.any(eye_px, axis=2), jnp.any(eye_px, axis=1)  # (B, H), (B, W)
    present = jnp.any(rows, axis=1)
    r = jnp.arange(h)
    c = jnp.arange(w)
    rmin = jnp.argmax(rows, axis=1)
    rmax = h - 1 - jnp.argmax(rows[:, ::-1], axis=1)
    cmin = jnp.argmax(cols, axis=1)
    cmax = w - 1 - jnp.argmax(cols[:, ::-1], axis=1)
    face = _isin(parsing, FACE)
    if box == "clip":
        in_r = (r[None] >= (rmin - margin)[:, None]) & (r[None] <= (rmax + margin)[:, None])
        in_c = (c[None] >= (cmin - margin)[:, None]) & (c[None] <= (cmax + margin)[:, None])
        inside = in_r[:, :, None] & in_c[:, None, :] & present[:, None, None]
        return inside & face, present
    r0, r1 = _slice_range(rmin - margin, rmax + margin + 1, h)
    c0, c1 = _slice_range(cmin - margin, cmax + margin + 1, w)
    in_r = (r[None] >= r0[:, None]) & (r[None] < r1[:, None])
    in_c = (c[None] >= c0[:, None]) & (c[None] < c1[:, None])
    inside = in_r[:, :, None] & in_c[:, None, :] & present[:, None, None]
    return jnp.where(inside, face, eye_px), present


def region_masks(parsing: jax.Array, eye_margin: int, eye_box: str = "slice") -> tuple[dict, jax.Array]:
    """({region: (B, H, W) float32 0/1 mask}, eyes_present (B,) bool) of (B, H, W) or (B, H, W, 1) maps; eye_box:
    eye_shadow_mask's `box`."""
    p = parsing[..., 0] if parsing.ndim == 4 else parsing
    p = p.astype(jnp.int32)
    left, has_left = eye_shadow_mask(p, LEFT_EYE, eye_margin, eye_box)
    right, has_right = eye_shadow_mask(p, RIGHT_EYE, eye_margin, eye_box)
    masks = {"lips": _isin(p, LIPS), "skin": _isin(p, SKIN), "eye_left": left, "eye_right": right}
    return {k: v.astype(jnp.float32) for k, v in masks.items()}, has_left & has_right


# ------------------------------------------------------------------------------------------- histogram matching


def to_levels(x: jax.Array) -> jax.Array:
    """[-1, 1] images -> [0, 255] (the original's de_norm * 255), float32."""
    return jnp.clip((x.astype(jnp.float32) + 1.0) / 2.0, 0.0, 1.0) * 255.0


def region_histograms(levels: jax.Array, mask: jax.Array) -> jax.Array:
    """(B, 3, 256) float32 pixel counts per channel of the masked pixels; bin k holds the levels in [k, k+1)."""
    b = levels.shape[0]
    idx = jnp.clip(jnp.floor(levels), 0, 255).astype(jnp.int32).reshape(b, -1, 3)  # (B, HW, 3)
    w = (mask.reshape(b, -1) > 0).astype(jnp.float32)  # (B, HW)

    def one(i, wt):  # (HW,), (HW,) -> (256,)
        return jnp.zeros((256,), jnp.float32).at[i].add(wt)

    per_channel = jax.vmap(one, in_axes=(1, None))  # over channels
    return jax.vmap(per_channel)(idx, w)  # (B, 3, 256)


def cdf(counts: jax.Array) -> jax.Array:
    """Counts (..., 256) -> the original's float32 CDF: pdf = count / total, then pdf[j] = pdf[j-1] + pdf[j]
    for j = 1..255 in order (a sequential scan: the same additions, so the same float32 values)."""
    # XLA rewrites a / broadcast(b) as a * broadcast(1 / b), which rounds differently from the original's
    # float32 division; the barrier keeps a true elementwise division (correctly rounded, as NumPy's).
    total = jax.lax.optimization_barrier(jnp.broadcast_to(jnp.sum(counts, axis=-1, keepdims=True), counts.shape))
    pdf = counts / total
    first = pdf[..., 0]

    def step(acc, p):
        acc = acc + p
        return acc, acc

    _, rest = jax.lax.scan(step, first, jnp.moveaxis(pdf[..., 1:], -1, 0))
    return jnp.concatenate([first[..., None], jnp.moveaxis(rest, 0, -1)], axis=-1)


def matching_table(cdf_src: jax.Array, cdf_ref: jax.Array) -> jax.Array:
    """(..., 256) int32 lookup table: for i in 1..255 the first j in 1..255 with
    cdf_ref[j-1] <= cdf_src[i] <= cdf_ref[j], else i; table[0] = 0 and table[255] = 255 (``cal_trans``)."""
    s = cdf_src[..., 1:, None]  # i = 1..255
    lo, hi = cdf_ref[..., None, :-1], cdf_ref[..., None, 1:]  # adj[j-1], adj[j] for j = 1..255
    hit = (lo <= s) & (s <= hi)  # (..., 255, 255)
    first = jnp.argmax(hit, axis=-1).astype(jnp.int32) + 1
    levels = jnp.arange(1, 256, dtype=jnp.int32)
    t = jnp.where(jnp.any(hit, axis=-1), first, levels)
    t = jnp.concatenate([jnp.zeros(t.shape[:-1] + (1,), jnp.int32), t], axis=-1)
    return t.at[..., 255].set(255)


def histogram_match(src_levels, src_mask, ref_levels, ref_mask) -> jax.Array:
    """The matched source levels (B, H, W, 3) float32: region pixels of the source remapped to the reference
    region's histogram, the others v * mask (0 outside the region); no gradient."""
    src_levels, ref_levels = jax.lax.stop_gradient(src_levels), jax.lax.stop_gradient(ref_levels)
    table = matching_table(
        cdf(region_histograms(src_levels, src_mask)), cdf(region_histograms(ref_levels, ref_mask))
    )  # (B, 3, 256)
    b, h, w, _ = src_levels.shape
    idx = jnp.clip(jnp.floor(src_levels), 0, 255).astype(jnp.int32).reshape(b, -1, 3)
    mapped = jnp.take_along_axis(table, jnp.moveaxis(idx, 2, 1), axis=2)  # (B, 3, HW)
    mapped = jnp.moveaxis(mapped, 1, 2).reshape(b, h, w, 3).astype(jnp.float32)
    m = src_mask[..., None] > 0
    return jax.lax.stop_gradient(jnp.where(m, mapped, src_levels * src_mask[..., None]))


def histogram_loss(fake, target, mask_src, mask_tar) -> jax.Array:
    """Per-example criterionHis (B,): mean over H, W, 3 of |fake255 * mask - HM(fake255 * mask, target255)|."""
    src = to_levels(fake)
    tar = to_levels(target)
    masked = src * mask_src[..., None]
    matched = histogram_match(src, mask_src, tar, mask_tar)
    return jnp.mean(jnp.abs(masked - matched), axis=(1, 2, 3))


# ------------------------------------------------------------------------------------------- other terms


def lsgan(out, target: float) -> jax.Array:
    """Per-example MSE(out, target) over the score map (GANLoss(use_lsgan=True))."""
    return jnp.mean(jnp.square(out.astype(jnp.float32) - target), axis=tuple(range(1, out.ndim)))


def l1(a, b) -> jax.Array:
    return jnp.mean(jnp.abs(a.astype(jnp.float32) - b.astype(jnp.float32)), axis=tuple(range(1, a.ndim)))


def mse(a, b) -> jax.Array:
    return jnp.mean(jnp.square(a.astype(jnp.float32) - b.astype(jnp.float32)), axis=tuple(range(1, a.ndim)))


def weighted_mean(per_example, weight, norm=None) -> jax.Array:
    """Mean over the examples with weight 1 (0 when there are none). `norm`: the divisor, when the examples are a
    micro-batch of a larger batch (the larger batch's max(sum of weights, 1) / number of micro-batches)."""
    return jnp.sum(per_example * weight) / (jnp.maximum(jnp.sum(weight), 1.0) if norm is None else norm)


def makeup_terms(fake_a, fake_b, org_a, ref_b, masks_a, masks_b, weights) -> dict:
    """Per-example makeup terms, already weighted: {"his_A/<region>", "his_B/<region>"} for the regions with a
    nonzero weight. fake_A is matched to ref_B's regions (masks of A for the source, of B for the target);
    fake_B to org_A's (masks of B, then of A). weights: {"lips", "skin_1", "skin_2", "eye"}."""
    out = {}
    for region in REGIONS:
        key = "eye" if region.startswith("eye") else region
        wa = weights["skin_1"] if region == "skin" else weights[key]
        wb = weights["skin_2"] if region == "skin" else weights[key]
        if wa:
            out[f"his_A/{region}"] = wa * histogram_loss(fake_a, ref_b, masks_a[region], masks_b[region])
        if wb:
            out[f"his_B/{region}"] = wb * histogram_loss(fake_b, org_a, masks_b[region], masks_a[region])
    return out
