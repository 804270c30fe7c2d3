"""StarGAN v2 learns on synthetic_faces: reference-guided outputs carry the reference's domain.

A ridge classifier fitted on real synthetic faces (train split) recognises the target domain of
reference-guided translations of held-out faces (test split) well above chance, and far above
what the untranslated sources score against the same targets.

Measured per XLA:CPU instruction set (tests/isa_matrix.sh on an AMD EPYC with AVX2; deterministic per ISA), 250
steps: target domain recognised in 0.910 (native AVX2), 0.969 (SSE4_2), 0.977 (AVX) of the reference-guided outputs
(the untranslated sources: 0.500; the classifier on real test faces: 1.000). AVX-512 and AMX could not be measured
here (a cap above the processor's own changes nothing); the suite passed on an AVX-512 Xeon with this test as is.
"""

import os

import jax
import numpy as np
import pytest
from tests.train.helpers import tiny_config

from facejax.families.stargan_v2 import sample
from facejax.train import trainer

STEPS = int(os.environ.get("FACEJAX_LEARNING_STEPS", "250"))
# A tiny model learns in CPU minutes with a larger step than the paper's 1e-4 at 256 px.
LR = 3e-4


def _features(x):
    """[-1, 1] (N, 32, 32, 3) -> 8x8 average-pooled colours plus a bias column."""
    n = x.shape[0]
    pooled = x.reshape(n, 8, 4, 8, 4, 3).mean(axis=(2, 4)).reshape(n, -1)
    return np.concatenate([pooled, np.ones((n, 1))], axis=1)


def _fit_ridge(x, y, k, lam=1e-1):
    f = _features(x)
    t = np.eye(k)[y]
    return np.linalg.solve(f.T @ f + lam * np.eye(f.shape[1]), f.T @ t)


def _predict(w, x):
    return np.argmax(_features(x) @ w, axis=1)


@pytest.mark.slow
@pytest.mark.learning
def test_reference_guided_outputs_take_the_target_domain(tmp_path):
    cfg = tiny_config(
        tmp_path / "tfds",
        total_steps=STEPS,
        batch_size=8,
        **{
            "data.source": "tfds",
            "data.name": "synthetic_faces",
            "data.config": "gender_32",
            # the pipeline the numbers below were measured with: TF's resize of the random crops (the default,
            # "pil", resizes them with PIL's bilinear as the original; a slightly different input stream)
            "data.resize": "tf",
            "model.dim_in": 16,
            "model.max_conv_dim": 64,
            "model.hidden_dim": 64,
            "model.style_dim": 32,
            "model.latent_dim": 16,
            "log_every": 50,
            "ds_iter": STEPS,
            "lr": LR,
            "f_lr": LR / 100,
        },
    )
    state = trainer.train(cfg, str(tmp_path / "run"))
    family = trainer.Run(cfg, str(tmp_path / "run")).family

    # Domain classifier on real training faces.
    ds = family.train_dataset(64, 0, 1)
    xs, ys = [], []
    for batch in ds.take(8):
        xs.append(batch["x_src"].numpy())
        ys.append(batch["y_src"].numpy())
    x_train, y_train = np.concatenate(xs), np.concatenate(ys)
    w = _fit_ridge(x_train, y_train, 2)

    per_domain, labels, _ = family.eval_examples(16)
    x_test = np.concatenate([np.stack(p) for p in per_domain]).astype(np.float32)
    y_test = np.concatenate([np.array(lbl) for lbl in labels])
    real_acc = np.mean(_predict(w, x_test) == y_test)

    refs = np.stack([per_domain[d][i] for i in range(4) for d in range(2)]).astype(np.float32)
    ref_y = np.array([d for _ in range(4) for d in range(2)], np.int32)
    outs = family.sampler.reference_outputs(jax.device_get(sample.sampling_weights(state)), x_test, refs, ref_y)
    target = np.repeat(ref_y[:, None], x_test.shape[0], axis=1).reshape(-1)
    pred = _predict(w, outs.reshape((-1,) + outs.shape[2:]))
    acc = float(np.mean(pred == target))
    src_acc = float(np.mean(np.tile(_predict(w, x_test), len(refs)) == target))
    print(
        f"learning: steps={STEPS} classifier on real test faces {real_acc:.3f}; "
        f"reference-guided outputs recognised as the target domain {acc:.3f} "
        f"(untranslated sources vs the same targets: {src_acc:.3f}, chance 0.5)"
    )
    assert real_acc > 0.9
    # Measured (deterministic on CPU for a given input pipeline; the synthetic preset's EMA decay
    # 0.99): 0.875-0.973 after 250 steps, 0.992 after 400. With the paper's 0.999 the EMA generator
    # is still mostly its initial weights this early: 0.57 after 400 steps.
    assert acc > 0.8
    assert acc > src_acc + 0.25
