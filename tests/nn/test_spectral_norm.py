"""facejax.nn.spectral_norm against torch.nn.utils.spectral_norm (norm="max"): the same weight, the same
power-iteration update of u and v in training mode, none in eval mode, and the same gradient through sigma.
(The custom norm="add" variant is checked against BeautyGAN's reference modules in tests/families/beautygan.)"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from facejax.nn.spectral_norm import SpectralConv2d, spectral_state, trainable_mask, with_spectral_state

torch = pytest.importorskip("torch")


def _pair(seed=0):
    torch.manual_seed(seed)
    conv = torch.nn.utils.spectral_norm(torch.nn.Conv2d(3, 5, 4, 2, 1))
    ours = SpectralConv2d(3, 5, 4, 2, 1, norm="max", rngs=nnx.Rngs(0))
    sd = conv.state_dict()
    ours.kernel[...] = jnp.asarray(sd["weight_orig"].numpy().transpose(2, 3, 1, 0))
    ours.bias[...] = jnp.asarray(sd["bias"].numpy())
    ours.u[...] = jnp.asarray(sd["weight_u"].numpy())
    ours.v[...] = jnp.asarray(sd["weight_v"].numpy())
    return conv, ours


def _nchw(x):
    return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))


def test_training_forward_updates_u_v_like_torch():
    conv, ours = _pair()
    x = np.random.default_rng(0).standard_normal((2, 9, 9, 3)).astype(np.float32)
    for _ in range(3):  # each call iterates once more, from where the last one stopped
        want = conv.train()(_nchw(x)).detach().numpy().transpose(0, 2, 3, 1)
        got = np.asarray(ours(jnp.asarray(x)))
        np.testing.assert_allclose(got, want, atol=1e-5)
        np.testing.assert_allclose(np.asarray(ours.u[...]), conv.weight_u.numpy(), atol=1e-6)
        np.testing.assert_allclose(np.asarray(ours.v[...]), conv.weight_v.numpy(), atol=1e-6)
    u = np.asarray(ours.u[...]).copy()
    want = conv.eval()(_nchw(x)).detach().numpy().transpose(0, 2, 3, 1)
    np.testing.assert_allclose(np.asarray(ours(jnp.asarray(x), update=False)), want, atol=1e-5)
    np.testing.assert_array_equal(np.asarray(ours.u[...]), u)


def test_gradient_through_sigma_matches_torch():
    conv, ours = _pair(1)
    x = np.random.default_rng(1).standard_normal((2, 8, 8, 3)).astype(np.float32)
    conv.train()
    out = conv(_nchw(x))
    (out**2).sum().backward()
    graphdef, state = nnx.split(ours)
    pure = nnx.to_pure_dict(state)

    def loss(kernel):
        return jnp.sum(nnx.merge(graphdef, nnx.State({**pure, "kernel": kernel}))(jnp.asarray(x)) ** 2)

    g = jax.grad(loss)(pure["kernel"])
    np.testing.assert_allclose(np.asarray(g).transpose(3, 2, 0, 1), conv.weight_orig.grad.numpy(), rtol=1e-4, atol=1e-4)


def test_state_helpers_single_out_u_and_v():
    ours = SpectralConv2d(2, 3, 3, rngs=nnx.Rngs(0))
    tree = {"main": {0: nnx.to_pure_dict(nnx.state(ours))}, "other": {"kernel": np.ones(2), "u": np.ones(1)}}
    mask = trainable_mask(tree)
    assert mask["main"][0] == {"bias": True, "kernel": True, "u": False, "v": False}
    assert mask["other"] == {"kernel": True, "u": True}  # no v: not a spectral-norm layer
    sn = spectral_state(tree)
    assert set(sn["main"][0]) == {"u", "v"} and "other" not in sn
    new = with_spectral_state(tree, {"main": {0: {"u": np.zeros(3), "v": np.zeros(18)}}})
    assert not new["main"][0]["u"].any() and new["main"][0]["kernel"] is tree["main"][0]["kernel"]


def _tf_normalized(w_hwio, u):
    """TensorFlow's usual spectral_norm (e.g. AesGAN's ops.py), one iteration, as TF differentiates it: the kernel
    reshaped to (kh * kw * in, out), u (1, out) a variable (constant), l2-normalisation x / (||x|| + 1e-12), no
    stop_gradient on the iteration."""
    w = w_hwio.reshape(-1, w_hwio.shape[-1])
    l2n = lambda x: x / (jnp.sum(x**2) ** 0.5 + 1e-12)  # noqa: E731
    v_hat = l2n(jnp.matmul(u, w.T, precision="highest"))
    u_hat = l2n(jnp.matmul(v_hat, w, precision="highest"))
    sigma = jnp.matmul(jnp.matmul(v_hat, w, precision="highest"), u_hat.T, precision="highest")
    return (w / sigma).reshape(w_hwio.shape)


def test_grad_through_iteration_is_tensorflows_gradient():
    """grad_through_iteration=True: the kernel's gradient equals the one through a transcription of TF's code path
    (and the PyTorch reference hook of AesGAN, which mirrors it); the default (u, v constants) differs from it."""
    rng = np.random.default_rng(2)
    x = jnp.asarray(rng.standard_normal((2, 7, 7, 3)), jnp.float32)
    probe = jnp.asarray(rng.standard_normal((2, 4, 4, 5)), jnp.float32)
    grads = {}
    for flag in (True, False):
        ours = SpectralConv2d(3, 5, 3, 2, 1, norm="add", grad_through_iteration=flag, rngs=nnx.Rngs(3))
        graphdef, state = nnx.split(ours)
        pure = nnx.to_pure_dict(state)
        grads[flag] = jax.grad(lambda k: jnp.sum(nnx.merge(graphdef, nnx.State({**pure, "kernel": k}))(x) * probe))(
            pure["kernel"]
        )

    def tf_loss(k):
        y = jax.lax.conv_general_dilated(
            x,
            _tf_normalized(k, jnp.asarray(pure["u"])[None]),
            (2, 2),
            ((1, 1), (1, 1)),
            dimension_numbers=("NHWC", "HWIO", "NHWC"),
            precision="highest",
        )
        return jnp.sum((y + pure["bias"]) * probe)

    want = jax.grad(tf_loss)(pure["kernel"])
    scale = float(jnp.abs(want).max())
    np.testing.assert_allclose(grads[True], want, atol=1e-5 * scale)
    assert float(jnp.abs(grads[False] - want).max()) > 1e-2 * scale

    from facejax.families.aesgan.torch_ref import SpectralNorm

    conv = SpectralNorm.apply(torch.nn.Conv2d(3, 5, 3, 2, 1))
    with torch.no_grad():
        conv.weight_bar.copy_(torch.from_numpy(np.asarray(pure["kernel"]).transpose(3, 2, 0, 1).copy()))
        conv.bias.copy_(torch.from_numpy(np.array(pure["bias"])))
        conv.weight_u.copy_(torch.from_numpy(np.array(pure["u"])))
    out = conv(_nchw(np.asarray(x)))
    (out * _nchw(np.asarray(probe))).sum().backward()
    np.testing.assert_allclose(conv.weight_bar.grad.numpy().transpose(2, 3, 1, 0), want, atol=1e-5 * scale)
