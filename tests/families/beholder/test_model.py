"""Beholder-GAN's networks and losses against the PyTorch reference modules (the TF graph's computation: PGGAN's
linear structure at full resolution driven by lod_in, the fused transposed-conv upsampling), the predictor
against torchvision's vgg16_bn layout, and the schedule and TF Adam against transcriptions of the original."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from tests.families.beholder.conftest import gan_config, predictor_config

from facejax import registry
from facejax.export import convert
from facejax.families.beholder import layers, predictor
from facejax.families.beholder.schedule import Schedule, tf_adam
from facejax.train.state import root_key_data

torch = pytest.importorskip("torch")
from facejax.families.beholder import torch_ref as ref  # noqa: E402

pytestmark = pytest.mark.torch
R, RATERS, N = 4, 8, 8  # 16 px, the synthetic preset


def _t(a):
    return torch.from_numpy(np.ascontiguousarray(np.asarray(a)))


def _nchw(a):
    return _t(np.asarray(a).transpose(0, 3, 1, 2))


@pytest.fixture(scope="module")
def nets():
    """(family, params with random biases, torch G, torch D) at 16 px."""
    cfg = gan_config(batch_size=N)
    fam = registry.create(cfg)
    params = jax.device_get(jax.jit(fam.init)(root_key_data(3)).params)
    rng = np.random.default_rng(0)
    params = jax.tree_util.tree_map_with_path(
        lambda p, x: rng.normal(0, 0.2, x.shape).astype(np.float32) if p[-1].key == "bias" else x, params
    )
    lay, m = fam.torch_layout(), cfg.model
    G = ref.Generator(16, RATERS, m.fmap_base, m.fmap_decay, m.fmap_max, m.latent_size)
    D = ref.Discriminator(16, RATERS, m.fmap_base, m.fmap_decay, m.fmap_max, m.label_groups, m.mbstd_group_size)
    G.load_state_dict({k: _t(v) for k, v in convert.to_torch(params["G"], lay.nets["G"]).items()}, strict=True)
    D.load_state_dict({k: _t(v) for k, v in convert.to_torch(params["D"], lay.nets["D"]).items()}, strict=True)
    return fam, params, G, D


def _inputs(fam, level, seed=1):
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((N, fam.latent_size)).astype(np.float32)
    beta = rng.uniform(0.2, 1, (N, RATERS)).astype(np.float32)
    img = rng.uniform(-1, 1, (N, 2**level, 2**level, 3)).astype(np.float32)
    return z, beta, img


@pytest.mark.parametrize("level,fade", [(2, None), (3, 0.25), (4, 0.6)])
def test_generator_and_discriminator_match_the_tf_graph(nets, level, fade):
    fam, params, G, D = nets
    z, beta, img = _inputs(fam, level)
    lod_in = R - level + (fade or 0.0)
    with torch.no_grad():
        g_t = G(_t(z), _t(beta), lod_in).numpy().transpose(0, 2, 3, 1)
        full = img.repeat(2 ** (R - level), 1).repeat(2 ** (R - level), 2)  # the original's UpscaleLOD reals
        d_t = torch.cat(D(_nchw(full), _t(beta), lod_in), dim=1).numpy()
    g_j = np.asarray(jax.jit(lambda g: fam.render(g, z, beta, level, fade))(params["G"]))
    d_j = np.asarray(jax.jit(lambda d: fam.D(d, img, beta, level, fade))(params["D"]))
    np.testing.assert_allclose(g_j, g_t, atol=1e-4 * max(1.0, np.abs(g_t).max()))
    np.testing.assert_allclose(d_j, d_t, atol=1e-4)
    assert d_j.shape == (N, 1 + RATERS)


def test_one_d_call_of_interleaved_minibatches_equals_separate_calls(nets):
    fam, params, _, _ = nets
    _, beta, img = _inputs(fam, 4)
    parts = [img, img[::-1] * 0.5, -img]
    d = jax.jit(
        lambda p, x, b, chunks, shards: fam.D(p, x, b, 4, 0.3, chunks=chunks, shards=shards), static_argnums=(3, 4)
    )
    interleaved = np.stack(parts, axis=1).reshape((3 * N,) + img.shape[1:])  # row = example * 3 + call
    for shards in (1, 4):  # 4: each device's examples grouped on their own (the original's multi-GPU split)
        one = np.asarray(d(params["D"], interleaved, np.repeat(beta, 3, axis=0), 3, shards)).reshape(N, 3, -1)
        for k, p in enumerate(parts):
            np.testing.assert_allclose(one[:, k], np.asarray(d(params["D"], p, beta, 1, shards)), atol=1e-5)
    per_device = np.concatenate(
        [np.asarray(d(params["D"], parts[0][i : i + 2], beta[i : i + 2], 1, 1)) for i in range(0, N, 2)]
    )
    np.testing.assert_allclose(np.asarray(d(params["D"], parts[0], beta, 1, 4)), per_device, atol=1e-5)


@pytest.mark.parametrize("level,fade", [(3, 0.4)])
def test_wgan_gp_losses_and_gradients_match_a_torch_transcription(nets, level, fade):
    """loss.py D_wgangp_acgan / G_wgan_acgan (label terms off) with torch autograd's double backward."""
    fam, params, G, D = nets
    cfg = fam.config
    z, beta, img = _inputs(fam, level, seed=4)
    u = np.random.default_rng(5).uniform(size=(N,)).astype(np.float32)
    lod_in = R - level + (fade or 0.0)
    up = 2 ** (R - level)
    loss_j, grads_j = jax.jit(
        jax.value_and_grad(lambda d: fam.d_loss(d, params["G"], img, beta, z, u, level, fade)[0])
    )(params["D"])
    reals = _nchw(img.repeat(up, 1).repeat(up, 2))
    per = N // fam.shards  # the original on fam.shards GPUs: D runs on each GPU's part of the minibatch

    def d_split(x):
        return torch.cat([D(x[i : i + per], _t(beta[i : i + per]), lod_in)[0] for i in range(0, N, per)])

    with torch.no_grad():
        fake = G(_t(z), _t(beta), lod_in)
    D.zero_grad()
    real_s, fake_s = d_split(reals), d_split(fake)
    mixed = (reals + (fake - reals) * _t(u)[:, None, None, None]).requires_grad_(True)
    mixed_s = d_split(mixed)
    (g,) = torch.autograd.grad(mixed_s.sum(), mixed, create_graph=True)
    # loss.py: the gradient of the full-size mix (D reads the upscaled images), its norm over all full-size pixels
    norms = torch.sqrt((g**2).sum(dim=(1, 2, 3)))
    loss_t = (fake_s[:, 0] - real_s[:, 0] + (norms - 1) ** 2 * cfg.wgan_lambda + real_s[:, 0] ** 2 * 0.001).mean()
    # config.gp_full_resolution=False: the phase-size image's gradient (the full-size one summed over each block)
    g_small = g.reshape(N, 3, 2**level, up, 2**level, up).sum(dim=(3, 5))
    norms_small = torch.sqrt((g_small**2).sum(dim=(1, 2, 3)))
    np.testing.assert_allclose(norms.detach().numpy() * up, norms_small.detach().numpy(), rtol=1e-4)
    loss_small = (
        (fake_s[:, 0] - real_s[:, 0] + (norms_small - 1) ** 2 * cfg.wgan_lambda + real_s[:, 0] ** 2 * 0.001)
        .mean()
        .item()
    )
    fam_small = registry.create(gan_config(batch_size=N, gp_full_resolution=False))
    small_j = fam_small.d_loss(params["D"], params["G"], img, beta, z, u, level, fade)[0]
    assert float(small_j) == pytest.approx(loss_small, rel=1e-4, abs=1e-5)
    loss_t.backward()
    assert float(loss_j) == pytest.approx(loss_t.item(), rel=1e-4, abs=1e-5)
    assert abs(loss_small - loss_t.item()) > 0.01 * abs(loss_t.item())  # the two penalties differ at this level
    sd_grads = convert.to_torch(jax.device_get(grads_j), fam.torch_layout().nets["D"])
    for k, p in D.named_parameters():
        scale = max(1e-3, p.grad.abs().max().item())
        np.testing.assert_allclose(sd_grads[k], p.grad.numpy(), atol=2e-4 * scale, err_msg=k)
    # G's loss: -D(G(z, beta_g), beta_g), gradients into G
    gl_j, gg_j = jax.jit(jax.value_and_grad(lambda gp: fam.g_loss(gp, params["D"], beta, z, level, fade)[0]))(
        params["G"]
    )
    G.zero_grad()
    gl_t = -d_split(G(_t(z), _t(beta), lod_in))[:, 0].mean()
    gl_t.backward()
    assert float(gl_j) == pytest.approx(gl_t.item(), rel=1e-4, abs=1e-5)
    sd_g = convert.to_torch(jax.device_get(gg_j), fam.torch_layout().nets["G"])
    for k, p in G.named_parameters():
        if p.grad is None:  # layers above the phase's level are not used
            assert np.all(sd_g[k] == 0), k
            continue
        np.testing.assert_allclose(sd_g[k], p.grad.numpy(), atol=2e-4 * max(1e-3, p.grad.abs().max().item()), err_msg=k)


