"""Inception v3 pool features (2048-d) in JAX, in the two variants GAN papers report with.

  "fid"      pytorch-fid's `InceptionV3([3])` (use_fid_inception=True) on
             pt_inception-2015-12-05-6726825d.pth: the port of TF-FID's graph, the standard for
             reporting FID. Its Mixed_5b..5d, 6b..6e, 7b use average pooling that excludes padding,
             and Mixed_7c max-pools its pool branch (a quirk of the TF graph). Input: images in
             [0, 1], resized to 299x299 bilinearly without antialiasing (F.interpolate,
             align_corners=False), scaled to [-1, 1].
  "imagenet" torchvision's `inception_v3` ImageNet classifier on inception_v3_google-0cc3c7bd.pth,
             layers called directly (no `transform_input`), as StarGAN v2's metrics/fid.py does.
             Input: 299x299 images in [0, 1], normalised with ImageNet mean/std inside.

Both end with the global average pool before the classifier. Networks are pure functions of a flat
parameter dict keyed by the PyTorch state-dict names (conv kernels converted to HWIO), BatchNorm in
inference mode (eps 1e-3), convolutions at HIGHEST precision so GPU/TPU numbers do not drift with
TF32/bf16 passes.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from facejax.errors import FacejaxError
from facejax.metrics import weights as weights_lib
from facejax.nn.layers import resize_bilinear

VARIANTS = ("fid", "imagenet")
WEIGHT_KIND = {"fid": "fid_inception", "imagenet": "imagenet_inception"}
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
FEATURE_DIM = 2048
INPUT_SIZE = 299
BN_EPS = 1e-3

# Tensors the weight files carry that pool features never use.
_IGNORE = ("fc.*", "AuxLogits.*", "*.num_batches_tracked")


# ------------------------------------------------------------------------------------ spec


def _conv_specs() -> dict:
    """BasicConv2d name -> (cin, cout, (kh, kw), stride, (ph, pw)), torchvision's Inception3."""
    s = {}

    def c(name, cin, cout, k, stride=1, pad=0):
        k = (k, k) if isinstance(k, int) else k
        pad = (pad, pad) if isinstance(pad, int) else pad
        s[name] = (cin, cout, k, stride, pad)

    c("Conv2d_1a_3x3", 3, 32, 3, 2)
    c("Conv2d_2a_3x3", 32, 32, 3)
    c("Conv2d_2b_3x3", 32, 64, 3, pad=1)
    c("Conv2d_3b_1x1", 64, 80, 1)
    c("Conv2d_4a_3x3", 80, 192, 3)
    for name, cin, pool in (("Mixed_5b", 192, 32), ("Mixed_5c", 256, 64), ("Mixed_5d", 288, 64)):
        c(f"{name}.branch1x1", cin, 64, 1)
        c(f"{name}.branch5x5_1", cin, 48, 1)
        c(f"{name}.branch5x5_2", 48, 64, 5, pad=2)
        c(f"{name}.branch3x3dbl_1", cin, 64, 1)
        c(f"{name}.branch3x3dbl_2", 64, 96, 3, pad=1)
        c(f"{name}.branch3x3dbl_3", 96, 96, 3, pad=1)
        c(f"{name}.branch_pool", cin, pool, 1)
    c("Mixed_6a.branch3x3", 288, 384, 3, 2)
    c("Mixed_6a.branch3x3dbl_1", 288, 64, 1)
    c("Mixed_6a.branch3x3dbl_2", 64, 96, 3, pad=1)
    c("Mixed_6a.branch3x3dbl_3", 96, 96, 3, 2)
    for name, c7 in (("Mixed_6b", 128), ("Mixed_6c", 160), ("Mixed_6d", 160), ("Mixed_6e", 192)):
        c(f"{name}.branch1x1", 768, 192, 1)
        c(f"{name}.branch7x7_1", 768, c7, 1)
        c(f"{name}.branch7x7_2", c7, c7, (1, 7), pad=(0, 3))
        c(f"{name}.branch7x7_3", c7, 192, (7, 1), pad=(3, 0))
        c(f"{name}.branch7x7dbl_1", 768, c7, 1)
        c(f"{name}.branch7x7dbl_2", c7, c7, (7, 1), pad=(3, 0))
        c(f"{name}.branch7x7dbl_3", c7, c7, (1, 7), pad=(0, 3))
        c(f"{name}.branch7x7dbl_4", c7, c7, (7, 1), pad=(3, 0))
        c(f"{name}.branch7x7dbl_5", c7, 192, (1, 7), pad=(0, 3))
        c(f"{name}.branch_pool", 768, 192, 1)
    c("Mixed_7a.branch3x3_1", 768, 192, 1)
    c("Mixed_7a.branch3x3_2", 192, 320, 3, 2)
    c("Mixed_7a.branch7x7x3_1", 768, 192, 1)
    c("Mixed_7a.branch7x7x3_2", 192, 192, (1, 7), pad=(0, 3))
    c("Mixed_7a.branch7x7x3_3", 192, 192, (7, 1), pad=(3, 0))
    c("Mixed_7a.branch7x7x3_4", 192, 192, 3, 2)
    for name, cin in (("Mixed_7b", 1280), ("Mixed_7c", 2048)):
        c(f"{name}.branch1x1", cin, 320, 1)
        c(f"{name}.branch3x3_1", cin, 384, 1)
        c(f"{name}.branch3x3_2a", 384, 384, (1, 3), pad=(0, 1))
        c(f"{name}.branch3x3_2b", 384, 384, (3, 1), pad=(1, 0))
        c(f"{name}.branch3x3dbl_1", cin, 448, 1)
        c(f"{name}.branch3x3dbl_2", 448, 384, 3, pad=1)
        c(f"{name}.branch3x3dbl_3a", 384, 384, (1, 3), pad=(0, 1))
        c(f"{name}.branch3x3dbl_3b", 384, 384, (3, 1), pad=(1, 0))
        c(f"{name}.branch_pool", cin, 192, 1)
    return s


