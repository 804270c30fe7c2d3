"""The families' streams: what StarGAN v2's elements hold (class-balanced sources, reference pairs of
one domain with fixed partners) and what the makeup pairs hold (non-makeup source, makeup reference,
maps aligned with their images); both are pure functions of the position."""

import collections

import numpy as np
import pytest
import tensorflow as tf
from tests.input.conftest import example_value

from facejax.errors import FacejaxError
from facejax.families.stargan_v2 import pipeline as sg2_pipeline
from facejax.input import ops, pipelines, sources, streams

DOMAIN_OF = [0] * 5 + [1] * 3 + [2] * 7  # coded_folder: domains a, b, c with 5, 3, 7 images


def _ids(x):
    """Example indices of flat coded images (any crop, resize or flip keeps the grey level)."""
    levels = np.round((np.asarray(x) + 1.0) * 127.5)
    assert np.all(levels == levels[:, :1, :1, :1])  # still flat
    return [(int(v) - example_value(0)) // (example_value(1) - example_value(0)) for v in levels[:, 0, 0, 0]]


def _stargan_element(folder, process=0):
    src = sources.folder_source(str(folder))
    return sg2_pipeline.train_element(
        src, num_domains=3, img_size=16, randcrop_prob=0.5, seeds=ops.seeds_for(7, process, 1)
    )


@pytest.fixture(scope="module")
def stargan_element(coded_folder):
    return _stargan_element(coded_folder)


@pytest.fixture(scope="module")
def stargan_batches(stargan_element):
    return [{k: v.numpy() for k, v in b.items()} for b in streams.batches(stargan_element, 50).take(12)]


def test_stargan_v2_elements_are_the_original_input_fetcher(stargan_batches):
    src_ids, ref_pairs, domains = [], [], collections.Counter()
    for b in stargan_batches:
        assert b["x_src"].shape == (50, 16, 16, 3) and b["x_src"].dtype == np.float32
        s, r, r2 = _ids(b["x_src"]), _ids(b["x_ref"]), _ids(b["x_ref2"])
        assert [DOMAIN_OF[i] for i in s] == b["y_src"].tolist()  # labels are the folders
        assert [DOMAIN_OF[i] for i in r] == b["y_ref"].tolist()
        assert [DOMAIN_OF[i] for i in r2] == b["y_ref"].tolist()  # x_ref2: same domain as x_ref
        src_ids += s
        ref_pairs += list(zip(r, r2))
        domains.update(b["y_src"].tolist())
    # Class-balanced (WeightedRandomSampler, weights 1 / class count): each domain about a third of
    # the draws, although the domains hold 5, 3 and 7 images; every image is drawn.
    n = len(src_ids)
    assert all(abs(domains[d] / n - 1 / 3) < 0.06 for d in range(3)), domains
    assert set(src_ids) == set(range(15))
    # ReferenceDataset: x_ref2 is x_ref's fixed partner, a permutation within each domain.
    partner = {}
    for a, b in ref_pairs:
        assert partner.setdefault(a, b) == b
    assert set(partner) == set(range(15))
    for d in range(3):
        members = {i for i in range(15) if DOMAIN_OF[i] == d}
        assert {partner[i] for i in members} == members
    assert any(a != b for a, b in partner.items())


def test_stargan_v2_stream_is_a_function_of_the_position(coded_folder, stargan_element, stargan_batches):
    later = next(iter(streams.batches(stargan_element, 50, start_batch=7)))
    for k, v in later.items():
        np.testing.assert_array_equal(v.numpy(), stargan_batches[7][k])
    # A pipeline built again from the same seeds gives the same stream; another process another one.
    again, other = (next(iter(streams.batches(_stargan_element(coded_folder, p), 50))) for p in (0, 1))
    for k, v in again.items():
        np.testing.assert_array_equal(v.numpy(), stargan_batches[0][k])
    assert not np.array_equal(other["x_src"].numpy(), stargan_batches[0]["x_src"])


def test_stargan_v2_augments_each_image(afhq_samples):
    src = sources.folder_source(str(afhq_samples / "src"))
    element = sg2_pipeline.train_element(src, num_domains=3, img_size=32, randcrop_prob=0.5, seeds=[1, 2, 3, 4])
    b = next(iter(streams.batches(element, 24)))
    x = b["x_src"].numpy()
    assert x.min() >= -1.0 and x.max() <= 1.0 and x.std() > 0.2
    # Every output is its file's crop/resize/flip: the no-crop ones equal the eval transform (or its
    # mirror) of one file of their labelled domain exactly.
    evals = [ops.eval_transform(ops.decode(p, True), 32).numpy() for p in src.table["image"]]
    exact = 0
    for img, y in zip(x, b["y_src"].numpy()):
        hits = [i for i, e in enumerate(evals) if np.array_equal(img, e) or np.array_equal(img, e[:, ::-1])]
        exact += len(hits) > 0
        assert all(src.labels[i] == y for i in hits)
    assert 4 <= exact < 24  # about half uncropped (p = 0.5), the others cropped


@pytest.fixture(scope="module")
def makeup_source(synthetic_builder):
    return sources.tfds_source(
        synthetic_builder,
        "train",
        features=pipelines.MAKEUP_FEATURES + ("file_name",),
        optional=pipelines.MAKEUP_OPTIONAL,
    )


def _index(name):
    name = name.decode() if isinstance(name, bytes) else name
    return int(name.split("_")[1].split(".")[0])


def test_makeup_pairs_hold_aligned_images_and_parsing_maps(synthetic_builder, makeup_source):
    from facejax.datasets.synthetic_faces import render_face

    plain, made_up = pipelines.split_makeup(makeup_source)
    assert plain.num_examples + made_up.num_examples == 48 and min(plain.num_examples, made_up.num_examples) > 8
    n = plain.num_examples
    ds = pipelines.makeup_pairs(makeup_source, n, seed=3, img_size=32, extras=("file_name", "makeup/has_makeup"))
    b = {k: v.numpy() for k, v in next(iter(ds)).items()}
    assert not b["makeup_has_makeup_src"].any() and b["makeup_has_makeup_ref"].all()
    # One epoch of sources shows every non-makeup face once.
    assert sorted(_index(f) for f in b["file_name_src"]) == sorted(_index(f) for f in plain.table["file_name"])
    flips = 0
    for side in ("src", "ref"):
        for i, name in enumerate(b[f"file_name_{side}"]):
            want = render_face(synthetic_builder.builder_config, "train", _index(name))
            img, parsing = ops.to_float(want["image"]).numpy(), want["parsing"]
            swapped = np.asarray(pipelines.MT_FLIP_LABELS)[parsing[:, ::-1]]
            x, m = b[f"x_{side}"][i], b[f"parsing_{side}"][i]
            # At the native size without crop, each side is its example, flipped or not, and the map
            # moves (and its left/right ids swap) with its image.
            if np.array_equal(x, img):
                np.testing.assert_array_equal(m, parsing)
            else:
                np.testing.assert_array_equal(x, img[:, ::-1])
                np.testing.assert_array_equal(m, swapped)
                flips += 1
    assert 0 < flips < 2 * n


def test_makeup_pairs_with_crops_keep_labels_valid(makeup_source):
    ds = pipelines.makeup_pairs(makeup_source, 16, seed=3, img_size=24, randcrop_prob=1.0)
    b = next(iter(ds))
    for side in ("src", "ref"):
        m = b[f"parsing_{side}"].numpy()
        assert m.shape == (16, 24, 24, 1) and m.dtype == np.int32
        assert set(np.unique(m)) <= set(range(14)) and len(np.unique(m)) >= 10


def test_paired_stream_is_a_function_of_the_position(makeup_source):
    element = pipelines.makeup_element(makeup_source, seed=3, img_size=32)
    first = list(streams.batches(element, 8).take(3))
    third = next(iter(streams.batches(element, 8, start_batch=2)))
    for k, v in third.items():
        np.testing.assert_array_equal(v.numpy(), first[2][k].numpy())


def test_paired_sources_with_replacement(makeup_source):
    """source_draw "uniform" (BeautyGAN's reference: random.randint on both sides) repeats sources within an epoch and
    leaves some out; "epochs" shows every source exactly once per epoch."""
    plain, made_up = pipelines.split_makeup(makeup_source)
    n = plain.num_examples
    seen = {}
    for draw in ("epochs", "uniform"):
        element = pipelines.paired(
            plain, made_up, img_size=16, seeds=[1, 2, 3], extras=("file_name",), flip=False, source_draw=draw
        )
        names = [element(tf.constant(p, tf.int64))["file_name_src"].numpy() for p in range(2 * n)]
        seen[draw] = (names[:n], names[n:])
    for epoch in seen["epochs"]:
        assert len(set(epoch)) == n
    assert any(len(set(epoch)) < n for epoch in seen["uniform"])
    with pytest.raises(FacejaxError, match="source_draw='zip'"):
        pipelines.paired(plain, made_up, img_size=16, seeds=[1, 2, 3], source_draw="zip")


def test_paired_errors(makeup_source, coded_folder):
    with pytest.raises(FacejaxError, match="cannot tell makeup from non-makeup"):
        pipelines.split_makeup(sources.folder_source(str(coded_folder)))
    plain, made_up = pipelines.split_makeup(makeup_source)
    with pytest.raises(FacejaxError, match=r"no feature\(s\) \['segmentation'\]"):
        pipelines.paired(plain, made_up, img_size=32, seeds=[1, 2, 3], maps=("segmentation",))
    with pytest.raises(FacejaxError, match="is empty"):
        pipelines.paired(plain.subset([]), made_up, img_size=32, seeds=[1, 2, 3])


def test_makeup_pairs_on_the_mt_layout(tmp_path, repo_root):
    # mt_makeup/original keeps MT's sizes: images and parsing maps at different resolutions (the dummy
    # data: 36-px images, 32-px maps); makeup is told by the domains non-makeup / makeup.
    import tensorflow_datasets as tfds

    import facejax.datasets  # noqa: F401

    builder = tfds.builder("mt_makeup", config="original", data_dir=str(tmp_path))
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(manual_dir=str(repo_root / "data" / "mt_makeup" / "dummy_data"))
    )
    src = sources.tfds_source(
        builder, "train", features=pipelines.MAKEUP_FEATURES + ("file_name",), optional=pipelines.MAKEUP_OPTIONAL
    )
    b = {
        k: v.numpy()
        for k, v in next(iter(pipelines.makeup_pairs(src, 6, seed=1, img_size=32, extras=("file_name",)))).items()
    }
    assert all(f.decode().startswith("images/non-makeup/") for f in b["file_name_src"])
    assert all(f.decode().startswith("images/makeup/") for f in b["file_name_ref"])
    segs = dict(zip(src.table["file_name"], src.table["parsing"]))
    for side in ("src", "ref"):
        for name, m in zip(b[f"file_name_{side}"], b[f"parsing_{side}"]):
            raw = tf.io.decode_png(segs[name]).numpy()  # 32 px: the output map is the map, maybe mirrored
            assert np.array_equal(m, raw) or np.array_equal(m, np.asarray(pipelines.MT_FLIP_LABELS)[raw[:, ::-1]])
