"""GFC's input: faces for completion (GFC_Gen_training_G.m / _D.m) and images with parsing maps for the
face-parsing network.

Completion elements {x, x_d}: x feeds the G update, x_d the D update (the original draws a fresh batch for each,
so both are in every batch). Per image: resize to img_size, a random affine (shift floor(S (U - 0.5) / 10) px per
axis, rotation (U - 0.5) * 10 deg about the top-left corner as MATLAB's imtransform with that matrix does,
bilinear, fill level 127, rounded to uint8 levels), then per-image min-max normalisation to [-1, 1]. With flip
pairs, position 2i shows an image and 2i+1 the same transformed image mirrored.

Parsing elements {x, parsing}: image and map resized (bilinear / nearest), labels through config.data.label_map,
a random mirror that swaps the left/right classes (Helen ids 2/3 brows, 4/5 eyes).

Test-time input (evaluation, the trainer's pictures, `facejax sample`; `test_input`): demo_face128.m's
im2single(img) * 2 - 1, no min-max (config.data.test_minmax), after a resize to img_size only when the image has
another size (the demo's images are 128 px already). Evaluation and `facejax sample` share it, so one file gives
one input in both.

Everything is a pure function of the stream position (facejax.input.streams), so a resumed run reads the same
batches.
"""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

from facejax import images
from facejax.errors import FacejaxError
from facejax.families.gfc import preprocess
from facejax.input import ops, sources, streams
from facejax.input.pipelines import position_fn

HELEN_FLIP = (0, 1, 3, 2, 5, 4, 6, 7, 8, 9, 10)  # left/right brows and eyes swap on a mirror


def load_faces(data, split: str, process_index: int = 0, process_count: int = 1, parsing: bool = False):
    features = ("image", "parsing") if parsing else ("image",)
    return sources.load_source(data, split, process_index, process_count, features, ("file_name",))


def label_table(config) -> np.ndarray | None:
    """config.data.label_map as an int32 lookup table (None = labels as stored)."""
    spec = str(config.data.label_map).strip()
    if not spec:
        return None
    try:
        table = np.array([int(v) for v in spec.split(",")], np.int32)
    except ValueError:
        table = np.zeros((0,), np.int32)
    k = config.model.parsing.num_classes
    if not len(table) or table.min() < 0 or table.max() >= k:
        raise FacejaxError(
            f"config.data.label_map={spec!r}: expected comma-separated class ids in [0, {k}) "
            f"(entry i = the class of the dataset's label i)"
        )
    return table


def _affine(img, seed, max_shift: float, max_rotation: float):
    """The original's random affine of a float (S, S, 3) image in [0, 255]; fill 127, bilinear."""
    u = tf.random.stateless_uniform([3], seed)
    s = tf.cast(tf.shape(img)[0], tf.float32)
    sx = tf.floor(s * (u[0] - 0.5) * 2.0 * max_shift)
    sy = tf.floor(s * (u[1] - 0.5) * 2.0 * max_shift)
    a = (u[2] - 0.5) * 2.0 * max_rotation * math.pi / 180.0
    c, si = tf.cos(a), tf.sin(a)
    # output (x, y) reads input (u, v) = R^T ((x, y) - shift): the inverse of [u v 1] A = [x y]
    t = tf.stack([c, -si, -sx * c + sy * si, si, c, -sx * si - sy * c, 0.0, 0.0])
    out = tf.raw_ops.ImageProjectiveTransformV3(
        images=img[None],
        transforms=t[None],
        output_shape=tf.shape(img)[:2],
        fill_value=127.0,
        interpolation="BILINEAR",
        fill_mode="CONSTANT",
    )[0]
    return tf.round(tf.clip_by_value(out, 0.0, 255.0))


def normalise(img, minmax: bool):
    """[0, 255] float -> [-1, 1]: per-image min-max (the original) or the fixed /127.5 - 1."""
    if not minmax:
        return img / 127.5 - 1.0
    lo, hi = tf.reduce_min(img), tf.reduce_max(img)
    return (img - lo) / tf.maximum(hi - lo, 1e-6) * 2.0 - 1.0


def test_input(img_uint8, config) -> np.ndarray:
    """One uint8 (H, W, 3) image -> G's test input (S, S, 3) float32: demo_face128.m's ``im2single(img) * 2 - 1``
    (single(img) / 255 * 2 - 1, no per-image min-max), or training's min-max with config.data.test_minmax. An image
    of another size is first prepared as crop_celebA.lua prepares the demo's faces (preprocess.py)."""
    levels = preprocess.test_levels(img_uint8, config)
    if config.data.test_minmax:
        return normalise(tf.cast(levels, tf.float32), True).numpy()
    return images.to_unit(levels, "matlab")


