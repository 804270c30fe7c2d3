"""Train states with every leaf random (no jit, no initializer compile) for interop tests."""

import jax
import jax.numpy as jnp
import numpy as np

from facejax.train.state import root_key_data


def _fill(path, leaf, rng):
    name = str(getattr(path[-1], "key", getattr(path[-1], "name", "")))
    if jnp.issubdtype(leaf.dtype, jnp.integer) or leaf.dtype == jnp.uint32:
        return np.asarray(rng.integers(1, 50, leaf.shape), leaf.dtype)
    if name == "kernel":  # He-scaled, so that deep nets keep activations of order 1
        fan_in = int(np.prod(leaf.shape[:-1]))
        return (rng.standard_normal(leaf.shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)
    if name in ("var", "nu"):  # BatchNorm running variance, Adam second moment: positive
        return rng.uniform(0.5, 1.5, leaf.shape).astype(np.float32)
    offset = 1.0 if name == "scale" else 0.0
    return (offset + 0.1 * rng.standard_normal(leaf.shape)).astype(np.float32)


def random_state(family, seed=0):
    """A TrainState of `family` with random params, EMA, frozen nets, Adam moments and counts."""
    rng = np.random.default_rng(seed)
    abstract = jax.eval_shape(family.init, root_key_data(0))
    return jax.tree_util.tree_map_with_path(lambda p, x: _fill(p, x, rng), abstract)
