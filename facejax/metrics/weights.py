"""Weight files the metrics read, and a small PyTorch state-dict loader with strict checks.

facejax never downloads weights. Every metric network reads a file the user points to; a missing
file is one FacejaxError naming the file expected and where it comes from (the URL is printed, not
fetched). The files are the ones the reference tools use, unchanged:

  fid_inception      pt_inception-2015-12-05-6726825d.pth  pytorch-fid's port of TF-FID's Inception
  imagenet_inception inception_v3_google-0cc3c7bd.pth      torchvision's ImageNet Inception v3
  alexnet            alexnet-owt-7be5be79.pth              torchvision's ImageNet AlexNet (LPIPS trunk)
  lpips_alex_lin     weights/v0.1/alex.pth                 the lpips package's linear heads (in its wheel)

`.pth` files are read with torch (the optional `torch` extra). A `.npz` holding the same tensor names
(NCHW / PyTorch layout) is read without torch, e.g. one written once with
`np.savez(out, **{k: v.numpy() for k, v in torch.load(pth).items()})`.

`select(tensors, expected, ignore)` is the strict part: every expected tensor is taken exactly once
with its expected shape; anything else in the file must match an `ignore` pattern (heads the metric
does not use, BatchNorm counters). A wrong file (e.g. the ImageNet Inception given where the FID one
is expected) is refused with the tensors that differ. (A generic flax <-> torch converter is planned
under facejax/export; until then this loader serves the metrics.)
"""

from __future__ import annotations

import dataclasses
import fnmatch
import os

import numpy as np

from facejax.errors import FacejaxError


@dataclasses.dataclass(frozen=True)
class WeightFile:
    kind: str
    filename: str
    source: str  # where a user gets it (printed in errors, never fetched)
    what: str


FILES = {
    "fid_inception": WeightFile(
        "fid_inception",
        "pt_inception-2015-12-05-6726825d.pth",
        "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth",
        "pytorch-fid's Inception v3 (TF-FID 2015-12-05 weights)",
    ),
    "imagenet_inception": WeightFile(
        "imagenet_inception",
        "inception_v3_google-0cc3c7bd.pth",
        "https://download.pytorch.org/models/inception_v3_google-0cc3c7bd.pth",
        "torchvision's ImageNet Inception v3",
    ),
    "alexnet": WeightFile(
        "alexnet",
        "alexnet-owt-7be5be79.pth",
        "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth",
        "torchvision's ImageNet AlexNet",
    ),
    "lpips_alex_lin": WeightFile(
        "lpips_alex_lin",
        "alex.pth",
        "the lpips package (pip install lpips==0.1.4: lpips/weights/v0.1/alex.pth inside the wheel), or "
        "https://github.com/richzhang/PerceptualSimilarity/raw/master/lpips/weights/v0.1/alex.pth",
        "LPIPS v0.1 AlexNet linear heads",
    ),
}


def missing_file_error(kind: str, path: str, field: str = "") -> FacejaxError:
    f = FILES[kind]
    where = f" ({field})" if field else ""
    given = f"{path!r} does not exist" if path else "no file was given"
    return FacejaxError(
        f"{f.what} weights{where}: {given}; expected the file {f.filename} from {f.source} "
        f"(facejax does not download weights: fetch it once and pass its path)"
    )


def installed_lpips_lin(net: str = "alex", version: str = "0.1") -> str:
    """Path of the lpips package's own linear-head file when the package is installed, else ''."""
    import importlib.util

    spec = importlib.util.find_spec("lpips")
    if spec is None or not spec.submodule_search_locations:
        return ""
    for root in spec.submodule_search_locations:
        path = os.path.join(root, "weights", f"v{version}", f"{net}.pth")
        if os.path.isfile(path):
            return path
    return ""


def read_tensors(path: str, kind: str, field: str = "") -> dict[str, np.ndarray]:
    """name -> float32/int numpy array of a PyTorch state dict (.pth) or an .npz of the same names."""
    if not path or not os.path.isfile(path):
        raise missing_file_error(kind, path, field)
    if path.endswith(".npz"):
        try:
            with np.load(path) as f:
                return {k: np.asarray(f[k]) for k in f.files}
        except Exception as e:
            raise FacejaxError(
                f"{path}: unreadable .npz ({type(e).__name__}: {e}); expected the tensors "
                f"of {FILES[kind].filename} saved with numpy"
            ) from None
    try:
        import torch
    except ImportError:
        raise FacejaxError(
            f"{path}: reading a PyTorch .pth file needs torch (pip install 'facejax[torch]'), or convert "
            f"it once to .npz elsewhere (see facejax/metrics/weights.py)"
        ) from None
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise FacejaxError(
            f"{path}: not a readable PyTorch state dict ({type(e).__name__}: "
            f"{str(e).splitlines()[0][:200]}); expected {FILES[kind].filename} "
            f"from {FILES[kind].source}"
        ) from None
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict):
        raise FacejaxError(
            f"{path}: holds a {type(obj).__name__}, expected a state dict (name -> tensor) like {FILES[kind].filename}"
        )
    return {k: v.detach().cpu().numpy() for k, v in obj.items() if hasattr(v, "detach")}


def select(tensors: dict, expected: dict, ignore: tuple, path: str, kind: str) -> dict[str, np.ndarray]:
    """The expected tensors, each taken exactly once with its expected shape, as float32.

    expected: name -> shape. ignore: fnmatch patterns of tensors the file may carry and the metric
    does not use. Raises FacejaxError listing missing, misshapen and unexpected tensors.
    """
    missing = [k for k in expected if k not in tensors]
    shapes = [
        f"{k}: file {tuple(tensors[k].shape)}, expected {tuple(s)}"
        for k, s in expected.items()
        if k in tensors and tuple(tensors[k].shape) != tuple(s)
    ]
    extra = [k for k in tensors if k not in expected and not any(fnmatch.fnmatchcase(k, p) for p in ignore)]
    if missing or shapes or extra:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (e.g. {', '.join(missing[:4])})")
        if shapes:
            parts.append(f"{len(shapes)} with other shapes (e.g. {'; '.join(shapes[:3])})")
        if extra:
            parts.append(f"{len(extra)} unexpected (e.g. {', '.join(extra[:4])})")
        raise FacejaxError(
            f"{path} does not hold {FILES[kind].what} weights: {', '.join(parts)}; "
            f"expected {FILES[kind].filename} from {FILES[kind].source}"
        )
    return {k: np.asarray(tensors[k], np.float32) for k in expected}
