"""Beholder-GAN's input: faces with a per-rater score vector, from any TFDS dataset that has them.

  scut_fbp5500      SCUT-FBP5500, 60 human raters (1..5)
  beauty_labels     faces labelled by the predictor (`facejax prepare beauty_labels`; CelebA-HQ in the paper)
  synthetic_faces   8 simulated raters

``read_table`` reads this process's part of a split into memory (images stay encoded; these datasets have no
``label`` ClassLabel, so facejax.input.sources' reader does not apply). beta = scores / config.data.score_scale
(the original's load_csv divides by 5: beta in [0.2, 1]).

Streams are pure functions of the position (facejax/input/streams.py), so a resumed run reads exactly what an
uninterrupted one would:
  gan        {x: the face at img_size (antialiased resize when the dataset's size differs), mirrored with p 0.5
             when config.data.mirror_augment; beta: its scores / 5; beta_g: the scores of another face drawn
             uniformly (training_set.get_random_labels_tf, the generator's labels)}; every face once per epoch
  predictor  {x: flipped (p 0.5), resized to the input size, rotated uniformly in +-rotation degrees (nearest,
             black fill: torchvision's RandomRotation), beta}
"""

from __future__ import annotations

import math
import os

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from facejax.errors import FacejaxError
from facejax.input import ops, streams
from facejax.input.sources import tfds_builder

LABELS_NAME = "beauty_labels"
LABELS_VERSION = "1.0.0"


def labels_dir(data_dir: str, config: str) -> str:
    return os.path.join(data_dir or os.path.expanduser("~/tensorflow_datasets"), LABELS_NAME, config, LABELS_VERSION)


def builder(data):
    """The TFDS builder of config.data (beauty_labels: the folder `facejax prepare beauty_labels` wrote)."""
    if data.source != "tfds":
        raise FacejaxError(
            f"config.data.source={data.source!r}: Beholder-GAN reads TFDS datasets with a score "
            f"vector per face ('tfds')"
        )
    if data.name == LABELS_NAME:
        path = labels_dir(data.data_dir, data.config)
        if not os.path.isfile(os.path.join(path, "dataset_info.json")):
            raise FacejaxError(
                f"{path} holds no beauty_labels dataset (config.data.data_dir={data.data_dir!r}, "
                f"config.data.config={data.config!r}); make it first: train the rater predictor with `facejax "
                f"train --config=configs/beholder.py:scut_fbp5500 --config.imagenet_weights=vgg16_bn-6c64b313.pth "
                f"--workdir=PREDICTOR_RUN`, then label the faces with `facejax prepare beauty_labels "
                f"--config=configs/beholder.py:scut_fbp5500 --workdir=PREDICTOR_RUN --source=celeba_hq/256 "
                f"--out={data.config}" + (f" --data_dir={data.data_dir}" if data.data_dir else "") + "`"
            )
        return tfds.builder_from_directory(path)
    return tfds_builder(data.name, data.config, data.data_dir)


def read_table(
    data, split: str, process_index: int = 0, process_count: int = 1, num_raters: int = 0, features=("image",)
) -> dict:
    """{"image": encoded bytes, "scores": (N, raters) float32, "file_name": ...} of this process's part."""
    b = builder(data)
    name = b.info.full_name
    if split not in b.info.splits:
        raise FacejaxError(f"dataset {name} has no split {split!r}; it has {sorted(b.info.splits)}")
    feats = b.info.features
    wanted = tuple(features) + (data.scores_feature,) + (("file_name",) if "file_name" in feats else ())
    for f in wanted:
        if f not in feats:
            raise FacejaxError(
                f"dataset {name} has no feature {f!r} (config.data.scores_feature="
                f"{data.scores_feature!r}); it has {sorted(feats)}"
            )
    decoders = {f: tfds.decode.SkipDecoding() for f in wanted if isinstance(feats[f], tfds.features.Image)}
    sub = tfds.split_for_jax_process(split, process_index=process_index, process_count=process_count)
    ds = b.as_dataset(split=sub, shuffle_files=False, decoders=decoders)
    ds = ds.map(lambda ex: {f: ex[f] for f in wanted})
    cols = {f: [] for f in wanted}
    for chunk in ds.batch(4096).as_numpy_iterator():
        for f in wanted:
            cols[f].append(chunk[f])
    table = {f: np.concatenate(v) for f, v in cols.items() if v}
    if not table:
        raise FacejaxError(f"dataset {name} split {split!r} is empty (for process {process_index} of {process_count})")
    scores = table.pop(data.scores_feature).astype(np.float32)
    if scores.ndim != 2:
        raise FacejaxError(
            f"dataset {name}: feature {data.scores_feature!r} has shape {scores.shape[1:]}, expected a "
            f"vector of per-rater scores"
        )
    if num_raters and scores.shape[1] != num_raters:
        raise FacejaxError(
            f"dataset {name} has {scores.shape[1]} raters in {data.scores_feature!r}; config.num_raters"
            f"={num_raters} (set it to {scores.shape[1]})"
        )
    bad = np.flatnonzero(~np.all(np.isfinite(scores), axis=1))
    if len(bad):
        which = table["file_name"][bad[0]] if "file_name" in table else f"example {bad[0]}"
        raise FacejaxError(
            f"dataset {name}: {len(bad)} face(s) lack a rater's score (first: {which!r}); Beholder-GAN "
            f"needs every rater's score"
        )
    table["scores"] = scores
    return table


