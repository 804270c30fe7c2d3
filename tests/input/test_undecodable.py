"""TFDS splits with an undecodable example (valid records, corrupt image bytes inside one): named at start-up
by its index in the split, record file and file_name in one line, or with data.skip_bad left out and
counted, the stream staying a pure function of the position (issue 23 item 4)."""

import pathlib
import shutil

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from facejax import configs
from facejax.errors import FacejaxError
from facejax.families.stargan_v2 import pipeline as sg2_pipeline
from facejax.input import sources, streams

BAD = 30  # in the second half of the 48 train examples: process 1's part when split over 2 processes


def _train_file(builder) -> str:
    (name,) = builder.info.splits["train"].filenames
    return f"{builder.data_dir}/{name}"


def _rewrite_records(path, change):
    """Rewrites a TFRecord file with `change(index, tf.train.Example)` applied to each record (valid records,
    CRCs recomputed: only what they hold is damaged)."""
    records = [r.numpy() for r in tf.data.TFRecordDataset(path)]
    with tf.io.TFRecordWriter(path) as w:
        for i, raw in enumerate(records):
            ex = tf.train.Example.FromString(raw)
            change(i, ex)
            w.write(ex.SerializeToString())


def _root(builder) -> pathlib.Path:
    return pathlib.Path(builder.data_dir).parents[2]  # <root>/<name>/<config>/<version>


def _copy(builder, root):
    """The builder of a copy of `builder`'s prepared data in the TFDS data_dir `root`."""
    shutil.copytree(_root(builder), root)
    return tfds.builder(builder.name, config=builder.builder_config, data_dir=str(root))


@pytest.fixture(scope="module")
def corrupt_builder(synthetic_builder, tmp_path_factory):
    """A copy of the 48-example synthetic_faces whose train example BAD holds half of its PNG."""
    builder = _copy(synthetic_builder, tmp_path_factory.mktemp("corrupt") / "tfds")
    names = {}

    def cut(i, ex):
        names[i] = ex.features.feature["file_name"].bytes_list.value[0].decode()
        if i == BAD:
            png = ex.features.feature["image"].bytes_list.value[0]
            ex.features.feature["image"].bytes_list.value[0] = png[: len(png) // 2]

    _rewrite_records(_train_file(builder), cut)
    return builder, names[BAD]


FEATURES = ("image", "label", "file_name")


def test_an_undecodable_example_is_named_by_index_record_and_file_name(corrupt_builder):
    builder, bad_name = corrupt_builder
    (record_file,) = builder.info.splits["train"].filenames
    # Split over 2 processes, it is row 6 of process 1's part; the line gives its index in the split.
    with pytest.raises(FacejaxError) as err:
        sources.tfds_source(builder, "train", 1, 2, features=FEATURES)
    msg = str(err.value)
    assert "\n" not in msg
    assert msg.startswith(
        f"undecodable image: example {BAD} of dataset {builder.info.full_name} split 'train' "
        f"(record {BAD} of {record_file}, file_name {bad_name}), feature 'image': "
    ), msg
    assert msg.endswith("or set --config.data.skip_bad=true to leave undecodable examples out"), msg
    assert sources.tfds_source(builder, "train", 0, 2, features=FEATURES).num_examples == 24  # the intact half


def test_skip_bad_leaves_it_out_counted_and_the_stream_resumes_exactly(corrupt_builder, capsys):
    builder, bad_name = corrupt_builder
    data = configs.load("stargan_v2:synthetic").data
    data.data_dir, data.config = str(_root(builder)), builder.builder_config.name
    data.skip_bad = True
    src = sources.load_source(data, "train", features=FEATURES)
    out = capsys.readouterr().out
    assert f"split 'train': skipped 1 undecodable example(s) of 48 (config.data.skip_bad), first example {BAD} " in out
    assert src.num_examples == 47 and bad_name.encode() not in set(src.table["file_name"])
    again = sources.load_source(data, "train", features=FEATURES)  # a relaunch reads the same table
    for k in src.table:
        np.testing.assert_array_equal(src.table[k], again.table[k])

    def stream(source, start):
        element = sg2_pipeline.train_element(source, num_domains=2, img_size=16, randcrop_prob=0.5, seeds=[1, 2, 3, 4])
        return streams.batches(element, 4, start)

    # The kept examples decode; a stream restarted at batch
    # 5 on the relaunch's table gives batch 5 of the uninterrupted stream, bit for bit.
    whole = list(stream(src, 0).take(6).as_numpy_iterator())
    resumed = next(stream(again, 5).as_numpy_iterator())
    for k in resumed:
        np.testing.assert_array_equal(resumed[k], whole[5][k])


def test_a_damaged_record_file_is_one_line(corrupt_builder, tmp_path):
    builder, _ = corrupt_builder
    broken = _copy(builder, tmp_path / "tfds")
    path = _train_file(broken)
    data = open(path, "rb").read()
    with open(path, "wb") as f:
        f.write(data[: len(data) // 2])
    with pytest.raises(FacejaxError, match=r"^dataset synthetic_faces/.* split 'train' in .* cannot be read: ") as err:
        sources.tfds_source(broken, "train", features=FEATURES)
    assert "\n" not in str(err.value) and "prepare the dataset again" in str(err.value)


def test_the_check_runs_the_pipelines_decoder_over_every_row_with_a_progress_line(capsys):
    png = tf.io.encode_png(tf.zeros((4, 4, 3), tf.uint8)).numpy()
    jpeg = tf.io.encode_jpeg(tf.zeros((4, 4, 3), tf.uint8)).numpy()
    images = [png, jpeg] * 12 + [png]
    images[7], images[20] = jpeg[:-40], b"not an image"  # a JPEG cut short; bytes of no image format
    table = {"image": np.array(images, dtype=object), "label": np.zeros(25, np.int64)}
    assert sources.undecodable_rows(table, {"image": 3}, what="the set", progress_from=10) == [7, 20]
    assert capsys.readouterr().out == "the set: checked 25/25 examples\n"
    assert sources.decode_error(table, {"image": 3}, 20).startswith("feature 'image': ")


def test_the_check_is_kept_beside_the_records_and_redone_when_they_change(corrupt_builder, tmp_path, monkeypatch):
    builder, _ = corrupt_builder
    copy = _copy(builder, tmp_path / "tfds")
    for kept in pathlib.Path(copy.data_dir).glob("facejax-decode-check.*"):  # what other tests' loads left there
        kept.unlink()
    first = sources.tfds_source(copy, "train", features=FEATURES, skip_bad=True)
    assert list(pathlib.Path(copy.data_dir).glob("facejax-decode-check.train.0-of-1.json"))
    passes = []
    real = sources.undecodable_rows
    monkeypatch.setattr(sources, "undecodable_rows", lambda *a, **k: passes.append(1) or real(*a, **k))
    again = sources.tfds_source(copy, "train", features=FEATURES, skip_bad=True)  # unchanged files: no pass
    assert passes == [] and again.num_examples == first.num_examples == 47
    _rewrite_records(_train_file(copy), lambda i, ex: None)  # the same records written again: checked again
    assert sources.tfds_source(copy, "train", features=FEATURES, skip_bad=True).num_examples == 47 and passes == [1]
