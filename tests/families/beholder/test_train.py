"""Beholder-GAN through the shared trainer: one compiled step per phase, the optimizer reset at phase starts, an
exact resume across a phase boundary (N steps straight == k steps + resume + N - k), the data stream, and clear
errors for wrong values and data."""

import jax
import numpy as np
import pytest
from tests.families.beholder.conftest import gan_config

from facejax import registry
from facejax.errors import FacejaxError
from facejax.train import trainer

K, N = 19, 24  # the fade-in of 8x8 starts at step 21 (256 images stable at 4x4, lod updated every 4 steps)


@pytest.fixture(scope="module")
def straight(synthetic_tfds, tmp_path_factory):
    cfg = gan_config(synthetic_tfds, total_steps=N)
    workdir = str(tmp_path_factory.mktemp("straight"))
    run_phases = trainer.Run(cfg, workdir).family.schedule.phase_starts(N)
    return cfg, trainer.train(cfg, workdir), run_phases


def test_phases_and_optimizer_reset(straight):
    cfg, state, phases = straight
    assert phases == [(1, (2, False)), (21, (3, True))]
    assert int(state.step) == N
    # TF Adam's counter restarted at step 21 (reset_opt_for_new_lod): 4 updates since
    assert int(state.opt_state["G"].count) == N - 20 and int(state.opt_state["D"].count) == N - 20
    # the 16x16 layers were never used: still their initial values, and no Adam moments
    init = jax.jit(registry.create(cfg).init)(jax.random.key_data(jax.random.key(cfg.seed)))
    np.testing.assert_array_equal(
        np.asarray(state.params["G"]["torgb"][2]["kernel"]), np.asarray(init.params["G"]["torgb"][2]["kernel"])
    )
    assert not np.any(np.asarray(state.opt_state["G"].nu["blocks"][2]["conv1"]["kernel"]))


def test_resume_mid_phase_is_exact_across_the_boundary(straight, synthetic_tfds, tmp_path):
    cfg, state, _ = straight
    workdir = str(tmp_path / "resumed")
    first = trainer.train(gan_config(synthetic_tfds, total_steps=K), workdir)
    assert int(first.step) == K
    resumed = trainer.train(gan_config(synthetic_tfds, total_steps=N), workdir)
    same = jax.tree.map(
        lambda a, b: np.array_equal(np.asarray(a), np.asarray(b)),
        (resumed.params, resumed.opt_state, resumed.ema),
        (state.params, state.opt_state, state.ema),
    )
    assert all(jax.tree.leaves(same)), "k steps + resume + N - k steps differ from N steps straight"


def test_each_phase_compiles_once(synthetic_tfds, tmp_path):
    cfg = gan_config(synthetic_tfds, total_steps=N)
    run = trainer.Run(cfg, str(tmp_path / "r"))
    state = run.restore_or_init()
    it = iter(run.family.train_dataset(cfg.batch_size, 0, 1))
    from facejax.train import mesh as mesh_lib

    for step in range(1, N + 1):
        batch = mesh_lib.global_batch(jax.tree.map(lambda t: t._numpy(), next(it)), run.mesh)
        state, metrics = run.step_for(step)(state, batch)
    run.checkpointer.close()
    assert sorted(run._step_fns) == [(2, False), (3, True)]
    assert all(fn._cache_size() == 1 for fn in run._step_fns.values())
    assert float(metrics["level"]) == 3 and 0 < float(metrics["fade"]) < 1
    assert batch["x"].shape == (16, 16, 16, 3) and batch["beta"].shape == (16, 8)
    assert float(np.max(np.asarray(batch["beta"]))) <= 1.0 and float(np.min(np.asarray(batch["beta"]))) >= 0.2


@pytest.mark.parametrize(
    "field,value,message",
    [
        ("img_size", 24, "power of two"),
        ("schedule.initial_resolution", 32, "initial_resolution"),
        ("model.label_groups", 3, "label_groups"),
        ("batch_size", 6, "minibatch-stddev"),
        ("label_penalty", "ce", "label_penalty"),
        ("dtype", "bfloat16", "float32"),
    ],
)
def test_wrong_values_name_the_field(field, value, message):
    with pytest.raises(FacejaxError, match=message):
        registry.create(gan_config(**{field: value}))


def test_wrong_data_is_named(synthetic_tfds):
    fam = registry.create(gan_config(synthetic_tfds, num_raters=60))
    with pytest.raises(FacejaxError, match=r"8 raters in 'scores'; config.num_raters=60"):
        fam.read_split("train")
    fam = registry.create(gan_config(synthetic_tfds, **{"data.scores_feature": "beauty"}))
    with pytest.raises(FacejaxError, match="vector of per-rater scores"):
        fam.read_split("train")
    fam = registry.create(gan_config(synthetic_tfds, **{"data.name": "beauty_labels", "data.config": "nothing"}))
    with pytest.raises(
        FacejaxError,
        match="holds no beauty_labels dataset.*facejax train --config=configs/beholder.py:scut_fbp5500 .*"
        "facejax prepare beauty_labels",
    ):
        fam.read_split("train")
