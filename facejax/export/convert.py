"""Generic flax <-> PyTorch state-dict conversion, shared by every family.

A family describes the PyTorch layout of its networks with a ``LayoutSpec`` (in
``facejax/families/<name>/torch_layout.py``): for each module class, the names of its children in the order
the original PyTorch module registers them, and the buffers the original keeps that facejax rebuilds from the
config (StarGAN v2's ``hpf.filter``). ``layout(module, spec)`` walks an nnx module (concrete, or abstract from
``nnx.eval_shape``) and returns its ``NetLayout``: one ``TensorSpec`` per tensor of the original's
``state_dict``, in ``state_dict`` order, each tied to the flax parameter path it comes from (``None`` for a
buffer), the transform between the two layouts, and both shapes and dtypes.

Name and tensor conventions (every facejax layer follows them, see facejax/nn/layers.py):

  flax leaf                 PyTorch name           transform
  ``kernel`` (4-D, HWIO)    ``weight`` (OIHW)      ``conv``:  transpose (3, 2, 0, 1)
  ``kernel`` (2-D, in-out)  ``weight`` (out-in)    ``dense``: transpose
  ``scale``                 ``weight``             none (norm affine weight)
  ``bias``                  ``bias``               none
  ``mean`` / ``var``        ``running_mean`` / ``running_var``   none (BatchNorm buffers)
  ``num_batches_tracked``   ``num_batches_tracked``              int32 <-> int64

Attribute names and ``nnx.List`` indices are the PyTorch module names and ``Sequential`` indices, joined by '.'.

``to_torch(params, layout)`` and ``from_torch(state_dict, layout, ...)`` convert a pure dict of parameters
(``nnx.to_pure_dict``) to an ordered dict of numpy arrays and back, checking that every tensor is mapped exactly
once, with the expected shape and dtype. User-facing mismatches (a file that does not fit the config) raise
``CheckpointMismatch`` (a FacejaxError) naming the first tensor that differs; layout bugs raise ValueError.
"""

from __future__ import annotations

import collections
import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from flax import nnx

from facejax.errors import FacejaxError

# ------------------------------------------------------------------------------------------------ transforms

CONV_TO_TORCH = (3, 2, 0, 1)  # HWIO -> OIHW
CONV_TO_FLAX = (2, 3, 1, 0)  # OIHW -> HWIO


def _perm(transform: str, to_torch: bool, ndim: int):
    if transform == "conv":
        return CONV_TO_TORCH if to_torch else CONV_TO_FLAX
    if transform == "dense":
        return (1, 0)
    if transform == "none":
        return None
    raise ValueError(f"unknown transform {transform!r}")


def transform_to_torch(a: np.ndarray, transform: str) -> np.ndarray:
    perm = _perm(transform, True, a.ndim)
    return np.array(a.transpose(perm) if perm else a, order="C")  # a copy; keeps 0-d arrays 0-d


def transform_to_flax(a: np.ndarray, transform: str) -> np.ndarray:
    perm = _perm(transform, False, a.ndim)
    return np.array(a.transpose(perm) if perm else a, order="C")


def shape_to_torch(shape: Sequence[int], transform: str) -> tuple[int, ...]:
    perm = _perm(transform, True, len(shape))
    return tuple(int(shape[i]) for i in perm) if perm else tuple(int(d) for d in shape)


# ------------------------------------------------------------------------------------------------ layout spec


@dataclasses.dataclass(frozen=True)
class Buffer:
    """A constant tensor of the original's state_dict that facejax does not store but rebuilds from the module.

    ``value(module)`` gives it (float32 numpy). ``optional``: files may lack it (e.g. StarGAN v2's CelebA-HQ
    release predates ``hpf.filter``); import then uses the rebuilt value. ``field``: the config field its value
    follows, named when a file's value differs.
    """

    value: Callable[[Any], np.ndarray]
    optional: bool = False
    field: str = ""


