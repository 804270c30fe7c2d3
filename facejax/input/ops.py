"""Preprocessing as small named tf ops: decode, crop boxes, the joint train transform, eval resize.

Randomness is stateless: every op that draws takes a seed (a (2,) int tensor) and is a pure function
of it, so a stream that derives each element's seed from (run seed, position) is a pure function of
the position (see streams.py), and a resumed run draws exactly the numbers an uninterrupted one does.

Resampling matches the original code's PIL transforms: images are resized with PIL's bilinear itself
(`resize(method="pil")`, config.data.resize, the default of the PyTorch families) or TF's antialiased
bilinear rounded to uint8 levels (method "tf": within one level of PIL on real photos, faster), label maps
with nearest neighbour (identical to PIL's NEAREST), so labels stay valid integers.
"""

import math

import numpy as np
import tensorflow as tf
from PIL import Image


def decode(data, from_file: bool, channels: int = 3) -> tf.Tensor:
    """Encoded bytes (or a path to read) -> uint8 (H, W, channels). JPEGs are decoded with the
    accurate integer DCT, which gives PIL's pixels exactly (TF's default DCT is off by up to 4 levels)."""
    data = tf.io.read_file(data) if from_file else data
    img = tf.cond(
        tf.io.is_jpeg(data),
        lambda: tf.io.decode_jpeg(data, channels=channels, dct_method="INTEGER_ACCURATE"),
        lambda: tf.io.decode_image(data, channels=channels, expand_animations=False),
    )
    img.set_shape([None, None, channels])
    return img


def to_float(img) -> tf.Tensor:
    """uint8 levels [0, 255] -> float32 in [-1, 1] (ToTensor + Normalize(0.5, 0.5))."""
    return tf.cast(img, tf.float32) / 127.5 - 1.0


RESIZE_METHODS = ("pil", "tf")


def _pil_bilinear(size: int):
    def run(a):
        a = np.asarray(a, np.uint8)
        im = Image.fromarray(a[..., 0] if a.shape[-1] == 1 else a)
        out = np.asarray(im if im.size == (size, size) else im.resize((size, size), Image.BILINEAR), np.float32)
        return out.reshape(size, size, a.shape[-1])

    return run


def resize(img, size: int, method: str = "tf") -> tf.Tensor:
    """Bilinear resize of uint8 levels to size x size; float32 output in [0, 255] (uint8 levels).

    method "pil": PIL's BILINEAR itself (what torchvision's Resize([size, size]) does to a PIL image), run on the
    host through tf.numpy_function: the originals' pixels exactly (config.data.resize, the default of the
    PyTorch families' pipelines). "tf": TF's antialiased bilinear rounded to uint8 levels, within one level of
    PIL on real photos and faster (graph ops, no Python)."""
    if method == "pil":
        channels = img.shape[-1]
        out = tf.numpy_function(_pil_bilinear(size), [tf.cast(img, tf.uint8)], tf.float32, stateful=False)
        return tf.ensure_shape(out, [size, size, channels])
    if method != "tf":
        raise ValueError(f"resize method {method!r}: expected one of {RESIZE_METHODS}")
    out = tf.image.resize(tf.cast(img, tf.float32), [size, size], method="bilinear", antialias=True)
    return tf.round(tf.clip_by_value(out, 0.0, 255.0))


def resize_labels(labels, size: int) -> tf.Tensor:
    """Nearest-neighbour resize of a label map (H, W, C) to size x size; values are kept as they are."""
    return tf.image.resize(labels, [size, size], method="nearest")


def eval_transform(img, size: int, method: str = "tf") -> tf.Tensor:
    """The original's test transform: Resize([size, size]), ToTensor, Normalize -> [-1, 1] (`resize` method)."""
    return to_float(resize(img, size, method))


def crop_box(seed, height, width, scale=(0.8, 1.0), ratio=(0.9, 1.1), attempts: int = 10):
    """(top, left, crop height, crop width), int32, as torchvision's RandomResizedCrop.get_params:
    up to `attempts` draws of an area fraction in `scale` and a log-uniform aspect ratio in `ratio`;
    the first that fits the image wins, at a uniformly random position; if none fits, the central
    crop with the aspect ratio clamped to `ratio`."""
    keys = tf.random.experimental.stateless_split(seed, 3)
    draws = (
        tf.random.stateless_uniform([attempts], keys[0]),
        tf.random.stateless_uniform([attempts], keys[1]),
        tf.random.stateless_uniform([2], keys[2]),
    )
    return crop_box_from_draws(*draws, height, width, scale, ratio)


def crop_box_from_draws(u_area, u_ratio, u_pos, height, width, scale=(0.8, 1.0), ratio=(0.9, 1.1)):
    """crop_box given its uniform [0, 1) draws: u_area and u_ratio (one per attempt), u_pos (2).
    In float64, as torchvision's Python arithmetic (the same roundings)."""
    h, w = tf.cast(height, tf.float64), tf.cast(width, tf.float64)
    u_area, u_ratio, u_pos = (tf.cast(u, tf.float64) for u in (u_area, u_ratio, u_pos))
    area = h * w * (scale[0] + (scale[1] - scale[0]) * u_area)
    lo, hi = math.log(ratio[0]), math.log(ratio[1])
    aspect = tf.exp(lo + (hi - lo) * u_ratio)
    cw = tf.round(tf.sqrt(area * aspect))
    ch = tf.round(tf.sqrt(area / aspect))
    fits = (cw > 0) & (cw <= w) & (ch > 0) & (ch <= h)
    first = tf.argmax(tf.cast(fits, tf.int32), output_type=tf.int32)
    found = tf.reduce_any(fits)
    # Fallback: the whole image, narrowed to the nearest allowed aspect ratio, centred.
    in_ratio = w / h
    fw = tf.where(in_ratio > ratio[1], tf.round(h * ratio[1]), w)
    fh = tf.where(in_ratio < ratio[0], tf.round(w / ratio[0]), h)
    ch = tf.where(found, ch[first], fh)
    cw = tf.where(found, cw[first], fw)
    top = tf.where(found, tf.floor(u_pos[0] * (h - ch + 1.0)), tf.floor((h - ch) / 2.0))
    left = tf.where(found, tf.floor(u_pos[1] * (w - cw + 1.0)), tf.floor((w - cw) / 2.0))
    return tuple(tf.cast(tf.minimum(v, lim), tf.int32) for v, lim in ((top, h - ch), (left, w - cw), (ch, h), (cw, w)))


