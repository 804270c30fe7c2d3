"""config.kernels: the choice per backend, its one clear error, and each CPU-tuned kernel and its XLA-native
path against the same PyTorch computation, values and gradients (conv4x4_s2 also its double backward, R1's
use). The transposed convolution's and SSIM's parity tests (test_conv_transpose.py, metrics/test_ssim.py) and
StarGAN v2's generator parity (families/stargan_v2/test_model.py) are parametrised over both paths too."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from ml_collections import ConfigDict

from facejax import configs, registry
from facejax.errors import FacejaxError
from facejax.nn import kernels
from facejax.nn.layers import Conv2d, conv3x3_avg_pool2, conv4x4_s2, upsample2_conv3x3

PATHS = ("cpu_tuned", "native")


def test_auto_is_cpu_tuned_on_cpu_and_native_elsewhere(monkeypatch):
    assert kernels.setting() == "auto" and jax.default_backend() == "cpu"
    assert kernels.resolve() == "cpu_tuned" and kernels.cpu_tuned()
    for backend, want in (("gpu", "native"), ("tpu", "native"), ("cuda", "native"), ("cpu", "cpu_tuned")):
        monkeypatch.setattr(kernels.jax, "default_backend", lambda b=backend: b)
        assert kernels.resolve() == want, backend
        assert kernels.cpu_tuned() == (want == "cpu_tuned")
        for explicit in ("native", "cpu_tuned"):
            assert kernels.resolve(explicit) == explicit  # an explicit choice ignores the backend
    with kernels.use("native"):
        assert not kernels.cpu_tuned() and kernels.setting() == "native"
    assert kernels.setting() == "auto"


def test_config_field_is_declared_applied_by_registry_and_checked(monkeypatch):
    cfg = configs.load("stargan_v2:synthetic")
    assert cfg.kernels == "auto"  # declared by facejax.train.config.defaults for every family
    assert kernels.configure(cfg) == "auto"
    monkeypatch.setattr(registry, "family_class", lambda name: lambda config: kernels.setting())
    try:
        assert registry.create(configs.load("stargan_v2:synthetic", kernels="native")) == "native"
        for bad in ("gpu", "Native"):  # (a non-string is refused by the ConfigDict field type itself)
            with pytest.raises(FacejaxError) as e:
                registry.create(configs.load("stargan_v2:synthetic", kernels=bad))
            assert str(e.value).startswith(f"config.kernels={bad!r}: expected one of 'auto', 'native', 'cpu_tuned'")
        with pytest.raises(FacejaxError, match="unknown config field 'model.kernels'"):
            configs.load("stargan_v2:synthetic", **{"model.kernels": "native"})
    finally:
        kernels.set_kernels("auto")
    assert kernels.configure(ConfigDict({"kernels": "cpu_tuned"})) == "cpu_tuned"
    kernels.set_kernels("auto")


def test_a_jitted_function_is_traced_again_under_the_other_path():
    calls = []

    @jax.jit
    def f(x):
        calls.append(kernels.resolve())
        return x + (1.0 if kernels.cpu_tuned() else 2.0)

    with kernels.use("native"):
        assert float(f(0.0)) == 2.0
    assert float(f(0.0)) == 1.0 and calls == ["native", "cpu_tuned"]
    assert float(f(0.0)) == 1.0 and len(calls) == 2  # each choice's trace is cached


def test_each_kernel_traces_a_different_program_per_path():
    from facejax.metrics.ssim import _filter_valid, gaussian_window
    from facejax.nn.conv_transpose import conv_transpose

    x = jnp.zeros((1, 12, 12, 3))
    conv = _conv3x3(0)
    fns = {
        "conv4x4_s2": (lambda x: jax.grad(lambda x: conv4x4_s2(x, jnp.ones((4, 4, 3, 2))).sum())(x), 2),
        "conv3x3_avg_pool2": (lambda x: conv3x3_avg_pool2(conv, x), 1),
        "upsample2_conv3x3": (lambda x: upsample2_conv3x3(conv, x), 1),
        "conv_transpose": (lambda x: conv_transpose(x, jnp.ones((4, 4, 2, 3)), (2, 2), (1, 1)), 1),
        "ssim filter": (lambda x: _filter_valid(x, gaussian_window()), 2),
    }
    for name, (fn, native_convs) in fns.items():
        programs = {}
        for path in PATHS:
            with kernels.use(path):
                programs[path] = str(jax.make_jaxpr(fn)(x))
        assert programs["native"] != programs["cpu_tuned"], name
        # native: the plain composition (conv4x4_s2: forward + its autodiff transpose)
        assert programs["native"].count("conv_general_dilated[") == native_convs, (name, programs["native"])
        assert "custom_vjp" not in programs["native"] and "dot_general" not in programs["native"], name


# ---------------------------------------------------------------- each kernel, both paths, against PyTorch


def _nchw(a):
    import torch

    return torch.from_numpy(np.ascontiguousarray(np.asarray(a).transpose(0, 3, 1, 2))).requires_grad_(True)


def _oihw(k):
    import torch

    return torch.from_numpy(np.ascontiguousarray(np.asarray(k).transpose(3, 2, 0, 1))).requires_grad_(True)


def _close(got, want, atol=1e-4, kernel=False):
    """got NHWC (or HWIO with kernel=True) against torch's NCHW (OIHW)."""
    want = want.detach().numpy().transpose((2, 3, 1, 0) if kernel else (0, 2, 3, 1))
    np.testing.assert_allclose(np.asarray(got), want, atol=atol, rtol=1e-4)