@dataclasses.dataclass(frozen=True)
class LayoutSpec:
    """How a family's nnx modules map to its original PyTorch modules.

    ``order``: module class name -> its child and leaf attribute names in the original's registration order
    (or a callable module -> names, for classes whose children depend on their arguments). Every attribute of
    a listed class that holds parameters must appear; ``nnx.List`` children go in index order; classes without
    parameters need no entry. ``buffers``: class name -> {buffer name: Buffer}; a buffer's name must appear in
    the class's ``order`` at its registration position. ``leaf_names``: flax leaf -> PyTorch name.
    ``optional_leaves``: PyTorch leaf names that a file may lack (they are then zero, e.g. an old PyTorch's
    BatchNorm without ``num_batches_tracked``).
    """

    order: Mapping[str, Sequence[str] | Callable[[Any], Sequence[str]]]
    buffers: Mapping[str, Mapping[str, Buffer]] = dataclasses.field(default_factory=dict)
    leaf_names: Mapping[str, str] = dataclasses.field(default_factory=lambda: dict(DEFAULT_LEAF_NAMES))
    optional_leaves: frozenset = frozenset({"num_batches_tracked"})

    def merged(self, other: "LayoutSpec") -> "LayoutSpec":
        return LayoutSpec(
            order={**self.order, **other.order},
            buffers={**self.buffers, **other.buffers},
            leaf_names={**self.leaf_names, **other.leaf_names},
            optional_leaves=self.optional_leaves | other.optional_leaves,
        )


DEFAULT_LEAF_NAMES = {
    "kernel": "weight",
    "scale": "weight",
    "bias": "bias",
    "mean": "running_mean",
    "var": "running_var",
    "num_batches_tracked": "num_batches_tracked",
}

# The facejax layers every family uses (facejax/nn/layers.py).
BASE_SPEC = LayoutSpec(
    order={
        "Conv2d": ("kernel", "bias"),
        "Linear": ("kernel", "bias"),
        "InstanceNorm": ("scale", "bias"),
    }
)


@dataclasses.dataclass(frozen=True)
class TensorSpec:
    """One tensor of the original's state_dict."""

    key: str  # PyTorch key, e.g. "decode.4.conv1x1.weight"
    path: tuple | None  # flax path in the pure params dict, e.g. ("decode", 4, "conv1x1", "kernel"); None: buffer
    transform: str  # "conv" | "dense" | "none"
    flax_shape: tuple[int, ...]
    torch_shape: tuple[int, ...]
    flax_dtype: str  # numpy dtype name: "float32" | "int32"
    torch_dtype: str  # "float32" | "int64"
    value: np.ndarray | None = dataclasses.field(default=None, compare=False)  # buffers only
    optional: bool = False  # a file may lack it
    field: str = ""  # buffers: the config field that decides the value

    @property
    def is_buffer(self) -> bool:
        return self.path is None


@dataclasses.dataclass(frozen=True)
class NetLayout:
    """The original state_dict of one network: tensors in order."""

    name: str
    tensors: tuple[TensorSpec, ...]

    def keys(self) -> list[str]:
        return [t.key for t in self.tensors]

    def shapes(self) -> dict[str, tuple[int, ...]]:
        return {t.key: t.torch_shape for t in self.tensors}

    def parameters(self) -> list[TensorSpec]:
        """Tensors that are PyTorch parameters (``net.parameters()`` order), i.e. neither buffers nor BatchNorm
        statistics."""
        stats = ("running_mean", "running_var", "num_batches_tracked")
        return [t for t in self.tensors if not t.is_buffer and not t.key.endswith(stats)]

    def by_key(self) -> dict[str, TensorSpec]:
        return {t.key: t for t in self.tensors}


def _is_list(node) -> bool:
    return isinstance(node, nnx.List)


def _stateful_attrs(node) -> set[str]:
    """Attribute names of a module that hold parameters or submodules with parameters."""
    out = set()
    for name, value in vars(node).items():
        if name.startswith("_"):
            continue
        if isinstance(value, nnx.Variable) or (isinstance(value, nnx.Module) and _has_params(value)):
            out.add(name)
    return out


