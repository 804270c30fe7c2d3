"""Test-only flax -> PyTorch state-dict conversion for StarGAN v2 (the generic exporter will replace it).

Mechanical: the nnx path joined by '.' is the PyTorch key (attribute names and list indices mirror the
original modules); conv kernels HWIO -> OIHW, dense kernels (in, out) -> (out, in), norm ``scale`` -> ``weight``;
plus the generator's ``hpf.filter`` buffer when ``w_hpf > 0``.
"""

from __future__ import annotations

import numpy as np
from flax import nnx

from facejax.nn.blocks import highpass_kernel

_CONV_PERM = (3, 2, 0, 1)  # HWIO -> OIHW


def _torch_name_and_perm(name: str, ndim: int) -> tuple[str, tuple[int, ...] | None]:
    if name == "kernel":
        if ndim == 4:
            return "weight", _CONV_PERM
        if ndim == 2:
            return "weight", (1, 0)
        raise ValueError(f"unexpected kernel rank {ndim}")
    if name == "scale":
        return "weight", None
    if name == "bias":
        return "bias", None
    raise ValueError(f"no PyTorch name for parameter {name!r}")


def _flat_params(module_or_state, w_hpf):
    if isinstance(module_or_state, nnx.Module):
        if w_hpf is None:
            w_hpf = getattr(module_or_state, "w_hpf", 0.0)
        module_or_state = nnx.state(module_or_state, nnx.Param)
    for path, var in nnx.to_flat_state(module_or_state):
        value = var.get_value() if isinstance(var, nnx.Variable) else var
        name, perm = _torch_name_and_perm(str(path[-1]), len(value.shape))
        yield ".".join([str(p) for p in path[:-1]] + [name]), value, perm
    if w_hpf:
        yield "hpf.filter", highpass_kernel(w_hpf), None


def flax_to_torch_state_dict(module_or_state, *, w_hpf: float | None = None) -> dict[str, np.ndarray]:
    """PyTorch state dict (numpy float32 arrays) of an nnx module or of its ``nnx.Param`` state.

    ``w_hpf`` (read from the module when a module is given) adds the ``hpf.filter`` buffer when > 0.
    """
    out = {}
    for key, value, perm in _flat_params(module_or_state, w_hpf):
        arr = np.asarray(value, dtype=np.float32)
        out[key] = np.ascontiguousarray(arr.transpose(perm) if perm else arr)
    return out


def torch_key_shapes(module_or_state, *, w_hpf: float | None = None) -> dict[str, tuple[int, ...]]:
    """Keys and shapes of ``flax_to_torch_state_dict`` without touching values (works on ``nnx.eval_shape``)."""
    out = {}
    for key, value, perm in _flat_params(module_or_state, w_hpf):
        shape = tuple(int(d) for d in value.shape)
        out[key] = tuple(shape[i] for i in perm) if perm else shape
    return out
