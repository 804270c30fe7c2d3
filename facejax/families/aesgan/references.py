"""(target, reference) pairs of a split: eyescores from the frozen aesthetic network, then the original's
multi-reference selection (selection.py) within each identity.

Training pairs: every image of the train split with both eyes and open eyes (``opened`` >= 0.60; all of
Celeb-ID's train identities, whose closed-eye identities the split rule moved to test) is a target once per epoch,
with its selected reference (the original draws len(v) random targets per identity once and caches their
references; facejax visits each image once per epoch instead). Evaluation pairs: ``eval.targets`` picks the
targets, ``eval.references`` the candidate pool, and each target gets its best and (``eval.two_references``)
second-best reference, as the original's test list.
"""

from __future__ import annotations

import dataclasses

import jax
import numpy as np

from facejax.errors import FacejaxError
from facejax.families.aesgan import data as data_lib
from facejax.families.aesgan import selection


@dataclasses.dataclass
class Pairs:
    """Rows into ``faces`` (a Faces table): target[i] in-painted with reference[i]."""

    faces: data_lib.Faces
    target: np.ndarray
    reference: np.ndarray
    scores: np.ndarray  # eyescore per row of faces


def score_faces(family, e_params, faces: data_lib.Faces, batch: int = 64) -> np.ndarray:
    """The aesthetic score of every face's eye crop (the crop of the aesthetic loss), in batches."""
    s = family.config.img_size
    out = []
    for i in range(0, len(faces), batch):
        rows = np.arange(i, min(i + batch, len(faces)))
        pad = batch - len(rows)
        rows_p = np.concatenate([rows, np.repeat(rows[-1:], pad)]) if pad else rows
        x = data_lib.decode_images(faces.images[rows_p], s)
        out.append(np.asarray(family.eye_scores(e_params, x, faces.eyes[rows_p]))[: len(rows)])
    return np.concatenate(out) if out else np.zeros((0,), np.float32)


def _select(family, faces, scores, candidate_opened):
    groups = selection.groups(faces.identity, faces.order)
    s = family.config.img_size

    def load(idx):
        flat = data_lib.decode_images(faces.images[idx.reshape(-1)], s)
        return flat.reshape(idx.shape + flat.shape[1:])

    return selection.select_all(
        load,
        faces.eyes,
        candidate_opened,
        scores,
        groups,
        family.axes,
        family.config.data.selection_chunk,
        raster=family.config.mask_raster,
    )


def train_pairs(family, e_params, faces: data_lib.Faces) -> Pairs:
    both = data_lib.has_both_eyes(faces)
    faces = faces.subset(np.flatnonzero(both))
    scores = score_faces(family, e_params, faces)
    picks = _select(family, faces, scores, faces.opened)
    targets = [
        r
        for r in range(len(faces))
        if r in picks
        and faces.opened[r] >= selection.OPEN_THRESHOLD
        and faces.opened[picks[r][0]] >= selection.OPEN_THRESHOLD
    ]
    if not targets:
        raise FacejaxError(
            f"{faces.name}: no training pair: the split needs identities with at least two images "
            f"whose eyes are open (opened >= {selection.OPEN_THRESHOLD}) and annotated"
        )
    t = np.asarray(targets, np.int64)
    return Pairs(faces, t, np.asarray([picks[r][0] for r in targets], np.int64), scores)


def eval_targets(faces: data_lib.Faces, rule: str) -> np.ndarray:
    """Rows of the eval split to in-paint: "all", "closed" (opened < 0.60 or missing), or "last": each identity's
    last image, the original's ``is_close_id`` (set on every image after the first closed one)."""
    both = data_lib.has_both_eyes(faces)
    if rule == "all":
        return np.flatnonzero(both)
    closed = np.isnan(faces.opened) | (faces.opened < selection.OPEN_THRESHOLD)
    if rule == "closed":
        return np.flatnonzero(both & closed)
    rows = []
    for g in selection.groups(faces.identity, faces.order):
        if closed[g].any() and both[g[-1]]:
            rows.append(g[-1])
    return np.asarray(rows, np.int64)


def eval_pairs(family, e_params, faces: data_lib.Faces, pool: data_lib.Faces | None) -> Pairs:
    """Pairs of the eval split's targets; candidates from ``pool`` (the train split) or, when None, from the
    eval split itself."""
    c = family.config.eval
    targets = eval_targets(faces, c.targets)
    if c.max_targets:
        targets = targets[: c.max_targets]
    if pool is None:
        combined, n_t = faces, None
        cand_opened = faces.opened
    else:
        keep = np.isin(pool.identity, faces.identity[targets]) & data_lib.has_both_eyes(pool)
        pool = pool.subset(np.flatnonzero(keep))
        t = faces.subset(targets)
        combined = data_lib.Faces(
            images=np.concatenate([t.images, pool.images]),
            identity=np.concatenate([t.identity, pool.identity]),
            eyes=np.concatenate([t.eyes, pool.eyes]),
            opened=np.concatenate([t.opened, pool.opened]),
            order=np.concatenate([np.full(len(t), -1, np.int64), pool.order]),
            file_name=np.concatenate([t.file_name, pool.file_name]),
            name=f"{faces.name} + {pool.name}",
        )
        n_t = len(t)
        targets = np.arange(n_t)
        cand_opened = np.concatenate([np.full(n_t, np.nan, np.float32), pool.opened])  # targets are no candidates
    scores = score_faces(family, e_params, combined)
    picks = _select(family, combined, scores, cand_opened)
    tgt, ref = [], []
    for r in targets:
        r = int(r)
        if r not in picks:
            continue
        best, second = picks[r]
        tgt.append(r)
        ref.append(best)
        # the original appends the second walk's pick even when it is the best one again (an identity with one
        # usable candidate: the walk falls back to its initial pick); drop_duplicate_reference skips that repeat
        if c.two_references and second != r and not (c.drop_duplicate_reference and second == best):
            tgt.append(r)
            ref.append(second)
    if not tgt:
        raise FacejaxError(
            f"{faces.name}: no evaluation pair (config.eval.targets={c.targets!r}, "
            f"eval.references={c.references!r}): the targets need another image of their identity"
        )
    del n_t
    return Pairs(combined, np.asarray(tgt, np.int64), np.asarray(ref, np.int64), scores)


def batch_of(pairs: Pairs, idx, img_size: int, labels=None, minmax: bool = False) -> dict:
    """The in-painting inputs of pairs idx: {x, eyes, ref, ref_eyes} (decoded, [-1, 1]; ``minmax``: bytescaled
    first, config.data.bytescale)."""
    f = pairs.faces
    t, r = pairs.target[idx], pairs.reference[idx]
    out = {
        "x": data_lib.decode_images(f.images[t], img_size, minmax),
        "eyes": f.eyes[t],
        "ref": data_lib.decode_images(f.images[r], img_size, minmax),
        "ref_eyes": f.eyes[r],
    }
    return jax.tree.map(np.asarray, out)
