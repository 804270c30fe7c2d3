"""Helpers for the manual-download builders: build from dummy_data (or a modified copy) into a tmp data_dir
and read the examples back keyed by file_name."""

import pathlib
import shutil

import numpy as np
import pytest
import tensorflow_datasets as tfds

import facejax.datasets

DATASETS = pathlib.Path(facejax.datasets.__file__).parent


def dummy(name: str) -> pathlib.Path:
    return DATASETS / name / "dummy_data"


def build(spec: str, manual_dir, data_dir, **kwargs):
    builder = tfds.builder(spec, data_dir=str(data_dir), **kwargs)
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=str(manual_dir)))
    return builder


def load(builder) -> dict:
    """{split: {file_name: example as numpy}}."""
    out = {}
    for split in builder.info.splits:
        examples = tfds.as_numpy(builder.as_dataset(split=split, shuffle_files=False))
        out[split] = {ex["file_name"].decode(): ex for ex in examples}
    return out


def sizes(builder) -> dict:
    return {split: info.num_examples for split, info in builder.info.splits.items()}


def decode_file(path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """built(spec) -> (builder, examples) from the dataset's own dummy_data, built once per module."""
    data_dir = tmp_path_factory.mktemp("tfds")
    cache = {}

    def get(spec: str):
        if spec not in cache:
            builder = build(spec, dummy(spec.split("/")[0]), data_dir)
            cache[spec] = builder, load(builder)
        return cache[spec]

    return get


@pytest.fixture
def copy_of(tmp_path):
    """copy_of(name) -> a writable copy of the dataset's dummy_data."""

    def make(name: str) -> pathlib.Path:
        dst = tmp_path / f"{name}_manual"
        shutil.copytree(dummy(name), dst)
        return dst

    return make
