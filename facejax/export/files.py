"""Reading and writing PyTorch checkpoint files: ``torch.save`` pickles and safetensors.

Inside facejax a checkpoint file is a nested dict whose leaves are numpy arrays (and, in optimizer state, plain
Python numbers, strings and lists). ``save_torch`` turns the arrays into ``torch.Tensor`` and writes with
``torch.save``; ``load_torch`` reads with ``torch.load(weights_only=True, map_location="cpu")`` and turns
tensors back into numpy. torch is the optional ``[torch]`` extra: without it these raise a FacejaxError that
says how to install it.

safetensors files hold flat ``{name: tensor}`` maps; nested dicts are flattened with '.' (network-prefixed keys
such as ``generator.from_rgb.weight``) and anything that is not a tensor goes, as JSON, into the file's
string metadata.

File names are the original's: ``{step:06d}_nets.ckpt``, ``{step:06d}_nets_ema.ckpt``, ``{step:06d}_optims.ckpt``
(``.safetensors`` for the safetensors format).
"""

from __future__ import annotations

import collections
import os
import pickle
import re
import tempfile
import zipfile
from collections.abc import Mapping
from typing import Any

import numpy as np

from facejax.errors import FacejaxError

KINDS = ("nets", "nets_ema", "optims")
EXTENSIONS = {"torch": ".ckpt", "safetensors": ".safetensors"}
NAME = re.compile(r"^(?P<step>\d+)_(?P<kind>nets|nets_ema|optims)\.(ckpt|pth|pt|safetensors)$")
ALLOW_PICKLE_ENV = "FACEJAX_ALLOW_PICKLE"


def require_torch(purpose: str):
    try:
        import torch
    except ImportError:
        raise FacejaxError(
            f"{purpose} needs PyTorch, the optional extra: pip install 'facejax[torch]' "
            f"(or use --format=safetensors where a command offers it)"
        ) from None
    return torch


def checkpoint_name(step: int, kind: str, fmt: str = "torch") -> str:
    return f"{step:06d}_{kind}{EXTENSIONS[fmt]}"


# ----------------------------------------------------------------------------------------------- writing


