"""Each manual-download builder builds from its dummy_data with the right splits and feature values."""

import json
import math

import numpy as np
import pytest
import tensorflow_datasets as tfds
from PIL import Image

from facejax.datasets import make_dummy_data as dd
from facejax.datasets.celeba.celeba import ATTRIBUTE_NAMES, GFC_BOX
from facejax.datasets.mt_makeup.mt_makeup import drawn_split
from facejax.errors import FacejaxError

from .conftest import build, decode_file, dummy, load, sizes

# ------------------------------------------------------------------------------------------------
# StarGAN v2 layout: afhq, celeba_hq, eye_aesthetics
# ------------------------------------------------------------------------------------------------


def test_afhq_v1_as_released(built):
    builder, ex = built("afhq/v1")
    assert sizes(builder) == {"train": 6, "val": 3}
    assert builder.info.features["label"].names == ["cat", "dog", "wild"]
    dog = ex["train"]["train/dog/flickr_dog_000001.jpg"]
    assert dog["label"] == 1
    np.testing.assert_allclose(
        dog["image"], decode_file(dummy("afhq") / "train/dog/flickr_dog_000001.jpg"), atol=12
    )  # TF's and PIL's JPEG decoders differ slightly
    # Images that need no change are stored byte for byte.
    raw = builder.as_dataset(split="train", decoders={"image": tfds.decode.SkipDecoding()})
    stored = {ex["file_name"].decode(): ex["image"] for ex in tfds.as_numpy(raw)}
    assert stored["train/dog/flickr_dog_000001.jpg"] == (dummy("afhq") / "train/dog/flickr_dog_000001.jpg").read_bytes()
    assert {e["label"] for e in ex["val"].values()} == {0, 1, 2}


def test_afhq_resized_config(built):
    builder, ex = built("afhq/v1_128")
    assert sizes(builder) == {"train": 6, "val": 3}
    image = ex["val"]["val/wild/flickr_wild_000010.jpg"]["image"]
    assert image.shape == (128, 128, 3) and image.dtype == np.uint8
    source = np.asarray(
        Image.fromarray(decode_file(dummy("afhq") / "val/wild/flickr_wild_000010.jpg")).resize(
            (128, 128), Image.Resampling.LANCZOS
        )
    )
    np.testing.assert_array_equal(image, source)


def test_afhq_v2_reads_pngs_and_refuses_jpegs(copy_of, tmp_path):
    manual = copy_of("afhq")
    with pytest.raises(FacejaxError, match=r"flickr_cat_000000\.jpg is not a \.png file.*afhq/v2"):
        build("afhq/v2", manual, tmp_path / "a")
    for jpg in manual.rglob("*.jpg"):
        Image.open(jpg).save(jpg.with_suffix(".png"))
        jpg.unlink()
    builder = build("afhq/v2_128", manual, tmp_path / "b")
    assert sizes(builder) == {"train": 6, "val": 3}
    with pytest.raises(FacejaxError, match=r"is not a \.jpg/\.jpeg file.*afhq/v1"):
        build("afhq/v1", manual, tmp_path / "c")


def test_afhq_takes_any_split_folder_names(afhq_samples, tmp_path):
    """StarGAN v2's sample folders src/ and ref/ become splits of the same names."""
    builder = build("afhq/v1", afhq_samples, tmp_path)
    expected = {s: sum(1 for p in (afhq_samples / s).rglob("*.jpg")) for s in ("src", "ref")}
    assert sizes(builder) == expected
    ex = load(builder)
    assert ex["ref"]["ref/wild/" + sorted(p.name for p in (afhq_samples / "ref/wild").glob("*.jpg"))[0]]["label"] == 2


