"""Gradient accumulation (config.grad_accum, facejax/train/accum.py): for every family's train step, one step with
batch_size=B, grad_accum=2 equals one step with batch_size=2B, grad_accum=1 from the same state and data.

Each case runs both steps sharded over the suite's 4 virtual devices (trainer.jit_train_step) on the family's
bench batch of 2B examples, then compares every metric, every updated parameter and every optimizer state leaf.
The first Adam update is about lr * sign(grad) whatever the gradient's size (StarGAN v2 even has beta1 = 0), so
parameters alone would say little: the optimizer states hold the gradients (Adam's mu = (1 - beta1) * grad, nu =
(1 - beta2) * grad^2) and are compared leaf by leaf relative to the leaf's largest magnitude. The tolerances are
float32 summation order (measured worst cases are in the table of each case); the negative control shows that
summing the micro-batch gradients instead of averaging them is far outside them."""

import json

import jax
import numpy as np
import pytest
from tests.train.helpers import tiny_config

from facejax import configs, registry
from facejax.errors import FacejaxError
from facejax.train import accum, trainer
from facejax.train import config as trainer_config
from facejax.train import mesh as mesh_lib
from facejax.train.state import root_key_data

B = 4  # the micro-batch: one example per virtual device

# name: (preset, overrides (tiny nets), micro-batch, batch statistics (BatchNorm couples a batch's examples), devices
# of the mesh (None: all 4))
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
        B,
        False,
        None,
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
            "identity.bn_train_from_step": -1,  # R in eval mode (the original's first 500 steps)
        },
        B,
        False,
        None,
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
        B,
        False,
        None,
    ),
    "gfc": ("gfc:synthetic", {}, B, False, None),
    "gfc_parsing": ("gfc:parsing_synthetic", {}, B, False, None),
    "aesgan": ("aesgan:synthetic", {}, B, True, None),  # the frozen parsing net's BatchNorm uses batch statistics
    "aesgan_aesthetic": ("aesgan:aesthetic_synthetic", {}, B, False, None),
    "aesgan_parsing": ("aesgan:parsing_synthetic", {}, B, True, None),
    # 16 examples per micro-batch: on 4 devices, whole minibatch-stddev groups of 4 (the family groups within each
    # device's quarter even on a one-device mesh). One device: XLA:CPU crashes running Beholder-GAN's step sharded
    # over 4 virtual devices when a device holds more than one stddev group (with or without accumulation).
    "beholder": ("beholder:synthetic", {}, 4 * B, False, 1),
    "beholder_predictor": ("beholder:predictor_synthetic", {}, B, True, None),
}


def _run(preset, overrides, batch_size, k, data, devices=None):
    config = configs.load(preset, **{**overrides, "batch_size": batch_size, "grad_accum": k})
    family = registry.create(config)
    mesh = mesh_lib.make_mesh(jax.devices()[:devices] if devices else None)
    _, init_fn, step_fn = trainer.jit_train_step(family, mesh)
    state = init_fn(root_key_data(config.seed))
    before = jax.device_get(state.params)  # the step donates the state
    batch = mesh_lib.global_batch(data, mesh)
    new, metrics = step_fn(state, batch)
    return before, jax.device_get(new), jax.device_get(metrics)


def _f64(tree, skip=()):
    """The float leaves of a tree as float64, without those whose path names one of `skip`."""
    leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
    return [
        np.asarray(x, np.float64)
        for path, x in leaves
        if np.asarray(x).dtype.kind == "f" and not any(f"'{s}'" in jax.tree_util.keystr(path) for s in skip)
    ]


def _scale(leaves):
    return max((float(np.max(np.abs(x), initial=0.0)) for x in leaves), default=0.0)


def _relative(a: dict, b: dict, base: dict | None = None, skip=()) -> float:
    """max over the nets of max|a - b| / max|b - base| (each net's leaves together: a leaf whose gradient is only
    rounding noise, e.g. a conv bias before an instance norm, is judged at its net's scale)."""
    worst = 0.0
    for net in b:
        xa, xb = _f64(a[net], skip), _f64(b[net], skip)
        ref = xb if base is None else [y - z for y, z in zip(xb, _f64(base[net], skip))]
        diff = max((float(np.max(np.abs(x - y), initial=0.0)) for x, y in zip(xa, xb)), default=0.0)
        worst = max(worst, diff / max(_scale(ref), 1e-30))
    return worst


def _norm_relative(a: dict, b: dict, base: dict, skip=()) -> float:
    """max over the nets of ||update_a - update_b|| / ||update_b|| (2-norms over the net's leaves): Adam's first update
    is about lr * sign(grad), so an element whose gradient is rounding noise may take any value in [-lr, lr]
    either way; over a whole net these few elements weigh little."""
    worst = 0.0
    for net in b:
        xa, xb, x0 = _f64(a[net], skip), _f64(b[net], skip), _f64(base[net], skip)
        num = sum(float(np.sum(np.square(x - y))) for x, y in zip(xa, xb))
        den = sum(float(np.sum(np.square(y - z))) for y, z in zip(xb, x0))
        worst = max(worst, (num / max(den, 1e-60)) ** 0.5)
    return worst


