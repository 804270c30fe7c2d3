"""GFC's discriminator update as the original's code runs it: Caffe's Adam with the D solvers' iteration counter
never advanced (demo_GFC_training.m calls set_iter on G's solver only), so the t = 1 bias correction stays for the
whole run; and the D batch of GFC_Gen_input_of_D1.m, the first image of each mirror pair (one fake, one real),
with GFC_BCE_loss1.m's loss. Each is checked against a NumPy transcription of the original's code path; the
optimizer state checkpoints and resumes exactly."""

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from facejax import configs, registry
from facejax.train.checkpoint import Checkpointer
from facejax.train.state import root_key_data


def caffe_adam(params, grads, lr, beta1, beta2, delta, frozen_iter=True):
    """A transcription of Caffe's AdamSolver<Dtype>::ComputeUpdateValue followed by Net::Update (data -= diff) for
    a sequence of gradients. MatCaffe's solver.update() (what the released training script calls) does not advance
    ``iter_``; with frozen_iter the counter stays 0, else it advances as Solver::Step would."""
    m, v, p = np.zeros_like(params), np.zeros_like(params), params.astype(np.float64)
    it = 0
    for g in grads:
        t = it + 1
        m = beta1 * m + (1 - beta1) * g  # caffe_cpu_axpby(N, 1 - beta1, g, beta1, m)
        v = beta2 * v + (1 - beta2) * g * g  # caffe_cpu_axpby(N, 1 - beta2, g^2, beta2, v)
        correction = math.sqrt(1 - beta2**t) / (1 - beta1**t)
        p = p - lr * correction * m / (np.sqrt(v) + delta)  # diff = local_rate * correction * m / (sqrt(v) + eps)
        if not frozen_iter:
            it += 1
    return p


def _run(opt, params, grads):
    state = opt.init(params)
    for g in grads:
        updates, state = opt.update(jnp.asarray(g, jnp.float32), state, params)
        params = optax.apply_updates(params, updates)
    return np.asarray(params), state


def test_d_adam_keeps_caffes_t1_bias_correction():
    cfg = configs.load("gfc:celeba", d_lr=0.01)  # a larger step than 2e-4, so the displacements are well resolved
    rng = np.random.default_rng(0)
    p0 = rng.standard_normal(64).astype(np.float32)
    grads = [rng.standard_normal(64) * s for s in (1.0, 0.3, 2.0, 0.05, 1.0, 0.7)]
    frozen = caffe_adam(p0, grads, cfg.d_lr, cfg.d_beta1, cfg.d_beta2, 1e-8)
    advancing = caffe_adam(p0, grads, cfg.d_lr, cfg.d_beta1, cfg.d_beta2, 1e-8, frozen_iter=False)
    # the two differ by far more than the tolerance: from the second update on, standard Adam's steps are larger
    assert np.abs(frozen - advancing).max() > 1000 * 1e-6
    for name in ("D_local", "D_global"):
        got, state = _run(registry.create(cfg).optimizers[name], jnp.asarray(p0), grads)
        np.testing.assert_allclose(got, frozen, rtol=0, atol=1e-6, err_msg=name)
        assert isinstance(state[0], optax.ScaleByAdamState)
    # the switch restores standard Adam (optax's), whose state has the same structure
    std = registry.create(configs.load("gfc:celeba", d_lr=0.01, d_adam_frozen_t1=False)).optimizers["D_local"]
    got, std_state = _run(std, jnp.asarray(p0), grads)
    np.testing.assert_allclose(got, advancing, rtol=0, atol=1e-6)
    assert jax.tree.structure(std_state) == jax.tree.structure(state)
    # with a constant gradient, t = 1's correction sqrt(1 - b2) / (1 - b1) = 0.063 stays: the 50th step is 16x
    # smaller than standard Adam's
    g = [np.full(64, 0.5)] * 50

    def step(frozen_iter):
        return (
            caffe_adam(p0, g[:49], cfg.d_lr, 0.5, 0.999, 1e-8, frozen_iter)
            - caffe_adam(p0, g, cfg.d_lr, 0.5, 0.999, 1e-8, frozen_iter)
        )[0]

    assert step(True) / step(False) == pytest.approx(
        math.sqrt(1 - 0.999) / (1 - 0.5) / math.sqrt(1 - 0.999**50) * (1 - 0.5**50), rel=1e-6
    )


