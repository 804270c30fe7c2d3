"""The transforms against the original's: torchvision's RandomResizedCrop box, PIL's resampling, and
one random draw applied alike to an image and its label maps."""

import math

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from facejax.input import ops, pipelines, sources


def torchvision_get_params(height, width, u_area, u_ratio, u_pos, scale=(0.8, 1.0), ratio=(0.9, 1.1)):
    """RandomResizedCrop.get_params (torchvision/transforms/transforms.py) with its uniform draws given."""
    area = height * width
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    for ua, ur in zip(u_area, u_ratio):
        target_area = area * (scale[0] + (scale[1] - scale[0]) * float(ua))
        aspect = math.exp(log_ratio[0] + (log_ratio[1] - log_ratio[0]) * float(ur))
        w = int(round(math.sqrt(target_area * aspect)))
        h = int(round(math.sqrt(target_area / aspect)))
        if 0 < w <= width and 0 < h <= height:
            i = int(float(u_pos[0]) * (height - h + 1))  # torch.randint(0, height - h + 1)
            j = int(float(u_pos[1]) * (width - w + 1))
            return i, j, h, w
    in_ratio = float(width) / float(height)
    if in_ratio < min(ratio):
        w, h = width, int(round(width / min(ratio)))
    elif in_ratio > max(ratio):
        h, w = height, int(round(height * max(ratio)))
    else:
        w, h = width, height
    return (height - h) // 2, (width - w) // 2, h, w


def test_crop_box_is_torchvision_random_resized_crop():
    rng = np.random.default_rng(0)
    box = tf.function(ops.crop_box_from_draws, autograph=False, reduce_retracing=True)
    for height, width in ((512, 512), (40, 40), (100, 60), (61, 100), (10, 200), (200, 10), (33, 47)):
        for _ in range(25):
            u_area, u_ratio, u_pos = rng.random(10), rng.random(10), rng.random(2)
            got = [int(v) for v in box(u_area, u_ratio, u_pos, tf.constant(height), tf.constant(width))]
            assert got == list(torchvision_get_params(height, width, u_area, u_ratio, u_pos)), (height, width)
    # No draw fits a 10 x 200 picture: the central crop with the widest allowed aspect ratio.
    assert [int(v) for v in ops.crop_box_from_draws(rng.random(10), rng.random(10), rng.random(2), 10, 200)] == [
        0,
        (200 - 11) // 2,
        10,
        11,
    ]


def test_crop_box_draws_the_original_ranges():
    areas, ratios = [], []
    box = tf.function(lambda seed: ops.crop_box(seed, 256, 256), autograph=False)
    for i in range(300):
        top, left, h, w = (int(v) for v in box(tf.constant([5, i], tf.int64)))
        assert 0 <= top <= 256 - h and 0 <= left <= 256 - w
        areas.append(h * w / 256**2)
        ratios.append(w / h)
    assert 0.8 - 0.01 <= min(areas) and max(areas) <= 1.0
    assert 0.9 - 0.01 <= min(ratios) and max(ratios) <= 1.1 + 0.01
    assert np.std(areas) > 0.04 and np.std(ratios) > 0.04  # spread over the ranges, not one value


def test_resize_is_pil_bilinear_within_one_level(afhq_samples):
    path = sorted((afhq_samples / "src" / "cat").iterdir())[0]
    with Image.open(path) as im:
        im = im.convert("RGB")
        arr = np.asarray(im)
        for size in (32, 64, 200):
            pil = np.asarray(im.resize((size, size), Image.BILINEAR), np.float32)
            ours = ops.resize(arr, size).numpy()
            assert np.abs(ours - pil).max() <= 1.0
            assert np.abs(ours - pil).mean() < 0.25
            assert np.array_equal(ours, np.round(ours))  # uint8 levels, as PIL's output
    # The eval transform is the original's test transform (and facejax's PIL reader) on the uint8 grid.
    ev = ops.eval_transform(ops.decode(str(path), True), 64).numpy()
    np.testing.assert_allclose(ev, sources.read_image(str(path), 64), atol=1.0 / 127.5 + 1e-6)


