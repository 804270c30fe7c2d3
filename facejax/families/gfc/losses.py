"""GFC's losses with the original's reductions (matlab/FaceCompletion_training/GFC_*_loss*.m), which the loss
weights 300 / 300 / 0.05 of gradstack.m are calibrated against:

  reconstruction  GFC_L1_loss: sum over every pixel of the WHOLE image of sqrt(d^2 + eps^2), / B
  D               GFC_BCE_loss1: -log(p + eps) t - log(1 - p + eps) (1 - t), summed over the D batch (fakes then
                  reals), / its size; p = sigmoid(logit) (the prototxts end in a Sigmoid)
  G adversarial   GFC_BCE_loss2: -log(p + eps) on the fakes, / B (non-saturating)
  parsing         GFC_Softmax_loss: softmax cross-entropy summed over pixels, / B
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def smooth_l1(out, truth, eps: float = 1e-12):
    """sum over H, W, C of sqrt(d^2 + eps^2), mean over the batch."""
    d = (out - truth).astype(jnp.float32)
    return jnp.mean(jnp.sum(jnp.sqrt(d * d + eps * eps), axis=(1, 2, 3)))


def d_bce(fake_logits, real_logits, eps: float = 1e-12):
    """The D loss on [fakes (label 0), reals (label 1)]: mean BCE over the 2B outputs."""
    p_fake, p_real = jax.nn.sigmoid(fake_logits), jax.nn.sigmoid(real_logits)
    total = jnp.sum(-jnp.log(1.0 - p_fake + eps)) + jnp.sum(-jnp.log(p_real + eps))
    return total / (fake_logits.shape[0] + real_logits.shape[0])


def g_adv(fake_logits, eps: float = 1e-12):
    """-log(D(fake) + eps), mean over the batch."""
    return jnp.mean(-jnp.log(jax.nn.sigmoid(fake_logits) + eps))


def parsing_ce_sum(logits, labels):
    """Pixel-wise softmax cross-entropy summed over H, W, mean over the batch. labels: (B, H, W) int."""
    logp = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)
    nll = -jnp.take_along_axis(logp, labels[..., None].astype(jnp.int32), axis=-1)[..., 0]
    return jnp.mean(jnp.sum(nll, axis=(1, 2)))


def parsing_ce_mean(logits, labels):
    """Mean over pixels and batch (Caffe's SoftmaxWithLoss, normalization VALID): the parsing net's training."""
    logp = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)
    return -jnp.mean(jnp.take_along_axis(logp, labels[..., None].astype(jnp.int32), axis=-1))