def test_celeba_hq(built):
    builder, ex = built("celeba_hq/128")
    assert sizes(builder) == {"train": 4, "val": 2}
    assert builder.info.features["label"].names == ["female", "male"]
    assert ex["train"]["train/female/000001.jpg"]["label"] == 0
    assert ex["train"]["train/male/000003.jpg"]["label"] == 1
    assert ex["val"]["val/male/000006.jpg"]["image"].shape == (128, 128, 3)


def test_eye_aesthetics_root_and_split_layouts(built, copy_of, tmp_path):
    builder, ex = built("eye_aesthetics/128")
    assert sizes(builder) == {"train": 6}
    assert builder.info.features["label"].names == ["low", "high"]
    assert ex["train"]["high/high_000.png"]["label"] == 1
    assert ex["train"]["low/low_002.png"]["label"] == 0
    manual = copy_of("eye_aesthetics")
    for split, files in (("train", ("high_000", "high_001", "low_000", "low_001")), ("test", ("high_002", "low_002"))):
        for f in files:
            dst = manual / split / f.split("_")[0] / f"{f}.png"
            dst.parent.mkdir(parents=True, exist_ok=True)
            (manual / f.split("_")[0] / f"{f}.png").rename(dst)
    for domain in ("high", "low"):
        (manual / domain).rmdir()
    builder = build("eye_aesthetics/original", manual, tmp_path)
    assert sizes(builder) == {"train": 4, "test": 2}
    assert load(builder)["test"]["test/high/high_002.png"]["image"].shape == (30, 45, 3)


# ------------------------------------------------------------------------------------------------
# ffhq
# ------------------------------------------------------------------------------------------------

MAGENTA = [255, 0, 255]


def test_ffhq_thumbnails_serve_128_and_smaller(built):
    for spec, size in (("ffhq/128", 128), ("ffhq/64", 64)):
        builder, ex = built(spec)
        assert sizes(builder) == {"train": 3, "validation": 1}
        image = ex["validation"]["thumbnails128x128/60000/60000.png"]["image"]
        assert image.shape == (size, size, 3)
        np.testing.assert_allclose(image[0, 0], MAGENTA, atol=8)  # the thumbnails' marker
    _, ex = built("ffhq/128")
    np.testing.assert_array_equal(
        ex["train"]["thumbnails128x128/00000/00001.png"]["image"],
        decode_file(dummy("ffhq") / "thumbnails128x128/00000/00001.png"),
    )


def test_ffhq_larger_configs_resize_the_1024_images(built):
    builder, ex = built("ffhq/256")
    assert sizes(builder) == {"train": 3, "validation": 1}
    image = ex["train"]["images1024x1024/00000/00002.png"]["image"]
    assert image.shape == (256, 256, 3)
    assert np.abs(image[0, 0].astype(int) - MAGENTA).max() > 50


def test_ffhq_without_1024_images(copy_of, tmp_path):
    manual = copy_of("ffhq")
    for p in sorted((manual / "images1024x1024").rglob("*"), reverse=True):
        p.unlink() if p.is_file() else p.rmdir()
    (manual / "images1024x1024").rmdir()
    with pytest.raises(FacejaxError, match=r"missing folder images1024x1024/, needed for ffhq/256.*expected"):
        build("ffhq/256", manual, tmp_path)
    assert sizes(build("ffhq/128", manual, tmp_path)) == {"train": 3, "validation": 1}


# ------------------------------------------------------------------------------------------------
# mt_makeup
# ------------------------------------------------------------------------------------------------


def _mt_names(domain):
    return sorted(p.name for p in (dummy("mt_makeup") / "all/images" / domain).glob("*.png"))


