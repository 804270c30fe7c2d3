"""Beholder-GAN learns the beauty conditioning on synthetic_faces: for fixed z, the beauty that the trained rater
predictor reads in the generated faces rises with the beta given.

Setup: the synthetic predictor (conftest, 150 steps; Pearson r 0.77 with the held-out human mean score) judges
G's faces (16 px, resized to its 32 px input). The GAN is the `synthetic` preset at 16 px from the start
(schedule.initial_resolution=16: one compiled phase; progressive growing is tested in test_train.py), lr 1e-3,
G EMA 0.99, 500 steps of batch 16, with the MSE label penalty on D's label outputs (config.label_penalty="mse").
For 64 fixed z and beta = 0.4, 0.5, 0.6, 0.7, 0.8 for every rater (inside the data's range of mean scores), the
test measures the Spearman rank correlation between beta and the predicted mean score, per z (averaged) and over
all faces.

Measured (CPU, deterministic): predicted mean score (1..5) per level 2.448, 2.451, 2.460, 2.473, 2.487 (rising
monotonically), Spearman rank correlation per z 0.42, over all faces 0.08 (z moves the score more than beta).
With the original's conditioning alone (label_penalty "", D reads beta only through its input channel), 1,500
steps at lr 3e-3 gave 0.30 per z and 0.04 overall, and at other checkpoints values around 0 or negative: the
input-only conditioning is not learned reliably within a CPU-test budget, so this test enables the label
penalty, which the original's PGGAN has (as its AC-GAN term) and Beholder-GAN comments out.

The steps run one at a time (blocking): with executables from the persistent compilation cache, XLA:CPU's
4-virtual-device collectives were seen to deadlock (an all-reduce rendezvous timing out) when the trainer's
loop kept several steps in flight on this 2-core machine; test_train.py covers trainer.train itself.
"""

import numpy as np
import pytest
from scipy import stats

import jax

from facejax import registry
from facejax.nn.layers import resize_bilinear
from facejax.train import mesh as mesh_lib
from facejax.train import trainer
from tests.families.beholder.conftest import gan_config

STEPS = 500
LEVELS = np.array([0.4, 0.5, 0.6, 0.7, 0.8], np.float32)


@pytest.mark.slow
def test_predicted_beauty_rises_with_beta(trained_predictor, synthetic_tfds, tmp_path):
    pcfg, _, pstate = trained_predictor
    predictor = registry.create(pcfg)
    cfg = gan_config(synthetic_tfds, total_steps=STEPS, lr=0.001, ema_decay=0.99, label_penalty="mse",
                     **{"schedule.initial_resolution": 16})
    run = trainer.Run(cfg, str(tmp_path / "run"))
    fam = run.family
    state = run.restore_or_init()
    it = iter(fam.train_dataset(cfg.batch_size, 0, 1))
    for step in range(1, STEPS + 1):  # the trainer's step functions, one step in flight at a time (see below)
        batch = mesh_lib.global_batch(jax.tree.map(lambda t: t._numpy(), next(it)), run.mesh)
        state, _ = run.step_for(step)(state, batch)
        jax.block_until_ready(state.step)
    run.checkpointer.close()
    level, fade = fam.level_of(STEPS)
    assert (level, fade) == (4, None)
    judge = jax.jit(lambda g, p, z, b: predictor.predict(p, resize_bilinear(fam.render(g, z, b, level, fade), 32)))
    z = np.random.default_rng(0).standard_normal((64, fam.latent_size)).astype(np.float32)
    scores = np.stack([np.asarray(judge(state.ema["G"], pstate.ema["net"], z, np.full((64, 8), lv, np.float32)))
                       .mean(1) * 5 for lv in LEVELS], axis=1)
    per_z = float(np.mean([stats.spearmanr(LEVELS, s).statistic for s in scores]))
    overall = float(stats.spearmanr(np.repeat(LEVELS[None], 64, 0).ravel(), scores.ravel()).statistic)
    means = scores.mean(0)
    print(f"learning: {STEPS} steps; predicted beauty per beta level {np.round(means, 3)}; Spearman per z {per_z:.3f}, "
          f"overall {overall:.3f}")
    assert per_z > 0.25 and overall > 0.05
    assert np.all(np.diff(means) > 0), means
