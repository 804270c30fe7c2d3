"""Multi-reference selection (AesGAN ``utils.read_image_list_for_Eyes``; completion_beauty.md B.4), jitted and
batched over identities.

For a target image t of an identity, every other image c of that identity whose eyes are open (``opened`` >=
0.60, not missing) is a candidate. Both t and c get t's eye mask (two ellipses) set to black, and
``SSIM(t_masked, c_masked)`` is computed over the whole image (tf.image.ssim with max_val 255: an 11x11 Gaussian
window, sigma 1.5, valid filtering; facejax.metrics.ssim on [0, 1] pixels with data range 1 is the same number).
The original then walks the candidates in the identity's order (data.json), with tmp_ssim = 0, eyescore = 0 and
the pick initialised to ``flg`` = image 1 if t is image 0, else image 0:

  pass 1   accept c if SSIM(c) > tmp_ssim and eyescore(c) >= eyescore of the current pick (then both move to c)
  pass 2   only if the pick is still ``flg``: accept c if SSIM(c) > tmp_ssim (tmp_ssim continues from pass 1)

so the pick is a greedy mix of the two criteria that depends on the order, with the pure-SSIM fallback when pass
1 accepted nothing (or accepted ``flg`` itself, whose index equals the initial pick: the original cannot tell the
two apart). Test targets get a second reference: the same walk without the first pick (``exclude``). The
eyescore is the aesthetic network's score of the candidate's eye crop (the original reads a precomputed
``eyescore`` field whose script was not released).

``greedy_reference`` is the original's loop in NumPy (one target); ``select`` is the same rule for a batch of
identity groups under jit, with every SSIM of the groups computed in one call.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from facejax.families.aesgan.data import eye_masks
from facejax.metrics.ssim import ssim as ssim_fn

OPEN_THRESHOLD = 0.60


def greedy_reference(ssims, scores, candidate, target: int, exclude: int = -1) -> int:
    """The original's choice for target index `target` among an identity's images (NumPy, one target).
    ssims[i]: SSIM of image i to the masked target; scores[i]: its eyescore; candidate[i]: its eyes are open."""
    flg = 1 if target == 0 else 0
    pick, tmp, eyescore = flg, 0.0, 0.0
    usable = [i for i in range(len(ssims)) if i != target and i != exclude and candidate[i]]
    for i in usable:
        if ssims[i] > tmp and scores[i] >= eyescore:
            tmp, pick, eyescore = ssims[i], i, scores[i]
    if pick == flg:
        for i in usable:
            if ssims[i] > tmp:
                tmp, pick = ssims[i], i
    return pick


def _greedy(ssims, scores, usable, flg):
    """greedy_reference for one target under jit: ssims, scores (K,), usable (K,) bool, flg scalar int."""

    def pass1(carry, k):
        tmp, pick, es = carry
        ok = usable[k] & (ssims[k] > tmp) & (scores[k] >= es)
        return (jnp.where(ok, ssims[k], tmp), jnp.where(ok, k, pick), jnp.where(ok, scores[k], es)), None

    def pass2(carry, k):
        tmp, pick = carry
        ok = usable[k] & (ssims[k] > tmp)
        return (jnp.where(ok, ssims[k], tmp), jnp.where(ok, k, pick)), None

    ks = jnp.arange(ssims.shape[0])
    (tmp, pick, _), _ = jax.lax.scan(pass1, (jnp.float32(0.0), flg, jnp.float32(0.0)), ks)
    (tmp2, pick2), _ = jax.lax.scan(pass2, (tmp, pick), ks)
    return jnp.where(pick == flg, pick2, pick)


def masked_ssim(images, eyes, axes, raster: str = "opencv"):
    """(G, K, K) SSIM of every image k of each group to target j's masked image (both masked with j's eyes):
    images (G, K, S, S, 3) in [-1, 1], eyes (G, K, 2, 2)."""
    g, k, s = images.shape[:3]
    x01 = (images.astype(jnp.float32) + 1.0) / 2.0
    masks = eye_masks(eyes, s, axes, raster)  # (G, K, S, S, 1): target j's mask
    keep = 1.0 - masks
    t = (x01 * keep)[:, :, None]  # (G, Kt, 1, S, S, 3)
    c = x01[:, None] * keep[:, :, None]  # (G, Kt, Kc, S, S, 3)
    t = jnp.broadcast_to(t, c.shape)
    vals = ssim_fn(t.reshape((-1, s, s, 3)), c.reshape((-1, s, s, 3)), 1.0)
    return vals.reshape(g, k, k)


@functools.partial(jax.jit, static_argnames=("axes", "raster"))
def select(images, eyes, valid, opened, scores, axes, raster: str = "opencv"):
    """Best and second-best reference of every image of G identity groups of K slots (padding: valid False).

    images (G, K, S, S, 3), eyes (G, K, 2, 2), valid (G, K) bool, opened (G, K), scores (G, K).
    Returns (ssim (G, K, K), best (G, K), second (G, K)): indices into each group's slots."""
    ssims = masked_ssim(images, eyes, axes, raster)
    cand = valid & (opened >= OPEN_THRESHOLD) & ~jnp.isnan(opened)
    k = images.shape[1]
    slots = jnp.arange(k)

    def per_target(s_row, sc, cd, j):
        flg = jnp.where(j == 0, 1, 0)
        usable = cd & (slots != j)
        best = _greedy(s_row, sc, usable, flg)
        second = _greedy(s_row, sc, usable & (slots != best), flg)
        return best, second

    def per_group(s_mat, sc, cd):
        return jax.vmap(per_target, in_axes=(0, None, None, 0))(s_mat, sc, cd, slots)

    best, second = jax.vmap(per_group)(ssims, scores.astype(jnp.float32), cand)
    return ssims, best, second


def groups(identity: np.ndarray, order: np.ndarray) -> list[np.ndarray]:
    """Row indices of each identity, in the identity's image order (sorted identities)."""
    out = []
    for ident in np.unique(identity):
        rows = np.flatnonzero(identity == ident)
        out.append(rows[np.argsort(order[rows], kind="stable")])
    return out


def select_all(load, eyes, opened, scores, group_rows: list, axes, chunk: int = 8, raster: str = "opencv") -> dict:
    """{row: (best row, second row)} for every row of every group with at least 2 images, computed in chunks of
    `chunk` groups padded to the largest group (one compiled shape). load(rows (G, K) int) -> decoded images
    (G, K, S, S, 3); eyes, opened, scores: per row."""
    k = max(len(r) for r in group_rows)
    out = {}
    todo = [r for r in group_rows if len(r) >= 2]
    for start in range(0, len(todo), chunk):
        part = todo[start : start + chunk]
        idx = np.zeros((chunk, k), np.int64)
        valid = np.zeros((chunk, k), bool)
        for g, rows in enumerate(part):
            idx[g, : len(rows)] = rows
            valid[g, : len(rows)] = True
        _, best, second = select(
            load(idx),
            eyes[idx],
            valid,
            np.where(valid, opened[idx], np.nan),
            np.where(valid, scores[idx], 0.0),
            axes=tuple(float(a) for a in axes),
            raster=raster,
        )
        best, second = np.asarray(best), np.asarray(second)
        for g, rows in enumerate(part):
            for j, row in enumerate(rows):
                out[int(row)] = (int(rows[best[g, j]]), int(rows[second[g, j]]))
    return out
