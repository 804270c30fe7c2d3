"""IPM-Net's inputs from MT parsing maps (makeup.md section 2.5), as tf ops usable in tf.data and eagerly.

makeup mask  1 = keep (background, hair, eyes, teeth, ears, neck), 0 = makeup area: the MT labels 1 (skin),
             2, 3 (brows), 6 (nose), 7, 9 (lips). The original's ``*_mask`` files are this map x 255 (verified on
             its samples: 100 % of pixels).
texture      the shipped ``preprocessing/highcontract_texture.m``: blue = B * (1 - mask) (uint8), contract =
             blue - imfilter(blue, fspecial('gaussian', [10 10], 2)) with zero padding and uint8 saturation
             (negatives clip to 0, the blur is rounded to uint8), then / 255 (``ToTensor``). The released
             textures came from a filter the repository does not hold (makeup.md 2.5); this is the code that
             is there.

In training both are computed at the resolution the image is loaded at (the original precomputes them on the 321 px
images before its centre crop), then cropped and flipped with the image. For `facejax sample --src` and
Model.translate they are computed at the parsing map's resolution and read as test.py reads the mask and texture
PNGs (`_finish`: PIL's bilinear Resize(load_size), CenterCrop(img_size); config.data.map_filter).
"""

from __future__ import annotations

import os

import numpy as np
import tensorflow as tf

from facejax import images
from facejax.errors import FacejaxError
from facejax.input import ops, streams
from facejax.metrics.preprocess import list_images

MAKEUP_LABELS = (1, 2, 3, 6, 7, 9)


def gaussian_kernel(size: int = 10, sigma: float = 2.0) -> np.ndarray:
    """MATLAB fspecial('gaussian', [size size], sigma)."""
    r = (size - 1) / 2.0
    x, y = np.meshgrid(np.arange(-r, r + 1), np.arange(-r, r + 1))
    h = np.exp(-(x * x + y * y) / (2.0 * sigma * sigma))
    h[h < np.finfo(float).eps * h.max()] = 0
    return h / h.sum()


def makeup_mask(parsing) -> tf.Tensor:
    """(..., H, W, 1) integer labels -> float32 mask, 1 = keep, 0 = makeup area."""
    p = tf.cast(parsing, tf.int32)
    makeup = tf.reduce_any(tf.equal(p[..., None], tf.constant(MAKEUP_LABELS, tf.int32)), axis=-1)
    return 1.0 - tf.cast(makeup, tf.float32)


def texture_map(image, mask) -> tf.Tensor:
    """(H, W, 3) uint8-valued RGB and its (H, W, 1) mask -> (H, W, 1) float32 texture in [0, 1].

    The mask read here is the binary makeup mask (1 = keep) at the resolution the texture is made at: the MATLAB
    script reads the ``*_mask`` PNG as stored (321 px for MT) with the image resized to it, before any resize or
    crop of the loaders. The network later reads the mask and this texture of the same face (test.py's
    ``encode(source, source_mask, source_texture)``), each resized by its loader."""
    k = gaussian_kernel()
    blue = tf.cast(image, tf.float32)[..., 2:3] * (1.0 - tf.cast(mask, tf.float32))
    # imfilter's 'same' correlation with an even kernel: the centre is element 5 of 10 (1-based), so 4 rows /
    # columns of zeros before and 5 after.
    padded = tf.pad(blue[None], [[0, 0], [4, 5], [4, 5], [0, 0]])
    blur = tf.nn.conv2d(padded, tf.constant(k[:, :, None, None], tf.float32), 1, "VALID")[0]
    blur = tf.floor(blur + 0.5)  # MATLAB rounds uint8 results half away from zero (all values are >= 0)
    return tf.maximum(blue - blur, 0.0) / 255.0


def maps_from_parsing(image_uint8, parsing) -> tuple[tf.Tensor, tf.Tensor]:
    """(mask, texture) of an image (uint8 levels) and its parsing map at the same resolution."""
    mask = makeup_mask(parsing)
    return mask, texture_map(image_uint8, mask)


def load_example(image_bytes, parsing_bytes, from_files: bool, load_size: int, resize_method: str = "tf"):
    """Decoded image (float32 uint8 levels), mask and texture at load_size x load_size (the image resized by
    ops.resize's `resize_method`: config.data.resize)."""
    img = ops.resize(ops.decode(image_bytes, from_files), load_size, resize_method)
    parsing = ops.resize_labels(ops.decode(parsing_bytes, from_files, channels=1), load_size)
    mask, tex = maps_from_parsing(img, parsing)
    return img, parsing, mask, tex


