"""Max pooling with argmax indices and max-unpooling against PyTorch's MaxPool2d(return_indices) / MaxUnpool2d."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from facejax.nn.unpool import max_pool2_argmax, max_unpool2

torch = pytest.importorskip("torch")


def _nchw(x):
    return torch.from_numpy(np.ascontiguousarray(np.asarray(x).transpose(0, 3, 1, 2)))


def test_pool_indices_and_unpool_match_torch_ties_included():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 6, 8, 3)).astype(np.float32)
    x[0, 0:2, 0:2, 0] = 1.5  # a window of ties: the first (row-major) wins in both
    x[1, 2:4, 4:6, 2] = np.array([[0.0, 2.0], [2.0, 0.0]])
    pooled, idx = max_pool2_argmax(jnp.asarray(x))
    t_pooled, t_idx = torch.nn.MaxPool2d(2, 2, return_indices=True)(_nchw(x))
    np.testing.assert_array_equal(np.asarray(pooled), t_pooled.numpy().transpose(0, 2, 3, 1))
    np.testing.assert_array_equal(np.asarray(idx), t_idx.numpy().transpose(0, 2, 3, 1))
    assert idx.dtype == jnp.int32
    y = rng.standard_normal(pooled.shape).astype(np.float32)
    out = max_unpool2(jnp.asarray(y), idx)
    t_out = torch.nn.MaxUnpool2d(2, 2)(_nchw(y), t_idx)
    np.testing.assert_array_equal(np.asarray(out), t_out.numpy().transpose(0, 2, 3, 1))


def test_gradients_flow_to_the_values_only():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((1, 4, 4, 2)).astype(np.float32)
    w = rng.standard_normal((1, 4, 4, 2)).astype(np.float32)

    def f(x):
        pooled, idx = max_pool2_argmax(x)
        return jnp.sum(max_unpool2(2.0 * pooled, idx) * w)

    g = np.asarray(jax.grad(f)(jnp.asarray(x)))
    xt = _nchw(x).requires_grad_(True)
    p, i = torch.nn.functional.max_pool2d(xt, 2, 2, return_indices=True)
    (torch.nn.functional.max_unpool2d(2.0 * p, i, 2, 2) * _nchw(w)).sum().backward()
    np.testing.assert_allclose(g, xt.grad.numpy().transpose(0, 2, 3, 1), rtol=1e-6)
    assert np.count_nonzero(g) == 8  # one maximum per window and channel


def test_odd_sides_and_mismatched_indices_are_refused():
    with pytest.raises(ValueError, match="even height and width"):
        max_pool2_argmax(jnp.zeros((1, 5, 4, 1)))
    with pytest.raises(ValueError, match="differ in shape"):
        max_unpool2(jnp.zeros((1, 2, 2, 1)), jnp.zeros((1, 2, 2, 2), jnp.int32))
