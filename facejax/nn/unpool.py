"""2x2 max pooling that also returns where each maximum came from, and the max-unpooling that puts values back.

SegNet-style decoders (GFC's generator and its face-parsing network; AesGAN's parsing network) keep the argmax
of every encoder pool and scatter the decoder's values back to those positions, zeros elsewhere (Caffe-SegNet's
``Pooling`` with a ``mask`` top and its ``Upsample`` layer; PyTorch's ``MaxPool2d(2, 2, return_indices=True)`` and
``MaxUnpool2d(2, 2)``).

Indices follow PyTorch and Caffe: for each image and channel, the flat position ``row * W + col`` in the pooled
input of height H and width W (int32 here, int64 in PyTorch). Within a window the first maximum in row-major
order wins, as both originals scan it. NHWC; sides must be even (Caffe's ceil-mode pooling and PyTorch's floor
mode agree there).

Both ops are written on the 2x2 windows themselves (a reshape, an argmax, a one-hot product), not as a gather
and a scatter: the same function, differentiable in the values (indices carry no gradient), and cheap on every
backend. ``max_unpool2`` therefore assumes each index lies in its own window, which is what ``max_pool2_argmax``
produces (any non-overlapping 2x2 pool does).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def _windows(x: jax.Array) -> jax.Array:
    """(B, H, W, C) -> (B, H/2, W/2, C, 4): each 2x2 window's values in row-major order."""
    b, h, w, c = x.shape
    x = x.reshape(b, h // 2, 2, w // 2, 2, c)
    return x.transpose(0, 1, 3, 5, 2, 4).reshape(b, h // 2, w // 2, c, 4)


def _check_even(shape, what: str) -> None:
    if len(shape) != 4 or shape[1] % 2 or shape[2] % 2:
        raise ValueError(f"{what}: expected NHWC input with even height and width, got shape {tuple(shape)}")


def max_pool2_argmax(x: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(pooled (B, H/2, W/2, C), indices (B, H/2, W/2, C) int32 into the input's H*W) of a 2x2, stride-2 max pool."""
    _check_even(x.shape, "max_pool2_argmax")
    w = x.shape[2]
    win = _windows(x)
    local = jnp.argmax(win, axis=-1)  # first maximum, row-major
    pooled = jnp.take_along_axis(win, local[..., None], axis=-1)[..., 0]
    local = jax.lax.stop_gradient(local).astype(jnp.int32)
    rows = 2 * jnp.arange(x.shape[1] // 2, dtype=jnp.int32)[:, None, None] + local // 2
    cols = 2 * jnp.arange(w // 2, dtype=jnp.int32)[None, :, None] + local % 2
    return pooled, rows * w + cols


def max_unpool2(x: jax.Array, indices: jax.Array, out_hw: tuple[int, int] | None = None) -> jax.Array:
    """(B, h, w, C) values back to their argmax positions in (B, 2h, 2w, C), zeros elsewhere (MaxUnpool2d(2, 2)).

    ``indices``: as max_pool2_argmax returns them (flat into the output's H*W, each inside its own 2x2 window).
    ``out_hw``: the pooled input's (H, W); (2h, 2w) by default, the only size 2x2 pooling of even sides gives.
    """
    b, h, w, c = x.shape
    if indices.shape != x.shape:
        raise ValueError(f"max_unpool2: indices {tuple(indices.shape)} and values {tuple(x.shape)} differ in shape")
    big_h, big_w = out_hw or (2 * h, 2 * w)
    if (big_h, big_w) != (2 * h, 2 * w):
        raise ValueError(f"max_unpool2: a 2x2 pool of {(big_h, big_w)} gives {(big_h // 2, big_w // 2)}, got {(h, w)}")
    idx = jax.lax.stop_gradient(indices).astype(jnp.int32)
    local = (idx // big_w % 2) * 2 + idx % big_w % 2
    win = x[..., None] * jax.nn.one_hot(local, 4, dtype=x.dtype)  # (B, h, w, C, 4)
    win = win.reshape(b, h, w, c, 2, 2).transpose(0, 1, 4, 2, 5, 3)
    return win.reshape(b, big_h, big_w, c)
