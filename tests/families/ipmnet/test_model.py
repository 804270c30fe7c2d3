"""IPM-Net <-> the PyTorch reference modules (facejax/families/ipmnet/torch_ref.py, written from makeup.md 2.3-2.6):
the original's keys and parameter counts, strict loading with equal outputs (generator, discriminators,
identity ResNet in both BatchNorm modes), and every loss term of one iteration equal to the original trainer's
formulas computed in PyTorch."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from tests.families.ipmnet.conftest import TINY

from facejax import configs, registry
from facejax.families.ipmnet import torch_layout
from facejax.train.state import bind, root_key_data

torch = pytest.importorskip("torch")
from facejax.families.ipmnet import torch_ref as ref  # noqa: E402

pytestmark = pytest.mark.torch


def gen_params(g):
    return dict(
        dim=g.dim,
        mlp_dim=g.mlp_dim,
        style_dim=g.style_dim,
        n_downsample=g.n_downsample,
        n_res=g.n_res,
        activ=g.activ,
        pad_type=g.pad_type,
    )


def dis_params(d):
    return dict(
        dim=d.dim,
        n_layer=d.n_layer,
        num_scales=d.num_scales,
        norm="none",
        activ=d.activ,
        pad_type=d.pad_type,
        gan_type="lsgan",
    )


def torch_nets(cfg):
    r = cfg.identity
    return (
        ref.AdaINGen(3, gen_params(cfg.model.gen)),
        ref.MsImageDis(3, dis_params(cfg.model.dis)),
        ref.ResNet(tuple(int(v) for v in r.layers.split(",")), r.width),
    )


def _t(sd):
    return {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in sd.items()}


def nchw(x):
    return torch.from_numpy(np.ascontiguousarray(np.asarray(x, np.float32).transpose(0, 3, 1, 2)))


def nhwc(t):
    return t.detach().numpy().transpose(0, 2, 3, 1)


@pytest.fixture(scope="module")
def family():
    return registry.create(configs.load("ipmnet:synthetic", **TINY))


@pytest.fixture(scope="module")
def state(family):
    """Every weight random, LayerNorm gammas and ResNet BatchNorm statistics included."""
    s = jax.jit(family.init)(root_key_data(0))
    rng = np.random.default_rng(1)

    def fill(path, x):
        name = str(getattr(path[-1], "key", path[-1]))
        if name in ("bias", "beta", "mean"):
            return jnp.asarray(0.1 * rng.standard_normal(x.shape), jnp.float32)
        if name in ("scale", "gamma", "var"):
            return jnp.asarray(rng.uniform(0.5, 1.5, x.shape), jnp.float32)
        return x

    # params (D_A, D_B, G) then frozen (R): the draws of the single tree {D_A, D_B, G, R} of before
    params = jax.tree_util.tree_map_with_path(fill, s.params)
    return s.replace(params=params, frozen=jax.tree_util.tree_map_with_path(fill, s.frozen))


def test_full_size_keys_counts_and_shapes_are_the_originals():
    cfg = configs.load("ipmnet:mt")
    layout = torch_layout.TorchLayout(cfg)
    with torch.device("meta"):
        g, d, r = torch_nets(cfg)
    for name, net in (("G", g), ("D_A", d), ("D_B", d)):
        sd = net.state_dict()
        assert layout.nets[name].keys() == list(sd), name
        assert layout.nets[name].shapes() == {k: tuple(v.shape) for k, v in sd.items()}, name
    gs, ds = layout.nets["G"].shapes(), layout.nets["D_A"].shapes()
    assert len(gs) == 100 and len(ds) == 30
    # makeup.md 2.4, verbatim
    assert gs["enc_style.model.6.weight"] == (128, 256, 1, 1) and gs["dec.final_conv.0.weight"] == (3, 3, 7, 7)
    assert gs["dec.model.0.model.3.model.1.norm.running_var"] == (256,) and gs["dec.model.2.norm.gamma"] == (128,)
    assert gs["mlp.model.2.fc.weight"] == (4096, 256) and gs["sf.model.3.model.1.conv.weight"] == (3, 3, 3, 3)
    assert ds["cnns.2.3.conv.weight"] == (512, 256, 4, 4) and ds["cnns.0.4.weight"] == (1, 512, 1, 1)
    counts = registry.create(cfg).param_counts()
    assert counts["G"] == 15_088_863 == sum(p.numel() for p in g.parameters())
    assert counts["D_A"] == counts["D_B"] == 8_271_171 == sum(p.numel() for p in d.parameters())
    assert counts["R (identity, frozen)"] == 23_508_032 == sum(p.numel() for p in r.parameters())
    assert sum(int(np.prod(s)) for k, s in gs.items() if k.startswith("sf.")) == 672


def test_strict_load_gives_the_same_outputs(family, state):
    cfg = family.config
    exported = family.torch_layout().export(state)
    g, d, r = torch_nets(cfg)
    g.load_state_dict(_t(exported["gen"]["a"]), strict=True)
    d.load_state_dict(_t(exported["dis"]["a"]), strict=True)
    r.load_state_dict(_t(torch_layout.convert.to_torch(state.frozen["R"], family.identity_layout())), strict=False)
    rng = np.random.default_rng(2)
    x, y = rng.uniform(-1, 1, (2, 3, 32, 32, 3)).astype(np.float32)
    mask = (rng.uniform(size=(3, 32, 32, 1)) > 0.4).astype(np.float32)
    tex = rng.uniform(0, 0.5, (3, 32, 32, 1)).astype(np.float32) * (1 - mask)
    with torch.no_grad():
        c_t, s_t, r_t = g.encode(nchw(x), nchw(mask), nchw(tex), u=0.25)
        out_t = g.decode(c_t, 0.3 * s_t + 0.7 * g.enc_style(nchw(y)), r_t)
    gen = jax.jit(family.makeup)
    out = np.asarray(gen(state.params["G"], x, mask, tex, y, 0.3, 0.25))
    encode = jax.jit(lambda p, *a: bind(family.graphdefs["G"], p).encode(*a))
    c_j, s_j, r_j = encode(state.params["G"], x, mask, tex, jnp.full((3,), 0.25))
    np.testing.assert_allclose(np.asarray(c_j), nhwc(c_t), atol=1e-4)
    np.testing.assert_allclose(np.asarray(s_j), s_t.numpy()[:, :, 0, 0], atol=1e-4)
    np.testing.assert_allclose(np.asarray(r_j), nhwc(r_t), atol=1e-6)
    np.testing.assert_allclose(out, nhwc(out_t), atol=1e-4)
    assert np.abs(out).max() > 0.1
    with torch.no_grad():
        outs_t = d(nchw(x))
    outs = bind(family.graphdefs["D_A"], state.params["D_A"])(x)
    assert [o.shape[1:] for o in outs] == [(8, 8), (4, 4), (2, 2)]
    for o, t in zip(outs, outs_t):
        np.testing.assert_allclose(np.asarray(o), t.numpy()[:, 0], atol=1e-4)
    R = bind(family.graphdefs["R"], state.frozen["R"])
    for train in (False, True):
        r.train(train)
        with torch.no_grad():
            want = nhwc(r(ref.vgg_preprocess(nchw(x))))
        got = np.asarray(R(jnp.asarray(x), train, 1))
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * np.abs(want).max())


def test_loss_terms_equal_the_original_formulas(family, state):
    """One iteration's generator and discriminator losses vs the trainer's formulas on the reference modules."""
    cfg = family.config
    exported = family.torch_layout().export(state)
    g, da, r = torch_nets(cfg)
    db = ref.MsImageDis(3, dis_params(cfg.model.dis))
    g.load_state_dict(_t(exported["gen"]["a"]), strict=True)
    da.load_state_dict(_t(exported["dis"]["a"]), strict=True)
    db.load_state_dict(_t(exported["dis"]["b"]), strict=True)
    r.load_state_dict(_t(torch_layout.convert.to_torch(state.frozen["R"], family.identity_layout())), strict=False)
    batch = {k: jnp.asarray(v[:2]) for k, v in family.bench_batch(2, seed=3).items()}
    rng = np.random.default_rng(4)
    sd = cfg.model.gen.style_dim
    s_a, s_b = rng.standard_normal((2, 2, sd)).astype(np.float32)
    u = np.array([0.1, 0.9, 0.3, 0.6], np.float32)
    # the original's switch at its first image display (TINY keeps eval mode to compile one branch)
    original = registry.create(configs.load("ipmnet:synthetic", **{**TINY, "identity.bn_train_from_step": 500}))
    gen_loss = jax.jit(original.gen_loss)
    for step, train in ((0, False), (10_000, True)):  # the ResNet's BatchNorm: eval, then train mode
        _, terms = gen_loss(state.params["G"], state.sampling_params(), batch, s_a, s_b, u, jnp.int32(step))
        T = {k: nchw(v) for k, v in batch.items()}
        ta, tb = (torch.from_numpy(s)[:, :, None, None] for s in (s_a, s_b))
        r.train(train)
        L1 = lambda a, b: torch.mean(torch.abs(a - b)).item()  # noqa: E731
        with torch.no_grad():
            c_a, sp_a, r_a = g.encode(T["x_a"], T["m_a"], T["t_a"], u=float(u[0]))
            c_b, sp_b, r_b = g.encode(T["x_b"], T["m_b"], T["t_b"], u=float(u[1]))
            x_a_rec, x_b_rec = g.decode(c_a, sp_a, r_a), g.decode(c_b, sp_b, r_b)
            x_ba, x_ab = g.decode(c_b, ta, r_b), g.decode(c_a, tb, r_a)
            c_a_rec, s_b_rec, r_a2 = g.encode(x_ab, T["m_a"], T["t_a"], u=float(u[2]))
            c_b_rec, s_a_rec, r_b2 = g.encode(x_ba, T["m_b"], T["t_b"], u=float(u[3]))
            x_aba, x_bab = g.decode(c_a_rec, sp_a, r_a2), g.decode(c_b_rec, sp_b, r_b2)
            feat = lambda im: r(ref.vgg_preprocess(im))  # noqa: E731
            want = {
                "gan_a": da.calc_gen_loss(x_ba).item(),
                "gan_b": db.calc_gen_loss(x_ab).item(),
                "recon_x_a": 20 * L1(x_a_rec, T["x_a"]),
                "recon_x_b": 20 * L1(x_b_rec, T["x_b"]),
                "recon_s_a": L1(s_a_rec, ta),
                "recon_s_b": L1(s_b_rec, tb),
                "recon_c_a": L1(c_a_rec, c_a),
                "recon_c_b": L1(c_b_rec, c_b),
                "cyc_a": 10 * L1(x_aba, T["x_a"]),
                "cyc_b": 10 * L1(x_bab, T["x_b"]),
                "vgg_a": 5 * L1(feat(x_ba), feat(T["x_b"])),
                "vgg_b": 5 * L1(feat(x_ab), feat(T["x_a"])),
                "back_a": L1(x_ab * T["m_a"], T["x_a"] * T["m_a"]),
                "back_b": L1(x_ba * T["m_b"], T["x_b"] * T["m_b"]),
                "fore_a": 20 * L1(x_a_rec * (1 - T["m_a"]), T["x_a"] * (1 - T["m_a"])),
                "fore_b": 20 * L1(x_b_rec * (1 - T["m_b"]), T["x_b"] * (1 - T["m_b"])),
            }
        assert set(terms) == set(want)
        for k, v in want.items():
            assert float(terms[k]) == pytest.approx(v, rel=1e-4, abs=1e-6), (k, train)
    # the discriminator loss with its gradient penalty (a double backward in both)
    fake, real = np.asarray(batch["x_b"]) * 0.5, np.asarray(batch["x_a"])
    got, reg = jax.jit(family.dis_loss, static_argnums=1)(
        state.params["D_A"], "D_A", jnp.asarray(fake), jnp.asarray(real)
    )
    want = da.calc_dis_loss(nchw(fake), nchw(real)).item()
    assert float(got) == pytest.approx(want, rel=1e-4) and float(reg) > 0
