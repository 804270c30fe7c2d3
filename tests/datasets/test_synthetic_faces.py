"""synthetic_faces: registration, determinism, feature spec, and that the labels mean what they say."""

import numpy as np
import pytest
import tensorflow_datasets as tfds

import facejax.datasets  # noqa: F401  (registers synthetic_faces)
from facejax.datasets.synthetic_faces import SyntheticFaces, SyntheticFacesConfig, make_config, render, render_face

SCALARS = ("label", "beauty", "identity")


def _build(config, data_dir):
    builder = tfds.builder("synthetic_faces", config=config, data_dir=str(data_dir))
    builder.download_and_prepare()
    return builder


def _load(builder, split):
    """All examples of a split keyed by index (TFDS shuffles the stored order)."""
    out = {}
    for ex in tfds.as_numpy(builder.as_dataset(split=split, shuffle_files=False)):
        name = ex["file_name"].decode()
        out[int(name.split("_")[1].split(".")[0])] = ex
    return [out[i] for i in range(len(out))]


@pytest.fixture(scope="module")
def gender32(tmp_path_factory):
    builder = tfds.builder("synthetic_faces/gender_32", data_dir=str(tmp_path_factory.mktemp("g")))
    builder.download_and_prepare()
    return builder, _load(builder, "train"), _load(builder, "test")


@pytest.fixture(scope="module")
def species32(tmp_path_factory):
    builder = _build(make_config("species", 32), tmp_path_factory.mktemp("s"))
    return builder, _load(builder, "train"), _load(builder, "test")


def _render_many(kind, size, n, split="train", **overrides):
    cfg = make_config(kind, size, **overrides)
    return [render_face(cfg, split, i) for i in range(n)]


# ------------------------------------------------------------------------------------------------
# registration and configs
# ------------------------------------------------------------------------------------------------


def test_registered_with_named_configs():
    assert tfds.builder_cls("synthetic_faces") is SyntheticFaces
    names = {c.name for c in SyntheticFaces.BUILDER_CONFIGS}
    assert names == {f"{k}_{s}" for k in ("gender", "species") for s in (32, 64, 128, 256)}
    cfg = SyntheticFaces.builder_configs["species_128"]
    assert (cfg.kind, cfg.img_size, cfg.num_train, cfg.num_test, cfg.seed, cfg.num_identities, cfg.num_raters) == (
        "species",
        128,
        1024,
        128,
        0,
        64,
        8,
    )
    assert cfg.domains == ("cat", "dog", "wild")


def test_make_config_names():
    assert make_config("gender", 32) is SyntheticFaces.builder_configs["gender_32"]
    assert make_config("gender", 48).name == "gender_48"
    cfg = make_config("species", 48, seed=3, num_train=16)
    assert cfg.name == "species_48_num_train16_seed3"
    assert (cfg.seed, cfg.num_train, cfg.img_size) == (3, 16, 48)
    assert make_config("gender", 64, seed=0).name == "gender_64"  # defaults add no suffix
    with pytest.raises(TypeError, match="unknown"):
        make_config("gender", 32, size=3)


@pytest.mark.parametrize("size", [16, 31, 257, 300])
def test_invalid_img_size_raises(size):
    with pytest.raises(ValueError, match="img_size"):
        make_config("gender", size)
    with pytest.raises(ValueError, match="img_size"):
        SyntheticFacesConfig(name="bad", kind="gender", img_size=size)


def test_invalid_kind_and_counts_raise():
    with pytest.raises(ValueError, match="kind"):
        make_config("robots", 32)
    with pytest.raises(ValueError, match="num_identities"):
        make_config("species", 32, num_identities=2)
    with pytest.raises(ValueError, match="img_size"):
        make_config("gender", 64.0)


# ------------------------------------------------------------------------------------------------
# determinism
# ------------------------------------------------------------------------------------------------


def test_two_builds_identical_and_equal_render(tmp_path):
    cfg = make_config("species", 40, num_train=24, num_test=6)
    a = _build(cfg, tmp_path / "a")
    b = _build(cfg, tmp_path / "b")
    assert a.info.splits["train"].num_examples == 24 and a.info.splits["test"].num_examples == 6
    for split in ("train", "test"):
        xs, ys = _load(a, split), _load(b, split)
        for i, (x, y) in enumerate(zip(xs, ys)):
            assert x["image"].tobytes() == y["image"].tobytes()
            assert x["parsing"].tobytes() == y["parsing"].tobytes()
            ref = render_face(cfg, split, i)
            _assert_same_example(x, ref)


