"""VGG-16 ``features`` up to relu4_1, read from torchvision's ImageNet weight file, for perceptual losses.

The layers are torchvision's ``vgg16().features`` (indices in brackets): conv1_1 [0], relu [1], conv1_2 [2],
relu [3], max pool [4], conv2_1 [5], ..., pool [9], conv3_1 [10], conv3_2 [12], conv3_3 [14], pool [16],
conv4_1 [17], relu4_1 [18]. Convs are 3x3, stride 1, zero padding 1; pools 2x2, stride 2. Parameters are a dict
in torchvision's state-dict names (``features.17.weight`` as HWIO, ``features.17.bias``), frozen: they belong to
no optimizer.

facejax never downloads weights: ``load_vgg16(path)`` reads the file the user points to, torchvision's
``vgg16-397923af.pth`` (a ``.npz`` of the same tensor names works without torch), and checks every tensor it uses
(name and shape); a file of another network (VGG-19, VGG-16-BN, ...) is refused naming the tensors that differ.

VGG-19 (torchvision's ``vgg19-dcbb9e9d.pth``, features indices in ``VGG19_CONVS``): ``load_vgg19(path, names)``
reads the convs named as in the Caffe prototxts (``conv1_1`` .. ``conv5_4``) to initialise networks built on the
VGG-19 trunk (GFC's generator and face-parsing network), with the same checks.
"""

from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import numpy as np

from facejax.errors import FacejaxError

VGG16_FILE = "vgg16-397923af.pth"
VGG16_URL = "https://download.pytorch.org/models/vgg16-397923af.pth"
# (features index, in, out) of every conv of torchvision's vgg16 (13 convs), and the pools (indices).
VGG16_CONVS = (
    (0, 3, 64),
    (2, 64, 64),
    (5, 64, 128),
    (7, 128, 128),
    (10, 128, 256),
    (12, 256, 256),
    (14, 256, 256),
    (17, 256, 512),
    (19, 512, 512),
    (21, 512, 512),
    (24, 512, 512),
    (26, 512, 512),
    (28, 512, 512),
)
VGG16_POOLS = (4, 9, 16, 23, 30)
VGG16_CLASSIFIER = {
    "classifier.0.weight": (4096, 25088),
    "classifier.0.bias": (4096,),
    "classifier.3.weight": (4096, 4096),
    "classifier.3.bias": (4096,),
    "classifier.6.weight": (1000, 4096),
    "classifier.6.bias": (1000,),
}
# Output layer name -> index of the last features module it includes.
LAYERS = {
    "relu1_1": 1,
    "relu1_2": 3,
    "relu2_1": 6,
    "relu2_2": 8,
    "relu3_1": 11,
    "relu3_2": 13,
    "relu3_3": 15,
    "conv4_1": 17,
    "relu4_1": 18,
}


def file_shapes() -> dict[str, tuple[int, ...]]:
    """Every tensor of torchvision's vgg16 state dict, with its shape."""
    out = {}
    for i, cin, cout in VGG16_CONVS:
        out[f"features.{i}.weight"] = (cout, cin, 3, 3)
        out[f"features.{i}.bias"] = (cout,)
    out.update(VGG16_CLASSIFIER)
    return out


def used_shapes(layer: str = "relu4_1") -> dict[str, tuple[int, ...]]:
    """The tensors the features up to `layer` read."""
    last = LAYERS[layer]
    return {k: s for k, s in file_shapes().items() if k.startswith("features.") and int(k.split(".")[1]) <= last}


def missing_error(
    path: str, field: str, net: str = "VGG-16", file: str = VGG16_FILE, url: str = VGG16_URL
) -> FacejaxError:
    given = f"{path!r} does not exist" if path else "no file was given"
    return FacejaxError(
        f"{net} weights ({field}): {given}; expected torchvision's ImageNet {net} file "
        f"{file} from {url} (facejax does not download weights: fetch it once and "
        f"pass its path)"
    )