def test_mt_makeup_drawn_split_and_parsing(built):
    builder, ex = built("mt_makeup/original")
    # 4 makeup and 3 non-makeup files: test takes half of each domain (capped 250 / 100).
    assert sizes(builder) == {"train": 4, "test": 3}
    test_names = {f"images/makeup/{f}" for f in drawn_split(_mt_names("makeup"), 250, 0, 1)}
    test_names |= {f"images/non-makeup/{f}" for f in drawn_split(_mt_names("non-makeup"), 100, 0, 0)}
    assert set(ex["test"]) == test_names
    example = ex["train"].get("images/makeup/vFG100.png") or ex["test"]["images/makeup/vFG100.png"]
    assert example["label"] == 1
    assert example["image"].shape == (36, 36, 3) and example["parsing"].shape == (32, 32, 1)
    left, upper, right, lower = dd.MT_LIPS_BOX
    assert example["parsing"][upper, left, 0] == 7  # upper lip
    assert example["parsing"][lower, left, 0] == 9  # lower lip
    assert example["parsing"].max() == 13


def test_mt_makeup_resized_parsing_stays_ids(built):
    _, ex = built("mt_makeup/256")
    example = {**ex["train"], **ex["test"]}["images/non-makeup/xfsy_0068.png"]
    assert example["label"] == 0
    assert example["image"].shape == (256, 256, 3) and example["parsing"].shape == (256, 256, 1)
    assert set(np.unique(example["parsing"])) <= set(range(14))
    left, upper, right, lower = dd.MT_LIPS_BOX
    cy, cx = int((upper + lower) / 2 * 8), int((left + right) / 2 * 8)  # 32 -> 256
    assert example["parsing"][cy, cx, 0] == 7


def test_mt_makeup_uses_the_datasets_own_lists(copy_of, tmp_path):
    manual = copy_of("mt_makeup")
    root = manual / "all"
    lists = {
        "train_MAKEMIX.txt": ["vFG100.png", "vFG101.png", "XMY-014.png"],
        "test_MAKEMIX.txt": ["vRX200.png"],
        "train_SYMIX.txt": ["vSYYZ1.png"],
        "test_SYMIX.txt": ["xfsy_0068.png", "XYUH-3.png"],
    }
    (root / "train_MAKEMIX.txt").write_text(
        "".join(f"images/makeup/{f} segs/makeup/{f}\n" for f in lists["train_MAKEMIX.txt"])
    )
    with pytest.raises(FacejaxError, match=r"has the list file\(s\) train_MAKEMIX.txt but not"):
        build("mt_makeup/128", manual, tmp_path / "a")
    for name, files in lists.items():
        d = "makeup" if "MAKE" in name else "non-makeup"
        (root / name).write_text("".join(f"images/{d}/{f} segs/{d}/{f}\n" for f in files))
    builder = build("mt_makeup/128", manual, tmp_path / "b")  # manual_dir above all/ works too
    assert sizes(builder) == {"train": 4, "test": 3}
    assert set(load(builder)["test"]) == {
        "images/makeup/vRX200.png",
        "images/non-makeup/xfsy_0068.png",
        "images/non-makeup/XYUH-3.png",
    }


def test_mt_makeup_bad_parsing_map_is_named(copy_of, tmp_path):
    manual = copy_of("mt_makeup")
    seg = manual / "all/segs/makeup/vFG101.png"
    Image.fromarray(np.full((32, 32), 200, np.uint8), mode="L").save(seg)
    with pytest.raises(FacejaxError, match=r"vFG101\.png: label value 200 outside 0\.\.13"):
        build("mt_makeup/original", manual, tmp_path / "a")
    (manual / "all/segs/non-makeup/vSYYZ1.png").unlink()
    builder = build("mt_makeup/original", manual, tmp_path / "b", skip_bad=True)
    assert sum(sizes(builder).values()) == 5
    assert len(builder.skipped) == 2
    assert any("vSYYZ1.png: its parsing map segs/non-makeup/vSYYZ1.png is missing" in s for s in builder.skipped)


# ------------------------------------------------------------------------------------------------
# celeb_id
# ------------------------------------------------------------------------------------------------


