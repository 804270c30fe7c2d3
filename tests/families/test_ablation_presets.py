"""Ablation presets of GFC, BeautyGAN and Beholder-GAN (issue 25 item 5; StarGAN v2's rows A-F are in
tests/families/stargan_v2/test_ablations.py): every row builds, is listed with a description, and its train step does
not depend on what it switches off.

Nothing is compiled: the step is traced with jax.eval_shape. Where a row drops a network, that network's parameters
are replaced by arrays of a wrong shape, which the trace accepts only if no operation reads them (the full row, which
reads them, is the negative control); a dropped loss term is absent from the step's metrics."""

import jax
import numpy as np
import pytest

from facejax import configs, registry
from facejax.train.state import root_key_data


def _wrong(tree):
    """Every leaf replaced by a (7,) array: any op that reads one fails to trace."""
    return jax.tree.map(lambda a: jax.ShapeDtypeStruct((7,), a.dtype), tree)


def _trace(family, state, batch, phase=None):
    """The metric names of one traced train step (raises if the step reads a wrong-shaped leaf)."""
    kwargs = {} if phase is None else {"phase": phase}
    _, metrics = jax.eval_shape(lambda s, b: family.train_step(s, b, **kwargs), state, batch)
    return set(metrics)


def _family(spec, **overrides):
    return registry.create(configs.load(spec, **overrides))


@pytest.mark.parametrize(
    "family,rows",
    [
        ("gfc", ["M1", "M2", "M3", "full"]),
        ("beautygan", ["full", "no_lips", "no_shadow", "no_face", "no_makeup"]),
        ("beholder", ["beholder", "pggan"]),
    ],
)
def test_rows_build_and_are_the_sweep_rows(family, rows):
    cls = registry.family_class(family)
    assert list(cls.sweep_rows()) == rows
    described = configs.presets(configs.config_path(family))
    for row in rows:
        assert described[row]  # `facejax presets` lists it with a line
        scale = "synthetic"
        c = configs.load(f"{family}:{row},{scale}")
        assert c.preset == f"{row},{scale}"
        registry.create(c)  # the row's config is valid


GFC_DROPS = {  # row -> (networks whose parameters the step must not read, G terms absent)
    "M1": (("D_local", "D_global", "P"), {"adv_local", "adv_global", "parsing"}),
    "M2": (("D_global", "P"), {"adv_global", "parsing"}),
    "M3": (("P",), {"parsing"}),
}


@pytest.fixture(scope="module")
def gfc_batch():
    return _family("gfc:synthetic").bench_batch(8)


@pytest.mark.parametrize("row", ["M1", "M2", "M3"])
def test_gfc_rows_switch_their_terms_and_networks_off(row, gfc_batch):
    fam = _family(f"gfc:{row},synthetic")
    c = fam.config
    phase = fam.phase(c.total_steps)  # the last stage the row reaches
    assert phase == {"M1": 1, "M2": 2, "M3": 3}[row]
    assert [fam.phase(s) for s in (1, c.stages.recon_end + 1, c.stages.local_end + 1)] == [1, min(2, phase), phase]
    nets, terms = GFC_DROPS[row]
    state = jax.eval_shape(fam.init, root_key_data(0))
    params, opt, frozen = dict(state.params), dict(state.opt_state), dict(state.frozen)
    for n in nets:
        if n == "P":
            frozen[n] = _wrong(frozen[n])
        else:
            params[n], opt[n] = _wrong(params[n]), _wrong(opt[n])
    metrics = _trace(fam, state.replace(params=params, opt_state=opt, frozen=frozen), gfc_batch, phase)
    assert not {f"G/{t}" for t in terms} & metrics
    assert not any(m.startswith(tuple(f"{n}/" for n in nets)) for m in metrics)
    assert "G/l1" in metrics


def test_gfc_full_row_reads_every_network(gfc_batch):
    fam = _family("gfc:full,synthetic")
    state = jax.eval_shape(fam.init, root_key_data(0))
    metrics = _trace(fam, state, gfc_batch, 3)
    assert {"G/adv_local", "G/adv_global", "G/parsing"} <= metrics
    assert any(m.startswith("D_global/") for m in metrics)
    with pytest.raises(Exception):  # the negative control: the full model reads P
        _trace(fam, state.replace(frozen={**state.frozen, "P": _wrong(state.frozen["P"])}), gfc_batch, 3)


BEAUTYGAN_ABSENT = {
    "full": set(),
    "no_lips": {"lips"},
    "no_shadow": {"eye_left", "eye_right"},
    "no_face": {"skin"},
    "no_makeup": {"lips", "skin", "eye_left", "eye_right"},
}


def test_beautygan_rows_drop_their_histogram_terms():
    """Each row's weights (the step's only way into the makeup terms) leave exactly its regions out; the whole step
    is traced for the row without any (its metrics hold no histogram term)."""
    from facejax.families.beautygan import losses

    s = 32
    img = jax.ShapeDtypeStruct((1, s, s, 3), np.float32)
    parsing = np.zeros((1, s, s), np.int32)
    masks, _ = losses.region_masks(parsing, 2)
    for row, absent in BEAUTYGAN_ABSENT.items():
        fam = _family(f"beautygan:{row},synthetic")
        terms = jax.eval_shape(
            lambda a, b, c, d, w=fam.his_weights: losses.makeup_terms(a, b, c, d, masks, masks, w), img, img, img, img
        )
        regions = {k.split("/")[1] for k in terms}
        assert regions == set(losses.REGIONS) - absent, row
    state = jax.eval_shape(fam.init, root_key_data(0))
    metrics = _trace(fam, state, fam.bench_batch(2))
    assert not any(m.startswith("G/his") for m in metrics) and "G/rec_A" in metrics


def test_beholder_pggan_row_never_reads_the_beauty_scores():
    fam = _family("beholder:pggan,synthetic")
    assert fam.config.conditioning is False
    batch = fam.bench_batch(16)
    bad = {**batch, "beta": np.zeros((16, 1), np.float32), "beta_g": np.zeros((16, 1), np.float32)}
    state = jax.eval_shape(fam.init, root_key_data(0))
    phase = fam.phase(1)
    _trace(fam, state, bad, phase)  # scores of a wrong width: nothing reads them
    cond = _family("beholder:beholder,synthetic")
    with pytest.raises(Exception):  # the negative control: the conditioned GAN reads them
        _trace(cond, jax.eval_shape(cond.init, root_key_data(0)), bad, cond.phase(1))
