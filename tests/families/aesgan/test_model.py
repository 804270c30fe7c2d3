"""AesGAN's networks against the project's PyTorch reference modules (facejax/families/aesgan/torch_ref.py):
every key and shape at the original's size, strict loading with equal outputs (TF SAME padding, the SAME
transposed conv, spectral-norm power iterations, SegNet unpooling, batch-statistics BatchNorm), and
torch -> facejax -> torch identical through the export layout."""

import jax
import numpy as np
import pytest
from flax import nnx

from facejax.errors import FacejaxError
from facejax.families.aesgan import eyenet, model, parsing_net
from facejax.families.aesgan import torch_layout as tl

torch = pytest.importorskip("torch")
from facejax.families.aesgan import torch_ref as ref  # noqa: E402

pytestmark = pytest.mark.torch


def _t(sd):
    return {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in sd.items()}


def _nchw(x):
    return torch.from_numpy(np.ascontiguousarray(np.asarray(x).transpose(0, 3, 1, 2)))


def _nhwc(t):
    return t.detach().numpy().transpose(0, 2, 3, 1)


def _jit(module, method=None, *static):
    """The module's forward (or a method) jitted, with trailing static arguments: one compile instead of one
    per eager op; the module's state (spectral-norm vectors) is updated as an eager call would."""
    graphdef = nnx.graphdef(module)

    @jax.jit
    def fn(state, *args):
        m = nnx.merge(graphdef, state)
        return (getattr(m, method) if method else m)(*args, *static), nnx.state(m)

    def call(*args):
        out, new = fn(nnx.state(module), *args)
        nnx.update(module, new)
        return out

    return call


def _filled(ctor, seed):
    """ctor(rngs) with every leaf drawn from NumPy, so that every mapping matters: kernels N(0, 1/fan_in), norm
    scales N(1, 0.2), biases and BN means N(0, 0.2), BN variances U(0.5, 1.5), spectral-norm vectors random unit
    vectors, integer counters 0. Built abstractly: an eager init compiles one XLA program per initialiser (about
    20 s for the generator on 2 cores)."""
    module = nnx.eval_shape(lambda: ctor(nnx.Rngs(0)))
    rng = np.random.default_rng(seed)

    def fill(path, x):
        name = str(getattr(path[-1], "key", path[-1]))
        if np.issubdtype(x.dtype, np.integer):
            return np.zeros(x.shape, x.dtype)
        if name == "kernel":
            v = rng.standard_normal(x.shape) / np.sqrt(np.prod(x.shape[:-1]))
        elif name == "scale":
            v = 1.0 + 0.2 * rng.standard_normal(x.shape)
        elif name in ("bias", "mean"):
            v = 0.2 * rng.standard_normal(x.shape)
        elif name == "var":
            v = rng.uniform(0.5, 1.5, x.shape)
        elif name in ("u", "v"):
            v = rng.standard_normal(x.shape)
            v /= np.linalg.norm(v)
        else:
            raise AssertionError(f"no fill rule for {name}")
        return v.astype(np.float32)

    nnx.update(module, nnx.State(jax.tree_util.tree_map_with_path(fill, nnx.to_pure_dict(nnx.state(module)))))
    return module


def test_full_size_keys_and_shapes_match_the_reference_modules():
    nets = {
        "G": (lambda: model.Generator(64, 6, rngs=nnx.Rngs(0)), lambda: ref.Generator(64, 6)),
        "D": (lambda: model.Discriminator(256, 64, rngs=nnx.Rngs(0)), lambda: ref.Discriminator(256, 64)),
        "E": (lambda: eyenet.EyeNet(64, 1024, rngs=nnx.Rngs(0)), lambda: ref.EyeNet(64, 1024)),
        "P": (lambda: parsing_net.ParsingNet(64, 11, rngs=nnx.Rngs(0)), lambda: ref.ParsingNet(64, 11)),
    }
    for name, (jx, tr) in nets.items():
        layout = tl.module_layout(nnx.eval_shape(jx), name)
        with torch.device("meta"):
            sd = tr().state_dict()
        assert layout.keys() == list(sd), name
        assert layout.shapes() == {k: tuple(v.shape) for k, v in sd.items()}, name
    g = tl.module_layout(nnx.eval_shape(nets["G"][0])).shapes()
    d = tl.module_layout(nnx.eval_shape(nets["D"][0])).shapes()
    p = tl.module_layout(nnx.eval_shape(nets["P"][0])).shapes()
    # completion_beauty.md B.5-B.7
    assert g["e_c1.weight"] == (64, 12, 7, 7) and g["gen_deconv1.weight"] == (256, 128, 5, 5)
    assert g["gen_conv_1_2.weight"] == (3, 44, 7, 7) and "re_6.in2.bias" in g
    assert d["dis_conv_4.weight_bar"] == (512, 512, 5, 5) and d["dis_fully1.weight_bar"] == (512, 8 * 8 * 512)
    assert d["dis_fully3.weight_u"] == (1,) and d["dis_conv_2_0.weight_v"] == (3 * 25,)
    assert p["conv14.weight"] == (4096, 512, 3, 3) and p["deconv0.weight"] == (11, 32, 5, 5)
    assert "bn_decon3.running_var" in p


@pytest.fixture(scope="module")
def inputs():
    rng = np.random.default_rng(0)
    return [rng.uniform(-1, 1, (2, 32, 32, 3)).astype(np.float32) for _ in range(4)]


