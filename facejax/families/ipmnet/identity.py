"""The identity network's weights: VGGFace2's Caffe-style ResNet-50 (``resnet50_ft_weight.pkl``, cydonia999's
format: a pickle of {name: numpy array}, names as resnet.py's state_dict: ``conv1.weight``, ``bn1.running_mean``,
``layer1.0.downsample.0.weight``, ``fc.weight`` ...), also read from a PyTorch state dict (.pth) or an .npz of
the same names.

The original never copies these weights into its network (makeup.md 2.2: ``load_state_dict`` assigns into a
fresh dict), so by default (``config.identity.pretrained = False``) facejax reproduces the run it actually made,
with the randomly initialised ResNet, and reads no file; ``pretrained = True`` is the paper's intent.
"""

from __future__ import annotations

import os
import pickle

import numpy as np

from facejax.errors import FacejaxError
from facejax.export import convert, files

FILENAME = "resnet50_ft_weight.pkl"
SOURCE = (
    "the VGGFace2 ResNet-50 'ft' weights converted by cydonia999/VGGFace2-pytorch (its README links "
    "resnet50_ft_weight.pkl; IPM-Net's README expects it in the repository root); facejax does not "
    "download it"
)
IGNORED = ("fc.weight", "fc.bias")


class _ArraysOnly(pickle.Unpickler):
    """Unpickles numpy arrays, dicts and scalars only (the cydonia999 pickles hold nothing else)."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("collections", "OrderedDict"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
    }

    def find_class(self, module, name):
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"{module}.{name} is not an array")


def missing_error(path: str) -> FacejaxError:
    given = f"{path!r} does not exist" if path else "no file was given"
    return FacejaxError(
        f"identity network weights (config.identity.weights): {given}; expected {FILENAME} from "
        f"{SOURCE}. The original never loads it (config.identity.pretrained=False reproduces that "
        f"run with a random ResNet-50 and needs no file)"
    )


def read(path: str) -> dict[str, np.ndarray]:
    if not path or not os.path.isfile(path):
        raise missing_error(path)
    try:
        if path.endswith(".npz"):
            with np.load(path) as f:
                return {k: np.asarray(f[k]) for k in f.files}
        if path.endswith(".pkl"):
            with open(path, "rb") as f:
                obj = _ArraysOnly(f, encoding="latin1").load()
        else:
            obj = files.load_torch(path, "identity network weights")
    except FacejaxError:
        raise
    except Exception as e:
        raise FacejaxError(
            f"{path} (config.identity.weights) is not a readable {FILENAME}-style file "
            f"({type(e).__name__}: {str(e)[:200]})"
        ) from None
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict):
        raise FacejaxError(
            f"{path} (config.identity.weights) holds a {type(obj).__name__}, expected {{name: array}} as {FILENAME}"
        )
    return {k[len("module.") :] if k.startswith("module.") else k: np.asarray(v) for k, v in obj.items()}


def load(path: str, layout) -> dict:
    """Pure params of the facejax ResNet (``layout``: its NetLayout) from a weight file; every tensor checked."""

    tensors = {
        k: v.astype(np.float32)
        for k, v in read(path).items()
        if k not in IGNORED and not k.endswith("num_batches_tracked")
    }
    return convert.from_torch(tensors, layout, source=f"{path} (config.identity.weights)")