def test_generator_4x4_dense_has_one_bias_per_channel(nets):
    """G_paper's 4x4 block: dense() has no bias; apply_bias after the reshape to [N, nf, 4, 4] adds one per channel
    (a [nf] variable), before the activation and pixel norm. A numpy transcription of that code path."""
    fam, params, _, _ = nets
    dense = params["G"]["blocks"][0]["dense"]
    c = fam.widths[0]
    assert dense["bias"].shape == (c,) and dense["kernel"].shape == (fam.latent_size + RATERS, c * 16)
    z, beta, _ = _inputs(fam, 2)
    x = np.concatenate([z, beta], 1).astype(np.float64)
    x = x / np.sqrt(np.mean(x * x, 1, keepdims=True) + 1e-8)
    w = dense["kernel"] * (math.sqrt(2) / 4 / math.sqrt(x.shape[1]))
    y = (x @ w).reshape(N, c, 4, 4) + dense["bias"].reshape(1, c, 1, 1)  # tf.reshape(x, [-1, nf, 4, 4]); apply_bias

    def act_norm(y):  # PN(act(.)) over channels (axis 1)
        y = np.maximum(y * 0.2, y)
        return y / np.sqrt(np.mean(y * y, 1, keepdims=True) + 1e-8)

    y = act_norm(y)
    conv = params["G"]["blocks"][0]["conv"]  # 4x4/Conv: 3x3 'SAME', wscale sqrt(2) / sqrt(9 nf), apply_bias
    k = conv["kernel"] * (math.sqrt(2) / math.sqrt(9 * c))
    p = np.pad(y, ((0, 0), (0, 0), (1, 1), (1, 1)))
    out = sum(np.einsum("nihw,io->nohw", p[:, :, i : i + 4, j : j + 4], k[i, j]) for i in range(3) for j in range(3))
    want = act_norm(out + conv["bias"].reshape(1, c, 1, 1)).transpose(0, 2, 3, 1)
    g = nnx.merge(fam.graphdefs["G"], nnx.State(params["G"]))
    got = np.asarray(g.blocks[0](layers.pixel_norm(jnp.concatenate([z, beta], 1))))
    np.testing.assert_allclose(got, want, atol=1e-4)


