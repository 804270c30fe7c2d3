"""Adam state: optax ``scale_by_adam`` <-> ``torch.optim.Adam.state_dict()``.

PyTorch's Adam keeps, per parameter that ever received a gradient, ``{"step", "exp_avg", "exp_avg_sq"}``, keyed
by the parameter's index in ``net.parameters()`` order (the state_dict order of the parameters, buffers and
BatchNorm statistics excluded), and one ``param_groups`` entry with the hyper-parameters and the list of
indices. optax's ``ScaleByAdamState`` keeps ``count``, ``mu`` (= exp_avg) and ``nu`` (= exp_avg_sq) as pytrees
like the parameters; both apply the same bias correction with step = count. Parameters masked out of the
optimizer (``optax.multi_transform`` / ``optax.masked``: ``MaskedNode`` leaves) are those PyTorch never steps
(their ``grad`` is None): they get no ``state`` entry, as in the original's files.

The torch-free dicts here hold numpy arrays; ``files.save_torch`` turns them into tensors. The writer fills the
hyper-parameter keys the installed PyTorch version adds (``foreach``, ``maximize`` ...) from a real
``torch.optim.Adam``'s signature (``torch_param_group_defaults``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax

from facejax.export import convert
from facejax.export.convert import CheckpointMismatch, NetLayout


def _is_adam(x) -> bool:
    return isinstance(x, optax.ScaleByAdamState)


def find_adam(opt_state) -> optax.ScaleByAdamState:
    found = [x for x in jax.tree_util.tree_leaves(opt_state, is_leaf=_is_adam) if _is_adam(x)]
    if len(found) != 1:
        raise ValueError(f"expected exactly one ScaleByAdamState in the optimizer state, found {len(found)}")
    return found[0]


def _masked(x) -> bool:
    return isinstance(x, optax.MaskedNode)


def adam_to_torch(opt_state, net: NetLayout, hyper: dict) -> dict:
    """{'state': {i: {'step', 'exp_avg', 'exp_avg_sq'}}, 'param_groups': [hyper + params]} of one network."""
    adam = find_adam(opt_state)
    mu, nu = convert.flatten(jax.device_get(adam.mu)), convert.flatten(jax.device_get(adam.nu))
    step = np.asarray(float(jax.device_get(adam.count)), np.float32)
    params = net.parameters()
    state = {}
    for i, t in enumerate(params):
        if t.path not in mu:
            raise ValueError(f"{net.name}: no Adam moment for {t.key}")
        if _masked(mu[t.path]):
            continue  # never stepped (the original's Adam skips parameters without gradient)
        state[i] = {
            "step": step.copy(),
            "exp_avg": convert.transform_to_torch(np.asarray(mu[t.path], np.float32), t.transform),
            "exp_avg_sq": convert.transform_to_torch(np.asarray(nu[t.path], np.float32), t.transform),
        }
    extra = set(mu) - {t.path for t in params}
    if extra:
        raise ValueError(f"{net.name}: Adam moments of unknown parameters {sorted(extra)[:3]}")
    group = dict(hyper)
    group["params"] = list(range(len(params)))
    return {"state": state, "param_groups": [group]}


def adam_from_torch(torch_state: dict, template, net: NetLayout, *, source: str):
    """The optax state ``template`` (``optimizer.init(params)``) with its Adam count and moments from a
    ``torch.optim.Adam.state_dict()``; parameters without a ``state`` entry keep zero moments."""
    where = f"{source} [{net.name}]"
    if not isinstance(torch_state, dict) or "state" not in torch_state or "param_groups" not in torch_state:
        raise CheckpointMismatch(f"{where}: not a torch.optim.Adam state_dict (expected 'state' and 'param_groups')")
    params = net.parameters()
    ids = [i for g in torch_state["param_groups"] for i in g.get("params", [])]
    if len(ids) != len(params):
        raise CheckpointMismatch(
            f"{where}: the optimizer state covers {len(ids)} parameters, the network this "
            f"config builds has {len(params)}"
        )
    position = {pid: n for n, pid in enumerate(ids)}
    entries = {}
    steps = []
    for pid, entry in torch_state["state"].items():
        if int(pid) not in position:
            raise CheckpointMismatch(f"{where}: optimizer state for unknown parameter id {pid}")
        t = params[position[int(pid)]]
        moments = []
        for name in ("exp_avg", "exp_avg_sq"):
            a = np.asarray(entry[name])
            if tuple(a.shape) != t.torch_shape:
                raise CheckpointMismatch(
                    f"{where}: {name} of '{t.key}' has shape {list(a.shape)}, this config expects {list(t.torch_shape)}"
                )
            if a.dtype != np.float32:
                raise CheckpointMismatch(f"{where}: {name} of '{t.key}' has dtype {a.dtype}, expected float32")
            moments.append(convert.transform_to_flax(a, t.transform))
        entries[t.path] = moments
        steps.append(int(round(float(np.asarray(entry["step"])))))
    count = max(steps) if steps else 0

    def fill(which):
        def leaf(path, x):
            if _masked(x):
                return x
            key = tuple(getattr(k, "key", getattr(k, "idx", k)) for k in path)
            if key in entries:
                return jnp.asarray(entries[key][which])
            return jnp.zeros_like(x)

        return leaf

    def replace(x):
        if not _is_adam(x):
            return x
        mu = jax.tree_util.tree_map_with_path(fill(0), x.mu, is_leaf=_masked)
        nu = jax.tree_util.tree_map_with_path(fill(1), x.nu, is_leaf=_masked)
        return optax.ScaleByAdamState(count=jnp.asarray(count, x.count.dtype), mu=mu, nu=nu)

    find_adam(template)
    return jax.tree_util.tree_map(replace, template, is_leaf=_is_adam)


def torch_param_group_defaults(hyper: dict) -> dict:
    """The param_groups entry the installed PyTorch's Adam writes for these hyper-parameters: every keyword of
    ``torch.optim.Adam`` (``foreach``, ``maximize``, ``capturable`` ... as that version has them) at its default,
    then ``hyper``. Read from the signature, without building an optimizer (which would import torch._dynamo)."""
    import inspect

    import torch

    group = {}
    for name, p in inspect.signature(torch.optim.Adam.__init__).parameters.items():
        if name in ("self", "params") or p.default is inspect.Parameter.empty:
            continue
        group[name] = p.default
    group.update({k: (tuple(v) if k == "betas" else v) for k, v in hyper.items()})
    return group
