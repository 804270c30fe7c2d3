"""Input pipelines of the families: which examples an element shows, and their augmentation.

Each builder returns an `element_fn(position) -> dict of tensors` (a pure function of the position,
streams.py); `streams.batches(element_fn, local_batch, start_batch)` makes the tf.data.Dataset. A family's
own builder lives in its folder and uses `position_fn` from here.

  paired       {x_src, <map>_src, x_ref, <map>_ref, ...}: a source example and a random reference,
               each with its aligned maps (makeup transfer: non-makeup face + makeup face with their
               parsing maps), the same random crop/flip on an image and its maps
"""

import numpy as np
import tensorflow as tf

from facejax.errors import FacejaxError
from facejax.input import ops, sources, streams

# MT parsing ids whose part changes sides when the face is flipped: brows 2/3, eyes 4/5, ears 11/12
# (makeup.md section 1).
MT_FLIP_LABELS = (0, 1, 3, 2, 5, 4, 6, 7, 8, 9, 10, 12, 11, 13)


def position_fn(fn):
    """An element function traced once (tf.function over a scalar int64 position): every dataset built
    from it (a restart at another position, each test) reuses the trace."""
    return tf.function(fn, autograph=False, input_signature=[tf.TensorSpec([], tf.int64)])


def _gather(table: dict, row, names) -> dict:
    return {n: tf.gather(table[n], row) for n in names}


# --------------------------------------------------------------------------------------------
# paired sources (makeup transfer)


def paired(
    source: sources.Source,
    reference: sources.Source,
    *,
    img_size: int,
    seeds,
    maps=("parsing",),
    extras=(),
    randcrop_prob: float = 0.0,
    flip: bool = True,
    flip_labels=None,
    source_draw: str = "epochs",
    resize_method: str = "tf",
):
    """A source example and a reference example, each with its aligned maps.

    source_draw "epochs": the sources are visited once per epoch in a fresh random order (position p shows
    source p mod n of epoch p // n); "uniform": each source is drawn uniformly with replacement (BeautyGAN's
    reference draws both sides with random.randint). The reference is drawn uniformly with replacement,
    independently. resize_method: ops.resize's method for the images (config.data.resize). Each side gets its
    own draw of ops.train_transform, applied alike
    to its image and maps (nearest-neighbour for maps; `flip_labels`: map name -> relabelling on flip,
    e.g. {"parsing": MT_FLIP_LABELS}). Element keys: x_src, y_src, <map>_src, <extra>_src and the same
    with _ref; "/" in feature names becomes "_" ("makeup/lips" -> makeup_lips_src). `seeds`: 3 ints.
    """
    for what, s in (("source", source), ("reference", reference)):
        missing = [f for f in ("image",) + tuple(maps) + tuple(extras) if f not in s.table]
        if missing:
            raise FacejaxError(f"the {what} data ({s.name}) has no feature(s) {missing}; it has {sorted(s.table)}")
    if source_draw not in ("epochs", "uniform"):
        raise FacejaxError(f"source_draw={source_draw!r}: expected 'epochs' or 'uniform'")
    draw_source = streams.Epochs if source_draw == "epochs" else streams.Uniform
    order = draw_source(source.num_examples, seeds[0], what=f"the source data ({source.name})")
    draw = streams.Uniform(reference.num_examples, seeds[1], what=f"the reference data ({reference.name})")
    aug_seed = seeds[2]
    # One table (sources, then references) so that one traced loader serves both sides.
    names = ("image", "label") + tuple(maps) + tuple(extras)
    if source.from_files != reference.from_files:
        raise FacejaxError("the source and reference data must both be read from files or both from memory")
    table = {n: tf.constant(np.concatenate([source.table[n], reference.table[n]])) for n in names}
    from_files, n_src = source.from_files, source.num_examples

    @tf.function(autograph=False)
    def load(row, seed):
        ex = _gather(table, row, names)
        out = ops.train_transform(
            {"x": ops.decode(ex["image"], from_files)},
            seed,
            img_size,
            maps={m: ops.decode(ex[m], from_files, channels=1) for m in maps},
            randcrop_prob=randcrop_prob,
            flip=flip,
            flip_labels=flip_labels,
            resize_method=resize_method,
        )
        res = {"x": out["x"], "y": tf.cast(ex["label"], tf.int32)}
        res.update({m: out[m] for m in maps})
        res.update({e.replace("/", "_"): ex[e] for e in extras})
        return res

    @position_fn
    def element(position):
        k = tf.random.experimental.stateless_split(streams.key(aug_seed, position), 2)
        src, ref = load(order(position), k[0]), load(n_src + draw(position), k[1])
        return {**{f"{n}_src": v for n, v in src.items()}, **{f"{n}_ref": v for n, v in ref.items()}}

    return element


def split_makeup(source: sources.Source) -> tuple:
    """(non-makeup part, makeup part) of a makeup dataset: by the `makeup/has_makeup` feature
    (synthetic_faces), or by domains named non-makeup / makeup (MT)."""
    if "makeup/has_makeup" in source.table:
        has = source.table["makeup/has_makeup"].astype(bool)
    else:
        names = [d.lower().replace("_", "-") for d in source.domains]
        if "makeup" not in names or "non-makeup" not in names:
            raise FacejaxError(
                f"{source.name}: cannot tell makeup from non-makeup faces: expected a "
                f"'makeup/has_makeup' feature or domains 'makeup' and 'non-makeup', got "
                f"domains {source.domains}"
            )
        has = source.labels == names.index("makeup")
    return (source.subset(~has, f"{source.name} without makeup"), source.subset(has, f"{source.name} with makeup"))


MAKEUP_FEATURES = ("image", "label", "parsing")
MAKEUP_OPTIONAL = ("makeup/has_makeup",)  # synthetic_faces tells makeup by a flag; MT by its domains


def load_makeup_source(data_config, split: str, process_index: int = 0, process_count: int = 1) -> sources.Source:
    """A makeup dataset's split (mt_makeup, synthetic_faces) with what the makeup families read: image, label,
    parsing map, the makeup flag where the dataset has one, and file names."""
    return sources.load_source(
        data_config, split, process_index, process_count, MAKEUP_FEATURES, MAKEUP_OPTIONAL + ("file_name",)
    )


def makeup_element(source: sources.Source, *, seed: int, img_size: int, process_index: int = 0, extras=(), **transform):
    """The element function of (non-makeup source, makeup reference) pairs with parsing maps.
    `source`: a makeup dataset's train part, e.g.
    `sources.load_source(config.data, "train", pi, pc, MAKEUP_FEATURES + extras, MAKEUP_OPTIONAL)`.
    `transform`: train_transform options (default: no crop, flip with MT's left/right relabelling)."""
    plain, made_up = split_makeup(source)
    transform.setdefault("flip_labels", {"parsing": MT_FLIP_LABELS})
    return paired(
        plain, made_up, img_size=img_size, seeds=ops.seeds_for(seed, process_index, 2)[:3], extras=extras, **transform
    )


def makeup_pairs(source: sources.Source, local_batch: int, *, start_batch: int = 0, **kwargs) -> tf.data.Dataset:
    """Batches of makeup_element(source, **kwargs) from batch `start_batch` on."""
    return streams.batches(makeup_element(source, **kwargs), local_batch, start_batch)
