"""GFC's losses against a NumPy transcription of the original's MATLAB (GFC_L1_loss, GFC_BCE_loss1/2,
GFC_Softmax_loss), the holes (ranges, pairs, crops, named boxes, mask files), the global discriminator's
straight-through gradient, and the input pipelines (flip pairs, min-max, the parsing label map)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from facejax import configs
from facejax.errors import FacejaxError
from facejax.families.gfc import data, losses, masks
from facejax.input import streams


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def test_losses_match_the_matlab_formulas():
    rng = np.random.default_rng(0)
    out, gt = rng.uniform(-1, 1, (2, 2, 8, 8, 3)).astype(np.float32)
    # GFC_L1_loss: sum(sqrt(d^2 + eps^2)) / bz over the whole batch
    want = np.sum(np.sqrt((out.astype(np.float64) - gt) ** 2 + 1e-24)) / 2
    assert float(losses.smooth_l1(out, gt)) == pytest.approx(want, rel=1e-5)
    # GFC_BCE_loss1 on [fakes (0); reals (1)]: sum over the 2B outputs / 2B
    f, r = rng.standard_normal((2, 3)).astype(np.float32)
    p = _sigmoid(np.concatenate([f, r]).astype(np.float64))
    t = np.array([0, 0, 0, 1, 1, 1.0])
    want = np.sum(-np.log(p + 1e-12) * t - np.log(1 - p + 1e-12) * (1 - t)) / 6
    assert float(losses.d_bce(f, r)) == pytest.approx(want, rel=1e-5)
    # GFC_BCE_loss2 with labels 1: -log(p + eps) / bz
    assert float(losses.g_adv(f)) == pytest.approx(
        np.sum(-np.log(_sigmoid(f.astype(np.float64)) + 1e-12)) / 3, rel=1e-5
    )
    # GFC_Softmax_loss: -sum over pixels log softmax[label] / bz
    logits = rng.standard_normal((2, 4, 4, 11)).astype(np.float32)
    labels = rng.integers(0, 11, (2, 4, 4))
    lp = logits - logits.max(-1, keepdims=True)
    lp = lp - np.log(np.exp(lp).sum(-1, keepdims=True))
    nll = -np.take_along_axis(lp, labels[..., None], -1)
    assert float(losses.parsing_ce_sum(logits, labels)) == pytest.approx(nll.sum() / 2, rel=1e-5)
    assert float(losses.parsing_ce_mean(logits, labels)) == pytest.approx(nll.mean(), rel=1e-5)


def test_holes_lie_where_the_original_puts_them():
    key = jax.random.key(0)
    c = np.asarray(masks.corners(key, 4000, 128, 64, 1, 64, pairs=True))
    assert c.min() == 1 and c.max() == 64  # ceil(rand * 64 + 1): 2..65, 1-based
    assert np.array_equal(c[0::2], c[1::2])  # an image and its mirror share the hole
    d = np.asarray(masks.corners(key, 4000, 128, 64, 4, 128 - 64 - 10, pairs=False))
    assert d.min() == 4 and d.max() == 57  # 5..58, 1-based
    m = np.asarray(masks.square_masks(jnp.asarray([[3, 5]]), 16, 4))
    assert m.shape == (1, 16, 16, 1) and m.sum() == 16 and m[0, 3:7, 5:9].all()
    x = np.random.default_rng(1).standard_normal((2, 16, 16, 3)).astype(np.float32)
    cr = np.asarray(masks.crop(jnp.asarray(x), jnp.asarray([[3, 5], [0, 12]]), 4))
    np.testing.assert_array_equal(cr[0], x[0, 3:7, 5:9])
    np.testing.assert_array_equal(cr[1], x[1, 0:4, 12:16])
    filled = np.asarray(masks.fill(jnp.asarray(x), jnp.asarray(m[[0, 0]]), jax.random.key(2)))
    np.testing.assert_array_equal(filled[:, m[0, ..., 0] == 0], x[:, m[0, ..., 0] == 0])
    inside = filled[:, m[0, ..., 0] > 0]
    assert inside.min() >= -1 and inside.max() <= 1 and not np.allclose(inside, x[:, m[0, ..., 0] > 0])


def test_global_gradient_reaches_the_context_only_in_the_originals_mode():
    rng = np.random.default_rng(0)
    truth, out, w = (jnp.asarray(rng.standard_normal((1, 8, 8, 3)), jnp.float32) for _ in range(3))
    mask = masks.square_masks(jnp.asarray([[2, 2]]), 8, 4)
    value = lambda o, full: jnp.sum(w * masks.global_input(truth, o, mask, full))  # noqa: E731
    assert float(value(out, True)) == pytest.approx(float(value(out, False)), rel=1e-6)  # same forward
    g_full, g_auto = (np.asarray(jax.grad(value)(out, f)) for f in (True, False))
    np.testing.assert_allclose(g_full, np.asarray(w))  # gradstack.m: delta_G += 300 * f3 everywhere
    np.testing.assert_allclose(g_auto, np.asarray(w * mask))


def test_named_masks_and_mask_files(tmp_path):
    cfg = configs.load("gfc:synthetic")
    m = masks.named_mask(cfg, "center")
    assert m.shape == (32, 32, 1) and m.sum() == 256 and m[8:24, 8:24].all()
    for name in cfg.masks:
        assert masks.named_mask(cfg, name).sum() > 0
    img = np.zeros((64, 64), np.uint8)
    img[10:30, 20:40] = 255
    Image.fromarray(img).save(tmp_path / "hole.png")
    name, fm = masks.resolve(cfg, str(tmp_path / "hole.png"))
    assert name == "hole" and fm.shape == (32, 32, 1) and masks.bounding_box(fm) == (5, 10, 10, 10)
    with pytest.raises(FacejaxError, match="unknown mask type 'nose'.*center"):
        masks.resolve(cfg, "nose")
    with pytest.raises(FacejaxError, match="mask file .*missing.png does not exist"):
        masks.resolve(cfg, str(tmp_path / "missing.png"))
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "black.png")
    with pytest.raises(FacejaxError, match="no white pixel"):
        masks.resolve(cfg, str(tmp_path / "black.png"))
    with pytest.raises(FacejaxError, match=r"config.masks.eyes='0.5,0.5,0.6,0.1'.*inside the image"):
        masks.parse_box("0.5,0.5,0.6,0.1", "config.masks.eyes")


def test_completion_batches_hold_mirror_pairs_normalised_per_image(synthetic_tfds):
    cfg = configs.load("gfc:synthetic", **{"data.data_dir": synthetic_tfds})
    src = data.load_faces(cfg.data, "train")
    b = next(iter(streams.batches(data.completion_element(src, cfg), 4)))
    x, xd = b["x"].numpy(), b["x_d"].numpy()
    assert x.shape == xd.shape == (4, 32, 32, 3)
    np.testing.assert_array_equal(x[1], x[0][:, ::-1])
    np.testing.assert_array_equal(xd[3], xd[2][:, ::-1])
    assert not np.allclose(x[0], x[2]) and not np.allclose(x[0], xd[0])
    for img in x:  # per-image min-max: each image spans exactly [-1, 1]
        assert img.min() == pytest.approx(-1.0) and img.max() == pytest.approx(1.0)


def test_parsing_batches_map_mt_labels_onto_the_11_classes(synthetic_tfds):
    cfg = configs.load("gfc:parsing_synthetic", **{"data.data_dir": synthetic_tfds})
    src = data.load_faces(cfg.data, "train", parsing=True)
    b = next(iter(streams.batches(data.parsing_element(src, cfg), 16)))
    p = b["parsing"].numpy()
    assert p.shape == (16, 32, 32, 1) and p.max() <= 10 and set(np.unique(p)) >= {0, 1, 4, 5, 10}
    assert data.label_table(cfg).tolist() == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 1, 1, 0]
    with pytest.raises(FacejaxError, match=r"config.data.label_map='0,11'.*\[0, 11\)"):
        data.label_table(configs.load("gfc:parsing_synthetic", **{"data.label_map": "0,11"}))


# ------------------------------------------------------------------------------------------------ real datasets


@pytest.fixture(scope="module")
def manual_tfds(tmp_path_factory):
    """celeba/gfc_128 and helen/128 built by their own builders from their dummy_data (6 + 5 files): datasets
    without a ClassLabel 'label', as the `celeba` and `parsing` presets read them."""
    import pathlib

    import tensorflow_datasets as tfds

    import facejax.datasets

    root, d = pathlib.Path(facejax.datasets.__file__).parent, str(tmp_path_factory.mktemp("tfds"))
    stored = {}
    for spec in ("celeba/gfc_128", "helen/128"):
        builder = tfds.builder(spec, data_dir=d)
        manual = root / spec.split("/")[0] / "dummy_data"
        builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=str(manual)))
        stored[spec.split("/")[0]] = {
            split: list(tfds.as_numpy(builder.as_dataset(split=split, shuffle_files=False)))
            for split in builder.info.splits
        }
    return d, stored


def _minmax(img):
    img = img.astype(np.float32)
    return (img - img.min()) / (img.max() - img.min()) * 2 - 1


def _which(img, candidates):
    """The index of the candidate equal to img (exactly), or None."""
    return next((i for i, c in enumerate(candidates) if np.array_equal(img, c)), None)


def test_celeba_preset_reads_the_unlabelled_celeba_dataset(manual_tfds):
    from facejax.input import sources

    d, stored = manual_tfds
    cfg = configs.load("gfc:celeba", **{"data.data_dir": d})
    src = data.load_faces(cfg.data, "train")
    assert src.num_examples == 3 and src.domains == ["all"] and set(src.table) == {"image", "file_name", "label"}
    with pytest.raises(FacejaxError, match=r"celeba/gfc_128.*has no feature 'label'"):
        sources.tfds_source(sources.tfds_builder("celeba", "gfc_128", d), "train")
    # the original's batch: an image and its mirror image, per-image min-max, 128 px
    b = next(iter(streams.batches(data.completion_element(src, cfg), 4)))
    x, xd = b["x"].numpy(), b["x_d"].numpy()
    assert x.shape == xd.shape == (4, 128, 128, 3)
    np.testing.assert_array_equal(x[1], x[0][:, ::-1])
    np.testing.assert_array_equal(xd[3], xd[2][:, ::-1])
    assert np.allclose(x.min(axis=(1, 2, 3)), -1) and np.allclose(x.max(axis=(1, 2, 3)), 1)
    # without the random affine, every image is one of the train split's faces, normalised as stored
    plain = configs.load("gfc:celeba", **{"data.data_dir": d, "data.augment": False})
    b = next(iter(streams.batches(data.completion_element(src, plain), 6)))
    train = [_minmax(ex["image"]) for ex in stored["celeba"]["train"]]
    for img in b["x"].numpy()[0::2]:
        assert _which(np.round(img, 5), [np.round(t, 5) for t in train]) is not None
    # eval: the test split, unaugmented, scaled as demo_face128.m (im2single * 2 - 1, no min-max); the named holes
    # cover the faces' landmarks (gfc_128 pixels, x y)
    ev = data.eval_images(cfg)
    assert ev["file_name"] == ["000005.jpg", "000006.jpg"] and ev["x"].shape == (2, 128, 128, 3)
    for ex, img in zip(sorted(stored["celeba"]["test"], key=lambda e: e["file_name"]), ev["x"]):
        np.testing.assert_allclose(img, ex["image"].astype(np.float32) / 255 * 2 - 1, atol=1e-6)
        (lx, ly), (rx, ry), _, (mlx, mly), (mrx, mry) = np.round(ex["landmarks"]).astype(int)
        for name, points in (
            ("left_eye", [(ly, lx)]),
            ("right_eye", [(ry, rx)]),
            ("eyes", [(ly, lx), (ry, rx)]),
            ("mouth", [(mly, mlx), (mry, mrx)]),
        ):
            m = masks.named_mask(cfg, name)[..., 0]
            assert all(m[r, c] for r, c in points), (name, ex["file_name"])
        assert not masks.named_mask(cfg, "mouth")[ly, lx, 0] and not masks.named_mask(cfg, "eyes")[mly, mlx, 0]


def test_parsing_preset_reads_helens_maps_with_its_11_classes(manual_tfds):
    d, stored = manual_tfds
    cfg = configs.load("gfc:parsing", **{"data.data_dir": d})
    src = data.load_faces(cfg.data, "train", parsing=True)
    assert src.num_examples == 3 and src.domains == ["all"]
    b = next(iter(streams.batches(data.parsing_element(src, cfg), 12)))
    x, p = b["x"].numpy(), b["parsing"].numpy()
    assert x.shape == (12, 128, 128, 3) and p.shape == (12, 128, 128, 1) and p.dtype == np.int32
    assert p.min() >= 0 and p.max() <= 10 and set(np.unique(p)) == set(range(11))
    # each element is one stored face with its own map, or both mirrored with the brows and eyes swapped
    train = stored["helen"]["train"]
    swap = np.array(data.HELEN_FLIP)
    mirrored = 0
    for img, lab in zip(x, p[..., 0]):
        i = _which(np.round(img, 5), [np.round(_minmax(t["image"]), 5) for t in train])
        if i is not None:
            np.testing.assert_array_equal(lab, train[i]["parsing"][..., 0])
            continue
        i = _which(np.round(img[:, ::-1], 5), [np.round(_minmax(t["image"]), 5) for t in train])
        assert i is not None, "neither a stored face nor its mirror image"
        np.testing.assert_array_equal(lab, swap[train[i]["parsing"][:, ::-1, 0]])
        mirrored += 1
    assert 0 < mirrored < 12
    ev = data.eval_images(cfg, parsing=True)
    assert ev["file_name"] == ["2433588_1.jpg"] and ev["parsing"].shape == (1, 128, 128)
    np.testing.assert_array_equal(ev["parsing"][0], stored["helen"]["test"][0]["parsing"][..., 0])
