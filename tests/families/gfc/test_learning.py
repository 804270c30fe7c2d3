"""GFC learns on synthetic_faces: after a short stage-1 training (the reconstruction loss, as the paper starts) the
completed holes of held-out faces are closer to the truth than the noise the hole was filled with, than a fill with
the training data's mean colour, and than the mean face (the per-pixel mean of the training images, the best fill
that does not look at the face): G has learnt the individual face from its context, not only average colour and
layout.

The `synthetic` preset's train step runs on the training stream (random 16x16 holes, mirror pairs); then the test
split's faces get the named holes (config.masks) and the mean absolute error inside the hole is compared (RGB in
[-1, 1]); the mean colour and mean face are taken over the training batches the run read.

Measured per XLA:CPU instruction set (AMD EPYC, AVX2; `ISAS="SSE4_2 AVX native" WORKERS=1 bash tests/isa_matrix.sh
tests/families/gfc/test_learning.py`, 80-130 s each on 2 cores shared with other runs, 28 s on a quiet machine),
1300 steps at batch 8, lr 1e-3, hole L1 center / eyes / mouth:
  SSE4_2  completion 0.284 / 0.284 / 0.242, i.e. 0.760 / 0.790 / 0.707 of the mean face's, 0.44 / 0.44 / 0.39 of noise
  AVX     0.284 / 0.284 / 0.242 (the same to 3 decimals), 0.760 / 0.790 / 0.707
  native  0.290 / 0.286 / 0.248, 0.777 / 0.796 / 0.723 of the mean face's, 0.45 / 0.45 / 0.40 of noise
with the baselines mean face 0.373 / 0.360 / 0.343, mean colour 0.444 / 0.454 / 0.394, noise 0.642 / 0.642 / 0.625
(the same under each ISA: they do not depend on training). The instruction sets move the completion by <= 0.006
(<= 0.017 of the mean-face ratio); the nearest threshold is 0.054 away (mean face, eyes), 3x that spread. Each
ISA's run is deterministic (native repeated gave the same numbers). Averaging G's weights over the run (EMA 0.995)
was tried and measured no better (0.773 / 0.793 / 0.723 SSE4_2, 0.783 / 0.808 / 0.736 native): G still improves at
1300 steps, so the average lags; the final G is measured.
The held-out faces are min-max normalised here (data.test_minmax) as the training stream is, so that G's input,
the truth and the baselines share one scale. 1000 steps gave 0.303 / 0.310 / 0.252,
400 steps 0.385 / 0.357 / 0.316 (the earlier test, with the random affine: 0.395 / 0.384 / 0.351), about the mean
face. A ridge regression from the context
pixels, fitted per hole on the train split, reaches 0.15 / 0.16 / 0.11: longer runs keep improving. With the
original's random affine (data.augment, which the preset turns off) 1200-1400 steps gave only 0.35 / 0.33 / 0.27.
The adversarial and parsing stages are tested for what they train in test_train.py; they need far longer runs to
improve these numbers.
"""

import functools

import jax
import numpy as np
import pytest

from facejax import configs, registry
from facejax.families.gfc import data, masks, sample
from facejax.train.state import root_key_data

STEPS = 1300


@pytest.mark.slow
@pytest.mark.learning
def test_completed_holes_beat_noise_mean_colour_and_mean_face(synthetic_tfds):
    # the held-out faces normalised as the training stream's (per-image min-max), so that they, G's training and the
    # mean face / mean colour (taken over the training batches) share one scale; the original's test input
    # (im2single * 2 - 1, data.test_minmax=False) is tested in test_sample_eval.py
    cfg = configs.load(
        "gfc:synthetic",
        **{
            "data.data_dir": synthetic_tfds,
            "total_steps": STEPS,
            "stages.recon_end": STEPS,
            "stages.local_end": STEPS,
            "data.test_minmax": True,
        },
    )
    family = registry.create(cfg)
    # the family's step on one device: the sharded trainer runs it in test_train.py; here four virtual CPU devices
    # cost 1.6x per step on 2 cores, and with many steps queued their all-reduce rendezvous sometimes timed out
    # (XLA:CPU aborts after 40 s) on a busy machine
    step_fn = jax.jit(functools.partial(family.train_step, phase=1), donate_argnums=0)
    state = jax.jit(family.init)(root_key_data(cfg.seed))
    total = np.zeros((cfg.img_size, cfg.img_size, 3))
    for batch in family.train_dataset(cfg.batch_size, 0, 1).take(STEPS).as_numpy_iterator():
        total += batch["x"].sum(axis=0)
        state, _ = step_fn(state, batch)
    assert int(state.step) == STEPS
    mean_face = total / (STEPS * cfg.batch_size)
    fills = {"mean face": mean_face, "mean colour": np.broadcast_to(mean_face.mean(axis=(0, 1)), mean_face.shape)}
    x = data.eval_images(cfg, 64)["x"]
    g_params = jax.device_get(state.params["G"])
    res = {}
    for name in ("center", "eyes", "mouth"):
        mask = masks.named_mask(cfg, name)
        x_in, comp = sample.complete(family, g_params, x, mask)
        hole = mask[..., 0] > 0
        err = lambda y: float(np.abs(y - x)[:, hole].mean())  # noqa: E731
        res[name] = {"completion": err(comp), "noise": err(x_in), **{k: err(v[None]) for k, v in fills.items()}}
    print(
        f"learning: {STEPS} steps; hole L1 "
        + "; ".join(f"{name}: " + ", ".join(f"{k} {v:.3f}" for k, v in r.items()) for name, r in res.items())
        + "; completion / mean face "
        + " / ".join(f"{r['completion'] / r['mean face']:.3f}" for r in res.values())
    )
    for name, r in res.items():
        done = r["completion"]
        assert done < 0.5 * r["noise"], name  # measured 0.39-0.45
        assert done < 0.75 * r["mean colour"], name  # measured 0.61-0.65
        assert done < 0.85 * r["mean face"], name  # measured 0.71-0.80