def _crop_scaled(x, box, ref_hw):
    """Crops the box given in `ref_hw` pixel units from x, scaled to x's own resolution (maps that
    cover the same picture at another size, such as MT's 321-px parsing maps of 361-px images);
    exact integers when x has the reference size."""
    shape = tf.shape(x, out_type=tf.int64)

    def scale(v, n, ref):  # round(v * n / ref), half up, in integers
        v, ref = tf.cast(v, tf.int64), tf.cast(ref, tf.int64)
        return tf.cast((2 * v * n + ref) // (2 * ref), tf.int32)

    top, left, ch, cw = box
    t, l = scale(top, shape[0], ref_hw[0]), scale(left, shape[1], ref_hw[1])
    hh = tf.clip_by_value(scale(ch, shape[0], ref_hw[0]), 1, tf.cast(shape[0], tf.int32) - t)
    ww = tf.clip_by_value(scale(cw, shape[1], ref_hw[1]), 1, tf.cast(shape[1], tf.int32) - l)
    return tf.image.crop_to_bounding_box(x, t, l, hh, ww)


def transform_params(
    seed, height, width, *, randcrop_prob: float = 0.0, scale=(0.8, 1.0), ratio=(0.9, 1.1), flip: bool = True
):
    """The draws of train_transform for a (height, width) picture: (crop?, crop_box, flip?)."""
    keys = tf.random.experimental.stateless_split(seed, 3)
    crop = tf.random.stateless_uniform([], keys[0]) < randcrop_prob
    box = crop_box(keys[1], height, width, scale, ratio)
    do_flip = tf.random.stateless_uniform([], keys[2]) < 0.5 if flip else tf.constant(False)
    return crop, box, do_flip


def train_transform(
    images: dict,
    seed,
    size: int,
    *,
    maps: dict | None = None,
    randcrop_prob: float = 0.0,
    scale=(0.8, 1.0),
    ratio=(0.9, 1.1),
    flip: bool = True,
    flip_labels: dict | None = None,
    resize_method: str = "tf",
):
    """One random draw applied alike to several aligned pictures of the same example.

    images: name -> uint8 (H, W, C) pictures (bilinear resampling; output float32 in [-1, 1]).
    maps:   name -> integer (h, w, C) label maps or masks aligned with the images, possibly at another
            resolution (nearest-neighbour resampling; output int32 with the input's values).
    flip_labels: map name -> relabelling table applied when the example is flipped (left/right parts
            swap sides: MT's left eye, id 4, is on the image's right and becomes the right eye, id 5).
    With probability randcrop_prob a RandomResizedCrop(scale, ratio) box (torchvision's, drawn on the
    first image's grid), then a resize to size x size, then a horizontal flip with probability 0.5
    (if `flip`): StarGAN v2's train transform for one picture, the makeup families' shared transform for
    an image with its parsing map. resize_method: `resize`'s method for the images.
    """
    maps, flip_labels = maps or {}, flip_labels or {}
    shape = tf.shape(next(iter(images.values())))
    crop, box, do_flip = transform_params(
        seed, shape[0], shape[1], randcrop_prob=randcrop_prob, scale=scale, ratio=ratio, flip=flip
    )

    def finish(x, resample, relabel=None):
        x = tf.cond(crop, lambda: _crop_scaled(x, box, (shape[0], shape[1])), lambda: x)
        x = resample(x, size)

        def flipped():
            y = tf.image.flip_left_right(x)
            return y if relabel is None else tf.gather(tf.constant(relabel, y.dtype), tf.cast(y, tf.int32))

        return tf.cond(do_flip, flipped, lambda: x)

    out = {k: to_float(finish(v, lambda x, n: resize(x, n, resize_method))) for k, v in images.items()}
    out.update({k: tf.cast(finish(v, resize_labels, flip_labels.get(k)), tf.int32) for k, v in maps.items()})
    return out


def train_augment(img, seed, size: int, randcrop_prob: float, resize_method: str = "tf") -> tf.Tensor:
    """StarGAN v2's train transform of one image (core/data_loader.py): RandomResizedCrop(size,
    scale=[0.8, 1], ratio=[0.9, 1.1]) with probability randcrop_prob, Resize, RandomHorizontalFlip,
    Normalize -> [-1, 1]."""
    return train_transform({"x": img}, seed, size, randcrop_prob=randcrop_prob, resize_method=resize_method)["x"]


def seeds_for(*key) -> list[int]:
    """Deterministic 31-bit seeds from a key such as (run seed, process index, purpose)."""
    return [int(x) for x in np.random.SeedSequence(list(key)).generate_state(4) % (2**31 - 1)]