def test_label_resize_is_pil_nearest():
    labels = np.random.default_rng(1).integers(0, 14, (37, 41), dtype=np.uint8)
    for size in (16, 32, 64, 100):
        pil = np.asarray(Image.fromarray(labels).resize((size, size), Image.NEAREST))
        ours = ops.resize_labels(labels[..., None], size).numpy()[..., 0]
        np.testing.assert_array_equal(ours, pil)


PALETTE = np.array(
    [[0, 0, 0], [255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 0], [0, 255, 255], [255, 0, 255], [128, 128, 128]],
    np.uint8,
)


def _coded(height, width, block, seed=0):
    """A label map of block x block squares (labels 0..7) and the image painting label k in PALETTE[k]."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, len(PALETTE), (-(-height // block), -(-width // block)))
    labels = np.kron(coarse, np.ones((block, block), np.int64))[:height, :width].astype(np.uint8)
    return PALETTE[labels], labels


def _nearest_palette(img):
    """For [-1, 1] images: the label whose palette colour is nearest to each pixel, and that distance."""
    levels = (np.asarray(img) + 1.0) * 127.5
    d = np.linalg.norm(levels[..., None, :] - PALETTE[None, None].astype(np.float32), axis=-1)
    return d.argmin(-1), d.min(-1)


def _interior(labels):
    """Pixels whose 3x3 neighbourhood in the label map holds one label."""
    p = np.pad(labels, 1, mode="edge")
    same = np.ones(labels.shape, bool)
    for dy in (0, 1, 2):
        for dx in (0, 1, 2):
            same &= p[dy : dy + labels.shape[0], dx : dx + labels.shape[1]] == labels
    return same


def test_image_and_map_get_the_same_crop_resize_and_flip():
    image, labels = _coded(72, 56, 8)
    size, flips, crops = 32, 0, 0
    for i in range(16):
        seed = tf.constant([7, i], tf.int64)
        out = ops.train_transform({"x": image}, seed, size, maps={"m": labels[..., None]}, randcrop_prob=0.75)
        x, m = out["x"].numpy(), out["m"].numpy()[..., 0]
        crop, box, flip = ops.transform_params(seed, 72, 56, randcrop_prob=0.75)
        crop, flip, (top, left, h, w) = bool(crop), bool(flip), (int(v) for v in box)
        crops, flips = crops + crop, flips + flip
        box = (slice(top, top + h), slice(left, left + w)) if crop else (slice(None), slice(None))
        # The map is PIL's NEAREST of the cropped map, the image PIL's BILINEAR of the same crop, both
        # flipped together.
        want_m = np.asarray(Image.fromarray(labels[box]).resize((size, size), Image.NEAREST))
        want_x = np.asarray(Image.fromarray(image[box]).resize((size, size), Image.BILINEAR), np.float32)
        if flip:
            want_m, want_x = want_m[:, ::-1], want_x[:, ::-1]
        np.testing.assert_array_equal(m, want_m)
        assert np.abs((x + 1.0) * 127.5 - want_x).max() <= 1.0 + 1e-4
        # Labels stay in their value set, and the colour under each map pixel is that label's colour.
        assert set(np.unique(m)) <= set(range(len(PALETTE)))
        colour, dist = _nearest_palette(x)
        inner = _interior(m)
        assert inner.mean() > 0.3
        assert np.all(colour[inner] == m[inner]) and np.all(dist[inner] < 2.0)
    assert 0 < flips < 16 and 0 < crops < 16  # both branches of each draw were exercised


def test_maps_at_another_resolution_stay_aligned():
    # MT ships 361-px images with 321-px parsing maps of the same picture; here 96 px and 48 px.
    image, labels = _coded(96, 96, 16, seed=3)
    small = labels[::2, ::2]
    for i in range(8):
        out = ops.train_transform(
            {"x": image}, tf.constant([11, i], tf.int64), 32, maps={"m": small[..., None]}, randcrop_prob=1.0
        )
        colour, _ = _nearest_palette(out["x"].numpy())
        m = out["m"].numpy()[..., 0]
        inner = _interior(m)
        assert inner.mean() > 0.5
        assert np.mean(colour[inner] == m[inner]) > 0.98


def test_flip_swaps_left_and_right_parts_of_a_parsing_map():
    # Subject's right eye (5) on the image's left, left eye (4) on the image's right.
    labels = np.zeros((32, 32), np.uint8)
    labels[:, :16], labels[:, 16:] = 5, 4
    image = PALETTE[np.where(np.arange(32) < 16, 1, 2)[None].repeat(32, 0)]
    seed = next(
        tf.constant([1, i], tf.int64)
        for i in range(100)
        if bool(ops.transform_params(tf.constant([1, i], tf.int64), 32, 32)[2])
    )
    kw = dict(maps={"parsing": labels[..., None]}, flip=True)
    plain = ops.train_transform({"x": image}, seed, 32, **kw)
    swapped = ops.train_transform({"x": image}, seed, 32, flip_labels={"parsing": pipelines.MT_FLIP_LABELS}, **kw)
    colour, _ = _nearest_palette(plain["x"].numpy())
    assert np.all(colour[:, :16] == 2)  # the picture was flipped
    assert np.all(plain["parsing"].numpy()[:, :16, 0] == 4)  # ids moved with their pixels...
    assert np.all(swapped["parsing"].numpy()[:, :16, 0] == 5)  # ...and were renamed: image left = right eye
    assert np.all(swapped["parsing"].numpy()[:, 16:, 0] == 4)


def test_train_augment_is_a_pure_function_of_its_seed():
    image, _ = _coded(64, 64, 4)
    a = ops.train_augment(image, tf.constant([3, 4], tf.int64), 32, 0.5).numpy()
    b = ops.train_augment(image, tf.constant([3, 4], tf.int64), 32, 0.5).numpy()
    others = [ops.train_augment(image, tf.constant([3, i], tf.int64), 32, 0.5).numpy() for i in range(5, 9)]
    np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(a, o) for o in others)
    assert a.min() >= -1.0 and a.max() <= 1.0
    levels = (a + 1.0) * 127.5
    np.testing.assert_allclose(levels, np.round(levels), atol=1e-3)


@pytest.mark.parametrize("size", [32, 48])
def test_no_crop_no_flip_is_the_eval_transform(size):
    image, _ = _coded(64, 64, 8)
    out = ops.train_transform({"x": image}, tf.constant([0, 0], tf.int64), size, randcrop_prob=0.0, flip=False)
    np.testing.assert_array_equal(out["x"].numpy(), ops.eval_transform(image, size).numpy())


def test_pil_resize_method_gives_pils_pixels_in_the_pipeline():
    """config.data.resize="pil" (the default for the PyTorch families): ops.resize runs PIL's bilinear itself inside
    tf.data, so a non-square picture gives torchvision's Resize([s, s]) pixels exactly, and the RandomResizedCrop path
    of train_transform resizes the crop as torchvision's resized_crop (crop, then PIL's resize)."""
    rng = np.random.default_rng(7)
    img = np.clip(rng.normal(120, 60, (45, 61, 3)).cumsum(1) / np.arange(1, 62)[None, :, None], 0, 255)
    img = img.astype(np.uint8)
    fn = tf.function(lambda x: ops.resize(x, 24, "pil"), autograph=False)
    got = fn(tf.constant(img)).numpy()
    want = np.asarray(Image.fromarray(img).resize((24, 24), Image.BILINEAR), np.float32)
    np.testing.assert_array_equal(got, want)
    gray = fn(tf.constant(img[..., :1])).numpy()
    np.testing.assert_array_equal(
        gray[..., 0], np.asarray(Image.fromarray(img[..., 0]).resize((24, 24), 2), np.float32)
    )
    seed = tf.constant([3, 4], tf.int32)
    out = ops.train_transform({"x": tf.constant(img)}, seed, 24, randcrop_prob=1.0, flip=False, resize_method="pil")
    _, box, _ = ops.transform_params(seed, 45, 61, randcrop_prob=1.0, flip=False)
    top, left, h, w = (int(v) for v in box)
    crop = Image.fromarray(img[top : top + h, left : left + w]).resize((24, 24), Image.BILINEAR)
    np.testing.assert_array_equal(out["x"].numpy(), np.asarray(crop, np.float32) / 127.5 - 1.0)
    tf_way = ops.resize(tf.constant(img), 24, "tf").numpy()
    assert np.abs(tf_way - want).max() <= 1.0
    with pytest.raises(ValueError, match="resize method"):
        ops.resize(tf.constant(img), 24, "cubic")
