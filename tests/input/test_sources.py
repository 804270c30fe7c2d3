"""Sources: each process reads its own part; the parts are disjoint and cover the split once; clear
errors for broken folders and datasets."""

import io

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image
from tests.input.conftest import example_value

from facejax.errors import FacejaxError
from facejax.input import sources, streams


def _names(src):
    return [n.decode() if isinstance(n, bytes) else n for n in src.table["file_name"]]


def _epoch(src, seed=5):
    """The rows an Epochs stream shows in its first epoch (positions 0..n-1)."""
    order = streams.Epochs(src.num_examples, seed)
    return [int(order(tf.constant(p, tf.int64))) for p in range(src.num_examples)]


def _check_split(parts, everything):
    names = [_names(p) for p in parts]
    assert all(len(n) > 0 for n in names)
    assert not set(names[0]) & set(names[1])  # no overlap
    assert sorted(names[0] + names[1]) == sorted(everything)  # every example once
    for p in parts:  # an epoch of a process's stream visits each of its examples exactly once
        assert sorted(_epoch(p)) == list(range(p.num_examples))


def test_two_processes_split_a_folder(coded_folder):
    whole = sources.folder_source(str(coded_folder))
    parts = [sources.folder_source(str(coded_folder), i, 2, cache=c) for i, c in ((0, False), (1, True))]
    assert whole.num_examples == 15 and whole.domains == ["a", "b", "c"]
    _check_split(parts, _names(whole))
    assert _names(parts[0]) == _names(whole)[0::2]  # every other file, sorted by domain then name
    assert parts[0].from_files and not parts[1].from_files  # paths, or the bytes read once
    assert parts[1].table["image"][0] == (coded_folder / _names(parts[1])[0]).read_bytes()
    np.testing.assert_array_equal(parts[1].labels, whole.labels[1::2])


def test_two_processes_split_a_tfds_dataset(synthetic_builder):
    whole = sources.tfds_source(synthetic_builder, "train", features=("image", "file_name"))
    parts = [sources.tfds_source(synthetic_builder, "train", i, 2, features=("image", "file_name")) for i in range(2)]
    assert whole.num_examples == 48 and whole.domains == ["female", "male"]
    _check_split(parts, _names(whole))
    assert abs(parts[0].num_examples - parts[1].num_examples) <= 1


def test_tfds_source_reads_nested_features_and_keeps_images_encoded(synthetic_builder):
    src = sources.tfds_source(
        synthetic_builder, "test", features=("image", "parsing", "makeup/lips", "makeup/has_makeup", "file_name")
    )
    assert src.image_features == ("image", "parsing")
    assert src.table["makeup/lips"].shape == (8, 3) and src.table["makeup/has_makeup"].dtype == bool
    png = src.table["parsing"][0]
    assert isinstance(png, bytes) and png[:4] == b"\x89PNG"
    # Decoded, the rows are the builder's examples (the renderer's parsing map, exactly).
    from facejax.datasets.synthetic_faces import render_face

    index = int(_names(src)[0].split("_")[1].split(".")[0])
    want = render_face(synthetic_builder.builder_config, "test", index)
    np.testing.assert_array_equal(tf.io.decode_png(png).numpy(), want["parsing"])
    np.testing.assert_array_equal(src.table["makeup/lips"][0], want["makeup"]["lips"])


def test_folder_images_are_the_files(coded_folder):
    src = sources.folder_source(str(coded_folder))
    for i, path in enumerate(src.table["image"]):
        assert int(sources.read_image(path, 8)[0, 0, 0] * 127.5 + 127.5 + 0.5) == example_value(i)