def _read(
    path: str, field: str, net: str = "VGG-16", file: str = VGG16_FILE, url: str = VGG16_URL
) -> dict[str, np.ndarray]:
    if not path or not os.path.isfile(path):
        raise missing_error(path, field, net, file, url)
    if path.endswith(".npz"):
        try:
            with np.load(path) as f:
                return {k: np.asarray(f[k]) for k in f.files}
        except Exception as e:
            raise FacejaxError(f"{path} ({field}): unreadable .npz ({type(e).__name__}: {e})") from None
    try:
        import torch
    except ImportError:
        raise FacejaxError(
            f"{path} ({field}): reading a .pth file needs torch (pip install 'facejax[torch]'), or "
            f"save its tensors once as .npz (np.savez(out, **{{k: v.numpy() for k, v in "
            f"torch.load(pth).items()}}))"
        ) from None
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise FacejaxError(
            f"{path} ({field}): not a readable PyTorch state dict ({first[:200]}); expected {file} from {url}"
        ) from None
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict):
        raise FacejaxError(
            f"{path} ({field}) holds a {type(obj).__name__}, expected a {net} state dict ({file} from {url})"
        )
    return {k: v.detach().cpu().numpy() for k, v in obj.items() if hasattr(v, "detach")}


def load_vgg16(path: str, layer: str = "relu4_1", field: str = "config.vgg_weights") -> dict:
    """The frozen parameters of `features` up to `layer`: {"features.i.weight": HWIO, "features.i.bias"}."""
    if layer not in LAYERS:
        raise FacejaxError(f"VGG layer {layer!r}: expected one of {', '.join(LAYERS)}")
    tensors = _read(path, field)
    allowed = file_shapes()
    prefix = {k[len("module.") :] if k.startswith("module.") else k: v for k, v in tensors.items()}
    need = used_shapes(layer)
    missing = [k for k in need if k not in prefix]
    bad = [
        f"{k}: file {tuple(np.shape(prefix[k]))}, VGG-16 {s}"
        for k, s in allowed.items()
        if k in prefix and tuple(np.shape(prefix[k])) != s
    ]
    extra = [k for k in prefix if k not in allowed]
    if missing or bad or extra:
        parts = (
            ([f"missing {', '.join(missing[:4])}"] if missing else [])
            + ([f"other shapes ({'; '.join(bad[:3])})"] if bad else [])
            + ([f"unexpected {', '.join(extra[:4])}"] if extra else [])
        )
        raise FacejaxError(f"{path} ({field}) is not torchvision's VGG-16 ({VGG16_FILE}): {'; '.join(parts)}")
    out = {}
    for k in need:
        a = np.asarray(prefix[k], np.float32)
        out[k] = jnp.asarray(np.transpose(a, (2, 3, 1, 0)) if a.ndim == 4 else a)
    return out


def _max_pool2(x: jax.Array) -> jax.Array:
    return jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")


def features(params: dict, x: jax.Array, layer: str = "relu4_1") -> jax.Array:
    """NHWC input (fed as given: BeautyGAN feeds [-1, 1] RGB without ImageNet normalisation) -> the output of
    `features` up to `layer` (float32, NHWC). ``params`` may hold more layers than needed."""
    last = LAYERS[layer]
    x = x.astype(jnp.float32)
    for i, _, _ in VGG16_CONVS:
        if i > last:
            break
        if i - 1 in VGG16_POOLS:
            x = _max_pool2(x)
        x = jax.lax.conv_general_dilated(
            x,
            params[f"features.{i}.weight"].astype(jnp.float32),
            (1, 1),
            ((1, 1), (1, 1)),
            dimension_numbers=("NHWC", "HWIO", "NHWC"),
        )
        x = x + params[f"features.{i}.bias"]
        if i + 1 <= last:
            x = jax.nn.relu(x)
    return x


# ------------------------------------------------------------------------------------------------ VGG-19