CONVS = _conv_specs()


def expected_shapes() -> dict:
    """PyTorch name -> shape of every tensor the pool features use (same for both variants)."""
    out = {}
    for name, (cin, cout, (kh, kw), _, _) in CONVS.items():
        out[f"{name}.conv.weight"] = (cout, cin, kh, kw)
        for t in ("weight", "bias", "running_mean", "running_var"):
            out[f"{name}.bn.{t}"] = (cout,)
    return out


def load_params(path: str, variant: str, field: str = "") -> dict:
    """The flat parameter dict (jnp arrays, conv kernels HWIO) from the variant's weight file.

    The fc head tells the files apart: 1008 classes in pytorch-fid's, 1000 in torchvision's; a file
    of the other variant is refused with a message naming both.
    """
    if variant not in VARIANTS:
        raise FacejaxError(f"Inception variant {variant!r}: expected one of {', '.join(VARIANTS)}")
    kind = WEIGHT_KIND[variant]
    tensors = weights_lib.read_tensors(path, kind, field)
    classes = tensors["fc.weight"].shape[0] if "fc.weight" in tensors else None
    other = {"fid": 1000, "imagenet": 1008}[variant]
    if classes == other:
        want = weights_lib.FILES[kind]
        got = weights_lib.FILES[WEIGHT_KIND[[v for v in VARIANTS if v != variant][0]]]
        raise FacejaxError(
            f"{path} looks like {got.what} ({got.filename}: fc has {classes} classes), "
            f"but the {variant!r} variant needs {want.filename} ({want.source})"
        )
    sel = weights_lib.select(tensors, expected_shapes(), _IGNORE, path, kind)
    return convert(sel)


def convert(state: dict) -> dict:
    """PyTorch tensors (numpy) -> facejax params: conv weights OIHW -> HWIO, the rest as is."""
    return {k: jnp.asarray(np.transpose(v, (2, 3, 1, 0)) if v.ndim == 4 else v) for k, v in state.items()}


def detect_variant(path: str) -> str:
    """'fid' or 'imagenet' from a weight file's classifier size (1008 vs 1000 classes)."""
    tensors = weights_lib.read_tensors(path, "fid_inception", "--weights")
    n = tensors["fc.weight"].shape[0] if "fc.weight" in tensors else None
    if n == 1008:
        return "fid"
    if n == 1000:
        return "imagenet"
    raise FacejaxError(
        f"{path}: cannot tell which Inception this is (fc.weight has {n} classes; "
        f"pytorch-fid's {weights_lib.FILES['fid_inception'].filename} has 1008, torchvision's "
        f"{weights_lib.FILES['imagenet_inception'].filename} 1000)"
    )


