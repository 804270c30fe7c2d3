"""BeautyGAN's training iteration: one compilation sharded over 4 devices, the spectral-norm state in no
optimizer, the perceptual term against torchvision's VGG-16 on a user-supplied weight file, the original's skip
of images without eyes, and clear errors for wrong values and missing files."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from tests.families.beautygan.conftest import PRESET_OVERRIDES

from facejax import configs, registry
from facejax.errors import FacejaxError
from facejax.families.beautygan import losses
from facejax.nn import vgg as vgg_lib
from facejax.train import mesh as mesh_lib
from facejax.train import trainer
from facejax.train.state import root_key_data


def test_step_compiles_once_shards_the_batch_and_updates_the_spectral_state(synthetic_tfds, tmp_path):
    cfg = configs.load("beautygan:synthetic", **PRESET_OVERRIDES, **{"data.data_dir": synthetic_tfds})
    run = trainer.Run(cfg, str(tmp_path / "run"))
    assert run.mesh.devices.size == 4
    it = iter(run.family.train_dataset(cfg.batch_size, 0, 1))
    state = run.restore_or_init()
    before = jax.device_get(state.params)
    for _ in range(2):
        batch = mesh_lib.global_batch(jax.tree.map(lambda t: t._numpy(), next(it)), run.mesh)
        assert batch["x_src"].sharding.spec == mesh_lib.batch_sharding(run.mesh).spec
        assert batch["parsing_ref"].shape == (cfg.batch_size, 32, 32, 1)
        state, metrics = run.step_fn(state, batch)
    assert run.step_fn._cache_size() == 1, "the train step recompiled after the first step"
    metrics = jax.device_get(metrics)
    assert all(np.isfinite(float(v)) for v in metrics.values())
    for k in ("G/his_A_lips", "G/his_B_eye_left", "G/his_A_skin", "G/idt", "G/rec_A", "G/adv_B", "D_A/real"):
        assert float(metrics[k]) > 0, k
    after = jax.device_get(state.params)
    # u, v moved by the power iterations (6 per step for D_A), weights by Adam; no EMA (the original keeps none).
    d0, d1 = before["D_A"]["main"][0], after["D_A"]["main"][0]
    assert not np.allclose(d0["u"], d1["u"]) and not np.allclose(d0["kernel"], d1["kernel"])
    np.testing.assert_allclose(np.linalg.norm(d1["u"]), 1.0, rtol=1e-5)
    assert state.ema == {} and set(after) == {"G", "D_A", "D_B"}
    run.checkpointer.close()


@pytest.mark.slow
def test_images_without_eyes_are_skipped_like_the_original(synthetic_tfds):
    family = registry.create(
        configs.load(
            "beautygan:synthetic",
            **{
                **PRESET_OVERRIDES,
                "batch_size": 2,
                "model.g_conv_dim": 4,
                "model.d_conv_dim": 4,
                "model.g_repeat_num": 1,
            },
        )
    )
    state = jax.jit(family.init)(root_key_data(0))
    batch = family.bench_batch(2)
    no_eyes = np.where(np.isin(batch["parsing_src"], (4, 5)), 1, batch["parsing_src"])
    step = jax.jit(family.train_step)
    skipped, m = step(state, {**batch, "parsing_src": no_eyes})
    assert float(m["examples_used"]) == 0 and int(skipped.step) == 1
    same = jax.tree.map(
        lambda a, b: np.array_equal(np.asarray(a), np.asarray(b)),
        (skipped.params, skipped.opt_state),
        (state.params, state.opt_state),
    )
    assert all(jax.tree.leaves(same)), "an iteration without eyes must change nothing (the original's `continue`)"
    half = np.concatenate([no_eyes[:1], batch["parsing_src"][1:]])
    trained, m = step(state, {**batch, "parsing_src": half})
    assert float(m["examples_used"]) == 1
    assert not np.array_equal(
        np.asarray(trained.params["G"]["main"][0]["kernel"]), np.asarray(state.params["G"]["main"][0]["kernel"])
    )
    # with the eye term off nothing is skipped
    fam2 = registry.create(
        configs.load(
            "beautygan:synthetic",
            **{
                **PRESET_OVERRIDES,
                "batch_size": 2,
                "eye": False,
                "model.g_conv_dim": 4,
                "model.d_conv_dim": 4,
                "model.g_repeat_num": 1,
            },
        )
    )
    assert float(fam2.example_weights(None, jnp.array([False, True]), None, jnp.array([True, True])).sum()) == 2


def test_perceptual_term_matches_torchvision_vgg16(tmp_path, vgg16_file):
    torch = pytest.importorskip("torch")
    path, features = vgg16_file
    family = registry.create(
        configs.load(
            "beautygan:synthetic",
            **{
                **PRESET_OVERRIDES,
                "lambda_vgg": 5e-3,
                "vgg": "vgg16",
                "vgg_weights": path,
                "model.g_conv_dim": 4,
                "model.g_repeat_num": 1,
                "model.d_conv_dim": 4,
            },
        )
    )
    state = family.load_pretrained(jax.jit(family.init)(root_key_data(0)))
    batch = family.bench_batch(2, seed=1)
    masks_a, _ = losses.region_masks(jnp.asarray(batch["parsing_src"]), 2)
    masks_b, _ = losses.region_masks(jnp.asarray(batch["parsing_ref"]), 2)
    w = jnp.ones((2,))
    fake_a, fake_b = family.generate(state.params["G"], batch["x_src"], batch["x_ref"])
    _, (terms, _, _) = family.g_loss(
        state.params["G"],
        (fake_a, fake_b),
        state.sampling_params(),
        jnp.asarray(batch["x_src"]),
        jnp.asarray(batch["x_ref"]),
        masks_a,
        masks_b,
        w,
    )
    nchw = lambda a: torch.from_numpy(np.ascontiguousarray(np.asarray(a).transpose(0, 3, 1, 2)))  # noqa: E731
    with torch.no_grad():  # the original: MSE(vgg(fake_A), vgg(org_A)) * lambda_A * lambda_vgg, then * 0.5
        want_a = torch.nn.functional.mse_loss(features(nchw(fake_a)), features(nchw(batch["x_src"]))).item()
        want_b = torch.nn.functional.mse_loss(features(nchw(fake_b)), features(nchw(batch["x_ref"]))).item()
    with torch.no_grad():  # the features themselves: torchvision's vgg16().features[:19] (relu4_1)
        want_f = features(nchw(batch["x_src"])).numpy().transpose(0, 2, 3, 1)
    got_f = np.asarray(vgg_lib.features(state.frozen["vgg"], jnp.asarray(batch["x_src"])))
    np.testing.assert_allclose(got_f, want_f, rtol=1e-4, atol=1e-4 * np.abs(want_f).max())
    k = 0.5 * 10.0 * 5e-3
    assert float(terms["vgg_A"]) == pytest.approx(k * want_a, rel=1e-4)
    assert float(terms["vgg_B"]) == pytest.approx(k * want_b, rel=1e-4)
    assert want_a > 0


def test_perceptual_term_needs_the_vgg_file(tmp_path, synthetic_tfds):
    cfg = configs.load(
        "beautygan:synthetic",
        **{
            **PRESET_OVERRIDES,
            "lambda_vgg": 5e-3,
            "vgg": "vgg16",
            "vgg_weights": str(tmp_path / "vgg16.pth"),
            "data.data_dir": synthetic_tfds,
            "total_steps": 1,
        },
    )
    with pytest.raises(
        FacejaxError,
        match=r"vgg16\.pth' does not exist.*vgg16-397923af\.pth from "
        r"https://download\.pytorch\.org/models/vgg16-397923af\.pth",
    ):
        trainer.train(cfg, str(tmp_path / "run"))
    (tmp_path / "vgg16.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(FacejaxError, match="not a readable PyTorch state dict"):
        registry.create(cfg).vgg_weights()
    # VGG-19's features (conv3_4 at index 16, conv4_1 at 19) are refused, naming the tensors that differ
    vgg19 = tmp_path / "vgg19.npz"
    np.savez(
        vgg19,
        **{
            "features.0.weight": np.zeros((64, 3, 3, 3), np.float32),
            "features.16.weight": np.zeros((256, 256, 3, 3), np.float32),
        },
    )
    with pytest.raises(
        FacejaxError,
        match=r"not torchvision's VGG-16.*missing .*features\.2\.weight.*unexpected "
        r"features\.16\.weight",
    ):
        vgg_lib.load_vgg16(str(vgg19))


@pytest.mark.parametrize(
    "field,value,message",
    [
        ("img_size", 30, "multiple of 4"),
        ("model.d_repeat_num", 5, "downsamples img_size=32"),
        ("cls_list", "SYMIX", "two different names"),
        ("vgg_layer", "relu6_1", "relu4_1"),
        ("lambda_his", -1.0, "config.lambda_his=-1.0"),
    ],
)
def test_wrong_values_name_the_field(field, value, message):
    with pytest.raises(FacejaxError, match=message):
        registry.create(configs.load("beautygan:synthetic", **{field: value}))
