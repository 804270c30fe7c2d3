"""AesGAN's data: faces with identities, eye positions and eye states, eye masks, and decoding.

Two datasets carry what AesGAN needs (the TFDS builders in data/):
  celeb_id         ExGAN's Celeb-ID: ``identity``, ``eye_centers`` ([y, x] per eye, normalised), ``opened`` (the
                   eye-open detector's score; NaN when missing)
  synthetic_faces  ``identity``, ``eye_boxes`` (the eye centre is the box centre), ``eyes_open`` (0 = closed; the
                   smaller of the two is the image's "opened"), ``parsing`` (MT-style labels, the parsing loss's
                   targets)

``load_faces`` reads a split into a ``Faces`` table (images stay encoded). Eye masks are the original's
(``AesGAN.get_Mask``): two filled ellipses, semi-axes (25, 15) px at 256 px (config ``mask_axes``, scaled to
img_size), centred at the integer-truncated eye positions.
"""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp
import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from facejax import images
from facejax.errors import FacejaxError
from facejax.families.aesgan import ellipse as ellipse_lib
from facejax.families.aesgan import preprocess
from facejax.input import ops, sources


@dataclasses.dataclass
class Faces:
    """One split's faces; row i = example i. ``eyes``: (N, 2, 2) [y, x] in [0, 1] (NaN: no eye); ``opened``:
    (N,) eye-open score (NaN: unknown); ``order``: position of the image within its identity (data.json order
    for Celeb-ID, the file index for synthetic_faces); ``parsing``: encoded label maps or None."""

    images: np.ndarray
    identity: np.ndarray
    eyes: np.ndarray
    opened: np.ndarray
    order: np.ndarray
    file_name: np.ndarray
    parsing: np.ndarray | None = None
    name: str = ""

    def __len__(self):
        return len(self.images)

    def subset(self, rows) -> "Faces":
        rows = np.asarray(rows, np.int64)
        take = lambda a: None if a is None else a[rows]  # noqa: E731
        return dataclasses.replace(
            self,
            images=self.images[rows],
            identity=self.identity[rows],
            eyes=self.eyes[rows],
            opened=self.opened[rows],
            order=self.order[rows],
            file_name=self.file_name[rows],
            parsing=take(self.parsing),
        )


def _order_key(name: str) -> int:
    """`<identity>-<k>.jpg` -> k; `train_000123.png` -> 123; else 0 (ties keep table order)."""
    stem = name.rsplit(".", 1)[0]
    for sep in ("-", "_"):
        tail = stem.rsplit(sep, 1)[-1]
        if tail.isdigit():
            return int(tail)
    return 0


def load_columns(data, split_name: str, feats, optional=()) -> tuple[dict, dict, str]:
    """(columns {feature: numpy array}, the dataset's flat features, its name) of a TFDS split; Image features
    stay encoded. Unlike facejax.input.sources, no domain label is required (celeb_id and helen have none)."""
    if data.source != "tfds":
        raise FacejaxError(
            f"config.data.source={data.source!r}: AesGAN's networks read TFDS datasets (celeb_id, "
            f"synthetic_faces, eye_aesthetics, helen); expected 'tfds'"
        )
    builder = sources.tfds_builder(data.name, data.config, data.data_dir)
    name = builder.info.full_name
    if split_name not in builder.info.splits:
        raise FacejaxError(f"dataset {name} has no split {split_name!r}; it has {sorted(builder.info.splits)}")
    flat = sources.flatten(builder.info.features)
    feats = tuple(feats) + tuple(f for f in optional if f in flat)
    missing = [f for f in feats if f not in flat]
    if missing:
        raise FacejaxError(f"dataset {name} has no feature(s) {missing}; it has {sorted(flat)}")
    decoders = {f: tfds.decode.SkipDecoding() for f in feats if isinstance(flat[f], tfds.features.Image)}
    ds = builder.as_dataset(split=split_name, shuffle_files=False, decoders=decoders)
    cols = {f: [] for f in feats}
    for chunk in ds.map(lambda ex: {f: ex[f] for f in feats}).batch(4096).as_numpy_iterator():
        for f in feats:
            cols[f].append(chunk[f])
    t = {f: np.concatenate(v) for f, v in cols.items() if v}
    if not t:
        raise FacejaxError(f"dataset {name} split {split_name!r} is empty")
    return t, flat, f"{name} {split_name!r}"