def _atomic_write(path: str, write) -> str:
    """Writes through a temporary file in the same folder, so a failure never leaves half a file behind."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp_", suffix=os.path.basename(path))
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def _to_torch_tree(obj, torch):
    if isinstance(obj, np.ndarray) or isinstance(obj, np.generic):
        return torch.from_numpy(np.array(obj))
    if isinstance(obj, collections.OrderedDict):
        return collections.OrderedDict((k, _to_torch_tree(v, torch)) for k, v in obj.items())
    if isinstance(obj, dict):
        return {k: _to_torch_tree(v, torch) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_to_torch_tree(v, torch) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_to_torch_tree(v, torch) for v in obj)
    return obj


def save_torch(path: str, obj: Mapping) -> str:
    torch = require_torch(f"writing {path}")
    tree = _to_torch_tree(obj, torch)
    return _atomic_write(path, lambda tmp: torch.save(tree, tmp))


def _flatten(obj: Mapping, prefix: str = "") -> dict[str, Any]:
    out = {}
    for k, v in obj.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(_flatten(v, key + "."))
        else:
            out[key] = v
    return out


def save_safetensors(path: str, tensors: Mapping[str, np.ndarray], metadata: Mapping[str, str] | None = None) -> str:
    from safetensors.numpy import save_file

    flat = {k: np.array(v, order="C") for k, v in tensors.items()}  # (ascontiguousarray makes 0-d arrays 1-d)
    return _atomic_write(path, lambda tmp: save_file(flat, tmp, metadata=dict(metadata or {})))


# ----------------------------------------------------------------------------------------------- reading


def _tensor_to_numpy(t, torch) -> np.ndarray:
    t = t.detach().cpu()
    if t.dtype == torch.bfloat16:
        import ml_dtypes

        return t.view(torch.int16).numpy().view(ml_dtypes.bfloat16)
    return t.numpy().copy()


def _to_numpy_tree(obj, torch):
    if isinstance(obj, torch.Tensor):
        return _tensor_to_numpy(obj, torch)
    if isinstance(obj, Mapping):
        items = ((k, _to_numpy_tree(v, torch)) for k, v in obj.items())
        return collections.OrderedDict(items) if isinstance(obj, collections.OrderedDict) else dict(items)
    if isinstance(obj, list):
        return [_to_numpy_tree(v, torch) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_to_numpy_tree(v, torch) for v in obj)
    return obj


def _check_file(path: str, what: str) -> None:
    if not os.path.exists(path):
        raise FacejaxError(f"{what} {path} does not exist")
    if os.path.isdir(path):
        raise FacejaxError(f"{what} {path} is a folder, expected a file")


def load_torch(path: str, what: str = "checkpoint file"):
    """A ``torch.save`` file as nested dicts of numpy arrays (weights only; see FACEJAX_ALLOW_PICKLE)."""
    _check_file(path, what)
    torch = require_torch(f"reading {path}")
    allow_pickle = os.environ.get(ALLOW_PICKLE_ENV, "") == "1"
    try:
        obj = torch.load(path, map_location="cpu", weights_only=not allow_pickle)
    except pickle.UnpicklingError as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise FacejaxError(
            f"{what} {path} holds Python objects besides tensors, which torch.load(weights_only=True) refuses "
            f"({first[:200]}); if you trust the file, set {ALLOW_PICKLE_ENV}=1 to unpickle it fully"
        ) from None
    except (RuntimeError, EOFError, OSError, zipfile.BadZipFile, ValueError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise FacejaxError(f"{what} {path} is not a readable PyTorch checkpoint: {first[:300]}") from None
    return _to_numpy_tree(obj, torch)


def load_safetensors(path: str, what: str = "checkpoint file") -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """(tensors, metadata) of a safetensors file."""
    _check_file(path, what)
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(path, framework="numpy") as f:
            tensors = collections.OrderedDict((k, f.get_tensor(k)) for k in f.keys())
            metadata = dict(f.metadata() or {})
    except (SafetensorError, OSError, ValueError) as e:
        raise FacejaxError(f"{what} {path} is not a readable safetensors file: {str(e)[:300]}") from None
    return tensors, metadata


def split_by_network(tensors: Mapping[str, np.ndarray], path: str) -> dict[str, "collections.OrderedDict"]:
    """``{"generator.from_rgb.weight": t, ...}`` -> ``{"generator": {"from_rgb.weight": t}, ...}``."""
    out: dict[str, collections.OrderedDict] = {}
    for key, value in tensors.items():
        net, sep, rest = key.partition(".")
        if not sep:
            raise FacejaxError(f"{path}: key {key!r} has no '<network>.' prefix")
        out.setdefault(net, collections.OrderedDict())[rest] = value
    return out


def read_state_dict(path: str) -> dict:
    """One network's flat {key: numpy} state_dict from a torch.save file (also wrapped as {'state_dict': ...},
    as some trainers save it) or a safetensors file."""
    if path.endswith(".safetensors"):
        return load_safetensors(path)[0]
    obj = load_torch(path)
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict):
        raise FacejaxError(f"{path} holds a {type(obj).__name__}, expected a state_dict")
    return obj


# ----------------------------------------------------------------------------------------------- locating


def find_snapshot(
    source: str,
    step: int | None,
    *,
    pattern: re.Pattern,
    required: tuple[str, ...],
    describe: str,
    example: str,
    step_of=None,
) -> tuple[int, dict[str, str]]:
    """(step, {kind: path}) of one snapshot of an original repository's checkpoint files.

    ``source`` is a folder (the snapshot of ``step``, or the newest) or one named file (its own step's files
    beside it). ``pattern`` matches a file name with the named groups ``kind`` and ``step``, or
    ``step_of(match)`` computes the step (BeautyGAN's names hold an epoch and an iteration); a snapshot counts
    when it has at least one of the ``required`` kinds. ``describe`` and ``example`` name the layout in errors.
    """
    step_of = step_of or (lambda m: int(m["step"]))
    if not os.path.exists(source):
        raise FacejaxError(
            f"--from {source} does not exist (expected a folder with {describe} files, or one such file)"
        )
    folder = source
    if not os.path.isdir(source):
        folder, named = os.path.dirname(source) or ".", os.path.basename(source)
        m = pattern.match(named)
        if not m:
            raise FacejaxError(
                f"--from {source}: the file name must be {describe} as the original names its "
                f"snapshots (e.g. {example}); the step comes from the name"
            )
        if step is not None and step_of(m) != step:
            raise FacejaxError(f"--from {source} is step {step_of(m)}, but --step={step}")
        step = step_of(m)
    by_step: dict[int, dict[str, str]] = {}
    for name in sorted(os.listdir(folder)):
        m = pattern.match(name)
        if m:
            kinds = by_step.setdefault(step_of(m), {})
            if m["kind"] in kinds:
                raise FacejaxError(
                    f"{folder} has two {m['kind']} files for step {step_of(m)}: "
                    f"{os.path.basename(kinds[m['kind']])} and {name}; keep one"
                )
            kinds[m["kind"]] = os.path.join(folder, name)
    usable = {s: k for s, k in by_step.items() if any(r in k for r in required)}
    if not usable:
        raise FacejaxError(
            f"{folder} has no {describe} snapshot with a {' or '.join(required)} file (found: "
            f"{', '.join(sorted(os.listdir(folder))[:10]) or 'nothing'})"
        )
    if step is None:
        step = max(usable)
    if step not in usable:
        raise FacejaxError(
            f"--step={step}: {folder} has no {' or '.join(required)} file of step {step} (steps "
            f"there: {', '.join(str(s) for s in sorted(usable))})"
        )
    return step, usable[step]


def find_checkpoint_files(source: str, step: int | None = None) -> tuple[int, dict[str, str]]:
    """(step, {kind: path}) of the original's checkpoint files in a folder or next to one named file.

    A folder: the files of ``step``, or of the largest step that has a nets or nets_ema file. A file named
    ``<step>_<kind>.<ext>``: that step's files beside it.
    """
    return find_snapshot(
        source,
        step,
        pattern=NAME,
        required=("nets", "nets_ema"),
        describe="<step>_<nets|nets_ema|optims>.<ckpt|safetensors>",
        example="100000_nets_ema.ckpt",
    )