def crop_and_flip(arrays: dict, size: int, do_flip) -> dict:
    """CenterCrop(size) (torchvision's offsets: round((H - size) / 2)), then a horizontal flip if do_flip."""
    out = {}
    for k, v in arrays.items():
        h = tf.shape(v)[0]
        top = tf.cast(tf.round(tf.cast(h - size, tf.float32) / 2.0), tf.int32)
        v = v[top : top + size, top : top + size]
        out[k] = tf.cond(do_flip, lambda v=v: tf.image.flip_left_right(v), lambda v=v: v)
    return out


# ------------------------------------------------------------------------------------------------ pairs


def pair_element(
    made_up, plain, *, pairing: str, seed: int, img_size: int, load_size: int, flip: bool, resize_method: str = "tf"
):
    """element_fn(position) -> {x_a, m_a, t_a, parsing_a, x_b, m_b, t_b, parsing_b}: A = a makeup face, B = a face
    without makeup (the original's domains), each with its mask and texture, resized to load_size, centre-cropped
    to img_size and flipped (p = 0.5, if `flip`) independently per side, alike for the image and its maps.

    pairing "zip" (the original): both sides in file-name order, pair i = (A[i], B[i]) for i < min(#A, #B),
    the same pairs every epoch (its loaders have shuffle=False and are zipped). "random": every B once per
    epoch in a fresh order, each with a uniformly drawn A.
    """
    nA, nB = made_up.num_examples, plain.num_examples
    if nA < 1 or nB < 1:
        raise FacejaxError(f"the train data needs makeup and non-makeup faces; it has {nA} and {nB}")

    def order(src):
        names = src.table.get("file_name")
        return np.argsort(names, kind="stable") if names is not None else np.arange(src.num_examples)

    tables = {}
    for side, src in (("a", made_up), ("b", plain)):
        rows = order(src)
        tables[side] = {n: tf.constant(src.table[n][rows]) for n in ("image", "parsing")}
    from_files = made_up.from_files
    if pairing == "zip":
        n = min(nA, nB)
        pick_a = pick_b = lambda p: tf.cast(p, tf.int64) % n  # noqa: E731
    elif pairing == "random":
        pick_a, pick_b = streams.Uniform(nA, seed + 1), streams.Epochs(nB, seed + 2)
    else:
        raise FacejaxError(f"config.data.pairing={pairing!r}: expected 'zip' (the original's fixed pairs) or 'random'")

    @tf.function(autograph=False)
    def load(table, row, key):
        img, parsing, mask, tex = load_example(
            tf.gather(table["image"], row), tf.gather(table["parsing"], row), from_files, load_size, resize_method
        )
        do_flip = (tf.random.stateless_uniform([], key) < 0.5) if flip else tf.constant(False)
        out = crop_and_flip({"x": img, "m": mask, "t": tex, "parsing": tf.cast(parsing, tf.int32)}, img_size, do_flip)
        out["x"] = out["x"] / 127.5 - 1.0
        for k, c in (("x", 3), ("m", 1), ("t", 1), ("parsing", 1)):
            out[k] = tf.ensure_shape(out[k], [img_size, img_size, c])
        return out

    def element(position):
        ka, kb = streams.key(seed, position, 1), streams.key(seed, position, 2)
        a = load(tables["a"], pick_a(position), ka)
        b = load(tables["b"], pick_b(position), kb)
        return {**{f"{k}_a": v for k, v in a.items()}, **{f"{k}_b": v for k, v in b.items()}}

    return tf.function(element, autograph=False, input_signature=[tf.TensorSpec([], tf.int64)])


# ------------------------------------------------------------------------------------------------ files


def _read(path: str, what: str, channels: int):
    if not os.path.isfile(path):
        raise FacejaxError(f"{what} {path} does not exist")
    try:
        return ops.decode(tf.io.read_file(path), False, channels=channels)
    except tf.errors.OpError as e:
        raise FacejaxError(f"unreadable {what} {path}: {e.message[:200]} (expected a PNG or JPEG)") from None


def read_parsing(path: str):
    parsing = _read(path, "parsing map", 1)
    if int(tf.reduce_max(parsing)) > 13:
        raise FacejaxError(
            f"{path} has values above 13: expected an MT parsing map (labels 0..13), not a colour visualisation"
        )
    return parsing


MAP_FILTERS = ("bilinear", "nearest")


def recipe(config) -> images.Recipe:
    """How test.py reads a face: Resize(new_size = config.data.load_size) of the PIL image (PIL's bilinear; the
    shorter side, the aspect ratio kept), CenterCrop(img_size), ToTensor, Normalize(0.5, 0.5)."""
    return images.Recipe(config.data.load_size, crop=config.img_size, filter="bilinear", scale="torch")