def _has_params(node) -> bool:
    if isinstance(node, nnx.Variable):
        return True
    if _is_list(node):
        return any(_has_params(v) for v in node if v is not None)
    if isinstance(node, nnx.Module):
        return any(
            _has_params(v)
            for k, v in vars(node).items()
            if not k.startswith("_") and isinstance(v, (nnx.Module, nnx.Variable))
        )
    return False


def _leaf_spec(key: str, path: tuple, var, spec: LayoutSpec, leaf: str) -> TensorSpec:
    value = var.get_value() if hasattr(var, "get_value") else var[...]
    shape = tuple(int(d) for d in value.shape)
    dtype = np.dtype(value.dtype)
    if leaf == "kernel":
        transform = {4: "conv", 2: "dense"}.get(len(shape))
        if transform is None:
            raise ValueError(f"{key}: kernel of rank {len(shape)} has no PyTorch layout")
    else:
        transform = "none"
    if np.issubdtype(dtype, np.integer):
        flax_dtype, torch_dtype = "int32", "int64"
    elif dtype == np.float32:
        flax_dtype, torch_dtype = "float32", "float32"
    else:
        raise ValueError(f"{key}: parameter dtype {dtype} (parameters are float32 or integer counters)")
    torch_leaf = key.rsplit(".", 1)[-1]
    return TensorSpec(
        key=key,
        path=path,
        transform=transform,
        flax_shape=shape,
        torch_shape=shape_to_torch(shape, transform),
        flax_dtype=flax_dtype,
        torch_dtype=torch_dtype,
        optional=torch_leaf in spec.optional_leaves,
    )


def layout(module, spec: LayoutSpec, name: str = "") -> NetLayout:
    """The NetLayout of an nnx module (concrete or abstract) under a family's LayoutSpec."""
    tensors: list[TensorSpec] = []

    def visit(node, path: tuple, prefix: str):
        if _is_list(node):
            for i, child in enumerate(node):
                if child is not None:
                    visit(child, path + (i,), f"{prefix}{i}.")
            return
        cls = type(node).__name__
        stateful = _stateful_attrs(node)
        if cls not in spec.order:
            if stateful:
                raise ValueError(
                    f"no PyTorch order for module class {cls} (at {prefix or 'the root'}); add it "
                    f"to the family's LayoutSpec.order"
                )
            return
        order = spec.order[cls]
        names = list(order(node) if callable(order) else order)
        buffers = spec.buffers.get(cls, {})
        missing = stateful - set(names)
        if missing:
            raise ValueError(f"{cls}: attributes {sorted(missing)} hold parameters but are not in its LayoutSpec order")
        for attr in names:
            if attr in buffers:
                buf = buffers[attr]
                value = np.asarray(buf.value(node), np.float32)
                shape = tuple(value.shape)
                tensors.append(
                    TensorSpec(
                        key=prefix + attr,
                        path=None,
                        transform="none",
                        flax_shape=shape,
                        torch_shape=shape,
                        flax_dtype="float32",
                        torch_dtype="float32",
                        value=value,
                        optional=buf.optional,
                        field=buf.field,
                    )
                )
                continue
            child = getattr(node, attr, None)
            if child is None:
                continue
            if isinstance(child, nnx.Variable):
                torch_name = spec.leaf_names.get(attr)
                if torch_name is None:
                    raise ValueError(f"{cls}.{attr}: no PyTorch name for this parameter (LayoutSpec.leaf_names)")
                tensors.append(_leaf_spec(prefix + torch_name, path + (attr,), child, spec, attr))
            elif isinstance(child, nnx.Module):
                visit(child, path + (attr,), f"{prefix}{attr}.")

    visit(module, (), "")
    keys = [t.key for t in tensors]
    dup = [k for k, n in collections.Counter(keys).items() if n > 1]
    if dup:
        raise ValueError(f"{name}: PyTorch keys mapped more than once: {dup[:5]}")
    return NetLayout(name=name, tensors=tuple(tensors))


