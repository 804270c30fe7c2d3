"""The train state: one pytree holding everything a run needs to continue exactly.

Networks are Flax NNX modules split into a static graph definition (kept by the family) and their
parameters as plain nested dicts of arrays (kept here), so steps are pure functions that jit, shard
and checkpoint like any pytree.
"""

from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx, struct


@struct.dataclass
class TrainState:
    step: jax.Array  # int32 scalar: completed iterations
    rng: jax.Array  # uint32 key data of the run's root key; per-step keys are fold_in(root, step)
    params: dict[str, Any]  # net name -> pure dict of parameters
    opt_state: dict[str, Any]  # net name -> optax state
    ema: dict[str, Any]  # net name -> pure dict of EMA parameters (empty when the family keeps no EMA)
    # net name -> pure dict of a network no optimizer touches (pretrained FAN, VGG, identity, parsing and
    # aesthetic nets): saved with the run, never updated, never exported as a trained network.
    frozen: dict[str, Any] = struct.field(default_factory=dict)

    def sampling_params(self) -> dict[str, Any]:
        """The weights a model is sampled from: frozen nets, then params, each replaced by its EMA where kept."""
        return {**self.frozen, **self.params, **self.ema}


def split_params(module: nnx.Module):
    """(graphdef, pure dict of nnx.Param values) of a module; only Params are expected."""
    graphdef, params, rest = nnx.split(module, nnx.Param, ...)
    if jax.tree.leaves(rest):
        raise ValueError(f"{type(module).__name__} has non-parameter state; the train state keeps Params only")
    return graphdef, nnx.to_pure_dict(params)


def split_state(module: nnx.Module):
    """(graphdef, pure dict of the module's whole state: Params and BatchNorm statistics alike)."""
    graphdef, state = nnx.split(module)
    return graphdef, nnx.to_pure_dict(state)


def bind(graphdef, params) -> nnx.Module:
    """A module from its graph definition and a pure dict of parameters (usable inside jit)."""
    return nnx.merge(graphdef, nnx.State(params))


def step_key(state: TrainState) -> jax.Array:
    return jax.random.fold_in(jax.random.wrap_key_data(state.rng), state.step)


def root_key_data(seed: int) -> jax.Array:
    return jax.random.key_data(jax.random.key(seed))


def ema_update(ema, params, decay: float):
    """ema <- decay * ema + (1 - decay) * params, as torch.lerp(param, ema, decay)."""
    return jax.tree.map(lambda e, p: p + decay * (e - p), ema, params)


def count_params(tree) -> int:
    return int(sum(jnp.size(x) for x in jax.tree.leaves(tree)))