def _finish(image, mask_levels, tex_levels, size: int, load_size: int, map_filter: str = "bilinear"):
    """(image float32 [-1, 1], mask, texture float32 (S, S, 1)) as test.py reads an image and its mask and texture
    files: img_transform = Resize(load_size) + CenterCrop(size) + ToTensor + Normalize; mask_transform = Resize(
    load_size) + CenterCrop(size) + ToTensor, PIL's bilinear on the 8-bit maps, so a map at another size keeps soft
    edges (mask values between 0 and 1, which encode() reads as (m + 1) / 2). map_filter "nearest": facejax's
    earlier reading (nearest neighbour, the mask rounded to 0/1)."""
    if map_filter not in MAP_FILTERS:
        raise FacejaxError(f"config.data.map_filter={map_filter!r}: expected one of {', '.join(MAP_FILTERS)}")
    r = images.Recipe(load_size, crop=size, filter="bilinear", scale="torch")
    x = images.prepare(image, r)
    m = images.prepare_map(mask_levels, r, map_filter, "mask")
    t = images.prepare_map(tex_levels, r, map_filter, "texture")
    if map_filter == "nearest":
        m, t = np.round(m / np.float32(255.0)), t / np.float32(255.0)
    return x, m[..., None], t[..., None]


def to_map_size(rgb, hw) -> tf.Tensor:
    """The image resized to its parsing map's (h, w) for the texture (the MATLAB script's imresize(img, size(mask)));
    antialiased bilinear rounded to 8 bits, ops.resize for a square map."""
    out = tf.image.resize(tf.cast(rgb, tf.float32), [int(hw[0]), int(hw[1])], method="bilinear", antialias=True)
    return tf.round(tf.clip_by_value(out, 0.0, 255.0))


def read_maps(image_path: str, parsing_path: str, size: int, load_size: int = 0, map_filter: str = "bilinear"):
    """(image float32 [-1, 1], mask, texture) of an image file and its parsing map: the mask and texture computed at
    the parsing map's resolution (the image resized to it, as the MATLAB script does), as the PNG files the original
    reads (8 bits), then everything read as test.py reads files (_finish)."""
    _exists(image_path, "image")
    return maps_input(image_path, read_parsing(parsing_path), size, load_size, map_filter)


def maps_input(img, parsing, size: int, load_size: int = 0, map_filter: str = "bilinear"):
    """read_maps of an image (uint8 (H, W, 3) array or a file) and its parsing map (uint8 labels (h, w[, 1]))."""
    rgb = images.resample_levels(images.open_image(img, "image", "RGB"), images.Recipe(None))
    parsing = np.asarray(parsing, np.uint8)
    parsing = tf.convert_to_tensor(parsing[..., None] if parsing.ndim == 2 else parsing)
    mask, tex = maps_from_parsing(to_map_size(rgb, parsing.shape[:2]), parsing)
    mask_levels = np.asarray(tf.round(mask * 255.0), np.uint8)[..., 0]
    tex_levels = np.asarray(tf.round(tex * 255.0), np.uint8)[..., 0]
    return _finish(rgb, mask_levels, tex_levels, size, load_size or size, map_filter)


def read_map_files(
    image_path: str, mask_path: str, texture_path: str, size: int, load_size: int = 0, map_filter: str = "bilinear"
):
    """The same from precomputed files: the mask (0 = makeup area, 255 = keep) and the texture PNG (uint8), read as
    test.py reads them (PIL's bilinear Resize(load_size), CenterCrop(size), ToTensor)."""
    for path, what in ((image_path, "image"), (mask_path, "mask"), (texture_path, "texture")):
        _exists(path, what)
    return _finish(image_path, mask_path, texture_path, size, load_size or size, map_filter)


def _exists(path: str, what: str) -> None:
    if not os.path.isfile(path):
        raise FacejaxError(f"{what} {path} does not exist")


def write_maps(images_dir: str, segs_dir: str, out_dir: str) -> dict:
    """`facejax prepare ipmnet_maps`: for every image of images_dir with a parsing map of the same stem in segs_dir,
    writes out_dir/images/<stem>.png (the image at the map's resolution), out_dir/mask/<stem>.png (0 = makeup
    area, 255 = keep) and out_dir/highcontract/<stem>.png (the texture, uint8), the original's file kinds."""

    paths = list_images(images_dir, "images folder")
    written = 0
    for p in paths:
        stem = os.path.splitext(os.path.basename(p))[0]
        seg = os.path.join(segs_dir, stem + ".png")
        parsing = read_parsing(seg)
        s = int(parsing.shape[0])
        img = ops.resize(_read(p, "image", 3), s)
        mask, tex = maps_from_parsing(img, parsing)
        for sub, arr in (("images", img), ("mask", mask * 255.0), ("highcontract", tex * 255.0)):
            os.makedirs(os.path.join(out_dir, sub), exist_ok=True)
            data = tf.io.encode_png(tf.cast(tf.round(arr), tf.uint8))
            tf.io.write_file(os.path.join(out_dir, sub, stem + ".png"), data)
        written += 1
    return {"images": written, "out": out_dir}
