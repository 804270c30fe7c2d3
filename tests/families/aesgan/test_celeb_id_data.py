"""AesGAN's `celeb_id` preset on the real builder's dummy data (7 faces of 3 identities, data/celeb_id/dummy_data):
the faces table, eye positions and masks, and the training pairs (a reference of the same identity, eyes open)."""

import json
import pathlib

import jax
import numpy as np
import pytest
import tensorflow as tf

from facejax import configs, registry
from facejax.families.aesgan import aesthetic, references, selection
from facejax.families.aesgan import data as data_lib
from facejax.train.state import root_key_data

DUMMY = pathlib.Path(__file__).resolve().parents[3] / "data" / "celeb_id" / "dummy_data"
SMALL = {
    "img_size": 64,
    "parsing.crop_size": 32,
    "aesthetic.dim": 4,
    "aesthetic.head_dim": 8,
    "aesthetic.input_size": 32,
}


@pytest.fixture(scope="module")
def celeb_id(tmp_path_factory):
    import tensorflow_datasets as tfds

    import facejax.datasets  # noqa: F401 (registers the builders)

    d = str(tmp_path_factory.mktemp("tfds"))
    tfds.builder("celeb_id/original", data_dir=d).download_and_prepare(
        download_config=tfds.download.DownloadConfig(manual_dir=str(DUMMY))
    )
    return d


def test_faces_eyes_masks_and_training_pairs(celeb_id):
    cfg = configs.load("aesgan:celeb_id", **{**SMALL, "data.data_dir": celeb_id})
    meta = json.loads((DUMMY / "data.json").read_text())
    faces = data_lib.load_faces(cfg.data, cfg.data.train_split)
    entries = {e["filename"]: (who, e) for who, es in meta.items() for e in es}
    assert len(faces) > 0 and set(faces.file_name) <= set(entries)
    for name, ident, eyes, opened in zip(faces.file_name, faces.identity, faces.eyes, faces.opened):
        who, e = entries[name]
        # one identity id per person, and the eye centres of data.json ([y, x] over the image side)
        assert all(faces.identity[i] == ident for i, n in enumerate(faces.file_name) if entries[n][0] == who)
        assert opened == pytest.approx(e["opened"])
        h, w = tf.io.decode_image(faces.images[list(faces.file_name).index(name)]).shape[:2]
        for k, eye in enumerate(("eye_left", "eye_right")):
            if e[eye] is None:
                assert np.isnan(eyes[k]).all()
            else:
                np.testing.assert_allclose(eyes[k] * [h, w], [e[eye]["y"], e[eye]["x"]], atol=1e-3)
    # the training masks cover both eye centres, and the rest of the face stays
    x = data_lib.decode_images(faces.images, cfg.img_size)
    both = data_lib.has_both_eyes(faces)
    masks = np.asarray(data_lib.eye_masks(faces.eyes[both], cfg.img_size, data_lib.mask_axes(cfg)))
    for m, eyes in zip(masks, faces.eyes[both]):
        for y, xx in eyes:
            assert m[int(y * cfg.img_size), int(xx * cfg.img_size)].max() > 0.5
        assert 0.02 < m.mean() < 0.5
    assert x.shape[1:] == (cfg.img_size, cfg.img_size, 3) and -1.0 <= x.min() and x.max() <= 1.0
    # pairs: every target's reference is another image of the same identity, with open eyes
    fam = registry.create(cfg)
    e_params = jax.jit(
        aesthetic.AestheticNet(
            configs.load("aesgan:aesthetic", **{k: v for k, v in SMALL.items() if k.startswith("aesthetic.")})
        ).init
    )(root_key_data(0)).params["E"]
    pairs = references.train_pairs(fam, e_params, faces)
    f = pairs.faces
    assert len(pairs.target) > 0
    for t, r in zip(pairs.target, pairs.reference):
        assert t != r and f.identity[t] == f.identity[r] and f.opened[r] >= selection.OPEN_THRESHOLD