# ------------------------------------------------------------------------------------ forward


def _basic(p, name, x, precision):
    cin, cout, _, stride, (ph, pw) = CONVS[name]
    y = jax.lax.conv_general_dilated(
        x,
        p[f"{name}.conv.weight"],
        (stride, stride),
        ((ph, ph), (pw, pw)),
        dimension_numbers=("NHWC", "HWIO", "NHWC"),
        precision=precision,
    )
    scale = p[f"{name}.bn.weight"] * jax.lax.rsqrt(p[f"{name}.bn.running_var"] + BN_EPS)
    y = (y - p[f"{name}.bn.running_mean"]) * scale + p[f"{name}.bn.bias"]
    return jax.nn.relu(y)


def _max_pool(x, k=3, stride=2, pad=0):
    pads = ((0, 0), (pad, pad), (pad, pad), (0, 0))
    return jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, k, k, 1), (1, stride, stride, 1), pads)


def _avg_pool3(x, count_include_pad: bool):
    """avg_pool2d(x, 3, stride=1, padding=1), with or without counting the zero padding."""
    pads = ((0, 0), (1, 1), (1, 1), (0, 0))
    s = jax.lax.reduce_window(x, 0.0, jax.lax.add, (1, 3, 3, 1), (1, 1, 1, 1), pads)
    if count_include_pad:
        return s / 9.0
    ones = jnp.ones((1,) + x.shape[1:3] + (1,), x.dtype)
    n = jax.lax.reduce_window(ones, 0.0, jax.lax.add, (1, 3, 3, 1), (1, 1, 1, 1), pads)
    return s / n


def _mixed_a(p, name, x, fid, pr):
    b1 = _basic(p, f"{name}.branch1x1", x, pr)
    b5 = _basic(p, f"{name}.branch5x5_2", _basic(p, f"{name}.branch5x5_1", x, pr), pr)
    b3 = _basic(p, f"{name}.branch3x3dbl_1", x, pr)
    b3 = _basic(p, f"{name}.branch3x3dbl_3", _basic(p, f"{name}.branch3x3dbl_2", b3, pr), pr)
    bp = _basic(p, f"{name}.branch_pool", _avg_pool3(x, count_include_pad=not fid), pr)
    return jnp.concatenate([b1, b5, b3, bp], axis=-1)


def _mixed_b(p, name, x, pr):
    b3 = _basic(p, f"{name}.branch3x3", x, pr)
    bd = _basic(p, f"{name}.branch3x3dbl_1", x, pr)
    bd = _basic(p, f"{name}.branch3x3dbl_3", _basic(p, f"{name}.branch3x3dbl_2", bd, pr), pr)
    return jnp.concatenate([b3, bd, _max_pool(x)], axis=-1)


def _mixed_c(p, name, x, fid, pr):
    b1 = _basic(p, f"{name}.branch1x1", x, pr)
    b7 = x
    for i in (1, 2, 3):
        b7 = _basic(p, f"{name}.branch7x7_{i}", b7, pr)
    bd = x
    for i in (1, 2, 3, 4, 5):
        bd = _basic(p, f"{name}.branch7x7dbl_{i}", bd, pr)
    bp = _basic(p, f"{name}.branch_pool", _avg_pool3(x, count_include_pad=not fid), pr)
    return jnp.concatenate([b1, b7, bd, bp], axis=-1)


def _mixed_d(p, name, x, pr):
    b3 = _basic(p, f"{name}.branch3x3_2", _basic(p, f"{name}.branch3x3_1", x, pr), pr)
    b7 = x
    for i in (1, 2, 3, 4):
        b7 = _basic(p, f"{name}.branch7x7x3_{i}", b7, pr)
    return jnp.concatenate([b3, b7, _max_pool(x)], axis=-1)


