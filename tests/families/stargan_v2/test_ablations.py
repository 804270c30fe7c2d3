"""The paper's Table 1 rows A-F (configs/stargan_v2.py ABLATIONS) on the StarGAN v2 trainer step.

Every row is built at tiny widths (32 px), initialised and trained for a few jitted steps on random
batches; each row's step is compiled once and shared by the tests of that row. To stay fast on CPU
the rows run with the "rbg" PRNG (initialising with threefry compiles a kernel per parameter shape)
and XLA backend optimisation level 0: these tests check what is computed, not how fast.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from facejax import configs, registry
from facejax.errors import FacejaxError
from facejax.families.stargan_v2 import ablation_nets, losses
from facejax.nn.gan_losses import gradient_penalty
from facejax.nn.layers import count_params
from facejax.train.state import root_key_data

TINY = {
    "model.dim_in": 16,
    "model.max_conv_dim": 32,
    "model.hidden_dim": 32,
    "model.style_dim": 16,
    "model.latent_dim": 8,
    "model.v1_conv_dim": 8,
    "model.v1_repeat_num": 1,
    "batch_size": 4,
}
K, B, SIZE = 2, 4, 32  # the synthetic preset's domains; TINY's batch; its img_size
ROWS = "ABCDEF"
NETS = {
    "A": {"generator", "discriminator"},
    "B": {"generator", "discriminator"},
    "C": {"generator", "discriminator"},
    "D": {"generator", "style_encoder", "discriminator"},
    "E": {"generator", "mapping_network", "style_encoder", "discriminator"},
    "F": {"generator", "mapping_network", "style_encoder", "discriminator"},
}


def _config(row, **overrides):
    return configs.load(f"stargan_v2:{row},synthetic", **{**TINY, **overrides})


def _batch(seed):
    rng = np.random.default_rng(seed)

    def x():
        return rng.uniform(-1, 1, (B, SIZE, SIZE, 3)).astype(np.float32)

    return {
        "x_src": x(),
        "y_src": rng.integers(0, K, B).astype(np.int32),
        "x_ref": x(),
        "x_ref2": x(),
        "y_ref": rng.integers(0, K, B).astype(np.int32),
    }


@functools.lru_cache(maxsize=None)
def _run(row):
    """(family, [state_0 .. state_n], [metrics_1 .. metrics_n]) over n = n_critic steps (at least 1)."""
    fam = registry.create(_config(row))
    with jax.default_prng_impl("rbg"):
        states = [fam.init(root_key_data(0))]
        step = jax.jit(fam.train_step).lower(states[0], _batch(0)).compile({"xla_backend_optimization_level": 0})
    metrics = []
    for i in range(fam.config.n_critic):
        state, m = step(states[-1], _batch(i))
        states.append(state)
        metrics.append(jax.device_get(m))
    return fam, states, metrics


def _same(a, b):
    return all(np.array_equal(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


def test_stargan_v1_nets_have_stargan_v1_parameter_counts():
    # G: conv_dim 64, 6 residual blocks, c_dim 5; D: 128 px, c_dim 5 (six stride-2 convs, 2x2 class kernel).
    g = nnx.eval_shape(lambda: ablation_nets.GeneratorV1(5, 64, 6, rngs=nnx.Rngs(0)))
    d = nnx.eval_shape(lambda: ablation_nets.ACGANDiscriminator(128, 5, 64, rngs=nnx.Rngs(0)))
    assert count_params(g) == 8_430_528
    assert count_params(d) == 44_762_048
    assert d.conv2.kernel.shape == (2, 2, 2048, 5) and d.conv1.kernel.shape == (3, 3, 2048, 1)


@pytest.mark.parametrize("row", ROWS)
def test_row_builds_only_its_nets(row):
    fam = registry.create(_config(row))
    p = fam._abstract_params
    assert set(p) == NETS[row]
    assert set(fam.ema_nets) == NETS[row] - {"discriminator"}
    latent, style = fam.config.model.latent_dim, fam.config.model.style_dim
    if row in "AB":  # v1 generator: image + tiled one-hot label in
        assert p["generator"]["main"][0]["kernel"].shape == (7, 7, 3 + K, 8)
    else:  # AdaIN generator: style vector width of the row
        assert p["generator"]["decode"][0]["norm1"]["fc"]["kernel"].shape[0] == {"C": K, "D": K + latent}.get(
            row, style
        )
    if row == "A":
        assert set(p["discriminator"]) == {"main", "conv1", "conv2"}
        assert p["discriminator"]["conv2"]["kernel"].shape == (2, 2, 64, K)  # 32 px: 4 convs, 2x2 map
    else:  # multi-task D: one output per domain
        main = p["discriminator"]["main"]
        assert main[max(main)]["kernel"].shape[-1] == K
    if row == "D":  # one shared head predicting z
        assert len(p["style_encoder"]["unshared"]) == 1
        assert p["style_encoder"]["unshared"][0]["kernel"].shape[-1] == latent


def test_row_e_is_row_f_without_diversity():
    e, f = _config("E").to_dict(), _config("F").to_dict()
    assert e.pop("lambda_ds") == 0.0 and f.pop("lambda_ds") > 0
    e.pop("preset"), f.pop("preset")
    assert e == f


@pytest.mark.parametrize("row", ROWS)
def test_row_trains(row):
    fam, states, metrics = _run(row)
    n = fam.config.n_critic
    assert n == (5 if row in "AB" else 1)
    for m in metrics:
        assert all(np.isfinite(v) for v in m.values()), m
    last = metrics[-1]
    assert ("D/cls" in last) == (row == "A") and ("D/gp" in last) == (row in "AB")
    assert any(k.endswith("sty") for k in last) == (row in "DEF")
    assert all(k.startswith(("D/latent_", "D/ref_", "G/latent_", "G/ref_", "G/lambda_ds")) for k in last) == (
        row in "DEF"
    )
    first, final = states[0], states[-1]
    assert int(final.step) == n
    assert set(final.params) == set(final.opt_state) == NETS[row]
    assert set(final.ema) == NETS[row] - {"discriminator"}
    for name in final.params:  # every net trains
        assert not _same(first.params[name], final.params[name]), name
    assert not _same(first.params["discriminator"], states[1].params["discriminator"])
    for s in states[1:-1]:  # G waits for every n_critic-th step (A, B)
        assert _same(first.params["generator"], s.params["generator"])
        assert _same(first.opt_state["generator"], s.opt_state["generator"])
    if n > 1:
        assert all(v == 0 for k, v in metrics[0].items() if k.startswith("G/"))
        assert all(v != 0 for k, v in last.items() if k.startswith("G/"))

    x = _batch(9)
    z = np.random.default_rng(1).standard_normal((B, fam.config.model.latent_dim)).astype(np.float32)
    y = np.arange(B, dtype=np.int32) % K
    out_latent = fam.translate(final.ema, x["x_src"], ("latent", z), y)
    out_ref = fam.translate(final.ema, x["x_src"], ("reference", x["x_ref"]), y)
    assert out_latent.shape == out_ref.shape == (B, SIZE, SIZE, 3)
    assert np.isfinite(out_latent).all() and np.isfinite(out_ref).all()
    if row in "ABC":  # label rows: the guide only names the domain
        np.testing.assert_array_equal(out_latent, out_ref)


def test_row_c_generator_follows_the_target_label():
    fam, states, _ = _run("C")
    x = _batch(5)["x_src"]
    outs = [np.asarray(fam.translate(states[-1].ema, x, None, np.full((B,), d, np.int32))) for d in range(K)]
    assert np.abs(outs[0] - outs[1]).mean() > 1e-3


def test_wgan_gp_penalty_matches_finite_differences():
    """A linear multi-task critic D(x, y) = <W_y, x>: the penalty differentiates the y_org head."""
    rng = np.random.default_rng(0)
    w = jnp.asarray(rng.standard_normal((K, 3, 3, 2)).astype(np.float32) * 0.3)
    x_real = jnp.asarray(rng.standard_normal((3, 3, 3, 2)).astype(np.float32))
    x_fake = jnp.asarray(rng.standard_normal((3, 3, 3, 2)).astype(np.float32))
    y_org, y_trg = jnp.array([0, 1, 1]), jnp.array([1, 0, 0])

    def d(x, y):
        return jnp.sum(w[y] * x, axis=(1, 2, 3))

    eps = 1e-2
    expected = []
    for b in range(3):  # central differences of D(., y_org[b]) along every input coordinate
        x0 = np.asarray(x_real[b : b + 1])
        grad = np.zeros(x0.size)
        for i in range(x0.size):
            e = np.zeros(x0.size, np.float32)
            e[i] = eps
            e = e.reshape(x0.shape)
            grad[i] = (float(d(x0 + e, y_org[b : b + 1])[0]) - float(d(x0 - e, y_org[b : b + 1])[0])) / (2 * eps)
        expected.append((np.linalg.norm(grad) - 1.0) ** 2)
    key = jax.random.key(0)
    gp = gradient_penalty(lambda x: d(x, y_org), x_real, x_fake, key)
    terms, cls = losses.d_wgan_gp(d, x_real, y_org, x_fake, y_trg, key)
    np.testing.assert_allclose(float(gp), np.mean(expected), rtol=1e-3)
    np.testing.assert_allclose(float(terms["gp"]), np.mean(expected), rtol=1e-3)
    assert cls is None
    np.testing.assert_allclose(float(terms["real"]), -float(jnp.mean(d(x_real, y_org))), rtol=1e-6)


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"model.generator": "stargan_v1", "model.style": "style"}, "model.generator"),
        ({"model.discriminator": "acgan"}, "model.discriminator"),
        ({"model.style": "random"}, "model.style"),
        ({"adv_loss": "hinge"}, "adv_loss"),
        ({"n_critic": 0}, "n_critic"),
    ],
)
def test_inconsistent_switches_are_refused(overrides, field):
    with pytest.raises(FacejaxError, match=field):
        registry.create(_config("F", **overrides))