def test_label_map_and_minibatch_stddev_are_the_originals():
    beta = np.arange(2 * 8, dtype=np.float32).reshape(2, 8) / 16
    for res in (4, 8, 16):
        got = np.asarray(layers.label_map(jnp.asarray(beta), res, 4))[..., 0]
        want = ref.label_map(_t(beta), res, 4).numpy()[:, 0]
        np.testing.assert_array_equal(got, want)
        means = beta.reshape(2, 4, 2).mean(2)
        dx = (res - 4) // 2
        np.testing.assert_allclose(got[:, res // 2 - 1, dx : dx + 4], means)
        assert np.count_nonzero(got) == np.count_nonzero(means)
    x = np.random.default_rng(0).standard_normal((8, 4, 4, 5)).astype(np.float32)
    got = np.asarray(layers.minibatch_stddev(jnp.asarray(x), 4))
    want = ref.minibatch_stddev(_nchw(x), 4).numpy().transpose(0, 2, 3, 1)
    np.testing.assert_allclose(got, want, atol=1e-6)


def test_predictor_matches_torchvision_layout_in_eval_and_train_mode():
    cfg = predictor_config()
    fam = registry.create(cfg)
    m = cfg.model
    params = jax.device_get(jax.jit(fam.init)(root_key_data(1)).params["net"])
    rng = np.random.default_rng(2)
    params = jax.tree_util.tree_map_with_path(
        lambda p, x: (
            rng.uniform(0.5, 1.5, x.shape).astype(np.float32)
            if p[-1].key in ("var", "scale")
            else rng.normal(0, 0.1, x.shape).astype(np.float32)
            if p[-1].key in ("mean", "bias")
            else x
        ),
        params,
    )
    net_t = ref.VGG16BN(cfg.num_raters, tuple(m.widths), m.hidden, m.pool_size, m.dropout)
    layout = fam.torch_layout().layout
    sd = convert.to_torch(params, layout)
    assert list(sd) == list(net_t.state_dict())
    net_t.load_state_dict({k: _t(v) for k, v in sd.items()}, strict=True)
    x = rng.uniform(-1, 1, (4, 32, 32, 3)).astype(np.float32)
    with torch.no_grad():
        want = net_t.eval()(_nchw(x)).numpy()
    np.testing.assert_allclose(np.asarray(jax.jit(fam.predict)(params, x)), want, atol=1e-4)
    # train mode: batch statistics, running mean / unbiased variance updated with momentum 0.1, counter + 1
    with torch.no_grad():
        want_loss = float((net_t.train()(_nchw(x)) ** 2).mean())
    loss, after = jax.jit(fam.loss)(params, x, np.zeros_like(want), None)
    assert float(loss) == pytest.approx(want_loss, rel=1e-4)
    after_sd = convert.to_torch(jax.device_get(after), layout)
    for k, v in net_t.state_dict().items():
        np.testing.assert_allclose(after_sd[k], v.numpy(), atol=1e-5, err_msg=k)


def _lod_original(nimg, R, I, train_kimg, trans_kimg):
    """train.py TrainingSchedule, verbatim in floats."""
    kimg = nimg / 1000.0
    dur = train_kimg + trans_kimg
    idx = int(np.floor(kimg / dur))
    pk = kimg - idx * dur
    lod = R - np.floor(np.log2(I)) - idx
    if trans_kimg > 0:
        lod -= max(pk - train_kimg, 0.0) / trans_kimg
    return max(lod, 0.0)


def test_schedule_follows_pggans_training_schedule():
    cfg = gan_config(img_size=32, batch_size=16, **{"schedule.training_kimg": 0.2, "schedule.transition_kimg": 0.3})
    s = Schedule(cfg)
    resets = []
    for step in range(1, 400):
        nimg = ((step - 1) // 4) * 4 * 16
        lod = _lod_original(nimg, 5, 4, 0.2, 0.3)
        level, fading = s.phase(step)
        assert level == 5 - int(np.floor(lod)) and fading == (lod != np.floor(lod)), step
        if fading:
            assert float(s.fade(jnp.int32(step))) == pytest.approx(lod - np.floor(lod), abs=1e-6)
        if bool(s.starts_phase(jnp.int32(step))):
            resets.append(step)
    assert [st for st, _ in s.phase_starts(399)][1:] == resets
    assert s.phase_starts(399)[:3] == [(1, (2, False)), (17, (3, True)), (33, (3, False))]
    assert s.phase(10_000) == (5, False)


def test_tf_adam_is_tensorflows_update():
    opt = tf_adam(0.0, 0.99, 1e-8)
    p = {"w": jnp.asarray([0.5, -1.0, 2.0])}
    state = opt.init(p)
    m = v = np.zeros(3)
    rng = np.random.default_rng(0)
    for t in range(1, 6):
        g = rng.standard_normal(3).astype(np.float32)
        upd, state = opt.update({"w": jnp.asarray(g)}, state)
        m, v = 0.0 * m + g, 0.99 * v + 0.01 * g * g  # tf.train.AdamOptimizer, beta1 = 0
        want = math.sqrt(1 - 0.99**t) / (1 - 0.0**t) * m / (np.sqrt(v) + 1e-8)
        np.testing.assert_allclose(np.asarray(upd["w"]), want, rtol=1e-5)


def test_predictor_statistics_are_in_no_optimizer():
    labels = predictor.trainable_labels({"a": {"mean": 0, "var": 0, "num_batches_tracked": 0, "kernel": 0}})
    assert labels == {"a": {"mean": "stats", "var": "stats", "num_batches_tracked": "stats", "kernel": "train"}}


@pytest.mark.parametrize("kind", ["mse", "softmax_ce"])
def test_label_penalty_adds_pggans_acgan_term(nets, kind):
    """config.label_penalty (off in Beholder-GAN): D's loss gains cond_weight x (penalty(D(real)) + penalty(D(fake)))
    on its label outputs (the reals' term alone with label_penalty_fakes=False), G's gains cond_weight x
    penalty(D(G(z, beta_g))); "softmax_ce" is PGGAN's
    softmax_cross_entropy_with_logits(labels=beta, logits=labels_out), "mse" a squared error."""
    fam0, params, _, _ = nets
    fam = registry.create(gan_config(batch_size=N, label_penalty=kind, cond_weight=0.5))
    level, fade = 3, 0.4
    z, beta, img = _inputs(fam, level, seed=6)
    u = np.random.default_rng(7).uniform(size=(N,)).astype(np.float32)

    def penalty(out):
        if kind == "mse":
            return np.mean((out[:, 1:] - beta) ** 2, axis=1)
        logits = out[:, 1:] - out[:, 1:].max(1, keepdims=True)
        return -np.sum(beta * (logits - np.log(np.exp(logits).sum(1, keepdims=True))), axis=1)

    fake = np.asarray(fam.G(params["G"], z, beta, level, fade))
    d = jax.jit(lambda x: fam0.D(params["D"], x, beta, level, fade, shards=fam0.shards))
    expected = np.mean(penalty(np.asarray(d(img))) + penalty(np.asarray(d(fake))))
    d_on = float(fam.d_loss(params["D"], params["G"], img, beta, z, u, level, fade)[0])
    d_off = float(fam0.d_loss(params["D"], params["G"], img, beta, z, u, level, fade)[0])
    assert expected > 0.01
    assert d_on - d_off == pytest.approx(0.5 * expected, rel=1e-3, abs=1e-5)
    reals_only = registry.create(
        gan_config(batch_size=N, label_penalty=kind, cond_weight=0.5, label_penalty_fakes=False)
    )
    d_real = float(reals_only.d_loss(params["D"], params["G"], img, beta, z, u, level, fade)[0])
    assert d_real - d_off == pytest.approx(0.5 * np.mean(penalty(np.asarray(d(img)))), rel=1e-3, abs=1e-5)
    g_on = float(fam.g_loss(params["G"], params["D"], beta, z, level, fade)[0])
    g_off = float(fam0.g_loss(params["G"], params["D"], beta, z, level, fade)[0])
    assert g_on - g_off == pytest.approx(0.5 * np.mean(penalty(np.asarray(d(fake)))), rel=1e-3, abs=1e-5)