def _mixed_e(p, name, x, pool: str, pr):
    """pool: 'avg' (torchvision), 'avg_exclude_pad' (FID Mixed_7b), 'max' (FID Mixed_7c)."""
    b1 = _basic(p, f"{name}.branch1x1", x, pr)
    b3 = _basic(p, f"{name}.branch3x3_1", x, pr)
    b3 = jnp.concatenate(
        [_basic(p, f"{name}.branch3x3_2a", b3, pr), _basic(p, f"{name}.branch3x3_2b", b3, pr)], axis=-1
    )
    bd = _basic(p, f"{name}.branch3x3dbl_2", _basic(p, f"{name}.branch3x3dbl_1", x, pr), pr)
    bd = jnp.concatenate(
        [_basic(p, f"{name}.branch3x3dbl_3a", bd, pr), _basic(p, f"{name}.branch3x3dbl_3b", bd, pr)], axis=-1
    )
    if pool == "max":
        pooled = _max_pool(x, 3, 1, 1)
    else:
        pooled = _avg_pool3(x, count_include_pad=pool == "avg")
    bp = _basic(p, f"{name}.branch_pool", pooled, pr)
    return jnp.concatenate([b1, b3, bd, bp], axis=-1)


def network(params: dict, x: jax.Array, variant: str, precision=jax.lax.Precision.HIGHEST) -> jax.Array:
    """(N, H, W, 3) network input (already scaled as the variant expects) -> (N, 2048) pool features."""
    fid = variant == "fid"
    p, pr = params, precision
    x = x.astype(jnp.float32)
    for name in ("Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3"):
        x = _basic(p, name, x, pr)
    x = _max_pool(x)
    x = _basic(p, "Conv2d_4a_3x3", _basic(p, "Conv2d_3b_1x1", x, pr), pr)
    x = _max_pool(x)
    for name in ("Mixed_5b", "Mixed_5c", "Mixed_5d"):
        x = _mixed_a(p, name, x, fid, pr)
    x = _mixed_b(p, "Mixed_6a", x, pr)
    for name in ("Mixed_6b", "Mixed_6c", "Mixed_6d", "Mixed_6e"):
        x = _mixed_c(p, name, x, fid, pr)
    x = _mixed_d(p, "Mixed_7a", x, pr)
    x = _mixed_e(p, "Mixed_7b", x, "avg_exclude_pad" if fid else "avg", pr)
    x = _mixed_e(p, "Mixed_7c", x, "max" if fid else "avg", pr)
    return jnp.mean(x, axis=(1, 2))


def network_input(images01: jax.Array, variant: str) -> jax.Array:
    """Images in [0, 1] (NHWC) -> the network input of the variant.

    fid: bilinear resize to 299 (no antialias, as pytorch-fid's F.interpolate) and 2x - 1.
    imagenet: (x - mean) / std; the images must already be 299x299 (StarGAN v2 resizes with PIL
    before, see preprocess.py).
    """
    x = images01.astype(jnp.float32)
    if variant == "fid":
        return 2.0 * resize_bilinear(x, INPUT_SIZE) - 1.0
    if x.shape[1:3] != (INPUT_SIZE, INPUT_SIZE):
        raise ValueError(f"the imagenet variant takes {INPUT_SIZE}x{INPUT_SIZE} inputs, got {x.shape[1:3]}")
    mean = jnp.asarray(IMAGENET_MEAN, jnp.float32)
    std = jnp.asarray(IMAGENET_STD, jnp.float32)
    return (x - mean) / std


def features(params: dict, images01: jax.Array, variant: str, precision=jax.lax.Precision.HIGHEST) -> jax.Array:
    """(N, H, W, 3) images in [0, 1] -> (N, 2048) float32 pool features of the variant."""
    return network(params, network_input(images01, variant), variant, precision)


@functools.lru_cache(maxsize=None)
def used_tensor_names(variant: str) -> tuple:
    """Every parameter name `network` reads, in reading order (each must appear once)."""
    seen = []

    class Recorder(dict):
        def __getitem__(self, k):
            seen.append(k)
            return super().__getitem__(k)

    shapes = {
        k: jax.ShapeDtypeStruct(tuple(s[i] for i in (2, 3, 1, 0)) if len(s) == 4 else s, jnp.float32)
        for k, s in expected_shapes().items()
    }
    jax.eval_shape(
        lambda p, x: network(Recorder(p), x, variant),
        shapes,
        jax.ShapeDtypeStruct((1, INPUT_SIZE, INPUT_SIZE, 3), jnp.float32),
    )
    return tuple(seen)
