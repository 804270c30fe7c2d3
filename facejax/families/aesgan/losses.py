"""AesGAN's losses (``AesGAN.build_model_GAN``, ``loss_dis``, ``loss_gen``; completion_beauty.md B.6-B.8).

D      mean softplus(-D(real)) + mean softplus(D(fake))     (lam_gp is defined but no penalty is implemented)
G      mean softplus(-D(fake))
       + lambda_recon * mean_b [ sum |x~ - x| / (H W C) ]     (x~ the composite; only masked pixels differ)
       + lambda_parsing * CE(parsing(crop(x~)), labels) / B  (CE mean over pixels and batch; / B once more)
       + lambda_aesthetic * mean (E(crop_eye(x~)) - E(crop_eye(ref)))^2   (E: conv_net features)
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def d_loss(real_logits, fake_logits):
    return jnp.mean(jax.nn.softplus(-real_logits)) + jnp.mean(jax.nn.softplus(fake_logits))


def g_adv(fake_logits):
    return jnp.mean(jax.nn.softplus(-fake_logits))


def recon(x_tilde, x):
    b = x.shape[0]
    per = jnp.sum(jnp.abs(x_tilde - x).reshape(b, -1), axis=1) / (x[0].size)
    return jnp.mean(per)


def parsing_ce(logits, labels):
    """Mean pixel-wise softmax cross-entropy (a one-hot product: no gather across a split batch)."""
    logp = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)
    return -jnp.mean(jnp.sum(jax.nn.one_hot(labels, logits.shape[-1]) * logp, axis=-1))


def aesthetic(feat_out, feat_ref):
    return jnp.mean(jnp.square(feat_out.astype(jnp.float32) - feat_ref.astype(jnp.float32)))


def _select(offset, size: int, n: int):
    """(B, size, n) 0/1 matrices picking rows offset .. offset + size - 1."""
    return jax.nn.one_hot(offset[:, None] + jnp.arange(size)[None], n)


def crop_offsets(key, b: int, h: int, w: int, size: int, random: bool = True):
    """(B, 2) offsets of `random_crops`: uniform (tf.random_crop), or the centre without `random`."""
    if random:
        ky, kx = jax.random.split(key)
        oy = jax.random.randint(ky, (b,), 0, h - size + 1)
        ox = jax.random.randint(kx, (b,), 0, w - size + 1)
    else:
        oy = jnp.full((b,), (h - size) // 2)
        ox = jnp.full((b,), (w - size) // 2)
    return jnp.stack([oy, ox], axis=1)


def random_crops(x, key, size: int, random: bool = True, offsets=None):
    """tf.random_crop of each image (uniform offsets; a centre crop without `random`): (crops, offsets (B, 2)).
    `offsets`: drawn already (crop_offsets; for a micro-batch of a larger batch), instead of from `key`.
    Selection matrices instead of per-example slices keep a batch split over devices split."""
    b, h, w = x.shape[:3]
    if offsets is None:
        offsets = crop_offsets(key, b, h, w, size, random)
    oy, ox = offsets[:, 0], offsets[:, 1]
    hi = jax.lax.Precision.HIGHEST
    y = jnp.einsum("boh,bhwc->bowc", _select(oy, size, h), x, precision=hi)
    return jnp.einsum("bpw,bowc->bopc", _select(ox, size, w), y, precision=hi), jnp.stack([oy, ox], axis=1)


def crop_labels(labels, offsets, size: int):
    """The same crops of (B, H, W) integer label maps."""
    hi = jax.lax.Precision.HIGHEST
    h, w = labels.shape[1:]
    y = jnp.einsum("boh,bhw->bow", _select(offsets[:, 0], size, h), labels.astype(jnp.float32), precision=hi)
    out = jnp.einsum("bpw,bow->bop", _select(offsets[:, 1], size, w), y, precision=hi)
    return jnp.round(out).astype(jnp.int32)


def resize_labels_nearest(labels, size: int):
    """The whole label map to size x size (nearest, TF1's floor(i * in / out))."""
    h = labels.shape[1]
    idx = jnp.floor(jnp.arange(size) * (h / size)).astype(jnp.int32)
    return labels[:, idx][:, :, idx]


def lr_multiplier(step, total: int, start: int, offset: int, floor: float):
    """The original's lr_decay at iteration `step` (0-based): 1 until `start`; then (total - step) / (total -
    offset), recomputed only while the previous value is > floor, so it holds at the first value <= floor."""
    step = jnp.asarray(step, jnp.float32)
    denom = float(max(total - offset, 1))
    raw = (total - step) / denom
    # first step after `start` whose value is <= floor
    s_star = max(start + 1, int(-(-(total - floor * denom) // 1)))
    held = (total - s_star) / denom
    decayed = jnp.maximum(raw, held)
    return jnp.where(step > start, decayed, 1.0)