def test_generator_and_aesthetic_net_match(inputs):
    g = _filled(lambda rngs: model.Generator(8, 2, rngs=rngs), 1)
    gt = ref.Generator(8, 2)
    gt.load_state_dict(_t(tl.module_state_dict(g)), strict=True)
    with torch.no_grad():
        np.testing.assert_allclose(np.asarray(_jit(g)(*inputs)), _nhwc(gt(*map(_nchw, inputs))), atol=1e-4)
    e = _filled(lambda rngs: eyenet.EyeNet(4, 16, rngs=rngs), 2)
    et = ref.EyeNet(4, 16)
    et.load_state_dict(_t(tl.module_state_dict(e)), strict=True)
    logits, rec = _jit(e)(inputs[0])
    with torch.no_grad():
        lt, rt = et(_nchw(inputs[0]))
    np.testing.assert_allclose(np.asarray(logits), lt.numpy(), atol=1e-4, rtol=1e-4)
    np.testing.assert_allclose(np.asarray(rec), _nhwc(rt), atol=1e-4)
    assert np.asarray(_jit(e, "score")(inputs[0])).shape == (2,)


def test_discriminator_matches_with_its_power_iterations(inputs):
    d = _filled(lambda rngs: model.Discriminator(32, 8, rngs=rngs), 3)
    dt = ref.Discriminator(32, 8)
    before = tl.module_state_dict(d)
    dt.load_state_dict(_t(before), strict=True)
    call = _jit(d)
    for _ in range(2):  # the second call starts from the vectors the first left
        with torch.no_grad():
            out_t = dt(*map(_nchw, inputs[:3])).numpy()
        np.testing.assert_allclose(np.asarray(call(*inputs[:3])), out_t, atol=1e-5)
    after = tl.module_state_dict(d)
    for k, v in dt.state_dict().items():
        np.testing.assert_allclose(after[k], v.numpy(), atol=1e-5, err_msg=k)
    assert not np.allclose(after["dis_fully1.weight_u"], before["dis_fully1.weight_u"])


def test_parsing_net_matches_in_both_batchnorm_modes():
    """64 px, batch 3: the 2x2 bottleneck's batch statistics over 12 values (at 32 px and batch 2 they are
    over 2 values, and normalising by their spread amplifies float rounding beyond any tolerance)."""
    x = np.random.default_rng(5).uniform(-1, 1, (3, 64, 64, 3)).astype(np.float32)
    p = _filled(lambda rngs: parsing_net.ParsingNet(4, 14, rngs=rngs), 4)
    pt = ref.ParsingNet(4, 14)
    pt.load_state_dict(_t(tl.module_state_dict(p)), strict=True)
    for train in (False, True):  # eval first: a train-mode forward moves torch's running statistics
        pt.train(train)
        with torch.no_grad():
            out_t = _nhwc(pt(_nchw(x)))
        np.testing.assert_allclose(np.asarray(_jit(p, None, train)(x)), out_t, atol=1e-4, rtol=1e-3)


def test_torch_to_facejax_to_torch_is_identical(tmp_path):
    torch.manual_seed(0)
    abstract = lambda ctor: nnx.eval_shape(lambda: ctor(rngs=nnx.Rngs(0)))  # noqa: E731
    nets = {
        "G": (ref.Generator(8, 2), abstract(lambda rngs: model.Generator(8, 2, rngs=rngs))),
        "D": (ref.Discriminator(32, 8), abstract(lambda rngs: model.Discriminator(32, 8, rngs=rngs))),
        "eyenet": (ref.EyeNet(4, 16), abstract(lambda rngs: eyenet.EyeNet(4, 16, rngs=rngs))),
        "parsing": (ref.ParsingNet(4, 14), abstract(lambda rngs: parsing_net.ParsingNet(4, 14, rngs=rngs))),
    }
    with torch.no_grad():
        for t_net, _ in nets.values():
            for p in t_net.parameters():
                p.add_(0.1 * torch.randn_like(p))
    nets["parsing"][0].train()(torch.randn(2, 3, 32, 32))  # running statistics and counter move
    layout = tl.TorchLayout(None, {k: (k, m) for k, (_, m) in nets.items()})
    paths = {}
    for k, (t_net, _) in nets.items():
        paths[k] = str(tmp_path / f"000007_{k}.pth")
        torch.save(t_net.state_dict(), paths[k])
    assert layout.find(str(tmp_path)) == (7, paths)
    loaded = layout.load(paths)
    from facejax.train.state import TrainState

    back = layout.export(TrainState(step=0, rng=0, params=loaded, opt_state={}, ema={}))
    for k, (t_net, _) in nets.items():
        sd = t_net.state_dict()
        assert list(back[k]) == list(sd), k
        for key, v in sd.items():
            np.testing.assert_array_equal(back[k][key], v.numpy(), err_msg=key)
    written = layout.write(back, str(tmp_path / "out"), step=7, fmt="safetensors")
    assert sorted(p.rsplit("/", 1)[1] for p in written.values()) == [
        "000007_D.safetensors",
        "000007_G.safetensors",
        "000007_eyenet.safetensors",
        "000007_parsing.safetensors",
    ]
    with pytest.raises(FacejaxError, match="with_optim"):
        layout.export(TrainState(step=0, rng=0, params=loaded, opt_state={}, ema={}), with_optim=True)
    with pytest.raises(FacejaxError, match="does not exist"):
        layout.find(str(tmp_path / "nope"))
