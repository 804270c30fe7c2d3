"""Random draws inside networks (dropout) that stay the same when a batch is split into micro-batches.

A key is either one key for the whole batch or one key per example (`example_keys`): with one per example each
example draws its own mask, so gradient accumulation (facejax/train/accum.py), which splits the per-example keys
with the batch, draws exactly the masks of the whole batch.
"""

import jax
import jax.numpy as jnp


def example_keys(key, n: int):
    """(n,) keys, fold_in(key, i) for example i of a batch of n."""
    return jax.vmap(lambda i: jax.random.fold_in(key, i))(jnp.arange(n))


def split(key, num: int) -> list:
    """`num` keys, each shaped like `key` (one key, or one per example)."""
    if key.ndim == 0:
        return list(jax.random.split(key, num))
    keys = jax.vmap(lambda k: jax.random.split(k, num))(key)
    return [keys[:, i] for i in range(num)]


def bernoulli(key, p: float, shape) -> jax.Array:
    """A keep mask of `shape` with probability p; with one key per example, example i's rows from key[i]."""
    if key.ndim == 0:
        return jax.random.bernoulli(key, p, shape)
    return jax.vmap(lambda k: jax.random.bernoulli(k, p, tuple(shape[1:])))(key)
