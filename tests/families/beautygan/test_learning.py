"""BeautyGAN learns on synthetic_faces: after a short training the output's lips take the reference's colour.

The `synthetic` preset's train step (every loss at the original's weights; no perceptual term, as the preset
runs without a VGG file) runs on one fixed batch of 8 (non-makeup, makeup) pairs from the training stream. On
those pairs the mean colour of the output's lip region (the source's lips, labels 7 + 9) is compared with the
reference's lip colour and with the source's own, before and after. Then every source is given another
pair's reference: the output's lips must be nearer the new reference than the one the pair was trained with.

Measured (CPU, deterministic; the test prints them): distances (RGB in [-1, 1]) output-to-reference 0.656 ->
0.136 and output-to-source 0.701 -> 0.620 after 60 steps (source-to-reference 0.698); with another pair's
reference, 0.584 to it and 0.655 to the trained one. So the short run makes the lips of the trained pairs take
the reference's colour, and only starts to read the reference itself. Held-out pairs need far longer: on the
stream of all training pairs, 1,500 steps at batch 8 bring the held-out lips' distance to the reference from
0.571 to 0.412 (to the source 0.592 -> 0.389), the output's lip colour following the reference's with slope
0.25 (0 at init); the 32-px lips are 8 pixels on average, 1/4 px at the generator's 8x8 bottleneck.

Reading the reference is measured over all 8 x 8 (source, reference) pairings of the batch: the mean distance to the
new reference against the trained one (7 shifts averaged; one shift alone is 8 pairs), and the within-source slope
of the output's lip colour on the reference's with its t statistic. Per XLA:CPU instruction set (tests/isa_matrix.sh
on an AMD EPYC with AVX2; deterministic per ISA):
                                    native (AVX2)   SSE4_2          AVX
  output to reference before/after  0.656 / 0.143   0.656 / 0.190   0.656 / 0.176
  output to source after            0.607           0.671           0.633
  new reference / trained one       0.530 / 0.561   0.528 / 0.567   0.550 / 0.567
  slope on the reference (t)        0.236 (7.0)     0.210 (6.5)     0.185 (5.6)
The distances alone separate by 3-7%; the slope's t statistic is what a generator that ignores the reference (slope
0) cannot reach. AVX-512 and AMX could not be measured here.
"""

import jax
import numpy as np
import pytest
from tests.families.beautygan.conftest import PRESET_OVERRIDES

from facejax import configs
from facejax.families.beautygan import losses
from facejax.train import mesh as mesh_lib
from facejax.train import trainer

STEPS = 60


def _lip_colour(images, parsing):
    masks = np.isin(parsing[..., 0], losses.LIPS)
    return np.stack([img[m].mean(axis=0) for img, m in zip(images, masks)])


def reads_the_reference(out, ref):
    """out, ref: (source, k, 3) lip colours of source i's output with reference k, and of reference k. The pooled
    within-source regression slope of the output's colour on the reference's (0: the output ignores which reference
    it is given) and its t statistic."""
    o, r = out - out.mean(axis=1, keepdims=True), ref - ref.mean(axis=1, keepdims=True)
    slope = float(np.sum(o * r) / np.sum(r * r))
    resid = o - slope * r
    return slope, float(slope / np.sqrt(np.sum(resid * resid) / (resid.size - 1) / np.sum(r * r)))


def _dist(a, b):
    return float(np.mean(np.linalg.norm(a - b, axis=1)))


@pytest.mark.slow
@pytest.mark.learning
def test_output_lips_take_the_reference_colour(synthetic_tfds, tmp_path):
    # Pinned to the switches the numbers above were measured with: sources once per epoch ("epochs"; the reference
    # draws them with replacement, the default "random", which gives another fixed batch) and the clipped eye box.
    pinned = {"data.pairing": "epochs", "eye_box": "clip", "data.data_dir": synthetic_tfds}
    cfg = configs.load("beautygan:synthetic", **PRESET_OVERRIDES, **pinned)
    run = trainer.Run(cfg, str(tmp_path / "run"))
    family = run.family
    b = jax.tree.map(lambda t: t._numpy(), next(iter(family.train_dataset(cfg.batch_size, 0, 1))))
    batch = mesh_lib.global_batch(b, run.mesh)
    x, ref = b["x_src"], b["x_ref"]
    c_src, c_ref = _lip_colour(x, b["parsing_src"]), _lip_colour(ref, b["parsing_ref"])
    gen = jax.jit(lambda g, x, y: family.generate(g, x, y)[0])

    def lips(state, refs):
        return _lip_colour(np.asarray(gen(jax.device_get(state.params["G"]), x, refs)), b["parsing_src"])

    state = run.restore_or_init()
    before = lips(state, ref)
    for _ in range(STEPS):  # one step in flight at a time, as the trainer runs on CPU (trainer.train)
        state, metrics = run.step_fn(state, batch)
        jax.block_until_ready(metrics)
    after = lips(state, ref)
    # source i with pair i+k's reference, for every k = 1..7 (averaged: one shift alone is 8 pairs)
    new_ref, old_ref, outs = [], [], [after]
    for k in range(1, len(ref)):
        swapped = lips(state, np.roll(ref, -k, axis=0))
        outs.append(swapped)
        new_ref.append(_dist(swapped, np.roll(c_ref, -k, axis=0)))
        old_ref.append(_dist(swapped, c_ref))
    run.checkpointer.close()
    refs = np.stack([np.roll(c_ref, -k, axis=0) for k in range(len(ref))], axis=1)
    slope, t = reads_the_reference(np.stack(outs, axis=1), refs)

    d = {
        "src_ref": _dist(c_src, c_ref),
        "before_ref": _dist(before, c_ref),
        "before_src": _dist(before, c_src),
        "after_ref": _dist(after, c_ref),
        "after_src": _dist(after, c_src),
        "new_ref": float(np.mean(new_ref)),
        "old_ref": float(np.mean(old_ref)),
        "slope": slope,
        "t": t,
    }
    print(
        f"learning: {STEPS} steps; mean lip colour distance (RGB in [-1, 1]) source-reference {d['src_ref']:.3f}; "
        f"output to reference {d['before_ref']:.3f} -> {d['after_ref']:.3f}, to source {d['before_src']:.3f} -> "
        f"{d['after_src']:.3f}; with another pair's reference (mean of 7 shifts): to it {d['new_ref']:.3f}, "
        f"to the trained one "
        f"{d['old_ref']:.3f}; within-source slope of the output's lip colour on the reference's {slope:.3f} (t {t:.1f})"
    )
    # Measured: 0.656 -> 0.136 to the reference, 0.701 -> 0.620 to the source (source-reference 0.698).
    assert d["after_ref"] < 0.5 * d["before_ref"]
    assert d["after_ref"] < 0.5 * d["after_src"]
    # Measured: 0.584 to the new reference vs 0.655 to the trained one: after 60 steps on 8 pairs the generator
    # reads the reference a little (the lips leave the trained colour), far from a transfer that generalises.
    assert d["new_ref"] < d["old_ref"]
    assert d["slope"] > 0.05 and d["t"] > 3, "the output's lips ignore which reference they are given"
