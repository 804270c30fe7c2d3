"""The face-feature network Phi of the beautification loss: VGG-Face, read from a file the user supplies.

The original (beautify_image.py) loads a frozen Keras graph ``./models/vgg_tf.pb`` (a Drive download) and
compares ``conv2d_16/BiasAdd``: the layer names of a Sequential Keras VGG-Face whose 16th conv is the final
2622-way identity layer (fc8 written as a 1x1 conv), on images resized to 224 (completion_beauty.md C.6).
facejax computes the same network from the widely available PyTorch conversion of VGG-Face,
``vgg_face_dag.pth`` (www.robots.ox.ac.uk/~albanie/pytorch-models.html): keys conv1_1 .. conv5_3, fc6, fc7,
fc8 (``.weight``/``.bias``, PyTorch layouts), input RGB in [0, 255] minus the mean (129.186, 104.762, 93.594),
13 3x3 convs with ReLU and 5 max pools, fc6/fc7 with ReLU, fc8 logits = Phi (dropout off: the net is frozen).

How images in [-1, 1] reach that input (config.beautify.face_input):
  "original"  (default) as beautify_image.py: the [-1, 1] pixels go straight into the network (no [0, 255]
              scaling, no mean subtraction), resized to face_size by TF1's tf.image.resize_images bilinear, the
              legacy sampling (align_corners=False, no half-pixel centres: source = i * in / out, clamped at the
              last pixel; ``resize_bilinear_tf1``)
  "vgg_face"  the network's own preprocessing: resized half-pixel bilinear (PyTorch's F.interpolate, no
              antialias), mapped to [0, 255] minus the mean (facejax's earlier behaviour). The features' scale
              grows by ~127.5, so the feature term weighs ~1.6e4 times more against the pixel term
              (docs/beholder.md has the measurement).
 The widths are read from the file (any VGG-16 shape whose fc6 matches face_size / 32), so tests can use
a small random file; a missing file or a file of another layout is a FacejaxError naming it.
"""

from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import numpy as np

from facejax.errors import FacejaxError
from facejax.families.beholder.torch_layout import read_state_dict
from facejax.nn.layers import resize_bilinear

CONVS = (
    "conv1_1",
    "conv1_2",
    "conv2_1",
    "conv2_2",
    "conv3_1",
    "conv3_2",
    "conv3_3",
    "conv4_1",
    "conv4_2",
    "conv4_3",
    "conv5_1",
    "conv5_2",
    "conv5_3",
)
FCS = ("fc6", "fc7", "fc8")
MEAN = np.array([129.186279296875, 104.76238250732422, 93.59396362304688], np.float32)
FILE = "vgg_face_dag.pth"
SOURCE = "https://www.robots.ox.ac.uk/~albanie/models/pytorch-mcn/vgg_face_dag.pth"


def load(path: str, face_size: int, field: str = "config.beautify.face_weights") -> dict:
    """{name: (HWIO kernel | (in, out) matrix), name_b: bias} of VGG-Face, checked against face_size."""
    if not path or not os.path.isfile(path):
        given = f"{path!r} does not exist" if path else "no file was given"
        raise FacejaxError(
            f"VGG-Face weights ({field}): {given}; expected {FILE} (the PyTorch VGG-Face from "
            f"{SOURCE}), the face-feature network of Beholder-GAN's beautification loss (the original's "
            f"vgg_tf.pb); facejax does not download weights. Or set config.beautify.alpha=1 (pixels only)"
        )
    sd = read_state_dict(path, field)
    sd = {k[len("module.") :] if k.startswith("module.") else k: np.asarray(v, np.float32) for k, v in sd.items()}
    missing = [f"{n}.{p}" for n in CONVS + FCS for p in ("weight", "bias") if f"{n}.{p}" not in sd]
    if missing:
        raise FacejaxError(f"{path} ({field}) is not VGG-Face ({FILE}): missing {', '.join(missing[:4])}")
    out, cin = {}, 3
    for n in CONVS:
        w = sd[f"{n}.weight"]
        if w.ndim != 4 or w.shape[1] != cin or w.shape[2:] != (3, 3):
            raise FacejaxError(f"{path} ({field}): {n}.weight has shape {w.shape}, expected [out, {cin}, 3, 3]")
        out[n], out[n + "_b"], cin = jnp.asarray(w.transpose(2, 3, 1, 0)), jnp.asarray(sd[f"{n}.bias"]), w.shape[0]
    side = face_size // 32
    fan = cin * side * side
    for n in FCS:
        w = sd[f"{n}.weight"].reshape(sd[f"{n}.weight"].shape[0], -1)
        if w.shape[1] != fan:
            raise FacejaxError(
                f"{path} ({field}): {n}.weight takes {w.shape[1]} inputs, expected {fan} (config."
                f"beautify.face_size={face_size}: {cin} x {side} x {side} after conv5_3 and pool5)"
            )
        out[n], out[n + "_b"], fan = jnp.asarray(w.T), jnp.asarray(sd[f"{n}.bias"]), w.shape[0]
    return out


INPUTS = ("original", "vgg_face")


def _tf1_weights(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) interpolation matrix of TF1's legacy bilinear resize along one axis."""
    scale = n_in / n_out
    w = np.zeros((n_out, n_in), np.float64)
    for i in range(n_out):
        src = i * scale
        lo = int(np.floor(src))
        hi = min(int(np.ceil(src)), n_in - 1)
        frac = src - lo
        w[i, lo] += 1.0 - frac
        w[i, hi] += frac
    return w.astype(np.float32)


def resize_bilinear_tf1(x, size: int):
    """tf.image.resize_images(x, [size, size]) of TF1 (bilinear, align_corners=False, the legacy pixel
    convention) on NHWC float images."""
    h, w = x.shape[1:3]
    if (h, w) == (size, size):
        return x
    hi = jax.lax.Precision.HIGHEST
    x = jnp.einsum("oh,nhwc->nowc", _tf1_weights(h, size), x, precision=hi)
    return jnp.einsum("pw,nowc->nopc", _tf1_weights(w, size), x, precision=hi)


def features(params: dict, x, face_size: int, face_input: str = "original"):
    """fc8 of VGG-Face for NHWC images in [-1, 1] (float32, (N, 2622) with the real weights); face_input as
    config.beautify.face_input (the module docstring)."""
    if face_input == "original":
        x = resize_bilinear_tf1(x.astype(jnp.float32), face_size)
    elif face_input == "vgg_face":
        x = resize_bilinear(x.astype(jnp.float32), face_size)
        x = (x + 1.0) * 127.5 - MEAN
    else:
        raise FacejaxError(f"config.beautify.face_input={face_input!r}: expected one of {', '.join(INPUTS)}")
    for i, n in enumerate(CONVS):
        x = jax.lax.conv_general_dilated(
            x, params[n], (1, 1), ((1, 1), (1, 1)), dimension_numbers=("NHWC", "HWIO", "NHWC")
        )
        x = jax.nn.relu(x + params[n + "_b"])
        if n in ("conv1_2", "conv2_2", "conv3_3", "conv4_3", "conv5_3"):
            x = jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")
    x = x.transpose(0, 3, 1, 2).reshape(x.shape[0], -1)  # the PyTorch model flattens NCHW
    for n in FCS:
        x = x @ params[n] + params[n + "_b"]
        if n != "fc8":
            x = jax.nn.relu(x)
    return x
