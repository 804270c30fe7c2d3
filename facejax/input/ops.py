"""Preprocessing as small named tf ops: decode, augment, resize, balanced streams.

Randomness is stateless: each element's seed is derived from a run seed and the element's position
in the stream (`Dataset.enumerate`), so the stream is a pure function of (seed, position) and a
checkpointed iterator continues with exactly the numbers an uninterrupted run would draw.
"""

import math

import numpy as np
import tensorflow as tf


def decode(image, from_file: bool) -> tf.Tensor:
    """Encoded bytes (or a path to read) -> uint8 (H, W, 3)."""
    data = tf.io.read_file(image) if from_file else image
    img = tf.io.decode_image(data, channels=3, expand_animations=False)
    img.set_shape([None, None, 3])
    return img


def to_float(img) -> tf.Tensor:
    """uint8 -> float32 in [-1, 1] (ToTensor + Normalize(0.5, 0.5))."""
    return tf.cast(img, tf.float32) / 127.5 - 1.0


def resize(img, size: int) -> tf.Tensor:
    """Bilinear resize with antialiasing (PIL-like) to size x size, float32 output."""
    img = tf.cast(img, tf.float32)
    return tf.image.resize(img, [size, size], method="bilinear", antialias=True)


def random_resized_crop(img, seed, scale=(0.8, 1.0), ratio=(0.9, 1.1)) -> tf.Tensor:
    """A crop covering `scale` of the area with aspect `ratio` (torchvision's RandomResizedCrop,
    one draw clipped to the image instead of ten tries and a centre-crop fallback)."""
    shape = tf.shape(img)
    h, w = tf.cast(shape[0], tf.float32), tf.cast(shape[1], tf.float32)
    s = tf.random.experimental.stateless_split(seed, 4)
    area = h * w * tf.random.stateless_uniform([], s[0], scale[0], scale[1])
    log_r = tf.random.stateless_uniform([], s[1], math.log(ratio[0]), math.log(ratio[1]))
    r = tf.exp(log_r)
    cw = tf.clip_by_value(tf.round(tf.sqrt(area * r)), 1.0, w)
    ch = tf.clip_by_value(tf.round(tf.sqrt(area / r)), 1.0, h)
    y0 = tf.floor(tf.random.stateless_uniform([], s[2]) * (h - ch + 1))
    x0 = tf.floor(tf.random.stateless_uniform([], s[3]) * (w - cw + 1))
    return tf.image.crop_to_bounding_box(img, tf.cast(y0, tf.int32), tf.cast(x0, tf.int32),
                                         tf.cast(ch, tf.int32), tf.cast(cw, tf.int32))


def train_augment(img, seed, size: int, randcrop_prob: float) -> tf.Tensor:
    """The original's train transform: RandomResizedCrop with p, resize, horizontal flip, [-1, 1]."""
    s = tf.random.experimental.stateless_split(seed, 3)
    crop = tf.random.stateless_uniform([], s[0]) < randcrop_prob
    img = tf.cond(crop, lambda: random_resized_crop(img, s[1]), lambda: img)
    img = resize(img, size)
    flip = tf.random.stateless_uniform([], s[2]) < 0.5
    img = tf.cond(flip, lambda: tf.image.flip_left_right(img), lambda: img)
    return tf.clip_by_value(img, 0.0, 255.0) / 127.5 - 1.0


def eval_transform(img, size: int) -> tf.Tensor:
    return tf.clip_by_value(resize(img, size), 0.0, 255.0) / 127.5 - 1.0


def element_seed(base_seed: int, index) -> tf.Tensor:
    """A stateless seed (2 int64) for the element at `index` of a stream seeded with `base_seed`."""
    return tf.stack([tf.constant(base_seed, tf.int64), tf.cast(index, tf.int64)])


def seeds_for(*key) -> list[int]:
    """Deterministic 31-bit seeds from a key such as (run seed, process index, purpose)."""
    return [int(x) for x in np.random.SeedSequence(list(key)).generate_state(4) % (2**31 - 1)]


def domain_stream(ds: tf.data.Dataset, label: int, seed: int, shuffle_buffer: int) -> tf.data.Dataset:
    """The elements of one domain, reshuffled every epoch, repeated forever."""
    return (ds.filter(lambda ex: tf.equal(ex["label"], label))
            .shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
            .repeat())


def balanced(streams, seed: int) -> tf.data.Dataset:
    """Draws from per-domain streams with equal probability (the original's class-balanced
    WeightedRandomSampler)."""
    k = len(streams)
    return tf.data.Dataset.sample_from_datasets(streams, weights=[1.0 / k] * k, seed=seed)
