"""Fixtures every family's tests share."""

import pytest


@pytest.fixture(scope="session")
def synthetic_tfds(tmp_path_factory):
    """A TFDS data_dir holding synthetic_faces/gender_32 (the synthetic presets' dataset), built once per worker."""
    import tensorflow_datasets as tfds

    import facejax.datasets  # noqa: F401

    d = str(tmp_path_factory.mktemp("tfds"))
    tfds.builder("synthetic_faces", config="gender_32", data_dir=d).download_and_prepare()
    return d
