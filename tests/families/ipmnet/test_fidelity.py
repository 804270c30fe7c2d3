"""IPM-Net's inputs read as test.py reads them, on NON-SQUARE pictures and maps not at the original's 321 px:
img_transform = Resize(321) + CenterCrop(256) + ToTensor + Normalize(0.5, 0.5), mask_transform = the same without
Normalize (PIL's bilinear on the 8-bit mask and texture PNGs: soft edges kept). facejax's arrays equal
torchvision's exactly (the same PIL resize, the same float32 arithmetic)."""

import numpy as np
import pytest
from PIL import Image

from facejax import configs
from facejax.families.ipmnet import preprocess, sample


def _pictures(tmp_path, hw=(300, 410)):
    rng = np.random.default_rng(5)
    h, w = hw
    img = np.clip(rng.normal(128, 50, (h, w, 3)).cumsum(0) / np.arange(1, h + 1)[:, None, None], 0, 255)
    yy, xx = np.mgrid[:h, :w]
    mask = np.where(((yy - h / 2) / (0.3 * h)) ** 2 + ((xx - w / 2) / (0.3 * w)) ** 2 < 1, 0, 255).astype(np.uint8)
    tex = np.where(mask == 0, rng.integers(0, 120, (h, w)), 0).astype(np.uint8)
    paths = {}
    for name, arr in (("image", img.astype(np.uint8)), ("mask", mask), ("texture", tex)):
        paths[name] = str(tmp_path / f"{name}.png")
        Image.fromarray(arr).save(paths[name])
    return paths


@pytest.fixture(scope="module")
def tv():
    pytest.importorskip("torch")
    return pytest.importorskip("torchvision.transforms")


def test_files_at_another_size_are_read_as_test_py_reads_them(tmp_path, tv):
    cfg = configs.load("ipmnet:mt")
    assert (cfg.data.load_size, cfg.img_size, cfg.data.map_filter) == (321, 256, "bilinear")
    p = _pictures(tmp_path)
    x, m, t = preprocess.read_map_files(p["image"], p["mask"], p["texture"], 256, 321)
    img_t = tv.Compose([tv.Resize(321), tv.CenterCrop((256, 256)), tv.ToTensor(), tv.Normalize((0.5,) * 3, (0.5,) * 3)])
    mask_t = tv.Compose([tv.Resize(321), tv.CenterCrop((256, 256)), tv.ToTensor()])
    with Image.open(p["image"]) as im:
        np.testing.assert_array_equal(x, img_t(im.convert("RGB")).permute(1, 2, 0).numpy())
    with Image.open(p["mask"]) as im:
        want_m = mask_t(im)[0].numpy()[..., None]
    with Image.open(p["texture"]) as im:
        want_t = mask_t(im)[0].numpy()[..., None]
    np.testing.assert_array_equal(m, want_m)
    np.testing.assert_array_equal(t, want_t)
    soft = (m > 0) & (m < 1)
    assert soft.sum() > 100  # the mask's edge stays soft, as the original reads it
    # the references: img_transform
    refs = tmp_path / "refs"
    refs.mkdir()
    Image.open(p["image"]).save(refs / "r.png")
    _, r = sample.read_references(str(refs), cfg)
    np.testing.assert_array_equal(r[0], x)
    # the earlier reading, behind config.data.map_filter="nearest": a 0/1 mask
    _, m_old, _ = preprocess.read_map_files(p["image"], p["mask"], p["texture"], 256, 321, "nearest")
    assert set(np.unique(m_old)) <= {0.0, 1.0}


def test_maps_from_a_parsing_map_are_read_as_their_files(tmp_path, tv):
    """From a parsing map (at its own size, here 300 x 410 against a 321 load size): the mask and texture are made at
    the map's resolution as the 8-bit PNGs `facejax prepare ipmnet_maps` writes (the original's *_mask and
    *_highcontract files), then read with test.py's mask_transform: equal to torchvision on those PNGs."""
    rng = np.random.default_rng(2)
    h, w = 300, 410
    img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    parsing = np.zeros((h, w), np.uint8)
    parsing[60:240, 100:300] = 1
    parsing[120:140, 140:180] = 4
    parsing[190:200, 170:240] = 7
    x, m, t = preprocess.maps_input(img, parsing, 256, 321)
    import tensorflow as tf

    mask, tex = preprocess.maps_from_parsing(preprocess.to_map_size(img, (h, w)), parsing[..., None])
    mask_t = tv.Compose([tv.Resize(321), tv.CenterCrop((256, 256)), tv.ToTensor()])
    want_m = mask_t(Image.fromarray(np.asarray(tf.round(mask * 255), np.uint8)[..., 0]))[0].numpy()
    want_t = mask_t(Image.fromarray(np.asarray(tf.round(tex * 255), np.uint8)[..., 0]))[0].numpy()
    np.testing.assert_array_equal(m[..., 0], want_m)
    np.testing.assert_array_equal(t[..., 0], want_t)
    assert ((m > 0) & (m < 1)).any() and t.max() > 0