def test_celeb_id(built):
    builder, ex = built("celeb_id/original")
    assert sizes(builder) == {"train": 2, "test": 5}  # bob (a closed eye) and carol (unknown) -> test
    a = ex["train"]["alice_a-1.jpg"]
    assert (a["identity"], a["identity_name"]) == (0, b"alice_a")
    np.testing.assert_allclose(a["eye_centers"], [[27 / 64, 22 / 64], [27 / 64, 42 / 64]], rtol=1e-6)
    np.testing.assert_allclose(a["eye_boxes"][1], [22 / 64, 32 / 64, 32 / 64, 52 / 64], rtol=1e-6)  # w 20, h 10
    assert a["opened"] == pytest.approx(0.93) and a["closed"] == pytest.approx(0.02)
    b = ex["test"]["bob_b-1.jpg"]
    assert b["identity"] == 1
    np.testing.assert_allclose(b["eye_boxes"][0], [18 / 64, 12 / 64, 34 / 64, 28 / 64], rtol=1e-6)  # top-level box
    assert np.isnan(b["eye_centers"][1]).all() and np.isnan(b["eye_boxes"][1]).all()  # eye_right: null
    c = ex["test"]["carol_c-1.jpg"]
    assert c["identity"] == 2 and math.isnan(c["opened"]) and np.isnan(c["eye_boxes"]).all()
    assert not np.isnan(c["eye_centers"]).any()
    assert built("celeb_id/128")[1]["test"]["carol_c-3.jpg"]["image"].shape == (128, 128, 3)


def test_celeb_id_listed_image_missing(copy_of, tmp_path):
    manual = copy_of("celeb_id")
    (manual / "bob_b-2.jpg").unlink()
    with pytest.raises(FacejaxError, match=r"bob_b-2\.jpg: file not found"):
        build("celeb_id/original", manual, tmp_path / "a")
    data = json.loads((manual / "data.json").read_text())
    data["bob_b"][0]["opened"] = "yes"
    (manual / "data.json").write_text(json.dumps(data))
    with pytest.raises(FacejaxError, match=r"bob_b-1\.jpg has opened='yes'; expected a number or null"):
        build("celeb_id/original", manual, tmp_path / "b")


# ------------------------------------------------------------------------------------------------
# celeba
# ------------------------------------------------------------------------------------------------


def test_celeba_gfc_crop(built):
    builder, ex = built("celeba/gfc_128")
    assert sizes(builder) == {"train": 3, "validation": 1, "test": 2}
    first = ex["train"]["000001.jpg"]
    assert first["image"].shape == (128, 128, 3)
    expected = [(a % 3 == 0) for a in range(len(ATTRIBUTE_NAMES))]  # make_dummy_data: (a + i) % 3 == 0, i = 0
    np.testing.assert_array_equal(first["attributes"], expected)
    left, upper, right, lower = GFC_BOX
    s = 128 / (right - left)
    np.testing.assert_allclose(first["landmarks"][0], [(69 - left) * s, (109 - upper) * s], rtol=1e-5)
    np.testing.assert_allclose(first["landmarks"][4], [(108 - left) * s, (154 - upper) * s], rtol=1e-5)
    # crop_celebA.lua: image.load ([0, 1] floats), image.crop(im, 30, 40, 168, 178), image.scale(cropped, 128, 128)
    crop = Image.fromarray(decode_file(dummy("celeba") / "Img/img_align_celeba/000001.jpg")).crop(GFC_BOX)
    want = np.round(lua_torch_scale(np.asarray(crop, np.float32) / np.float32(255), 128, 128) * 255)
    got = first["image"].astype(np.float64)
    assert np.abs(got - want).max() <= 1 and np.mean(got == want) > 0.99  # the float rounding of the two, at most
    lanczos = np.asarray(crop.resize((128, 128), Image.Resampling.LANCZOS), np.float64)
    assert np.abs(got - lanczos).max() > 4