@pytest.mark.torch
@pytest.mark.parametrize("path", PATHS)
def test_conv4x4_s2_values_grads_and_double_backward_match_torch(path):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 8, 6, 3)).astype(np.float32)
    k = rng.standard_normal((4, 4, 3, 5)).astype(np.float32)
    r = rng.standard_normal((2, 4, 3, 5)).astype(np.float32)

    def loss(x, k):  # nonlinear in the convolution, so that the double backward is not zero
        return jnp.sum(jnp.tanh(conv4x4_s2(x, k)) * r)

    def r1(x, k):  # R1's form: the squared input gradient, differentiated again
        return jnp.sum(jnp.square(jax.grad(loss)(x, k)))

    with kernels.use(path), jax.default_matmul_precision("highest"):
        y = jax.jit(lambda x, k: conv4x4_s2(x, k))(x, k)
        gx, gk = jax.jit(jax.grad(loss, (0, 1)))(x, k)
        hx, hk = jax.jit(jax.grad(r1, (0, 1)))(x, k)
    tx, tk = _nchw(x), _oihw(k)
    ty = torch.nn.functional.conv2d(tx, tk, stride=2, padding=1)
    tgx, tgk = torch.autograd.grad((ty.tanh() * _nchw(r)).sum(), (tx, tk), create_graph=True)
    thx, thk = torch.autograd.grad(tgx.square().sum(), (tx, tk))
    _close(y, ty)
    _close(gx, tgx)
    _close(gk, tgk, kernel=True)
    _close(hx, thx, atol=2e-3)
    _close(hk, thk, atol=2e-3, kernel=True)


def _conv3x3(seed):
    conv = Conv2d(3, 4, 3, 1, 1, rngs=nnx.Rngs(seed))
    conv.bias[...] = jnp.asarray(np.random.default_rng(seed).standard_normal(4), jnp.float32)
    return conv


@pytest.mark.torch
@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("op", ["conv3x3_avg_pool2", "upsample2_conv3x3"])
def test_fused_conv_pool_and_upsample_conv_match_torch(op, path):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 6, 8, 3)).astype(np.float32)
    conv = _conv3x3(2)
    fn = {"conv3x3_avg_pool2": conv3x3_avg_pool2, "upsample2_conv3x3": upsample2_conv3x3}[op]
    out_hw = (3, 4) if op == "conv3x3_avg_pool2" else (12, 16)
    r = rng.standard_normal((2, *out_hw, 4)).astype(np.float32)

    def loss(conv, x):
        return jnp.sum(fn(conv, x) * r)

    with kernels.use(path), jax.default_matmul_precision("highest"):
        y = nnx.jit(lambda c, x: fn(c, x))(conv, x)
        gconv, gx = nnx.jit(nnx.grad(loss, argnums=(0, 1)))(conv, x)
    tx, tk = _nchw(x), _oihw(conv.kernel[...])
    tb = torch.from_numpy(np.array(conv.bias[...])).requires_grad_(True)
    if op == "conv3x3_avg_pool2":
        ty = F.avg_pool2d(F.conv2d(tx, tk, tb, padding=1), 2)
    else:
        ty = F.conv2d(F.interpolate(tx, scale_factor=2, mode="nearest"), tk, tb, padding=1)
    tgx, tgk, tgb = torch.autograd.grad((ty * _nchw(r)).sum(), (tx, tk, tb))
    _close(y, ty)
    _close(gx, tgx, atol=5e-4)
    _close(gconv.kernel[...], tgk, atol=5e-4, kernel=True)
    np.testing.assert_allclose(np.asarray(gconv.bias[...]), tgb.numpy(), atol=5e-4, rtol=1e-4)
