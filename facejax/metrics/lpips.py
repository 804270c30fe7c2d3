"""LPIPS (Zhang et al. 2018), AlexNet trunk + v0.1 linear heads, as the lpips package computes it.

    d(x0, x1) = sum_l mean_hw( sum_c w_lc (f0_lchw - f1_lchw)^2 ),  f = unit-normalised AlexNet ReLU outputs

Inputs are NHWC images in [-1, 1] (the lpips package's convention; facejax images already are).
Steps, all as `lpips.LPIPS(net='alex', version='0.1')`: ScalingLayer ((x - shift) / scale with
shift (-.030, -.088, -.188), scale (.458, .448, .450)); torchvision AlexNet `features` up to each of
the 5 ReLUs (64, 192, 384, 256, 256 channels); `normalize_tensor` x / (sqrt(sum_c x^2) + 1e-10);
squared difference; the bias-free 1x1 "lin" convs (dropout is off in eval); spatial mean; sum.

StarGAN v2's own metrics/lpips.py computes the same quantity with its copy of the v0.1 heads and
x * rsqrt(sum_c x^2 + 1e-10) as the normalisation (a difference far below the reported digits).

Weights: torchvision's alexnet-owt-7be5be79.pth (features.* used, classifier.* ignored) and the
lpips package's weights/v0.1/alex.pth (lin0..lin4), found in the installed package when no path is
given.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from facejax.errors import FacejaxError
from facejax.metrics import weights as weights_lib

SHIFT = (-0.030, -0.088, -0.188)
SCALE = (0.458, 0.448, 0.450)
CHANNELS = (64, 192, 384, 256, 256)
# torchvision AlexNet `features`: (index, in, out, kernel, stride, padding); a ReLU follows each
# conv and LPIPS taps it; max pools (3, stride 2) sit before features.3 and features.6.
ALEX_CONVS = (
    (0, 3, 64, 11, 4, 2),
    (3, 64, 192, 5, 1, 2),
    (6, 192, 384, 3, 1, 1),
    (8, 384, 256, 3, 1, 1),
    (10, 256, 256, 3, 1, 1),
)
_POOL_BEFORE = (3, 6)


def alexnet_shapes() -> dict:
    out = {}
    for i, cin, cout, k, _, _ in ALEX_CONVS:
        out[f"features.{i}.weight"] = (cout, cin, k, k)
        out[f"features.{i}.bias"] = (cout,)
    return out


def lin_shapes() -> dict:
    return {f"lin{k}.model.1.weight": (1, c, 1, 1) for k, c in enumerate(CHANNELS)}


def load_params(alexnet_path: str, lin_path: str = "", *, alexnet_field: str = "", lin_field: str = "") -> dict:
    """{"alex": {features.i.weight (HWIO), features.i.bias}, "lin": (5 arrays of (C,))}."""
    alex = weights_lib.select(
        weights_lib.read_tensors(alexnet_path, "alexnet", alexnet_field),
        alexnet_shapes(),
        ("classifier.*",),
        alexnet_path,
        "alexnet",
    )
    lin_path = lin_path or weights_lib.installed_lpips_lin("alex")
    if not lin_path:
        raise weights_lib.missing_file_error("lpips_alex_lin", "", lin_field or "the lpips package is not installed")
    lin = weights_lib.select(
        weights_lib.read_tensors(lin_path, "lpips_alex_lin", lin_field), lin_shapes(), (), lin_path, "lpips_alex_lin"
    )
    return {
        "alex": {k: jnp.asarray(np.transpose(v, (2, 3, 1, 0)) if v.ndim == 4 else v) for k, v in alex.items()},
        "lin": tuple(jnp.asarray(lin[f"lin{k}.model.1.weight"].reshape(-1)) for k in range(len(CHANNELS))),
    }


def _max_pool(x):
    return jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, 3, 3, 1), (1, 2, 2, 1), "VALID")


def alexnet_features(alex: dict, x: jax.Array, precision=jax.lax.Precision.HIGHEST) -> list[jax.Array]:
    """The 5 ReLU outputs of AlexNet `features` (NHWC), for an already scaled input."""
    outs = []
    for i, _, _, _, stride, pad in ALEX_CONVS:
        if i in _POOL_BEFORE:
            x = _max_pool(x)
        x = jax.lax.conv_general_dilated(
            x,
            alex[f"features.{i}.weight"],
            (stride, stride),
            ((pad, pad), (pad, pad)),
            dimension_numbers=("NHWC", "HWIO", "NHWC"),
            precision=precision,
        )
        x = jax.nn.relu(x + alex[f"features.{i}.bias"])
        outs.append(x)
    return outs


def normalized_features(params: dict, images: jax.Array, precision=jax.lax.Precision.HIGHEST) -> list[jax.Array]:
    """Unit-normalised AlexNet features of [-1, 1] NHWC images (what LPIPS compares)."""
    x = (images.astype(jnp.float32) - jnp.asarray(SHIFT)) / jnp.asarray(SCALE)
    feats = alexnet_features(params["alex"], x, precision)
    return [f / (jnp.sqrt(jnp.sum(f * f, axis=-1, keepdims=True)) + 1e-10) for f in feats]


def distance_from_features(params: dict, f0: list, f1: list) -> jax.Array:
    """(N,) LPIPS between two lists of normalised features."""
    total = 0.0
    for w, a, b in zip(params["lin"], f0, f1):
        d = jnp.einsum("nhwc,c->nhw", jnp.square(a - b), w, precision=jax.lax.Precision.HIGHEST)
        total = total + jnp.mean(d, axis=(1, 2))
    return total


def distance(params: dict, x0: jax.Array, x1: jax.Array, precision=jax.lax.Precision.HIGHEST) -> jax.Array:
    """(N,) LPIPS between [-1, 1] NHWC image batches x0 and x1 (same shape)."""
    if x0.shape != x1.shape:
        raise FacejaxError(f"LPIPS compares images of the same size, got {x0.shape} and {x1.shape}")
    n = x0.shape[0]
    f = normalized_features(params, jnp.concatenate([x0, x1]), precision)
    return distance_from_features(params, [t[:n] for t in f], [t[n:] for t in f])


def pairwise_mean(params: dict, outs: jax.Array, precision=jax.lax.Precision.HIGHEST) -> jax.Array:
    """StarGAN v2's diversity score per source: outs (K, N, H, W, 3), K outputs per source ->
    (N,) mean LPIPS over the K(K-1)/2 pairs (features computed once per output)."""
    k, n = outs.shape[:2]
    feats = normalized_features(params, outs.reshape((k * n,) + outs.shape[2:]), precision)
    feats = [f.reshape((k, n) + f.shape[1:]) for f in feats]
    vals = []
    for i in range(k - 1):
        for j in range(i + 1, k):
            vals.append(distance_from_features(params, [f[i] for f in feats], [f[j] for f in feats]))
    return jnp.mean(jnp.stack(vals), axis=0)