def _scale_linear_rowcol(src, dst_len):
    """A transcription of torch/image generic/image.c ``scaleLinear_rowcol`` (float32 as the C code's floats) for
    one row or column."""
    src_len, f32 = len(src), np.float32
    dst = np.zeros(dst_len, np.float32)
    if dst_len > src_len:
        scale = f32(src_len - 1) / f32(dst_len - 1)
        for di in range(dst_len - 1):
            si_f = f32(di) * scale
            si_i = int(si_f)
            si_f = si_f - f32(si_i)
            dst[di] = (f32(1) - si_f) * src[si_i] + si_f * src[min(si_i + 1, src_len - 1)]
        dst[dst_len - 1] = src[src_len - 1]
    elif dst_len < src_len:
        si0_i, si0_f = 0, f32(0)
        scale = f32(src_len) / f32(dst_len)
        for di in range(dst_len):
            si1_f = f32(di + 1) * scale
            si1_i = int(si1_f)
            si1_f = si1_f - f32(si1_i)
            acc = (f32(1) - si0_f) * src[si0_i]
            n = f32(1) - si0_f
            for si in range(si0_i + 1, si1_i):
                acc += src[si]
                n += f32(1)
            if si1_i < src_len:
                acc += si1_f * src[si1_i]
                n += si1_f
            dst[di] = acc / n
            si0_i, si0_f = si1_i, si1_f
    else:
        dst[:] = src
    return dst


def lua_torch_scale(img, width, height):
    """``image.scale(img, width, height)`` in mode 'bilinear' (image.c ``scaleBilinear``): per channel, every row
    to `width` into a temporary, then every column of it to `height`. img: (H, W, C) float32."""
    h, _, c = img.shape
    tmp = np.zeros((h, width, c), np.float32)
    out = np.zeros((height, width, c), np.float32)
    for k in range(c):
        for j in range(h):
            tmp[j, :, k] = _scale_linear_rowcol(img[j, :, k], width)
        for i in range(width):
            out[:, i, k] = _scale_linear_rowcol(tmp[:, i, k], height)
    return out


def test_lua_torch_scale_weights_transcribe_image_c():
    """facejax's weights of crop_celebA.lua's image.scale against the transcription, shrinking and enlarging."""
    from facejax.datasets.celeba.celeba import torch_scale

    rng = np.random.default_rng(0)
    img = rng.uniform(0, 1, (23, 17, 2)).astype(np.float32)
    for w, h in ((16, 20), (30, 40), (17, 11), (138, 129)):
        np.testing.assert_allclose(torch_scale(img, w, h), lua_torch_scale(img, w, h), atol=2e-6, err_msg=(w, h))


def test_celeba_aligned(built):
    _, ex = built("celeba/aligned")
    fourth = ex["validation"]["000004.jpg"]
    assert fourth["image"].shape == (218, 178, 3)
    np.testing.assert_allclose(fourth["landmarks"][0], [69 + 3, 109])
    np.testing.assert_array_equal(fourth["attributes"], [(a + 3) % 3 == 0 for a in range(len(ATTRIBUTE_NAMES))])


def test_celeba_annotation_errors(copy_of, tmp_path):
    manual = copy_of("celeba")
    attrs = manual / "Anno/list_attr_celeba.txt"
    attrs.write_text("\n".join(attrs.read_text().splitlines()[:-1]) + "\n")  # drop 000006's row
    with pytest.raises(
        FacejaxError,
        match=r"Anno/list_attr_celeba.txt has no row for 000006\.jpg.*expected "
        r"<manual_dir>/Img/img_align_celeba",
    ):
        build("celeba/aligned", manual, tmp_path)


# ------------------------------------------------------------------------------------------------
# helen
# ------------------------------------------------------------------------------------------------