# ------------------------------------------------------------------------------------------------ params


def weight_bar_names(net: NetLayout) -> NetLayout:
    """The layout with each spectrally normalised kernel (one with a power-iteration ``u`` beside it) named
    '<layer>.weight_bar', as the custom SpectralNorm of BeautyGAN's and AesGAN's originals stores the unnormalised
    weight (the generic layout calls it '<layer>.weight')."""
    paths = {t.path for t in net.tensors if t.path is not None}
    tensors = []
    for t in net.tensors:
        if t.path is not None and t.path[-1] == "kernel" and t.path[:-1] + ("u",) in paths:
            t = dataclasses.replace(t, key=t.key[: -len("weight")] + "weight_bar")
        tensors.append(t)
    return NetLayout(name=net.name, tensors=tuple(tensors))


def flatten(params: Mapping) -> dict[tuple, Any]:
    """Pure nested dict -> {path tuple: leaf}."""
    out = {}

    def rec(node, path):
        if isinstance(node, Mapping):
            for k, v in node.items():
                rec(v, path + (k,))
        else:
            out[path] = node

    rec(params, ())
    return out


def unflatten(flat: Mapping[tuple, Any]) -> dict:
    out: dict = {}
    for path, value in flat.items():
        node = out
        for k in path[:-1]:
            node = node.setdefault(k, {})
        node[path[-1]] = value
    return out


def _path_str(path) -> str:
    return ".".join(str(p) for p in path)


def to_torch(params: Mapping, net: NetLayout) -> "collections.OrderedDict[str, np.ndarray]":
    """Pure params dict -> ordered {PyTorch key: numpy array}, every parameter used exactly once."""
    flat = flatten(params)
    out: collections.OrderedDict = collections.OrderedDict()
    used = set()
    for t in net.tensors:
        if t.is_buffer:
            out[t.key] = np.array(t.value, np.float32)
            continue
        if t.path not in flat:
            raise ValueError(f"{net.name}: parameter {_path_str(t.path)} (for {t.key}) is not in the params")
        a = np.asarray(flat[t.path])
        if tuple(a.shape) != t.flax_shape:
            raise ValueError(
                f"{net.name}: parameter {_path_str(t.path)} has shape {tuple(a.shape)}, the layout says {t.flax_shape}"
            )
        if a.dtype != np.dtype(t.flax_dtype):
            raise ValueError(f"{net.name}: parameter {_path_str(t.path)} has dtype {a.dtype}, expected {t.flax_dtype}")
        out[t.key] = transform_to_torch(a, t.transform).astype(t.torch_dtype)
        used.add(t.path)
    unused = sorted(_path_str(p) for p in set(flat) - used)
    if unused:
        raise ValueError(f"{net.name}: parameters not mapped to any PyTorch key: {unused[:5]}")
    return out


class CheckpointMismatch(FacejaxError):
    """A file's tensors do not fit the networks the config builds."""


def strip_module_prefix(state_dict: Mapping[str, Any]) -> dict[str, Any]:
    """Drops the ``module.`` prefix ``nn.DataParallel`` puts on every key (files saved from the wrapper)."""
    out = {}
    for k, v in state_dict.items():
        out[k[len("module.") :] if k.startswith("module.") else k] = v
    return out


def _fmt_shape(shape) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"