def test_folder_errors_name_the_problem(tmp_path, coded_folder):
    with pytest.raises(FacejaxError, match="does not exist"):
        sources.folder_source(str(tmp_path / "missing"))
    (tmp_path / "flat").mkdir()
    (tmp_path / "flat" / "x.png").write_bytes((coded_folder / "a" / "00.png").read_bytes())
    with pytest.raises(FacejaxError, match="no domain sub-folders"):
        sources.folder_source(str(tmp_path / "flat"))
    (tmp_path / "empty" / "cat").mkdir(parents=True)
    with pytest.raises(FacejaxError, match="'cat' holds no images"):
        sources.folder_source(str(tmp_path / "empty"))
    bad = tmp_path / "bad"
    (bad / "cat").mkdir(parents=True)
    (bad / "cat" / "ok.png").write_bytes((coded_folder / "a" / "00.png").read_bytes())
    (bad / "cat" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    for cache in (False, True):
        with pytest.raises(FacejaxError, match="broken.jpg"):
            sources.folder_source(str(bad), cache=cache)


def test_tfds_errors_name_the_problem(synthetic_builder):
    with pytest.raises(FacejaxError, match="no split 'val'"):
        sources.tfds_source(synthetic_builder, "val")
    with pytest.raises(FacejaxError, match="no feature 'segmentation'"):
        sources.tfds_source(synthetic_builder, "train", features=("image", "segmentation"))


def test_a_process_without_a_domain_gets_a_clear_error(coded_folder):
    # Domain b is files 5-7 of 15; split over 5 processes, process 3 (files 3, 8, 13) holds none of them.
    part = sources.folder_source(str(coded_folder), 3, 5)
    assert 1 not in set(part.labels.tolist())
    with pytest.raises(FacejaxError, match=r"no examples of domain\(s\) \[1\]"):
        streams.Balanced(part.labels, 3, 0, what="process 3's train data")


def test_config_errors(coded_folder):
    from facejax import configs

    cfg = configs.load("stargan_v2:synthetic", **{"data.source": "folder"})
    with pytest.raises(FacejaxError, match="config.data.train_dir is empty"):
        sources.load_source(cfg.data, "train")
    cfg.data.train_dir = str(coded_folder)
    with pytest.raises(FacejaxError, match="need a TFDS dataset"):
        sources.load_source(cfg.data, "train", features=("image", "label", "parsing"))
    cfg.data.source = "csv"
    with pytest.raises(FacejaxError, match="expected 'tfds' or 'folder'"):
        sources.load_source(cfg.data, "train")


def test_truncated_jpeg_is_named_at_start_up_or_skipped(tmp_path, coded_folder, capsys):
    # PIL's verify() accepts a JPEG cut short; the start-up check decodes every image, so the file is named
    # before training instead of stopping the pipeline at the step that reaches it.
    root = tmp_path / "data"
    (root / "cat").mkdir(parents=True)
    (root / "dog").mkdir()
    for i in range(3):
        (root / "cat" / f"{i}.png").write_bytes((coded_folder / "a" / "00.png").read_bytes())
        (root / "dog" / f"{i}.png").write_bytes((coded_folder / "b" / "00.png").read_bytes())
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8)).save(buf, "JPEG")
    (root / "dog" / "cut.jpg").write_bytes(buf.getvalue()[: len(buf.getvalue()) * 2 // 3])
    with Image.open(root / "dog" / "cut.jpg") as im:
        im.verify()  # what the old check did: no complaint
    for cache in (False, True):
        with pytest.raises(FacejaxError, match=r"unreadable image .*dog/cut.jpg.*config.data.skip_bad"):
            sources.folder_source(str(root), cache=cache)
    src = sources.folder_source(str(root), skip_bad=True, what="config.data.train_dir")
    assert src.num_examples == 6 and "cut.jpg" not in " ".join(src.table["file_name"])
    out = capsys.readouterr().out
    assert "config.data.train_dir: skipped 1 unreadable image(s) of 7 (config.data.skip_bad)" in out


def test_eval_split_falling_back_to_train_dir_names_train_dir(tmp_path):
    from facejax import configs

    (tmp_path / "train" / "cat").mkdir(parents=True)  # a domain without images
    cfg = configs.load("stargan_v2:synthetic", **{"data.source": "folder", "data.train_dir": str(tmp_path / "train")})
    for split in ("train", "test"):  # eval_dir is empty: the eval split reads train_dir, and says so
        with pytest.raises(FacejaxError, match=r"^config.data.train_dir .*'cat' holds no images"):
            sources.load_source(cfg.data, split)
    cfg.data.eval_dir = str(tmp_path / "train")
    with pytest.raises(FacejaxError, match=r"^config.data.eval_dir "):
        sources.load_source(cfg.data, "test")
