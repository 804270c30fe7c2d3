"""GFC's three stages through the trainer's phase hook: stage 1 runs no discriminator, stage 2 trains the local
one, stage 3 both with the parsing loss; the parsing network comes frozen from a gfc_parsing run; clear errors for
a missing or mismatched parsing run and wrong values."""

import jax
import numpy as np
import pytest
from tests.families.gfc.conftest import OVERRIDES, STAGES

from facejax import configs, registry
from facejax.errors import FacejaxError
from facejax.families.gfc import pretrained
from facejax.train import mesh as mesh_lib
from facejax.train import trainer


def _same(a, b):
    return all(np.array_equal(np.asarray(x), np.asarray(y)) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


def test_stages_change_what_trains_and_parsing_stays_frozen(runs, tmp_path):
    _, p_work, cfg, _ = runs
    run = trainer.Run(cfg, str(tmp_path / "run"))
    assert [run.family.phase(s) for s in (1, 2, 3, 10)] == [1, 2, 3, 3]
    state = run.restore_or_init()  # reads the parsing run's weights
    parsing = pretrained.load_parsing(cfg)
    assert _same(jax.device_get(state.frozen["P"]), parsing) and "P" not in state.params and state.ema == {}
    batch = mesh_lib.global_batch(run.family.bench_batch(cfg.batch_size), run.mesh)
    seen = []
    for step in (1, 2, 3):
        before = jax.device_get(state.sampling_params())
        state, metrics = run.step_for(step)(state, batch)
        after = jax.device_get(state.sampling_params())
        seen.append(sorted(k for k in metrics if k.startswith(("D_", "G/"))))
        assert not _same(before["G"], after["G"]) and _same(before["P"], after["P"])
        assert _same(before["D_local"], after["D_local"]) == (step == 1)
        assert _same(before["D_global"], after["D_global"]) == (step < 3)
        assert all(np.isfinite(float(v)) for v in jax.device_get(metrics).values())
    assert seen[0] == ["G/l1", "G/total"]
    assert "G/adv_local" in seen[1] and "D_local/loss" in seen[1] and "G/adv_global" not in seen[1]
    assert {"G/adv_global", "G/parsing", "D_global/loss"} <= set(seen[2])
    assert len(run._step_fns) == 3  # one compiled step per stage
    run.checkpointer.close()


def test_the_parsing_run_is_required_and_must_fit(runs, tmp_path):
    p_cfg, p_work, cfg, _ = runs
    missing = configs.load(
        "gfc:synthetic",
        **OVERRIDES,
        **STAGES,
        **{"data.data_dir": cfg.data.data_dir, "total_steps": 3, "prerequisites.train": False},
    )  # (the synthetic preset trains it first by itself: tests/train/test_prerequisites.py)
    with pytest.raises(FacejaxError, match=r"config.parsing_checkpoint is empty: train first: facejax train "):
        trainer.train(missing, str(tmp_path / "a"))
    with pytest.raises(FacejaxError, match=r"config.parsing_checkpoint is empty.*configs/gfc.py:parsing"):
        pretrained.load_parsing(missing)
    with pytest.raises(FacejaxError, match=r"no facejax run there"):
        pretrained.load_parsing(configs.load("gfc:synthetic", parsing_checkpoint=str(tmp_path / "nowhere")))
    wide = configs.load("gfc:synthetic", parsing_checkpoint=p_work, **{"model.parsing.last_width": 16})
    with pytest.raises(FacejaxError, match=r"model.parsing.last_width=8.*config.model.parsing.last_width=16"):
        pretrained.load_parsing(wide)
    # stage 1 and 2 alone need no parsing network
    assert not registry.create(
        configs.load("gfc:synthetic", total_steps=5, **{"stages.recon_end": 2, "stages.local_end": 5})
    ).needs_parsing()


def test_parsing_family_trains_and_writes_its_grid(runs):
    p_cfg, p_work, _, _ = runs
    state = trainer.Run(p_cfg, p_work).restore_state()
    assert int(state.step) == 2
    fam = registry.create(p_cfg)
    grid = fam.sample_grids(state, fam.sample_inputs(2))["parsing"]
    assert grid.shape == (2 * 34 + 2, 3 * 34 + 2, 3)


@pytest.mark.parametrize(
    "field,value,message",
    [
        ("img_size", 48, "multiple of 32"),
        ("mask.size", 24, "4 \\* 2\\^k"),
        ("batch_size", 7, "even number"),
        ("model.g.widths", "8,16", "four encoder widths"),
        ("stages.recon_end", 500, "recon_end <= local_end"),
        ("sample.mask_type", "nose", "'nose'"),
        ("masks.eyes", "0.9,0.9,0.5,0.5", "config.masks.eyes"),
    ],
)
def test_wrong_values_name_the_field(field, value, message):
    with pytest.raises(FacejaxError, match=message):
        registry.create(configs.load("gfc:synthetic", **{field: value}))