def gan_element(table: dict, *, img_size: int, score_scale: float, mirror: bool, seed: int):
    order = streams.Epochs(len(table["scores"]), seed, what="the train data")
    draw = streams.Uniform(len(table["scores"]), seed + 1, what="the train data")
    images, scores = tf.constant(table["image"]), tf.constant(table["scores"] / score_scale)

    @tf.function(autograph=False, input_signature=[tf.TensorSpec([], tf.int64)])
    def element(position):
        row = order(position)
        img = ops.decode(tf.gather(images, row), False)
        img = tf.cond(
            tf.reduce_all(tf.shape(img)[:2] == img_size),
            lambda: tf.cast(img, tf.float32),
            lambda: ops.resize(img, img_size),
        )
        x = ops.to_float(img)
        if mirror:
            flip = tf.random.stateless_uniform([], streams.key(seed + 2, position)) < 0.5
            x = tf.cond(flip, lambda: x[:, ::-1], lambda: x)
        x.set_shape([img_size, img_size, 3])
        return {"x": x, "beta": tf.gather(scores, row), "beta_g": tf.gather(scores, draw(position))}

    return element


def rotate(img, degrees):
    """torchvision RandomRotation's rotation about the centre: nearest neighbour, zero fill (float HWC)."""
    h, w = tf.cast(tf.shape(img)[0], tf.float32), tf.cast(tf.shape(img)[1], tf.float32)
    a = degrees * math.pi / 180.0
    cos, sin = tf.cos(a), tf.sin(a)
    cx, cy = (w - 1) / 2, (h - 1) / 2
    # output (x, y) samples input (cos*(x-cx) - sin*(y-cy) + cx, sin*(x-cx) + cos*(y-cy) + cy): counter-clockwise
    transform = tf.stack([cos, -sin, cx - cos * cx + sin * cy, sin, cos, cy - sin * cx - cos * cy, 0.0, 0.0])
    out = tf.raw_ops.ImageProjectiveTransformV3(
        images=img[None],
        transforms=transform[None],
        output_shape=tf.shape(img)[:2],
        fill_value=0.0,
        interpolation="NEAREST",
        fill_mode="CONSTANT",
    )
    return out[0]


def predictor_element(table: dict, *, input_size: int, score_scale: float, flip: bool, rotation: float, seed: int):
    order = streams.Epochs(len(table["scores"]), seed, what="the train data")
    images, scores = tf.constant(table["image"]), tf.constant(table["scores"] / score_scale)

    @tf.function(autograph=False, input_signature=[tf.TensorSpec([], tf.int64)])
    def element(position):
        row = order(position)
        k = tf.random.experimental.stateless_split(streams.key(seed + 1, position), 2)
        img = ops.decode(tf.gather(images, row), False)
        if flip:
            img = tf.cond(tf.random.stateless_uniform([], k[0]) < 0.5, lambda: img[:, ::-1], lambda: img)
        img = ops.resize(img, input_size)
        if rotation > 0:
            img = rotate(img, tf.random.stateless_uniform([], k[1], -rotation, rotation))
        x = ops.to_float(img)
        x.set_shape([input_size, input_size, 3])
        return {"x": x, "beta": tf.gather(scores, row)}

    return element


def eval_images(table: dict, size: int, pad_x: int = 0, pad_y: int = 0, rows=None) -> np.ndarray:
    """The faces of a table as float32 [-1, 1] at size x size (optionally zero-padded first, as the original's
    --pad_x/--pad_y), in table order."""
    rows = range(len(table["image"])) if rows is None else rows
    out = []
    for i in rows:
        img = ops.decode(tf.constant(table["image"][i]), False)
        if pad_x or pad_y:
            img = tf.pad(img, [[pad_y, pad_y], [pad_x, pad_x], [0, 0]])
        out.append(ops.eval_transform(img, size).numpy())
    return np.stack(out).astype(np.float32) if out else np.zeros((0, size, size, 3), np.float32)
