"""StarGAN v2 against the family contract (facejax/families/base.py): its capabilities, headline metrics,
sweep defaults and the frozen FAN's place in the train state."""

import jax

from facejax import configs, registry
from facejax.families import base
from facejax.families.stargan_v2.family import StarGANv2
from facejax.train.state import root_key_data

SMALL = {
    "model.dim_in": 16,
    "model.max_conv_dim": 32,
    "model.hidden_dim": 32,
    "model.style_dim": 16,
    "model.latent_dim": 8,
    "model.fan_img_size": 64,
    "model.fan_width": 8,
}


def test_capabilities():
    family = registry.create(configs.load("stargan_v2:synthetic", **SMALL))
    for cap in (
        base.LoadsPretrained,
        base.SamplesFolders,
        base.Evaluates,
        base.TorchInterop,
        base.TorchBaseline,
        base.Sweeps,
    ):
        assert isinstance(family, cap), cap.__name__
    for cap in (base.Phased, base.ImportsOwnFiles, base.Prepares):
        assert not isinstance(family, cap), cap.__name__
    assert not hasattr(family, "check_bench_torch") and not hasattr(family, "_phases")


def test_headline_metrics_and_sweep_defaults():
    assert [(m.key, m.label, m.fmt) for m in StarGANv2.headline_metrics] == [
        ("FID_latent/mean", "FID latent", "{:.2f}"),
        ("LPIPS_latent/mean", "LPIPS latent", "{:.4f}"),
        ("FID_reference/mean", "FID reference", "{:.2f}"),
        ("LPIPS_reference/mean", "LPIPS reference", "{:.4f}"),
    ]
    rows = StarGANv2.sweep_rows()
    assert list(rows) == list("ABCDEF")
    assert rows["A"] == "Baseline StarGAN" and rows["F"] == "+ Diversity regularization (StarGAN v2)"
    assert StarGANv2.sweep_eval_files() == ("eval.inception_weights", "eval.alexnet_weights")
    for row in rows:  # every row is a preset of the config file
        assert configs.load(f"stargan_v2:{row},synthetic").preset == f"{row},synthetic"
    cfg = configs.load("stargan_v2:celeba_hq")
    for field in StarGANv2.sweep_eval_files():
        section, name = field.split(".")
        assert cfg[section][name] == ""


def test_fan_is_frozen_once_not_in_params_or_ema():
    with_fan = registry.create(configs.load("stargan_v2:synthetic", **{**SMALL, "model.w_hpf": 1.0}))
    state = jax.eval_shape(with_fan.init, root_key_data(0))
    assert set(state.frozen) == {"fan"}
    assert set(state.params) == {"generator", "mapping_network", "style_encoder", "discriminator"}
    assert set(state.ema) == {"generator", "mapping_network", "style_encoder"}
    assert set(state.opt_state) == set(state.params)
    without = registry.create(configs.load("stargan_v2:synthetic", **SMALL))
    assert jax.eval_shape(without.init, root_key_data(0)).frozen == {}