VGG19_FILE = "vgg19-dcbb9e9d.pth"
VGG19_URL = "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth"
# Caffe / paper name -> (torchvision vgg19().features index, in, out): 16 convs, pools after conv1_2, conv2_2,
# conv3_4, conv4_4, conv5_4 (indices 4, 9, 18, 27, 36).
VGG19_CONVS = {}
for _block, (_n, _cin, _cout) in enumerate(((2, 3, 64), (2, 64, 128), (4, 128, 256), (4, 256, 512), (4, 512, 512))):
    _start = {0: 0, 1: 5, 2: 10, 3: 19, 4: 28}[_block]
    for _k in range(_n):
        VGG19_CONVS[f"conv{_block + 1}_{_k + 1}"] = (_start + 2 * _k, _cin if _k == 0 else _cout, _cout)
del _block, _n, _cin, _cout, _start, _k


def vgg19_file_shapes() -> dict[str, tuple[int, ...]]:
    """Every tensor of torchvision's vgg19 state dict, with its shape (the classifier is VGG-16's)."""
    out = {}
    for i, cin, cout in VGG19_CONVS.values():
        out[f"features.{i}.weight"] = (cout, cin, 3, 3)
        out[f"features.{i}.bias"] = (cout,)
    out.update(VGG16_CLASSIFIER)
    return out


def _mismatches(tensors: dict, need: list, allowed: dict) -> list:
    """What keeps a VGG-19 file's tensors from being the expected ones: the needed names it lacks, shapes other
    than `allowed` (name -> shape), names not in `allowed`; [] when it fits."""
    missing = [k for k in need if k not in tensors]
    bad = [
        f"{k}: file {tuple(np.shape(tensors[k]))}, VGG-19 {s}"
        for k, s in allowed.items()
        if k in tensors and tuple(np.shape(tensors[k])) != s
    ]
    extra = [k for k in tensors if k not in allowed]
    return (
        ([f"missing {', '.join(missing[:4])}"] if missing else [])
        + ([f"other shapes ({'; '.join(bad[:3])})"] if bad else [])
        + ([f"unexpected {', '.join(extra[:4])}"] if extra else [])
    )


def load_vgg19(path: str, names, field: str = "config.vgg19_weights") -> dict:
    """{Caffe name: {"kernel": HWIO float32, "bias"}} of the VGG-19 convs `names` (e.g. "conv1_2") read from
    torchvision's vgg19 file (or an .npz of its tensors); a file of another network names the tensors that differ."""
    unknown = [n for n in names if n not in VGG19_CONVS]
    if unknown:
        raise ValueError(f"not VGG-19 conv names: {unknown}")
    tensors = _read(path, field, "VGG-19", VGG19_FILE, VGG19_URL)
    tensors = {k[len("module.") :] if k.startswith("module.") else k: v for k, v in tensors.items()}
    allowed = vgg19_file_shapes()
    need = [f"features.{VGG19_CONVS[n][0]}.{p}" for n in names for p in ("weight", "bias")]
    parts = _mismatches(tensors, need, allowed)
    if parts:
        raise FacejaxError(f"{path} ({field}) is not torchvision's VGG-19 ({VGG19_FILE}): {'; '.join(parts)}")
    out = {}
    for n in names:
        i = VGG19_CONVS[n][0]
        w = np.asarray(tensors[f"features.{i}.weight"], np.float32)
        out[n] = {
            "kernel": np.transpose(w, (2, 3, 1, 0)),
            "bias": np.asarray(tensors[f"features.{i}.bias"], np.float32),
        }
    return out


# ------------------------------------------------------------------------------------------------ VGG-19 features

# The bethgelab VGG-19 of Gatys et al.'s style-transfer code (``vgg_conv.pth``: the VGG-19 convs only, in the
# state-dict names conv1_1.weight .. conv5_4.bias), which BeautyGAN's reference (wtjiang98/BeautyGAN_pytorch
# ``net.VGG``, ``addings/vgg_conv.pth``) reads; its download link is in that repository's issues #1 and #8.
VGG_CONV_FILE = "vgg_conv.pth"
VGG_CONV_URL = "https://bethgelab.org/media/uploads/pytorch_models/vgg_conv.pth"
# The layers of VGG-19's trunk in order: a conv name, its relu, and "pool" after conv1_2, conv2_2, conv3_4, conv4_4.
VGG19_ORDER = tuple(VGG19_CONVS)
VGG19_POOL_AFTER = ("conv1_2", "conv2_2", "conv3_4", "conv4_4", "conv5_4")
VGG19_LAYERS = tuple(n for c in VGG19_ORDER for n in (c, "relu" + c[4:]))