def test_helen_parsing_is_the_argmax_of_the_masks(built):
    builder, ex = built("helen/original")
    assert sizes(builder) == {"train": 3, "validation": 1, "test": 1}
    assert set(ex["test"]) == {f"{dd.HELEN_NAMES[4]}.jpg"}
    parsing = ex["train"][f"{dd.HELEN_NAMES[0]}.jpg"]["parsing"][..., 0]
    assert parsing.shape == (48, 40)
    assert parsing[2, 2] == 10 and parsing[20, 14] == 5 and parsing[20, 24] == 4  # hair, eyes
    assert parsing[33, 20] == 7 and parsing[35, 20] == 8 and parsing[37, 20] == 9  # lips, mouth
    assert parsing[26, 12] == 1 and parsing[45, 1] == 0  # skin (under a faint eye halo), background
    _, ex128 = built("helen/128")
    assert ex128["validation"][f"{dd.HELEN_NAMES[3]}.jpg"]["parsing"].shape == (128, 128, 1)
    assert set(np.unique(ex128["validation"][f"{dd.HELEN_NAMES[3]}.jpg"]["parsing"])) <= set(range(11))


# ------------------------------------------------------------------------------------------------
# scut_fbp5500
# ------------------------------------------------------------------------------------------------


def _expected_scores(file_name):
    i = dd.SCUT_FILES.index(file_name)
    return np.array([dd.scut_rating(r, i) for r in range(1, 61)], np.float32)


def test_scut_fbp5500_per_rater_scores(built):
    builder, ex = built("scut_fbp5500/256")
    assert sizes(builder) == {"train": 4, "test": 2}
    cm1 = ex["train"]["CM1.jpg"]
    np.testing.assert_array_equal(cm1["scores"], _expected_scores("CM1.jpg"))
    assert cm1["scores"][6] == dd.scut_rating(7, 3)  # rater 7's score
    assert cm1["mean_score"] == pytest.approx(_expected_scores("CM1.jpg").mean())
    assert (cm1["gender"], cm1["ethnicity"]) == (1, 1)  # male, caucasian
    assert (ex["test"]["AF2.jpg"]["gender"], ex["test"]["AF2.jpg"]["ethnicity"]) == (0, 0)
    assert cm1["image"].shape == (256, 256, 3)
    # AM1 is 35x30: padded to a centred square with black before resizing (Beholder-GAN's transform).
    am1 = ex["train"]["AM1.jpg"]["image"]
    assert am1[:10].max() < 20 and am1[128].max() > 40


def test_scut_fbp5500_cross_validation_fold(built):
    builder, ex = built("scut_fbp5500/cv3_256")
    assert sizes(builder) == {"train": 5, "test": 1}
    assert set(ex["test"]) == {dd.SCUT_FILES[2]}


def test_scut_fbp5500_reads_the_csv_export(copy_of, tmp_path):
    manual = copy_of("scut_fbp5500")
    (manual / "All_Ratings.xlsx").unlink()
    with pytest.raises(FacejaxError, match=r"missing All_Ratings.xlsx \(or its CSV export All_Ratings.csv\)"):
        build("scut_fbp5500/original", manual, tmp_path / "a")
    # Beholder-GAN's header-less rows `rater,filename,rating,` (trailing comma included).
    rows = [f"{r},{f},{dd.scut_rating(r, i)}," for r in range(1, 61) for i, f in enumerate(dd.SCUT_FILES)]
    (manual / "All_Ratings.csv").write_text("\n".join(rows) + "\n")
    builder = build("scut_fbp5500/original", manual, tmp_path / "b")
    ex = load(builder)
    np.testing.assert_array_equal(ex["test"]["CM2.jpg"]["scores"], _expected_scores("CM2.jpg"))
    assert ex["test"]["CM2.jpg"]["image"].shape == (30, 35, 3)  # 35x30 as stored
    (manual / "All_Ratings.csv").write_text("Rater,Filename,Rating\n" + "\n".join(rows[:-6]) + "\n")
    with pytest.raises(FacejaxError, match=r"All_Ratings.csv: has 59 raters, expected 60"):
        build("scut_fbp5500/original", manual, tmp_path / "c")
