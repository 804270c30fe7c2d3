"""AesGAN learns on synthetic_faces: after a short training the in-painted eyes score higher with the aesthetic
network than the masked input, and their colour moves toward the reference's eyes.

Setup: the session's aesthetic network (400 steps of aesthetic_synthetic: high = open eyes, low = closed or
erased eyes) and parsing network (3 steps) are frozen; the `synthetic` preset (32 px, every loss at the
original's weight) trains STEPS iterations at batch 8 on the stream of selected (target, reference) pairs: the
session's shared run (conftest.gan_run, trainer.train; the run test reads the same run), compared with the state
it started from (the same seed's init). The
evaluation pairs are test-split faces (open or closed eyes) with references chosen by the original's rule among
the same identity's train images. Measured on them: the aesthetic score of the eye crops of the outputs, of the
masked inputs and of the inputs; and the mean RGB colour ([-1, 1]) of each output's masked region against the
mean colour of its reference's masked region (the reference's eyes), before and after training.

Measured (CPU, deterministic per instruction set; printed by the test; tests/isa_matrix.sh with ISAS="native
SSE4_2 AVX" on a 2-core AMD EPYC, native = AVX2), 150 steps, 64 eval pairs, with the original's inputs (per-image
bytescale), cv2.ellipse masks and TF's spectral-norm gradient:

  ISA      score masked  inputs  outputs before -> after   colour masked  inputs  outputs before -> after
  AVX2     0.014         0.711   0.021 -> 0.963            0.551          0.202   0.916 -> 0.345
  SSE4_2   0.015         0.695   0.030 -> 0.963            0.534          0.185   0.901 -> 0.259
  AVX      0.024         0.721   0.045 -> 0.961            0.553          0.168   0.917 -> 0.192

(colour: the eye region's distance to the reference's eyes; masked inputs' region is 0; inputs: same identity,
same iris colour.) The aesthetic network grades erased eyes low (aesthetic_synthetic's masked_as_low), so
the score measures whether the hole was filled with eyes; the colour says the filling follows the reference
(whose identity, and so iris colour, is the target's: this does not separate reading the reference from
inferring the identity from the rest of the face).
"""

import jax
import numpy as np
import pytest
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
    pairs = ev.outputs(jax.device_get(gan_run.init.params))
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
    out, _ = family.sampler.inpaint(
        jax.device_get(gan_run.state.params["G"]), {k: pairs[k] for k in ("x", "eyes", "ref")} | {"ref_eyes": ref_eyes}
    )
    s_after, d_after = numbers(out)
    print(
        f"learning: {STEPS} steps, {len(out)} eval pairs; aesthetic score masked {s_masked:.3f}, inputs "
        f"{s_inputs:.3f}, outputs {s_before:.3f} -> {s_after:.3f}; eye-region colour distance to the reference's "
        f"eyes: masked {d_masked:.3f}, inputs {d_inputs:.3f}, outputs {d_before:.3f} -> {d_after:.3f}"
    )
    # Measured per ISA: see the module docstring. Before these settings (100 steps, the aesthetic network at 200
    # steps) the colour came out 0.351 (AVX2) and 0.369 (SSE4_2) against thresholds 0.429 and 0.410: 150 steps and
    # the better-trained aesthetic network leave more room. The score is far from its thresholds everywhere.
    assert s_after > s_masked + 0.5 and s_after > s_before + 0.5
    assert d_after < 0.75 * d_masked and d_after < 0.5 * d_before