def vgg19_convs(layer: str) -> tuple[str, ...]:
    """The convs features up to `layer` ("relu4_1", "conv3_2", ...) apply."""
    if layer not in VGG19_LAYERS:
        raise FacejaxError(f"VGG-19 layer {layer!r}: expected one of {', '.join(VGG19_LAYERS)}")
    last = "conv" + layer[4:] if layer.startswith("relu") else layer
    return VGG19_ORDER[: VGG19_ORDER.index(last) + 1]


def vgg19_used_shapes(layer: str = "relu4_1") -> dict:
    """{conv: {"kernel": HWIO shape, "bias": (cout,)}} of the features up to `layer`."""
    out = {}
    for n in vgg19_convs(layer):
        _, cin, cout = VGG19_CONVS[n]
        out[n] = {"kernel": (3, 3, cin, cout), "bias": (cout,)}
    return out


def load_vgg_conv(path: str, layer: str = "relu4_1", field: str = "config.vgg_weights") -> dict:
    """The frozen VGG-19 convs up to `layer` ({conv: {"kernel": HWIO, "bias"}}) from the bethgelab ``vgg_conv.pth``
    (names conv1_1.weight ...; an .npz of its tensors works without torch). torchvision's ``vgg19-dcbb9e9d.pth``
    (names features.N.*) holds the same layers and is read too. Another file is refused naming what differs."""
    names = vgg19_convs(layer)
    tensors = _read(path, field, "VGG-19", VGG_CONV_FILE, VGG_CONV_URL)
    tensors = {k[len("module.") :] if k.startswith("module.") else k: v for k, v in tensors.items()}
    if tensors and all(k.startswith("features.") or k.startswith("classifier.") for k in tensors):
        got = load_vgg19(path, names, field)
        return {n: {"kernel": jnp.asarray(v["kernel"]), "bias": jnp.asarray(v["bias"])} for n, v in got.items()}
    allowed = {}
    for n, (_, cin, cout) in VGG19_CONVS.items():
        allowed[f"{n}.weight"] = (cout, cin, 3, 3)
        allowed[f"{n}.bias"] = (cout,)
    need = [f"{n}.{p}" for n in names for p in ("weight", "bias")]
    parts = _mismatches(tensors, need, allowed)
    if parts:
        raise FacejaxError(
            f"{path} ({field}) is not the bethgelab VGG-19 ({VGG_CONV_FILE} from {VGG_CONV_URL}): {'; '.join(parts)}"
        )
    out = {}
    for n in names:
        w = np.asarray(tensors[f"{n}.weight"], np.float32)
        out[n] = {
            "kernel": jnp.asarray(np.transpose(w, (2, 3, 1, 0))),
            "bias": jnp.asarray(np.asarray(tensors[f"{n}.bias"], np.float32)),
        }
    return out


def vgg19_features(params: dict, x: jax.Array, layer: str = "relu4_1") -> jax.Array:
    """NHWC input, fed as given (BeautyGAN's reference feeds [-1, 1] RGB, no mean subtraction, no channel swap) ->
    the output of VGG-19's trunk at `layer` (float32, NHWC): 3x3 convs with zero padding 1, ReLU, 2x2 max pools
    (stride 2) after conv1_2, conv2_2, conv3_4 and conv4_4, as net.VGG. ``params`` may hold more convs."""
    convs = vgg19_convs(layer)
    x = x.astype(jnp.float32)
    for n in convs:
        p = params[n]
        x = jax.lax.conv_general_dilated(
            x, p["kernel"].astype(jnp.float32), (1, 1), ((1, 1), (1, 1)), dimension_numbers=("NHWC", "HWIO", "NHWC")
        )
        x = x + p["bias"].astype(jnp.float32)
        if n != convs[-1] or layer.startswith("relu"):
            x = jax.nn.relu(x)
        if n != convs[-1] and n in VGG19_POOL_AFTER:
            x = _max_pool2(x)
    return x