def load_test_image(path: str, config) -> np.ndarray:
    """An image file -> ``test_input`` (what `facejax sample --src` completes); one clear error per bad file."""
    try:
        img = ops.decode(tf.constant(path), True)
    except (tf.errors.OpError, ValueError) as e:
        msg = getattr(e, "message", str(e)).splitlines()[0][:200]
        raise FacejaxError(f"unreadable image {path}: {msg} (expected a PNG or JPEG image)") from None
    return test_input(img, config)


def face_transform(img_uint8, seed, config, augment: bool):
    d = config.data
    img = ops.resize(img_uint8, config.img_size)
    if augment:
        img = _affine(img, seed, d.max_shift, d.max_rotation)
    return normalise(img, bool(d.minmax))


def completion_element(source: sources.Source, config, process_index: int = 0):
    """position -> {x, x_d}: G's and D's images (see the module docstring)."""
    seeds = ops.seeds_for(config.seed, process_index, 11)
    order = streams.Epochs(source.num_examples, seeds[0], what=f"the train data ({source.name})")
    draw = streams.Uniform(source.num_examples, seeds[1], what=f"the train data ({source.name})")
    table, from_files = source.tensors(), source.from_files
    pairs, augment, aug_seed = bool(config.data.flip_pairs), bool(config.data.augment), seeds[2]

    @tf.function(autograph=False)
    def load(row, seed):
        return face_transform(ops.decode(tf.gather(table["image"], row), from_files), seed, config, augment)

    @position_fn
    def element(position):
        item = position // 2 if pairs else position
        mirror = tf.logical_and(tf.constant(pairs), position % 2 == 1)
        out = {}
        for name, row, purpose in (("x", order(item), 0), ("x_d", draw(item), 1)):
            img = load(row, streams.key(aug_seed, item, purpose))
            out[name] = tf.cond(mirror, lambda img=img: tf.image.flip_left_right(img), lambda img=img: img)
        return out

    return element


def parsing_element(source: sources.Source, config, process_index: int = 0):
    """position -> {x, parsing (S, S, 1) int32}: every example once per epoch, random mirrors."""
    seeds = ops.seeds_for(config.seed, process_index, 12)
    order = streams.Epochs(source.num_examples, seeds[0], what=f"the train data ({source.name})")
    table, from_files = source.tensors(), source.from_files
    lut = label_table(config)
    flip, aug_seed, size = bool(config.data.flip), seeds[1], config.img_size
    swap = tf.constant(HELEN_FLIP + tuple(range(len(HELEN_FLIP), 256)), tf.int32)

    @position_fn
    def element(position):
        row = order(position)
        img = ops.resize(ops.decode(tf.gather(table["image"], row), from_files), size)
        labels = tf.cast(ops.resize_labels(ops.decode(tf.gather(table["parsing"], row), from_files, 1), size), tf.int32)
        if lut is not None:
            labels = tf.gather(tf.constant(lut), tf.minimum(labels, len(lut) - 1))
        mirror = tf.random.stateless_uniform([], streams.key(aug_seed, position)) < (0.5 if flip else 0.0)
        img = tf.cond(mirror, lambda: tf.image.flip_left_right(img), lambda: img)
        labels = tf.cond(mirror, lambda: tf.gather(swap, tf.image.flip_left_right(labels)), lambda: labels)
        return {"x": normalise(img, bool(config.data.minmax)), "parsing": labels}

    return element


def eval_images(config, max_images: int = 0, parsing: bool = False) -> dict:
    """The eval split without augmentation: {"x": (N, S, S, 3) float32 [-1, 1], "file_name": [...],
    ["parsing": (N, S, S) int32]}, the first max_images (0 = all)."""
    src = load_faces(config.data, "eval", parsing=parsing)
    n = src.num_examples if not max_images else min(max_images, src.num_examples)
    if n == 0:
        raise FacejaxError(f"{src.name} is empty: the evaluation needs eval-split faces")
    lut = label_table(config) if parsing else None
    xs, ps = [], []
    for i in range(n):
        img = ops.decode(src.table["image"][i], src.from_files)
        xs.append(test_input(img, config))
        if parsing:
            lab = ops.resize_labels(ops.decode(src.table["parsing"][i], src.from_files, 1), config.img_size)
            lab = lab.numpy()[..., 0].astype(np.int32)
            ps.append(lut[np.minimum(lab, len(lut) - 1)] if lut is not None else lab)
    names = [
        f.decode() if isinstance(f, bytes) else str(f)
        for f in (src.table["file_name"][:n] if "file_name" in src.table else [f"{i:05d}" for i in range(n)])
    ]
    out = {"x": np.stack(xs).astype(np.float32), "file_name": names}
    if parsing:
        out["parsing"] = np.stack(ps)
    return out