@pytest.fixture(scope="module")
def d_setup(synthetic_tfds):
    cfg = configs.load("gfc:synthetic", **{"data.data_dir": synthetic_tfds})
    family = registry.create(cfg)
    state = jax.jit(family.init)(root_key_data(3))
    fn = jax.jit(functools.partial(family.d_updates, phase=3))
    x_d = next(family.train_dataset(cfg.batch_size, 0, 1).as_numpy_iterator())["x_d"]
    return cfg, family, state, fn, x_d


def _same(a, b):
    return all(np.array_equal(np.asarray(x), np.asarray(y)) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


def _bce(p, t, eps):
    """GFC_BCE_loss1.m: sum(-log(p + eps) .* t - log(1 - p + eps) .* (1 - t)) / numel."""
    return float(np.sum(-np.log(p + eps) * t - np.log(1 - p + eps) * (1 - t)) / p.size)


def test_d_batch_is_the_first_image_of_each_mirror_pair(d_setup):
    cfg, family, state, fn, x_d = d_setup
    k1, k2 = jax.random.key(5), jax.random.key(6)
    assert np.array_equal(x_d[1], x_d[0][:, ::-1])  # a mirror pair per two rows
    p, o, metrics = fn(state.params, state.opt_state, x_d, k1, k2)
    # the second image of each pair replaced: the D update (parameters, states, losses) is bit for bit the same
    other = x_d.copy()
    other[1::2] = np.random.default_rng(1).uniform(-1, 1, other[1::2].shape)
    p2, o2, metrics2 = fn(state.params, state.opt_state, other, k1, k2)
    assert _same((p["D_local"], p["D_global"], o, metrics), (p2["D_local"], p2["D_global"], o2, metrics2))
    assert not _same(p["D_local"], state.params["D_local"]) and not _same(p["D_global"], state.params["D_global"])
    # GFC_Gen_input_of_D1.m: G completes the batch at the D holes; per pair the first image's crop of G's output
    # (fake, label 0) and of the clean image (real, label 1) for the local D; the first image with the hole
    # replaced by G's output, and the clean image, for the global D
    n, s, h = x_d.shape[0], cfg.img_size, cfg.mask.size
    corner, mask = (np.asarray(a) for a in jax.jit(family._holes, static_argnums=(1, 2))(k1, n, True))
    _, out, _ = (np.asarray(a) for a in jax.jit(family.complete)(state.params["G"], x_d, mask, k2))
    fake_l, real_l, fake_g, real_g = [], [], [], []
    for i in range(0, n, 2):
        r, c = corner[i]
        fake_l.append(out[i, r : r + h, c : c + h])
        real_l.append(x_d[i, r : r + h, c : c + h])
        comp = x_d[i].copy()
        comp[r : r + h, c : c + h] = out[i, r : r + h, c : c + h]
        fake_g.append(comp)
        real_g.append(x_d[i])
    for name, fake, real in (("D_local", fake_l, real_l), ("D_global", fake_g, real_g)):
        logits = np.asarray(
            jax.jit(family.discriminate, static_argnums=0)(name, state.params[name], np.stack(fake + real)), np.float64
        )
        labels = np.r_[np.zeros(len(fake)), np.ones(len(real))]
        want = _bce(1 / (1 + np.exp(-logits)), labels, cfg.bce_eps)
        assert float(metrics[f"{name}/loss"]) == pytest.approx(want, rel=1e-5), name
    assert s == 32 and len(fake_l) == n // 2


def test_d_optimizer_state_checkpoints_and_resumes_exactly(d_setup, tmp_path):
    cfg, family, state, fn, x_d = d_setup
    p, o, _ = fn(state.params, state.opt_state, x_d, jax.random.key(1), jax.random.key(2))
    saved = state.replace(params=p, opt_state=o)
    ckpt = Checkpointer(str(tmp_path))
    ckpt.save(1, saved, None, {}, force=True)
    ckpt.wait()
    back = ckpt.restore(1, jax.eval_shape(lambda: saved))
    ckpt.close()
    assert jax.tree.structure(back.opt_state) == jax.tree.structure(saved.opt_state)
    assert _same(back.opt_state, saved.opt_state) and _same(back.params, saved.params)
    assert all(float(jnp.abs(v).max()) > 0 for v in jax.tree.leaves(back.opt_state["D_local"][0].nu))
    # the next update from the restored state is the one from the state in memory
    keys = (jax.random.key(3), jax.random.key(4))
    assert _same(fn(back.params, back.opt_state, x_d, *keys)[:2], fn(saved.params, saved.opt_state, x_d, *keys)[:2])