def _assert_same_example(built, ref):
    np.testing.assert_array_equal(built["image"], ref["image"])
    np.testing.assert_array_equal(built["parsing"], ref["parsing"])
    for k in ("eye_boxes", "eyes_open", "scores"):
        np.testing.assert_array_equal(built[k], ref[k])
    for k in SCALARS:
        assert built[k] == ref[k], k
    for k in ("lips", "eye_shadow", "skin"):
        np.testing.assert_array_equal(built["makeup"][k], ref["makeup"][k])
    assert bool(built["makeup"]["has_makeup"]) == bool(ref["makeup"]["has_makeup"])
    assert built["file_name"].decode() == ref["file_name"]


def test_default_build_equals_render(gender32):
    builder, train, test = gender32
    cfg = builder.builder_config
    for i in (0, 1, 7, 500, 1023):
        _assert_same_example(train[i], render_face(cfg, "train", i))
    for i in (0, 127):
        _assert_same_example(test[i], render_face(cfg, "test", i))


def test_seed_and_split_change_the_data():
    base = render_face(make_config("gender", 32), "train", 5)["image"]
    assert not np.array_equal(base, render_face(make_config("gender", 32, seed=1), "train", 5)["image"])
    assert not np.array_equal(base, render_face(make_config("gender", 32), "test", 5)["image"])
    np.testing.assert_array_equal(base, render_face(make_config("gender", 32), "train", 5)["image"])


def test_same_example_at_every_size():
    small = render_face(make_config("species", 32), "train", 11)
    big = render_face(make_config("species", 96), "train", 11)
    for k in ("label", "identity", "beauty"):
        assert small[k] == big[k]
    np.testing.assert_array_equal(small["scores"], big["scores"])
    np.testing.assert_array_equal(small["makeup"]["lips"], big["makeup"]["lips"])
    np.testing.assert_allclose(small["eye_boxes"], big["eye_boxes"], atol=0.08)


# ------------------------------------------------------------------------------------------------
# feature spec
# ------------------------------------------------------------------------------------------------


def _check_fields(ex, size, num_raters=8, num_identities=64, num_domains=2):
    assert ex["image"].shape == (size, size, 3) and ex["image"].dtype == np.uint8
    assert ex["parsing"].shape == (size, size, 1) and ex["parsing"].dtype == np.uint8
    assert ex["parsing"].max() <= 13
    assert 0 <= ex["label"] < num_domains
    for k in ("lips", "eye_shadow", "skin"):
        assert ex["makeup"][k].shape == (3,) and ex["makeup"][k].dtype == np.uint8
    assert ex["eye_boxes"].shape == (2, 4) and ex["eye_boxes"].dtype == np.float32
    boxes = ex["eye_boxes"]
    assert np.all((boxes >= 0) & (boxes <= 1))
    assert np.all(boxes[:, 2] > boxes[:, 0]) and np.all(boxes[:, 3] > boxes[:, 1])
    assert boxes[0, 1] > boxes[1, 1]  # row 0 = subject's left eye = image right
    assert ex["eyes_open"].shape == (2,) and ex["eyes_open"].dtype == np.float32
    assert np.all((ex["eyes_open"] >= 0) & (ex["eyes_open"] <= 1))
    assert ex["scores"].shape == (num_raters,) and ex["scores"].dtype == np.float32
    assert np.all((ex["scores"] >= 1) & (ex["scores"] <= 5))
    assert np.float32(ex["beauty"]).dtype == np.float32
    np.testing.assert_allclose(ex["beauty"], ex["scores"].mean(), rtol=1e-6)
    assert 0 <= ex["identity"] < num_identities
    assert ex["identity"] % num_domains == ex["label"]  # an identity belongs to one domain


def test_built_fields_32(gender32):
    builder, train, test = gender32
    info = builder.info
    assert info.features["label"].names == ["female", "male"]
    assert (len(train), len(test)) == (1024, 128)
    assert info.supervised_keys is not None
    for ex in train[:64] + test[:8]:
        _check_fields(ex, 32)
        assert ex["label"].dtype == np.int64 and ex["identity"].dtype == np.int64
    counts = np.bincount([ex["label"] for ex in train])
    assert counts.max() - counts.min() <= 1
    assert train[3]["file_name"] == b"train_000003.png"


