"""Spectral normalisation (Miyato et al., 2018) with the power-iteration vectors as layer state.

A spectrally normalised layer divides its weight W by sigma, an estimate of W's largest singular value,
before use. sigma comes from power iteration on the matrix view of W (PyTorch's ``weight.view(out, -1)``: rows
are output channels, columns run over (in, kh, kw) in that order):

    v <- normalize(W^T u),  u <- normalize(W v)        (n_power_iterations times, no gradient)
    sigma = u . (W v)                                   (gradient flows through W only)

``grad_through_iteration=True`` instead differentiates sigma through the iteration too (u and v as functions of
W, only the stored starting vector held constant): what TensorFlow's usual ``spectral_norm`` (a Python loop of
matmuls and l2-normalisations with no stop_gradient, e.g. AesGAN's ops.py) back-propagates. The forward values are
the same either way.

``u`` (out,) and ``v`` (in * kh * kw,) are ``SpectralVector`` variables: state that the forward pass updates,
never trained (keep them out of the optimizer, e.g. with ``trainable_mask``). A call with ``update=True`` runs
the iteration and stores the new vectors in the module; ``update=False`` uses the stored ones (PyTorch's
``spectral_norm`` in eval mode).

Two PyTorch implementations are covered, differing only in the normalisation and in the names of their
tensors (the family's torch_layout names them):

  ``norm="max"``  ``torch.nn.utils.spectral_norm``: ``x / max(||x||, eps)``; the state dict holds
                  ``weight_orig`` (parameter), ``weight_u``, ``weight_v`` (buffers); iterates in training mode.
  ``norm="add"``  the custom ``SpectralNorm`` of several GAN repositories (BeautyGAN_pytorch's
                  ``ops/spectral_norm.py``): ``x / (||x|| + eps)``; ``weight_bar``, ``weight_u``, ``weight_v``, all
                  parameters (u, v without gradient); iterates on every forward.

Kernels are HWIO like every facejax conv (facejax/nn/layers.py); the matrix view transposes them to OIHW first,
so ``u`` and ``v`` have exactly PyTorch's values and export as they are.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
from flax import nnx

from facejax.nn.layers import Dtype, _pair

NORMS = ("max", "add")
_HI = jax.lax.Precision.HIGHEST


class SpectralVector(nnx.Variable):
    """A power-iteration vector (u or v) of a spectrally normalised layer: state, not a trained parameter."""


def _normalize(x: jax.Array, eps: float, norm: str) -> jax.Array:
    n = jnp.sqrt(jnp.sum(x * x))
    return x / (jnp.maximum(n, eps) if norm == "max" else n + eps)


def power_iteration(
    w_mat: jax.Array,
    u: jax.Array,
    v: jax.Array,
    n: int = 1,
    eps: float = 1e-12,
    norm: str = "max",
    grad_through_iteration: bool = False,
) -> tuple[jax.Array, jax.Array]:
    """(u, v) after n power iterations on the matrix w_mat (out, k), without gradient (``grad_through_iteration``:
    differentiable in w_mat, TensorFlow's way); n = 0 returns them as given. The starting vectors are constants."""
    w_mat = w_mat.astype(jnp.float32)
    if not grad_through_iteration:
        w_mat = jax.lax.stop_gradient(w_mat)
    u, v = jax.lax.stop_gradient(u.astype(jnp.float32)), jax.lax.stop_gradient(v.astype(jnp.float32))
    for _ in range(n):
        v = _normalize(jnp.matmul(w_mat.T, u, precision=_HI), eps, norm)
        u = _normalize(jnp.matmul(w_mat, v, precision=_HI), eps, norm)
    if grad_through_iteration:
        return u, v
    return jax.lax.stop_gradient(u), jax.lax.stop_gradient(v)


def sigma(w_mat: jax.Array, u: jax.Array, v: jax.Array) -> jax.Array:
    """u . (W v): the spectral-norm estimate, differentiable in W (and in u, v when they carry gradient)."""
    return jnp.dot(u, jnp.matmul(w_mat.astype(jnp.float32), v, precision=_HI), precision=_HI)


def _unit_normal(key, n: int) -> jax.Array:
    x = jax.random.normal(key, (n,), jnp.float32)
    return x / jnp.maximum(jnp.linalg.norm(x), 1e-12)


def uniform_fan_in(key, shape, dtype=jnp.float32, fan_in: int | None = None) -> jax.Array:
    """U(-1/sqrt(fan_in), 1/sqrt(fan_in)): PyTorch's default Conv2d/Linear init of weights (kaiming_uniform
    with a = sqrt(5)) and biases. For a kernel, fan_in is the product of all but the last (output) dimension."""
    if fan_in is None:
        fan_in = 1
        for d in shape[:-1]:
            fan_in *= int(d)
    bound = 1.0 / jnp.sqrt(float(fan_in))
    return jax.random.uniform(key, shape, dtype, -bound, bound)


class SpectralConv2d(nnx.Module):
    """``Conv2d`` (PyTorch semantics: symmetric zero ``padding``) with a spectrally normalised kernel.

    Holds ``kernel`` (HWIO, the unnormalised weight: PyTorch's ``weight_orig`` / ``weight_bar``), ``bias`` (if
    ``use_bias``) and the ``SpectralVector`` state ``u`` (out_features,) and ``v`` (in_features * kh * kw,).
    Default init is PyTorch's (uniform +-1/sqrt(fan_in) for kernel and bias), u and v unit normal draws.
    ``grad_through_iteration``: back-propagate through the power iteration (TensorFlow's usual code; see above).
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        kernel_size: int | Sequence[int],
        stride: int | Sequence[int] = 1,
        padding: int | Sequence[int] = 0,
        use_bias: bool = True,
        *,
        n_power_iterations: int = 1,
        eps: float = 1e-12,
        norm: str = "max",
        grad_through_iteration: bool = False,
        dtype: Dtype = jnp.float32,
        param_dtype: Dtype = jnp.float32,
        kernel_init: nnx.Initializer = uniform_fan_in,
        bias_init: nnx.Initializer | None = None,
        rngs: nnx.Rngs,
    ):
        if norm not in NORMS:
            raise ValueError(f"norm={norm!r}: expected one of {NORMS}")
        if n_power_iterations < 0:
            raise ValueError(f"n_power_iterations={n_power_iterations}: expected >= 0")
        self.in_features, self.out_features = in_features, out_features
        self.kernel_size = _pair(kernel_size)
        self.stride = _pair(stride)
        self.padding = _pair(padding)
        self.n_power_iterations = n_power_iterations
        self.eps = eps
        self.norm = norm
        self.grad_through_iteration = grad_through_iteration
        self.dtype = dtype
        kh, kw = self.kernel_size
        fan_in = in_features * kh * kw
        self.kernel = nnx.Param(kernel_init(rngs.params(), (kh, kw, in_features, out_features), param_dtype))
        if use_bias:
            init = bias_init or (lambda key, shape, dt: uniform_fan_in(key, shape, dt, fan_in=fan_in))
            self.bias = nnx.Param(init(rngs.params(), (out_features,), param_dtype))
        else:
            self.bias = None
        self.u = SpectralVector(_unit_normal(rngs.params(), out_features))
        self.v = SpectralVector(_unit_normal(rngs.params(), fan_in))

    def weight_matrix(self) -> jax.Array:
        """PyTorch's ``weight.view(out, -1)`` of the kernel: (out, in * kh * kw), float32."""
        k = self.kernel[...].astype(jnp.float32)
        return jnp.transpose(k, (3, 2, 0, 1)).reshape(self.out_features, -1)

    def normalized_kernel(self, update: bool = True) -> jax.Array:
        """kernel / sigma (HWIO, float32); with ``update`` the power iteration runs first and its vectors are
        stored in ``u``, ``v``."""
        w_mat = self.weight_matrix()
        u, v = self.u[...], self.v[...]
        if update and self.n_power_iterations > 0:
            u, v = power_iteration(
                w_mat, u, v, self.n_power_iterations, self.eps, self.norm, self.grad_through_iteration
            )
            self.u[...] = jax.lax.stop_gradient(u)
            self.v[...] = jax.lax.stop_gradient(v)
        return self.kernel[...].astype(jnp.float32) / sigma(w_mat, u, v)

    def __call__(self, x: jax.Array, update: bool = True) -> jax.Array:
        ph, pw = self.padding
        y = jax.lax.conv_general_dilated(
            x.astype(self.dtype),
            self.normalized_kernel(update).astype(self.dtype),
            window_strides=self.stride,
            padding=((ph, ph), (pw, pw)),
            dimension_numbers=("NHWC", "HWIO", "NHWC"),
        )
        if self.bias is not None:
            y = y + self.bias[...].astype(self.dtype)
        return y


def trainable_mask(tree, is_leaf=None):
    """A bool pytree over a pure state dict: False for the leaves that are spectral-norm vectors (``u``, ``v``
    of a layer that also has a ``kernel``), True for everything else. Use it with ``optax.masked`` /
    ``optax.multi_transform`` so that optimizers leave the power-iteration state alone."""

    def rec(node):
        if isinstance(node, dict):
            sn = "kernel" in node and "u" in node and "v" in node
            return {k: (False if sn and k in ("u", "v") else rec(v)) for k, v in node.items()}
        return True

    return rec(tree)


def spectral_state(tree):
    """The ``u``/``v`` leaves of a pure state dict (same nesting), everything else dropped."""
    out = {}
    for k, v in tree.items():
        if isinstance(v, dict):
            if "kernel" in v and "u" in v and "v" in v:
                sub = {"u": v["u"], "v": v["v"]}
                rest = spectral_state({kk: vv for kk, vv in v.items() if kk not in ("u", "v", "kernel", "bias")})
                out[k] = {**sub, **rest}
            else:
                sub = spectral_state(v)
                if sub:
                    out[k] = sub
    return out


def with_spectral_state(tree, state):
    """``tree`` with its ``u``/``v`` leaves replaced by those of ``state`` (as returned by spectral_state)."""
    out = dict(tree)
    for k, v in state.items():
        if isinstance(v, dict):
            out[k] = with_spectral_state(tree[k], v)
        else:
            out[k] = v
    return out
