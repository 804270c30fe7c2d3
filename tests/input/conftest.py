"""Small datasets the input tests share (built once per session, in a temporary folder)."""

import numpy as np
import pytest
from PIL import Image


@pytest.fixture(scope="session")
def synthetic_builder(tmp_path_factory):
    """A 48 + 8 example synthetic_faces (gender, 32 px) with parsing maps and makeup fields."""
    import tensorflow_datasets as tfds

    from facejax.datasets.synthetic_faces import make_config

    builder = tfds.builder(
        "synthetic_faces",
        config=make_config("gender", 32, num_train=48, num_test=8),
        data_dir=str(tmp_path_factory.mktemp("tfds")),
    )
    builder.download_and_prepare()
    return builder


def example_value(i: int) -> int:
    """The grey level of the flat image of example i in `coded_folder`."""
    return 12 + 9 * i


@pytest.fixture(scope="session")
def coded_folder(tmp_path_factory):
    """<root>/<domain>/<image>.png with 5, 3 and 7 flat 40x40 images; example i (in sorted order) has
    the grey level example_value(i), so any crop, resize or flip of it tells which example it is."""
    root = tmp_path_factory.mktemp("coded")
    i = 0
    for domain, n in (("a", 5), ("b", 3), ("c", 7)):
        (root / domain).mkdir()
        for j in range(n):
            Image.fromarray(np.full((40, 40, 3), example_value(i), np.uint8)).save(root / domain / f"{j:02d}.png")
            i += 1
    return root