def test_rendered_fields_256():
    cfg = make_config("species", 256, num_raters=5, num_identities=9)
    for i in range(3):
        ex = render_face(cfg, "test", i)
        _check_fields(ex, 256, num_raters=5, num_identities=9, num_domains=3)
        assert isinstance(ex["file_name"], str)
    with pytest.raises(IndexError):
        render_face(cfg, "test", 128)


def test_parsing_labels_present():
    for kind in ("gender", "species"):
        for ex in _render_many(kind, 64, 24):
            present = set(np.unique(ex["parsing"]).tolist())
            assert present <= set(range(14))
            assert {1, 2, 3, 4, 5, 6, 7, 9, 10, 13} <= present, (kind, present)
    # An open mouth shows teeth (label 8) in some examples.
    assert any(8 in ex["parsing"] for ex in _render_many("gender", 32, 40))


def test_parsing_sides_follow_mt_convention():
    for ex in _render_many("gender", 64, 8):
        p = ex["parsing"][..., 0]
        col = lambda lab: np.nonzero(p == lab)[1].mean()  # noqa: E731
        assert col(2) > col(3) and col(4) > col(5)  # subject's left is image right


def test_makeup_colours_are_applied():
    gender = _render_many("gender", 128, 40)
    exs = gender + _render_many("species", 128, 30)
    made_up = [e for e in exs if e["makeup"]["has_makeup"]]
    plain = [e for e in exs if not e["makeup"]["has_makeup"]]
    assert len(made_up) >= 15 and len(plain) >= 15
    for ex in made_up:
        lips = np.isin(ex["parsing"][..., 0], (7, 9))
        med = np.median(ex["image"][lips].astype(float), 0)
        assert np.abs(med - ex["makeup"]["lips"]).max() <= 25, (med, ex["makeup"]["lips"])
    for ex in gender:  # skin (label 1) shows the foundation-tinted skin colour (beards aside)
        if render.identity_params("gender", 0, int(ex["identity"]))["beard"]:
            continue
        skin = ex["parsing"][..., 0] == 1
        med = np.median(ex["image"][skin].astype(float), 0)
        assert np.abs(med - ex["makeup"]["skin"]).max() <= 25
    for ex in plain:  # natural colours: lips near skin, no eye shadow
        np.testing.assert_array_equal(ex["makeup"]["eye_shadow"], ex["makeup"]["skin"])
        assert np.abs(ex["makeup"]["lips"].astype(int) - ex["makeup"]["skin"]).max() < 100
    lips = np.stack([e["makeup"]["lips"] for e in made_up]).astype(float)
    assert lips.std(0).mean() > 20  # lipsticks differ between examples
    assert np.median(lips.max(1) - lips.min(1)) > 100  # from a saturated palette
    # Eye shadow: skin just above each eye takes the shadow colour.
    closer = []
    for ex in made_up:
        p = ex["parsing"][..., 0]
        for row in (0, 1):
            y0, x0, y1, x1 = (ex["eye_boxes"][row] * 128).astype(int)
            h, q = max(y1 - y0, 4), (x1 - x0) // 4
            band = ex["image"][y0 - h : y0, x0 + q : x1 - q][p[y0 - h : y0, x0 + q : x1 - q] == 1]
            med = np.median(band.astype(float), 0)
            closer.append(np.abs(med - ex["makeup"]["eye_shadow"]).max() < np.abs(med - ex["makeup"]["skin"]).max())
    assert np.mean(closer) > 0.85


def test_makeup_fraction(gender32):
    _, train, _ = gender32
    frac = np.mean([bool(e["makeup"]["has_makeup"]) for e in train])
    assert 0.4 < frac < 0.6


def test_eye_boxes_contain_eye_pixels():
    for size in (32, 128):
        for ex in _render_many("gender", size, 20) + _render_many("species", size, 12):
            for row, lab in enumerate((4, 5)):
                ys, xs = np.nonzero(ex["parsing"][..., 0] == lab)
                assert len(ys) > 0
                b = ex["eye_boxes"][row] * size
                inside = (ys + 0.5 >= b[0]) & (ys + 0.5 <= b[2]) & (xs + 0.5 >= b[1]) & (xs + 0.5 <= b[3])
                assert inside.mean() >= 0.9
                # tight: the box is not much larger than the pixels it encloses
                assert (b[2] - b[0]) <= (ys.max() - ys.min() + 1) * 1.3 + 2.5
                assert (b[3] - b[1]) <= (xs.max() - xs.min() + 1) * 1.3 + 2.5