def from_torch(
    state_dict: Mapping[str, np.ndarray],
    net: NetLayout,
    *,
    source: str,
    ignore_unexpected: bool = False,
    explain: Callable[[dict], str] | None = None,
) -> dict:
    """Ordered {PyTorch key: numpy array} -> pure params dict, with the original's checks made explicit.

    Every key of ``net`` must be in the file with its shape and dtype (``module.`` prefixes are stripped;
    optional tensors may be missing: buffers take the rebuilt value, counters zero), and every key of the file
    must belong to ``net`` unless ``ignore_unexpected``. Buffers must equal the value the config gives. The
    first problem, in the original's key order, raises CheckpointMismatch naming ``source``, the network, the
    tensor, both shapes, and ``explain(file_shapes)`` (the config field that would make the file fit).
    """
    sd = strip_module_prefix(state_dict)
    file_shapes = {k: tuple(int(d) for d in np.shape(v)) for k, v in sd.items()}
    where = f"{source} [{net.name}]"

    def fail(msg: str):
        hint = explain(file_shapes) if explain is not None else ""
        raise CheckpointMismatch(f"{where}: {msg}" + (f"; {hint}" if hint else ""))

    expected = net.by_key()
    flat = {}
    for t in net.tensors:
        if t.key not in sd:
            if t.optional:
                if not t.is_buffer:
                    flat[t.path] = np.zeros(t.flax_shape, t.flax_dtype)
                continue
            fail(f"tensor '{t.key}' {_fmt_shape(t.torch_shape)} that this config needs is missing from the file")
        a = np.asarray(sd[t.key])
        if tuple(a.shape) != t.torch_shape:
            fail(
                f"tensor '{t.key}' has shape {_fmt_shape(a.shape)} in the file, this config expects "
                f"{_fmt_shape(t.torch_shape)}"
            )
        if t.torch_dtype == "int64":
            if not np.issubdtype(a.dtype, np.integer):
                fail(f"tensor '{t.key}' has dtype {a.dtype}, expected an integer (int64)")
            if np.any(np.abs(a.astype(np.int64)) > np.iinfo(np.int32).max):
                fail(f"tensor '{t.key}' = {a} does not fit int32")
        elif a.dtype != np.float32:
            fail(f"tensor '{t.key}' has dtype {a.dtype}, expected float32")
        if t.is_buffer:
            if not np.allclose(a, t.value, rtol=1e-6, atol=1e-7):
                follows = f" (it follows config.{t.field})" if t.field else ""
                raise CheckpointMismatch(
                    f"{where}: buffer '{t.key}' differs from the value this config gives{follows}: file "
                    f"{np.array2string(a.reshape(-1), precision=4)}, config "
                    f"{np.array2string(t.value.reshape(-1), precision=4)}"
                )
            continue
        flat[t.path] = transform_to_flax(a, t.transform).astype(t.flax_dtype)
    unexpected = [k for k in sd if k not in expected]
    if unexpected and not ignore_unexpected:
        fail(
            f"tensor '{unexpected[0]}' {_fmt_shape(file_shapes[unexpected[0]])} is in the file but not in the "
            f"networks this config builds ({len(unexpected)} such tensor(s))"
        )
    return unflatten(flat)


# ------------------------------------------------------------------------------------------------ diagnosis


def _fits(file_shapes: Mapping[str, tuple], net: NetLayout) -> bool:
    required = {t.key for t in net.tensors if not t.optional}
    allowed = net.shapes()
    return required <= set(file_shapes) and all(allowed.get(k) == s for k, s in file_shapes.items())


def explain_mismatch(
    file_shapes: Mapping[str, tuple],
    current: Mapping[str, Any],
    candidates: Iterable[tuple[str, Iterable[Any]]],
    layout_for: Callable[[dict], NetLayout],
) -> str:
    """Names the config field that explains why a file does not fit: the first (field, value) among
    ``candidates`` for which ``layout_for({field: value})`` (the network built with that one field changed)
    takes every tensor of the file with its shape. Returns '' when no single field does."""
    for field, values in candidates:
        for value in values:
            if value == current.get(field):
                continue
            try:
                net = layout_for({field: value})
            except (ValueError, FacejaxError, ZeroDivisionError):
                continue
            if _fits(file_shapes, net):
                return (
                    f"the file fits config.{field}={value!r} (this config has {current.get(field)!r}): "
                    f"config.{field} explains the difference"
                )
    return "no single config field makes the file fit; check that it comes from this family and preset"
