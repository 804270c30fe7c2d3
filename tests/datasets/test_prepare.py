"""Registration, layout errors, unusable images, and `facejax prepare`."""

import json
import os
import subprocess
import sys

import pytest

import facejax.datasets
from facejax.commands import prepare
from facejax.datasets._manual import ManualBuilder
from facejax.errors import FacejaxError

from .conftest import build, dummy

MANUAL = sorted(n for n, cls in facejax.datasets.BUILDERS.items() if issubclass(cls, ManualBuilder))
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")


def _python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV, timeout=900)


def test_all_datasets_are_registered():
    assert set(MANUAL) == {
        "afhq",
        "celeb_id",
        "celeba",
        "celeba_hq",
        "eye_aesthetics",
        "ffhq",
        "helen",
        "mt_makeup",
        "scut_fbp5500",
    }


@pytest.mark.parametrize("first", ["facejax", "tensorflow_datasets"])
def test_tfds_builder_finds_them_after_import_facejax(first):
    """`import facejax` stays cheap (no TFDS) yet registers the builders in either import order."""
    names = sorted(facejax.datasets.BUILDERS)
    if first == "facejax":
        code = (
            "import sys, facejax; assert 'tensorflow_datasets' not in sys.modules, 'import facejax loaded TFDS'\n"
            "import tensorflow_datasets as tfds\n"
        )
    else:
        code = "import tensorflow_datasets as tfds, facejax\n"
    code += f"print([tfds.builder_cls(n).name for n in {names!r}])"
    res = _python(code)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == str(names)


@pytest.mark.parametrize("name", MANUAL)
def test_wrong_manual_dir_names_the_expected_layout(name, tmp_path):
    cls = facejax.datasets.BUILDERS[name]
    with pytest.raises(FacejaxError, match=r"manual_dir does not exist or is empty") as info:
        build(name, tmp_path / "nowhere", tmp_path / "tfds")
    assert str(info.value).endswith(f"expected {cls.LAYOUT}") and "\n" not in str(info.value)
    # Another dataset's folder: still a one-line layout error, never a traceback from deep inside.
    other = dummy("celeba" if name != "celeba" else "afhq")
    with pytest.raises(FacejaxError, match=rf"^{name}: .* expected "):
        build(name, other, tmp_path / "tfds2")


def test_domain_folder_layout_errors(copy_of, tmp_path):
    manual = copy_of("afhq")
    with pytest.raises(FacejaxError, match=r"manual_dir holds the domain folders \(cat, dog, wild\) itself"):
        build("afhq/v1", manual / "train", tmp_path / "a")
    (manual / "val" / "wild" / "flickr_wild_000010.jpg").unlink()
    with pytest.raises(FacejaxError, match=r"val/wild/ holds no images"):
        build("afhq/v1", manual, tmp_path / "b")
    (manual / "val" / "wild").rmdir()
    with pytest.raises(FacejaxError, match=r"val/ lacks the domain folder\(s\) wild"):
        build("afhq/v1", manual, tmp_path / "c")
    (manual / "val" / "horse").mkdir()
    (manual / "val" / "wild").mkdir()
    with pytest.raises(FacejaxError, match=r"val/ holds unexpected folder\(s\) horse"):
        build("afhq/v1", manual, tmp_path / "d")


@pytest.fixture
def corrupt_afhq(copy_of):
    manual = copy_of("afhq")
    truncated = manual / "train" / "dog" / "flickr_dog_000001.jpg"
    truncated.write_bytes(truncated.read_bytes()[:200])
    not_an_image = manual / "val" / "cat" / "flickr_cat_000010.jpg"
    not_an_image.write_text("not a jpeg")
    return manual, truncated, not_an_image


def test_corrupt_image_stops_the_build_naming_the_file(corrupt_afhq, tmp_path):
    manual, truncated, _ = corrupt_afhq
    with pytest.raises(FacejaxError, match=rf"unusable file {truncated}: .*--skip_bad"):
        build("afhq/v1_128", manual, tmp_path)
    assert not (tmp_path / "afhq" / "v1_128" / "1.0.0" / "dataset_info.json").exists()


def test_skip_bad_skips_and_counts(corrupt_afhq, tmp_path):
    manual, truncated, not_an_image = corrupt_afhq
    result = prepare.prepare("afhq/v1_128", manual_dir=str(manual), data_dir=str(tmp_path), skip_bad=True)
    assert result["splits"] == {"train": 5, "val": 2}
    assert result["skipped"] == 2
    assert [s.split(": ")[0] for s in result["skipped_files"]] == [str(truncated), str(not_an_image)]
    assert "not an image" in result["skipped_files"][1]


def test_prepare_names_and_configs():
    assert prepare.resolve("ffhq/64") == (facejax.datasets.BUILDERS["ffhq"], "64")
    assert prepare.resolve("helen") == (facejax.datasets.BUILDERS["helen"], None)
    with pytest.raises(FacejaxError, match=r"unknown dataset 'celebahq'; known: afhq, celeb_id, .*synthetic_faces$"):
        prepare.resolve("celebahq")
    with pytest.raises(FacejaxError, match=r"unknown config '512' of celeba_hq; known: 256, original, 128$"):
        prepare.resolve("celeba_hq/512")
    with pytest.raises(FacejaxError, match=r"--manual_dir is required for mt_makeup; expected <manual_dir>/images"):
        prepare.prepare("mt_makeup")
    with pytest.raises(FacejaxError, match=r"synthetic_faces is generated, not read from a download"):
        prepare.prepare("synthetic_faces", manual_dir="/tmp")


def test_prepare_builds_and_reuses(tmp_path):
    result = prepare.prepare("eye_aesthetics/original", manual_dir=str(dummy("eye_aesthetics")), data_dir=str(tmp_path))
    assert (result["name"], result["splits"], result["skipped"], result["built"]) == (
        "eye_aesthetics/original",
        {"train": 6},
        0,
        True,
    )
    again = prepare.prepare("eye_aesthetics/original", manual_dir=str(dummy("eye_aesthetics")), data_dir=str(tmp_path))
    assert again["built"] is False and again["splits"] == {"train": 6}


def test_cli_prepare_json(tmp_path):
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "facejax.cli",
            "prepare",
            "celeba_hq/original",
            f"--manual_dir={dummy('celeba_hq')}",
            f"--data_dir={tmp_path}",
            "--json",
        ],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=900,
    )
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout.strip().splitlines()[-1]) == {
        "name": "celeba_hq/original",
        "splits": {"train": 4, "val": 2},
        "skipped": 0,
        "data_dir": str(tmp_path / "celeba_hq" / "original" / "1.0.0"),
    }
    res = subprocess.run(
        [sys.executable, "-m", "facejax.cli", "prepare", "afhq", f"--manual_dir={tmp_path}/none"],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=900,
    )
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert (
        res.stderr.strip()
        .splitlines()[-1]
        .startswith(
            f"facejax prepare: error: --manual_dir {tmp_path}/none is not a folder; expected <manual_dir>/<split>/"
        )
    )


def test_dummy_data_stays_small():
    total = sum(p.stat().st_size for name in MANUAL for p in dummy(name).rglob("*") if p.is_file())
    assert total < 1_000_000, total


def test_prepare_builds_synthetic_faces_without_manual_dir(tmp_path):
    result = prepare.prepare("synthetic_faces/gender_32", data_dir=str(tmp_path))
    assert (result["name"], result["splits"], result["skipped"]) == (
        "synthetic_faces/gender_32",
        {"train": 1024, "test": 128},
        0,
    )