def test_closed_eyes(gender32):
    _, train, _ = gender32
    closed = np.array([e["eyes_open"].max() == 0 for e in train])
    assert 0.13 < closed.mean() < 0.27
    exs = _render_many("gender", 128, 40) + _render_many("species", 128, 30)
    px = lambda e: np.isin(e["parsing"], (4, 5)).sum()  # noqa: E731
    shut = [px(e) for e in exs if e["eyes_open"].max() == 0]
    opened = [px(e) for e in exs if e["eyes_open"].min() > 0]
    assert shut and opened
    assert np.mean(shut) < 0.5 * np.mean(opened)
    assert all(e["eyes_open"].min() >= 0.6 for e in exs if e["eyes_open"].max() > 0)


def test_identities_repeat_with_consistent_iris():
    cfg = make_config("gender", 160)
    exs = [render_face(cfg, "train", i) for i in range(48)]
    ids = np.array([e["identity"] for e in exs])
    _, counts = np.unique(ids, return_counts=True)
    assert counts.max() >= 2
    irises = {}
    for ex in exs:
        ident = render.identity_params("gender", 0, int(ex["identity"]))
        irises[int(ex["identity"])] = ident["iris"]
        if ex["eyes_open"].min() == 0:
            continue
        # Some pixel of each eye carries (about) the identity's iris colour.
        for lab in (4, 5):
            pix = ex["image"][ex["parsing"][..., 0] == lab].astype(float)
            assert np.abs(pix - ident["iris"]).max(1).min() < 14
    colours = np.stack(list(irises.values()))
    assert colours.std(0).mean() > 10  # identities differ
    # Same identity, no makeup: same skin colour every time.
    by_id = {}
    for ex in exs:
        if not ex["makeup"]["has_makeup"]:
            by_id.setdefault(int(ex["identity"]), []).append(ex["makeup"]["skin"])
    repeats = [v for v in by_id.values() if len(v) > 1]
    assert repeats
    for v in repeats:
        assert all(np.array_equal(v[0], w) for w in v)


def test_raters_correlate(gender32):
    _, train, _ = gender32
    scores = np.stack([e["scores"] for e in train[:256]])
    c = np.corrcoef(scores.T)
    pairs = c[np.triu_indices(scores.shape[1], 1)]
    assert pairs.mean() > 0.5
    assert pairs.max() < 0.99  # raters agree, but not perfectly
    assert scores.std() > 0.6
    beauty = np.array([e["beauty"] for e in train[:256]])
    np.testing.assert_allclose(beauty, scores.mean(1), rtol=1e-6)


def _features(examples):
    x = np.stack([e["image"] for e in examples]).astype(np.float32) / 255.0
    n, s = x.shape[:2]
    f = s // 16
    x = x.reshape(n, 16, f, 16, f, 3).mean((2, 4))
    x = np.concatenate([x, x.mean(-1, keepdims=True)], -1).reshape(n, -1)
    return np.concatenate([x, np.ones((n, 1), np.float32)], 1)


@pytest.mark.parametrize("fixture", ["gender32", "species32"])
def test_domains_linearly_separable(fixture, request):
    builder, train, test = request.getfixturevalue(fixture)
    k = builder.info.features["label"].num_classes
    xtr, xte = _features(train), _features(test)
    ytr = np.array([e["label"] for e in train])
    yte = np.array([e["label"] for e in test])
    w = np.linalg.solve(xtr.T @ xtr + 1.0 * np.eye(xtr.shape[1]), xtr.T @ np.eye(k)[ytr])
    acc = ((xte @ w).argmax(1) == yte).mean()
    assert acc > 0.95, acc


def test_within_domain_variation(gender32):
    _, train, _ = gender32
    female = np.stack([e["image"] for e in train if e["label"] == 0][:200]).astype(np.float32)
    assert female.std(0).mean() > 25  # pose, colours and styles vary inside a domain
    assert len({int(e["identity"]) for e in train}) == 64