def load_faces(data, split_name: str, *, parsing: bool = False) -> Faces:
    """The split `split_name` of the TFDS dataset config.data names (celeb_id or synthetic_faces)."""
    t, flat, name = load_columns(
        data,
        split_name,
        ("image", "file_name"),
        optional=("identity", "eye_centers", "opened", "eye_boxes", "eyes_open", "parsing"),
    )
    if "identity" not in t:
        raise FacejaxError(
            f"dataset {name} has no 'identity' feature: AesGAN pairs images of the same person "
            f"(celeb_id or synthetic_faces)"
        )
    if "eye_centers" in t and "opened" in t:
        eye_feats = ("eye_centers", "opened")
    elif "eye_boxes" in t and "eyes_open" in t:
        eye_feats = ("eye_boxes", "eyes_open")
    else:
        raise FacejaxError(
            f"dataset {name} has no eye positions: expected celeb_id's eye_centers/opened or "
            f"synthetic_faces' eye_boxes/eyes_open; it has {sorted(flat)}"
        )
    if parsing and "parsing" not in t:
        raise FacejaxError(
            f"dataset {name} has no 'parsing' feature, which config.parsing.labels='dataset' "
            f"reads; use 'pseudo' (the parsing network's labels of the real image) or 'folder'"
        )
    if eye_feats[0] == "eye_centers":
        eyes, opened = t["eye_centers"].astype(np.float32), t["opened"].astype(np.float32)
    else:
        b = t["eye_boxes"].astype(np.float32)
        eyes = np.stack([(b[..., 0] + b[..., 2]) / 2, (b[..., 1] + b[..., 3]) / 2], axis=-1)
        opened = t["eyes_open"].min(axis=1).astype(np.float32)
    names = np.array([f.decode() if isinstance(f, bytes) else str(f) for f in t["file_name"]], dtype=object)
    order = np.array([_order_key(n) for n in names], np.int64)
    return Faces(
        images=t["image"],
        identity=t["identity"].astype(np.int64),
        eyes=eyes,
        opened=opened,
        order=order,
        file_name=names,
        parsing=t.get("parsing") if parsing else None,
        name=name,
    )


def bytescale(img) -> tf.Tensor:
    """scipy.misc.bytescale of one image, as ``scipy.misc.imresize`` applies it to the original's float arrays
    (utils.transform: ``imresize(imread(path).astype(float), [256, 256]) / 127.5 - 1``): uint8 (H, W, C) ->
    uint8, the image's own minimum and maximum (over all pixels and channels) stretched to 0 and 255: ``(x - min)
    * (255 / (max - min))``, clipped to [0, 255], + 0.5, truncated (a constant image: max - min taken as 1, so all
    0). In float64, as NumPy computes it."""
    x = tf.cast(img, tf.float64)
    cmin, cmax = tf.reduce_min(x), tf.reduce_max(x)
    cscale = cmax - cmin
    cscale = tf.where(cscale == 0, tf.constant(1.0, tf.float64), cscale)
    scale = tf.constant(255.0, tf.float64) / cscale
    out = (x - cmin) * scale
    return tf.cast(tf.floor(tf.clip_by_value(out, 0.0, 255.0) + 0.5), tf.uint8)


def image_transform(img, size: int, minmax: bool) -> tf.Tensor:
    """The in-painting network's input transform of a decoded uint8 image: with ``minmax`` (config.data.bytescale,
    the original's) bytescale first, then the resize to size (the original's imresize: bytescale, then PIL's
    bilinear resize of the uint8 image) and /127.5 - 1."""
    if minmax:
        img = bytescale(img)
    return ops.eval_transform(img, size)


_DECODE = {}


def decode_images(encoded, size: int, minmax: bool = False) -> np.ndarray:
    """Encoded images -> float32 (N, size, size, 3) in [-1, 1] (the pipeline's resize; ``minmax``: bytescale
    first, the in-painting input path of config.data.bytescale)."""
    key = (size, bool(minmax))
    if key not in _DECODE:
        _DECODE[key] = tf.function(lambda b: image_transform(ops.decode(b, False), size, bool(minmax)), autograph=False)
    if len(encoded) == 0:
        return np.zeros((0, size, size, 3), np.float32)
    return np.stack([_DECODE[key](tf.constant(e)).numpy() for e in encoded]).astype(np.float32)


def bytescale_np(img: np.ndarray) -> np.ndarray:
    """``bytescale`` in NumPy (float64), for images read from files."""
    x = np.asarray(img, np.float64)
    cscale = x.max() - x.min()
    out = (x - x.min()) * (255.0 / (cscale if cscale != 0 else 1.0))
    return np.floor(np.clip(out, 0.0, 255.0) + 0.5).astype(np.uint8)


