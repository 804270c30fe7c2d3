"""PGGAN's training schedule (train.py TrainingSchedule), as a function of the step, and its TF Adam.

The original counts real images shown (cur_nimg) and recomputes the level of detail every minibatch_repeats
minibatches: with kimg = nimg / 1000, phase_dur = training_kimg + transition_kimg,

    phase_idx = floor(kimg / phase_dur);  phase_kimg = kimg - phase_idx * phase_dur
    lod = R - log2(initial_resolution) - phase_idx - max(phase_kimg - training_kimg, 0) / transition_kimg
    lod = max(lod, 0);  resolution = 2^(R - floor(lod))

so every resolution is first trained stable for training_kimg, then the next one fades in over
transition_kimg. facejax's step s (1-based) shows batch_size images; the lod of step s is the one of
nimg = ((s - 1) // minibatch_repeats) * minibatch_repeats * batch_size. Everything is integer arithmetic on image
counts, in Python (``phase``: the static (level, fading) pair that picks the compiled step) and traced inside
the step (``fade``, the weight of the old path = lod - floor(lod), and the optimizer reset at phase starts:
reset_opt_for_new_lod resets Adam whenever floor(lod) or ceil(lod) changes).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax


class Schedule:
    def __init__(self, config):
        s = config.schedule
        self.R = int(math.log2(config.img_size))
        self.I = int(math.log2(s.initial_resolution))
        self.train_img = int(round(s.training_kimg * 1000))
        self.trans_img = int(round(s.transition_kimg * 1000))
        self.repeats = int(s.minibatch_repeats)
        self.batch = int(config.batch_size)

    def nimg(self, step):
        """Images shown before the lod of step `step` was computed (int or traced int)."""
        return ((step - 1) // self.repeats) * self.repeats * self.batch

    def _position(self, nimg):
        dur = self.train_img + self.trans_img
        return nimg // dur, nimg % dur - self.train_img  # (phase_idx, images into the fade; <= 0: stable)

    def phase(self, step: int) -> tuple[int, bool]:
        """(level = log2 of the resolution trained, fading) of step `step`."""
        idx, fade_pos = self._position(self.nimg(step))
        if self.R - self.I - idx <= 0:
            return self.R, False
        if fade_pos > 0 and self.trans_img > 0:
            return self.I + idx + 1, True
        return self.I + idx, False

    def fade(self, step):
        """The old path's weight lod - floor(lod) of a (traced) step in a fading phase."""
        _, fade_pos = self._position(self.nimg(step))
        return 1.0 - fade_pos.astype(jnp.float32) / float(max(self.trans_img, 1))

    def phase_code(self, step):
        """A traced integer that differs between phases (2 * level + fading), for the optimizer reset."""
        idx, fade_pos = self._position(self.nimg(step))
        clamped = self.R - self.I - idx <= 0
        fading = (fade_pos > 0) & (self.trans_img > 0) & ~clamped
        level = jnp.where(clamped, self.R, self.I + idx + fading.astype(jnp.int32))
        return 2 * level + fading.astype(jnp.int32)

    def starts_phase(self, step):
        """True (traced) on the first step of every phase after the first: the original resets Adam there."""
        return (step > 1) & (self.phase_code(step) != self.phase_code(jnp.maximum(step - 1, 1)))

    def phase_starts(self, total_steps: int) -> list[tuple[int, tuple]]:
        """[(first step, phase)] of every phase up to total_steps (for reports and tests)."""
        out, last = [], None
        for s in range(1, total_steps + 1):
            p = self.phase(s)
            if p != last:
                out.append((s, p))
                last = p
        return out


class TFAdamState(NamedTuple):
    count: jax.Array
    mu: optax.Updates
    nu: optax.Updates


def tf_adam(b1: float, b2: float, eps: float) -> optax.GradientTransformation:
    """tf.train.AdamOptimizer's direction without the learning rate: sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) +
    eps) (TF puts eps on the uncorrected sqrt(v); optax.adam puts it on the corrected one)."""

    def init(params):
        zeros = jax.tree.map(jnp.zeros_like, params)
        return TFAdamState(jnp.zeros((), jnp.int32), zeros, jax.tree.map(jnp.zeros_like, params))

    def update(grads, state, params=None):
        del params
        t = state.count + 1
        mu = jax.tree.map(lambda m, g: b1 * m + (1 - b1) * g, state.mu, grads)
        nu = jax.tree.map(lambda v, g: b2 * v + (1 - b2) * g * g, state.nu, grads)
        tf32 = t.astype(jnp.float32)
        k = jnp.sqrt(1 - b2**tf32) / (1 - b1**tf32)
        updates = jax.tree.map(lambda m, v: k * m / (jnp.sqrt(v) + eps), mu, nu)
        return updates, TFAdamState(t, mu, nu)

    return optax.GradientTransformation(init, update)
