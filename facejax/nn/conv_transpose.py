"""Transposed 2-D convolution with PyTorch's ``nn.ConvTranspose2d`` semantics (groups = 1, dilation = 1).

Output size ``(H - 1) * stride - 2 * padding + kernel + output_padding``, as PyTorch. The kernel is stored as
``(kh, kw, out, in)``, so that the exporter's ``conv`` transform (transpose (3, 2, 0, 1)) gives PyTorch's
ConvTranspose2d weight layout ``[in, out, kh, kw]`` with the same spatial orientation.

The forward pass is computed per output phase (polyphase): output row ``stride * m + a`` only receives the
kernel rows ``h = (a + padding) mod stride + stride * t``, so each of the stride^2 phases is an ordinary
convolution of the input with a (kh / stride) x (kw / stride) sub-kernel, and the phases are interleaved. This
is the same function as convolving the stride-dilated input with the flipped kernel (``conv_transpose_dilated``,
kept as the reference), without multiplying the inserted zeros: stride^2 times fewer multiply-adds. That
was chosen by timing XLA:CPU; ``config.kernels`` picks per backend (facejax/nn/kernels.py): "native" runs
``conv_transpose_dilated``, the one input-dilated convolution GPU and TPU compilers handle directly.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
from flax import nnx

from facejax.nn import kernels
from facejax.nn.layers import Dtype, _pair, zeros_init

# torch.nn.init.xavier_normal_(gain=1): untruncated normal, std sqrt(2 / (fan_in + fan_out)).
xavier_normal_torch = jax.nn.initializers.variance_scaling(1.0, "fan_avg", "normal")


def _phase(k: int, s: int, p: int, a: int):
    """For output positions s*m + a: (offset, kernel indices) such that y[s*m + a] = sum_u x[m + offset + u] *
    w[idx[u]] (u = 0..len(idx)-1); kernel index h contributes when s*i + h - p = s*m + a."""
    r, c = (a + p) % s, (a + p) // s
    taps = [s * t + r for t in range(max(0, -(-(k - r) // s)))]  # w index of input m + c - t
    return c - len(taps) + 1, taps[::-1]


def conv_transpose_dilated(x, kernel, stride, padding, output_padding=(0, 0)):
    """Reference: the stride-dilated input convolved with the spatially flipped kernel (kernel (kh, kw, out, in))."""
    w = jnp.transpose(kernel[::-1, ::-1], (0, 1, 3, 2))
    ks = kernel.shape[:2]
    pads = tuple((k - 1 - p, k - 1 - p + op) for k, p, op in zip(ks, padding, output_padding))
    return jax.lax.conv_general_dilated(
        x, w, window_strides=(1, 1), padding=pads, lhs_dilation=stride, dimension_numbers=("NHWC", "HWIO", "NHWC")
    )


def conv_transpose_polyphase(x, kernel, stride, padding, output_padding=(0, 0)):
    """The same function as conv_transpose_dilated, one ordinary convolution per output phase."""
    b, h, w, _ = x.shape
    kh, kw = kernel.shape[:2]
    (sh, sw), (ph, pw), (oph, opw) = stride, padding, output_padding
    out_h, out_w = (h - 1) * sh - 2 * ph + kh + oph, (w - 1) * sw - 2 * pw + kw + opw
    rows = [(a, -(-(out_h - a) // sh)) + _phase(kh, sh, ph, a) for a in range(sh)]  # (a, count, offset, taps)
    cols = [(q, -(-(out_w - q) // sw)) + _phase(kw, sw, pw, q) for q in range(sw)]
    # One zero padding of the input that every phase's window fits in.
    lo_h = max([0] + [-off for _, n, off, t in rows if n > 0 and t])
    hi_h = max([0] + [off + n + len(t) - 1 - h for _, n, off, t in rows if n > 0 and t])
    lo_w = max([0] + [-off for _, n, off, t in cols if n > 0 and t])
    hi_w = max([0] + [off + n + len(t) - 1 - w for _, n, off, t in cols if n > 0 and t])
    xp = jnp.pad(x, ((0, 0), (lo_h, hi_h), (lo_w, hi_w), (0, 0)))
    out = jnp.zeros((b, out_h, out_w, kernel.shape[2]), x.dtype)
    for a, n_a, off_a, taps_a in rows:
        for q, n_q, off_q, taps_q in cols:
            if n_a <= 0 or n_q <= 0 or not taps_a or not taps_q:
                continue
            sub = kernel[jnp.asarray(taps_a)][:, jnp.asarray(taps_q)]  # (Ta, Tq, out, in)
            sub = jnp.transpose(sub, (0, 1, 3, 2))
            r0, c0 = lo_h + off_a, lo_w + off_q
            win = xp[:, r0 : r0 + n_a + len(taps_a) - 1, c0 : c0 + n_q + len(taps_q) - 1]
            y = jax.lax.conv_general_dilated(win, sub, (1, 1), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC"))
            out = out.at[:, a::sh, q::sw].set(y)
    return out


def conv_transpose(x, kernel, stride, padding, output_padding=(0, 0)):
    """PyTorch's conv_transpose2d (kernel (kh, kw, out, in)), polyphase or dilated per ``config.kernels``."""
    fn = conv_transpose_polyphase if kernels.cpu_tuned() else conv_transpose_dilated
    return fn(x, kernel, stride, padding, output_padding)


class ConvTranspose2d(nnx.Module):
    """``nn.ConvTranspose2d(in, out, kernel_size, stride, padding, output_padding, bias)``; NHWC activations.

    Holds ``kernel`` (kh, kw, out_features, in_features) and, if ``use_bias``, ``bias`` (out_features,).
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        kernel_size: int | Sequence[int],
        stride: int | Sequence[int] = 1,
        padding: int | Sequence[int] = 0,
        output_padding: int | Sequence[int] = 0,
        use_bias: bool = True,
        *,
        dtype: Dtype = jnp.float32,
        param_dtype: Dtype = jnp.float32,
        kernel_init: nnx.Initializer = xavier_normal_torch,
        bias_init: nnx.Initializer = zeros_init,
        rngs: nnx.Rngs,
    ):
        self.in_features, self.out_features = in_features, out_features
        self.kernel_size = _pair(kernel_size)
        self.stride = _pair(stride)
        self.padding = _pair(padding)
        self.output_padding = _pair(output_padding)
        for op, s in zip(self.output_padding, self.stride):
            if op >= s:
                raise ValueError(f"output_padding {self.output_padding} must be smaller than stride {self.stride}")
        for p, k in zip(self.padding, self.kernel_size):
            if p > k - 1:
                raise ValueError(f"padding {self.padding} larger than kernel_size - 1 ({self.kernel_size})")
        self.dtype = dtype
        kh, kw = self.kernel_size
        self.kernel = nnx.Param(kernel_init(rngs.params(), (kh, kw, out_features, in_features), param_dtype))
        self.bias = nnx.Param(bias_init(rngs.params(), (out_features,), param_dtype)) if use_bias else None

    def __call__(self, x: jax.Array) -> jax.Array:
        y = conv_transpose(
            x.astype(self.dtype), self.kernel[...].astype(self.dtype), self.stride, self.padding, self.output_padding
        )
        if self.bias is not None:
            y = y + self.bias[...].astype(self.dtype)
        return y