def read_face(path: str, size: int, minmax: bool) -> np.ndarray:
    """One image file -> float32 (size, size, 3) in [-1, 1] for ``facejax sample --src/--ref``: the original's
    get_image (preprocess.py: with ``minmax`` imresize's bytescale, then PIL's bilinear resize, / 127.5 - 1). A
    FacejaxError names the file when it cannot be read."""
    return images.read(path, _recipe(size, minmax))


def face_input(arr, size: int, minmax: bool) -> np.ndarray:
    """A uint8 RGB image (H, W, 3) as read_face reads a file."""
    return images.prepare(np.asarray(arr, np.uint8), _recipe(size, minmax))


def _recipe(size: int, minmax: bool):
    return preprocess.recipe(size, minmax)


def decode_labels(encoded, size: int) -> np.ndarray:
    out = [ops.resize_labels(ops.decode(tf.constant(e), False, channels=1), size).numpy()[..., 0] for e in encoded]
    return np.stack(out).astype(np.int32)


RASTERS = ("opencv", "analytic")


def eye_masks(eyes, size: int, axes, raster: str = "opencv") -> jnp.ndarray:
    """(..., 2, 2) [y, x] eye centres in [0, 1] -> (..., size, size, 1) float32 masks: two filled ellipses with
    semi-axes ``axes`` = (a along x, b along y) in pixels at this size, centred at the truncated pixel position
    (AesGAN.get_Mask: cv2.ellipse(mask, (int(x), int(y)), (25, 15), 0, 0, 360, 1, -1)). A NaN eye draws nothing.

    raster "opencv": the pixels cv2.ellipse fills (ellipse.py: its 5-degree polygon, fixed-point scan-line fill and
    outline; fractional semi-axes as cv2.ellipse's 16.16 fixed point); "analytic": the pixels whose centre lies in
    the ellipse ((dx / a)^2 + (dy / b)^2 <= 1; cv2 differs by a pixel here and there on the rim)."""
    if raster not in RASTERS:
        raise ValueError(f"raster={raster!r}: expected one of {RASTERS}")
    eyes = jnp.asarray(eyes, jnp.float32)
    a, b = float(axes[0]), float(axes[1])
    c = jnp.floor(eyes * size)  # (..., 2, 2)
    missing = (jnp.isnan(c[..., 0]) | jnp.isnan(c[..., 1]))[..., None, None]  # (..., 2, 1, 1)
    if raster == "analytic":
        yy = jnp.arange(size, dtype=jnp.float32)[:, None]
        xx = jnp.arange(size, dtype=jnp.float32)[None, :]
        cy, cx = c[..., 0][..., None, None], c[..., 1][..., None, None]  # (..., 2, 1, 1)
        inside = ((xx - cx) / a) ** 2 + ((yy - cy) / b) ** 2 <= 1.0
    else:
        st, r0, c0 = ellipse_lib.stamp(a, b)  # the filled shape around its centre pixel (r0, c0)
        ci = jnp.where(jnp.isnan(c), 0.0, c).astype(jnp.int32)
        cy, cx = ci[..., 0][..., None, None], ci[..., 1][..., None, None]
        ry = jnp.arange(size, dtype=jnp.int32)[:, None] - cy + r0  # (..., 2, size, 1): row in the stamp
        rx = jnp.arange(size, dtype=jnp.int32)[None, :] - cx + c0  # (..., 2, 1, size)
        ok = (ry >= 0) & (ry < st.shape[0]) & (rx >= 0) & (rx < st.shape[1])
        inside = ok & jnp.asarray(st)[jnp.clip(ry, 0, st.shape[0] - 1), jnp.clip(rx, 0, st.shape[1] - 1)]
    inside = jnp.where(missing, False, inside)
    return jnp.any(inside, axis=-3)[..., None].astype(jnp.float32)


def mask_axes(config) -> tuple[float, float]:
    """The ellipse semi-axes (x, y) in pixels at img_size (config.mask_axes is given at 256 px)."""
    ax = [float(v) for v in str(config.mask_axes).split(",")]
    return ax[0] * config.img_size / 256.0, ax[1] * config.img_size / 256.0


def has_both_eyes(faces: Faces) -> np.ndarray:
    return ~np.isnan(faces.eyes).any(axis=(1, 2))
