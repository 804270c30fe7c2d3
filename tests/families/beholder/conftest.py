"""Shared fixtures of the Beholder-GAN tests: synthetic_faces (built once per session), a trained synthetic
predictor, and the configs every test uses (the same shapes everywhere, so each phase's train step compiles once
per session and the persistent compilation cache of tests/conftest.py serves the others)."""

import sys

import pytest

sys.modules.setdefault("triton", None)  # see tests/conftest.py

from facejax import configs  # noqa: E402

GAN_OVERRIDES = {"sample_every": 0, "checkpoint_every": 100_000, "log_every": 1000}
PREDICTOR_STEPS = 150


def gan_config(data_dir="", **overrides):
    return configs.load("beholder:synthetic", **{**GAN_OVERRIDES, "data.data_dir": data_dir, **overrides})


def predictor_config(data_dir="", **overrides):
    return configs.load(
        "beholder:predictor_synthetic",
        **{**GAN_OVERRIDES, "data.data_dir": data_dir, "total_steps": PREDICTOR_STEPS, **overrides},
    )


@pytest.fixture(scope="session")
def trained_predictor(synthetic_tfds, tmp_path_factory):
    """(config, workdir, final state) of the synthetic predictor trained by the shared trainer."""
    from facejax.train import trainer

    workdir = str(tmp_path_factory.mktemp("predictor"))
    cfg = predictor_config(synthetic_tfds)
    state = trainer.train(cfg, workdir)
    return cfg, workdir, state
