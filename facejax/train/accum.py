"""Gradient accumulation inside one jitted train step (config.grad_accum = k).

A step reads k * config.batch_size examples (the input stream counts examples, so resuming stays exact) and every
phase of the family's iteration (a D update, then a G update, ...) computes its gradient as the mean over k
micro-batches of config.batch_size examples, one after the other under `lax.scan` (the activations of one
micro-batch are alive at a time), then applies one optimizer update. `batch_size=B, grad_accum=k` is therefore the
iteration of `batch_size=k*B, grad_accum=1`: the same number of steps, learning-rate and EMA schedules, and each
phase sees the previous phase's update (accumulating across steps, as optax.MultiSteps does, would compute G's
gradients against a D that has not been updated yet).

    micro = accum.split(batch, k)                 # leaves (k*B, ...) -> (k, B, ...), each device's rows kept local
    (loss, aux), grads = accum.value_and_grad(loss_fn, params, micro, k, has_aux=True)

Micro-batch j holds rows j, k + j, 2k + j, ... of the step's batch: the batch is split over devices along its first
axis, and (k*B, ...) -> (B, k, ...) keeps every device's rows on that device (B must be divisible by the number of
devices, `local_step_batch` checks it). Whatever is drawn per example (latent codes, masks, noise) is drawn for
the whole k*B batch before the split and split with it, so the big batch's draws are the ones used.

The loss must be a mean over the examples of its micro-batch (then the mean over micro-batches is the big batch's
mean); aux (metrics, new spectral-norm vectors, BatchNorm running statistics) is averaged over micro-batches too
(integer leaves: the integer mean). What cannot equal the big batch is said where a family uses it: BatchNorm with
batch statistics normalises each micro-batch by its own statistics (README "Gradient accumulation").

With k = 1 nothing is reshaped or scanned: the step is the one it was without accumulation, bit for bit.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from facejax.errors import FacejaxError


def steps(config) -> int:
    """config.grad_accum (1 when the config has no such field)."""
    return int(config.get("grad_accum", 1))


def step_batch(config) -> int:
    """The examples one train step reads: config.batch_size * config.grad_accum."""
    return int(config.batch_size) * steps(config)


def local_step_batch(config, mesh) -> int:
    """The examples this process feeds per step; a micro-batch (config.batch_size) must split evenly over every
    device, so that each device keeps its own rows in every micro-batch (one clear error otherwise)."""
    from facejax.train import mesh as mesh_lib

    k = steps(config)
    n_dev = mesh.devices.size
    if k > 1 and config.batch_size % n_dev:
        raise FacejaxError(
            f"config.batch_size={config.batch_size} (the micro-batch with config.grad_accum={k}) must be divisible "
            f"by the number of devices ({n_dev})"
        )
    return mesh_lib.local_batch_size(step_batch(config), mesh)


def split(tree, k: int, group: int = 1):
    """Every leaf (k*B, ...) -> (k, B, ...); micro-batch j (leaf[j]) holds rows j, k + j, 2k + j, ... or, with
    `group` > 1, the groups of `group` consecutive rows j, k + j, ... (rows that belong together, e.g. GFC's mirror
    pairs or a minibatch-stddev group, stay in one micro-batch)."""
    if k == 1:
        return jax.tree.map(lambda x: x[None], tree)

    def one(x):
        n = x.shape[0]
        if n % (k * group):
            raise ValueError(f"a batch of {n} does not split into {k} micro-batches of groups of {group}")
        x = x.reshape((n // (k * group), k, group) + x.shape[1:])
        return jnp.swapaxes(x, 0, 1).reshape((k, n // k) + x.shape[3:])

    return jax.tree.map(one, tree)


def merge(tree, k: int, group: int = 1):
    """The inverse of `split`: (k, B, ...) -> (k*B, ...) in the step's row order."""

    def one(x):
        b = x.shape[1]
        x = x.reshape((k, b // group, group) + x.shape[2:])
        return jnp.swapaxes(x, 0, 1).reshape((k * b,) + x.shape[3:])

    return jax.tree.map(one, tree)


def _is_float0(x) -> bool:
    return getattr(x, "dtype", None) == jax.dtypes.float0


def _zero(x):
    if _is_float0(x):
        return np.zeros(x.shape, jax.dtypes.float0)
    return jnp.zeros(x.shape, x.dtype)


def _add(a, b):
    return a if _is_float0(a) else a + b


def _mean(x, k: int):
    if _is_float0(x):
        return x
    if jnp.issubdtype(x.dtype, jnp.integer) or x.dtype == jnp.bool_:
        return (x // k).astype(x.dtype) if x.dtype != jnp.bool_ else x
    return x / k


def mean_over(fn, micro, k: int):
    """The mean over the k micro-batches of `micro` (`split`'s output) of fn(micro-batch), a pytree of arrays,
    computed one micro-batch at a time (lax.scan). k = 1: fn(the only micro-batch), unchanged."""
    if k == 1:
        return fn(jax.tree.map(lambda x: x[0], micro))
    first = jax.tree.map(lambda x: x[0], micro)
    shapes = jax.eval_shape(fn, first)
    acc0 = jax.tree.map(_zero, shapes)

    def body(acc, x):
        out = fn(x)
        return jax.tree.map(_add, acc, out), None

    total, _ = jax.lax.scan(body, acc0, micro)
    return jax.tree.map(lambda x: _mean(x, k), total)


def value_and_grad(fn, params, micro, k: int, *, has_aux: bool = False, allow_int: bool = False):
    """jax.value_and_grad(fn)(params, micro-batch) averaged over the k micro-batches of `micro` (`split`'s output):
    ((loss, aux) or loss, grads), as jax.value_and_grad(fn)(params, whole batch) when fn's loss and aux are means over
    their batch. k = 1 is exactly jax.value_and_grad(fn)(params, batch)."""
    vg = jax.value_and_grad(fn, has_aux=has_aux, allow_int=allow_int)
    return mean_over(lambda x: vg(params, x), micro, k)


def grad(fn, params, micro, k: int, *, has_aux: bool = False, allow_int: bool = False):
    """As `value_and_grad`, without the loss: grads, or (grads, aux) with has_aux (jax.grad's outputs)."""
    out, grads = value_and_grad(fn, params, micro, k, has_aux=has_aux, allow_int=allow_int)
    return (grads, out[1]) if has_aux else grads


def map_micro(fn, micro, k: int):
    """fn of every micro-batch, stacked like `split`'s output ((k, B, ...) leaves), one micro-batch at a time
    (lax.map): per-example values computed without gradient (e.g. masks) once for the whole step."""
    if k == 1:
        return jax.tree.map(lambda x: x[None], fn(jax.tree.map(lambda x: x[0], micro)))
    return jax.lax.map(fn, micro)
