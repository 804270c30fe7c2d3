"""Exact resume: N steps in one run equal N/2 steps, a restart, and N/2 more, bit for bit."""

import jax
import numpy as np
import pytest
from tests.train.helpers import tiny_config

from facejax.train import trainer


def _leaves(state):
    return [np.asarray(x) for x in jax.tree.leaves(jax.device_get(state))]


@pytest.mark.slow
def test_resume_is_bit_exact(tmp_path, afhq_samples):
    data = {
        "data.source": "folder",
        "data.train_dir": str(afhq_samples / "ref"),
        "data.eval_dir": str(afhq_samples / "src"),
        "model.num_domains": 3,
    }
    full = trainer.train(tiny_config(tmp_path / "tfds", total_steps=4, **data), str(tmp_path / "full"))
    trainer.train(tiny_config(tmp_path / "tfds", total_steps=2, **data), str(tmp_path / "split"))
    # Raising total_steps on the same workdir continues the run.
    resumed = trainer.train(tiny_config(tmp_path / "tfds", total_steps=4, **data), str(tmp_path / "split"))
    assert int(resumed.step) == int(full.step) == 4
    a, b = _leaves(full), _leaves(resumed)
    assert len(a) == len(b)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
