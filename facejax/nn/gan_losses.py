"""Adversarial losses and gradient penalties shared by the families.

Discriminator functions take images and return per-example logits; penalties differentiate them
with respect to their input inside the discriminator's loss (a double backward under jax.grad).
"""

import jax
import jax.numpy as jnp
import optax


def bce_with_logits(logits, target: float):
    """mean BCEWithLogits(logits, target), the non-saturating GAN loss for target 1."""
    logits = logits.astype(jnp.float32)
    return optax.sigmoid_binary_cross_entropy(logits, jnp.full_like(logits, target)).mean()


def logits_and_r1(d_fn, x_real):
    """(d_fn(x_real), R1) where R1 = 0.5 * mean_b sum |d sum(D(x)) / dx_b|^2, from one forward."""
    logits, vjp = jax.vjp(d_fn, x_real)
    (grad,) = vjp(jnp.ones_like(logits))
    grad = grad.astype(jnp.float32).reshape(grad.shape[0], -1)
    return logits, 0.5 * jnp.mean(jnp.sum(grad**2, axis=1))


def interpolation_weights(key, x):
    """The interpolation weights of `gradient_penalty` for a batch shaped like x: U(0, 1), one per example."""
    return jax.random.uniform(key, (x.shape[0],) + (1,) * (x.ndim - 1), x.dtype)


def gradient_penalty(d_fn, x_real, x_fake, key):
    """WGAN-GP: mean (||d D(x_hat) / d x_hat||_2 - 1)^2 on random interpolates x_hat. `key`: a PRNG key, or the
    weights `interpolation_weights` drew (for a larger batch split into micro-batches, facejax/train/accum.py)."""
    alpha = key if jnp.issubdtype(key.dtype, jnp.floating) else interpolation_weights(key, x_real)
    x_hat = alpha * x_real + (1.0 - alpha) * x_fake
    logits, vjp = jax.vjp(d_fn, x_hat)
    (grad,) = vjp(jnp.ones_like(logits))
    norm = jnp.sqrt(jnp.sum(grad.astype(jnp.float32).reshape(grad.shape[0], -1) ** 2, axis=1))
    return jnp.mean((norm - 1.0) ** 2)
