"""AesGAN learns on synthetic_faces: after a short training the in-painted eyes score higher with the aesthetic
network than the masked input, and their colour moves toward the reference's eyes.

Setup: the session's aesthetic network (200 steps of aesthetic_synthetic: high = open eyes, low = closed or
erased eyes) and parsing network (3 steps) are frozen; the `synthetic` preset (32 px, every loss at the
original's weight) trains STEPS iterations at batch 8 on the stream of selected (target, reference) pairs: the
session's shared run (conftest.gan_run, trainer.train; the run test reads the same run), compared with the state
it started from (the same seed's init). The
evaluation pairs are test-split faces (open or closed eyes) with references chosen by the original's rule among
the same identity's train images. Measured on them: the aesthetic score of the eye crops of the outputs, of the
masked inputs and of the inputs; and the mean RGB colour ([-1, 1]) of each output's masked region against the
mean colour of its reference's masked region (the reference's eyes), before and after training.

Measured (CPU, deterministic; printed by the test; unchanged since the run moved into trainer.train), 100 steps,
64 eval pairs: aesthetic score of the masked inputs
0.078, of the inputs 0.766, of the outputs 0.166 before -> 0.921 after training; eye-region colour distance to
the reference's eyes: masked inputs 0.452 (their region is 0), inputs 0.140 (same identity, same iris colour),
outputs 0.837 -> 0.273. The aesthetic network grades erased eyes low (aesthetic_synthetic's masked_as_low), so
the score measures whether the hole was filled with eyes; the colour says the filling follows the reference
(whose identity, and so iris colour, is the target's: this does not separate reading the reference from
inferring the identity from the rest of the face).
"""

import numpy as np
import pytest

import jax

from facejax.families.aesgan import sample
from tests.families.aesgan.conftest import GAN_STEPS as STEPS


def _region_colour(images, masks):
    m = masks[..., 0] > 0.5
    return np.stack([img[mk].mean(axis=0) for img, mk in zip(images, m)])


@pytest.mark.slow
@pytest.mark.learning
def test_inpainted_eyes_score_higher_and_take_the_reference_colour(gan_run):
    """The session's run (conftest.gan_run: trainer.train for STEPS iterations) against its initial state."""
    family = gan_run.run.family
    assert gan_run.trained_steps == STEPS and int(gan_run.state.step) == STEPS
    ev = family.evaluator(gan_run.run.mesh)
    pairs = ev.outputs(jax.device_get(gan_run.init.ema))
    m_t = np.asarray(family.masks(pairs["eyes"]))
    ref_eyes = family.pairs("eval").faces.eyes[family.pairs("eval").reference]
    m_r = np.asarray(family.masks(ref_eyes))
    c_ref = _region_colour(pairs["ref"], m_r)

    def numbers(out):
        scores = ev._scores(out, pairs["eyes"])
        dist = float(np.mean(np.linalg.norm(_region_colour(out, m_t) - c_ref, axis=1)))
        return float(np.mean(scores)), dist

    s_masked, d_masked = numbers(pairs["masked"])
    s_inputs, d_inputs = numbers(pairs["x"])
    s_before, d_before = numbers(pairs["out"])
    out, _ = sample.inpaint(family, jax.device_get(gan_run.state.ema["G"]),
                            {k: pairs[k] for k in ("x", "eyes", "ref")} | {"ref_eyes": ref_eyes})
    s_after, d_after = numbers(out)
    print(f"learning: {STEPS} steps, {len(out)} eval pairs; aesthetic score masked {s_masked:.3f}, inputs "
          f"{s_inputs:.3f}, outputs {s_before:.3f} -> {s_after:.3f}; eye-region colour distance to the reference's "
          f"eyes: masked {d_masked:.3f}, inputs {d_inputs:.3f}, outputs {d_before:.3f} -> {d_after:.3f}")
    # Measured: score masked 0.078, inputs 0.766, outputs 0.166 -> 0.921 (the closed-eye targets come out open);
    # colour distance masked 0.452, inputs 0.140, outputs 0.837 -> 0.273 (0.164 with a gather-based crop that
    # differs only in float rounding: 100 steps of a GAN are sensitive, hence the margins). Fewer steps do not
    # keep the margins: 60 steps give score 0.942 but colour 0.346 (> 0.75 * 0.452).
    assert s_after > s_masked + 0.5 and s_after > s_before + 0.5
    assert d_after < 0.75 * d_masked and d_after < 0.5 * d_before
