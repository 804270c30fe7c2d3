"""AesGAN's face-parsing network: the original's ``model_contour.build_model`` (completion_beauty.md B.7), a
SegNet-style encoder-decoder with max-unpooling, TF scope names kept (``conv1`` ... ``conv15``, ``bn_conv1`` ...,
``deconv5`` ... ``deconv0``, and the original's typo ``bn_decon3``).

Widths follow a base ``w`` (64 in the original):
  encoder  conv1 7x7 w, conv2 w, pool | conv3, conv4 2w, pool | conv5-7 4w, pool | conv8-10 8w, pool |
           conv11-13 8w, pool | conv14 3x3 64w (4096), conv15 1x1 8w (BN ``bn_deconv6``)
  decoder  unpool(pool5) deconv5 5x5 8w | unpool(pool4) deconv4 4w | unpool(pool3) deconv3 2w |
           unpool(pool2) deconv2 w | unpool(pool1) deconv1 w/2 | deconv0 5x5 -> num_classes logits
Every conv is SAME-padded without bias (glorot-uniform weights) and followed by slim BatchNorm + ReLU, except
deconv0. The image side must be a multiple of 32 (128 in the original: a random 128 crop of the 256 image,
per-image standardised; the caller prepares the input).

``train`` selects the BatchNorm mode: the original builds the net with ``is_training = True``, so even frozen
inside AesGAN it normalises with the batch's statistics; ``update`` also moves the running statistics (training
the network itself).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from facejax.families.aesgan.layers import BatchNorm, SameConv2d, glorot_uniform
from facejax.nn.unpool import max_pool2_argmax, max_unpool2

# (conv name, BN name, kernel, width multiple of w, pool after)
ENCODER = (
    ("conv1", "bn_conv1", 7, 1, False),
    ("conv2", "bn_conv2", 3, 1, True),
    ("conv3", "bn_conv3", 3, 2, False),
    ("conv4", "bn_conv4", 3, 2, True),
    ("conv5", "bn_conv5", 3, 4, False),
    ("conv6", "bn_conv6", 3, 4, False),
    ("conv7", "bn_conv7", 3, 4, True),
    ("conv8", "bn_conv8", 3, 8, False),
    ("conv9", "bn_conv9", 3, 8, False),
    ("conv10", "bn_conv10", 3, 8, True),
    ("conv11", "bn_conv11", 3, 8, False),
    ("conv12", "bn_conv12", 3, 8, False),
    ("conv13", "bn_conv13", 3, 8, True),
    ("conv14", "bn_conv14", 3, 64, False),
    ("conv15", "bn_deconv6", 1, 8, False),
)
DECODER = (
    ("deconv5", "bn_deconv5", 8.0),
    ("deconv4", "bn_deconv4", 4.0),
    ("deconv3", "bn_decon3", 2.0),
    ("deconv2", "bn_deconv2", 1.0),
    ("deconv1", "bn_deconv1", 0.5),
)


def layer_names() -> list[str]:
    """Attribute names in the original's creation order (the export's state_dict order)."""
    names = []
    for conv, bn, *_ in ENCODER:
        names += [conv, bn]
    for conv, bn, _ in DECODER:
        names += [conv, bn]
    return names + ["deconv0"]


class ParsingNet(nnx.Module):
    def __init__(self, width: int = 64, num_classes: int = 11, *, dtype=jnp.float32, rngs: nnx.Rngs):
        self.dtype, self.num_classes = dtype, num_classes
        conv = dict(use_bias=False, kernel_init=glorot_uniform, dtype=dtype, rngs=rngs)
        cin = 3
        for name, bn, k, mult, _ in ENCODER:
            setattr(self, name, SameConv2d(cin, mult * width, k, 1, **conv))
            setattr(self, bn, BatchNorm(mult * width))
            cin = mult * width
        for name, bn, mult in DECODER:
            out = max(int(mult * width), 1)
            setattr(self, name, SameConv2d(cin, out, 5, 1, **conv))
            setattr(self, bn, BatchNorm(out))
            cin = out
        self.deconv0 = SameConv2d(cin, num_classes, 5, 1, **conv)

    def __call__(self, x: jax.Array, train: bool = True, update: bool = False) -> jax.Array:
        if x.shape[1] % 32 or x.shape[2] % 32:
            raise ValueError(
                f"the parsing network pools 5 times; its input sides must be multiples of 32, got {x.shape[1:3]}"
            )
        h = x.astype(self.dtype)
        indices = []
        for name, bn, _, _, pool in ENCODER:
            h = jax.nn.relu(getattr(self, bn)(getattr(self, name)(h), train, update))
            if pool:
                h, idx = max_pool2_argmax(h)
                indices.append(idx)
        for (name, bn, _), idx in zip(DECODER, reversed(indices)):
            h = max_unpool2(h, idx)
            h = jax.nn.relu(getattr(self, bn)(getattr(self, name)(h), train, update))
        return self.deconv0(h).astype(jnp.float32)