def compare(name, k: int = 2):
    """{what: worst relative difference} between batch_size=B, grad_accum=k and batch_size=kB, grad_accum=1 on the
    family's bench batch. With batch statistics (BatchNorm in train mode) the kB batch is k copies of each of B
    examples (rows i*k .. i*k + k - 1 = example i), so every micro-batch holds the same B examples and the batch
    statistics agree; the running variances are left out (BatchNorm's unbiased n / (n - 1) differs)."""
    preset, overrides, b, batch_stats, devices = CASES[name]
    family = registry.create(configs.load(preset, **{**overrides, "batch_size": k * b}))
    if batch_stats:
        data = jax.tree.map(lambda x: np.repeat(x, k, axis=0), family.bench_batch(b, seed=1))
    else:
        data = family.bench_batch(k * b, seed=1)
    init, big, big_metrics = _run(preset, overrides, k * b, 1, data, devices)
    _, small, small_metrics = _run(preset, overrides, b, k, data, devices)
    skip = ("var",) if batch_stats else ()
    metrics = max(abs(float(small_metrics[m]) - float(v)) / max(abs(float(v)), 1e-6) for m, v in big_metrics.items())
    return {
        "metrics": metrics,
        "opt_state": _relative(small.opt_state, big.opt_state, skip=skip),
        "update": _norm_relative(small.params, big.params, init, skip=skip),
        "ema": _norm_relative(small.ema, big.ema, init, skip=skip) if big.ema else 0.0,
    }


# Tolerances (relative, see compare): float32 summation order. BeautyGAN's G gradient is the noisiest: the same
# batch of 8 with its rows reordered (same program, k = 1) already moves it by 1.7e-3 at the net's scale.
TOL = {"metrics": 1e-5, "opt_state": 1e-4, "update": 0.2, "ema": 0.2}
TOL_OPT_STATE = {"beautygan": 1e-2}


@pytest.mark.slow  # two compiled steps per family: 0.5-3 min each on 2 busy cores, seconds from the compile cache
@pytest.mark.parametrize("name", sorted(CASES))
def test_two_micro_batches_equal_one_batch_twice_as_large(name):
    worst = compare(name)
    print(name, worst)
    tol = {**TOL, "opt_state": TOL_OPT_STATE.get(name, TOL["opt_state"])}
    assert all(worst[k] <= tol[k] for k in tol), (worst, tol)


@pytest.mark.slow
def test_summing_instead_of_averaging_is_caught(monkeypatch):
    """The negative control: micro-batch gradients summed (not averaged) double Adam's mu and quadruple its nu; the
    comparison sees a relative difference of 1 (the first update, about lr * sign(grad), would not show it)."""
    monkeypatch.setattr(accum, "_mean", lambda x, k: x)
    worst = compare("gfc_parsing")
    assert worst["opt_state"] > 0.5 > 100 * TOL["opt_state"], worst


def test_split_keeps_each_devices_rows_and_groups():
    x = np.arange(16)
    micro = np.asarray(accum.split(x, 2))
    assert micro.tolist() == [[0, 2, 4, 6, 8, 10, 12, 14], [1, 3, 5, 7, 9, 11, 13, 15]]
    # 4 devices hold rows 0-3, 4-7, ...: micro-batch j's device d rows come from device d's rows only
    for j in range(2):
        assert all(set(micro[j].reshape(4, 2)[d]) <= set(range(4 * d, 4 * d + 4)) for d in range(4))
    pairs = np.asarray(accum.split(x, 2, group=2))  # GFC's mirror pairs stay together
    assert pairs.tolist() == [[0, 1, 4, 5, 8, 9, 12, 13], [2, 3, 6, 7, 10, 11, 14, 15]]
    for k, g in ((2, 1), (4, 1), (2, 2), (1, 1)):
        assert np.asarray(accum.merge(accum.split(x, k, g), k, g)).tolist() == x.tolist()


def test_grad_accum_is_checked_and_refused_where_unsupported(monkeypatch):
    with pytest.raises(FacejaxError, match=r"config.grad_accum=0: expected an integer >= 1"):
        trainer_config.check(configs.load("stargan_v2:synthetic", grad_accum=0))
    monkeypatch.setenv("FACEJAX_FAMILIES", "toy=tests.toyfamily.family:Toy")
    from tests.test_toy_family import CONFIG

    toy = configs.load_file(CONFIG, "small", grad_accum=2)
    with pytest.raises(FacejaxError, match=r"family 'toy' has no gradient accumulation .*grad_accum=1"):
        registry.create(toy)
    config = configs.load("stargan_v2:synthetic", batch_size=2, grad_accum=4)  # 8 examples, micro-batch of 2
    assert accum.step_batch(config) == 8
    with pytest.raises(FacejaxError, match=r"config.batch_size=2 .*grad_accum=4.* divisible by the number of devices"):
        accum.local_step_batch(config, mesh_lib.make_mesh())


@pytest.mark.slow
def test_stream_advances_by_the_step_batch(tmp_path):
    """A run with batch_size=4, grad_accum=2 reads 8 examples per step: the saved position counts them."""
    cfg = tiny_config(tmp_path / "tfds", batch_size=4, grad_accum=2, total_steps=2, checkpoint_every=2)
    state = trainer.train(cfg, str(tmp_path / "run"))
    assert int(state.step) == 2
    position = json.loads((tmp_path / "run/checkpoints/2/data/process_0-of-1/position.json").read_text())
    assert position == {"next_batch": 2, "next_example": 16, "batch_size": 8}
