"""The rater predictors (trained by the shared trainer, evaluated by Pearson correlation, exported as the original's
VGG16_beauty_rates.pt), the semi-supervised labelling (`prepare beauty_labels` -> a TFDS dataset the GAN trains
on), and the GAN's export -> strict PyTorch load -> import round trip."""

import jax
import numpy as np
import pytest
from tests.families.beholder.conftest import gan_config

from facejax import registry
from facejax.errors import FacejaxError
from facejax.families.beholder import data, labels
from facejax.train.state import root_key_data

torch = pytest.importorskip("torch")
from facejax.families.beholder import torch_ref as ref  # noqa: E402


def _nchw(a):
    return torch.from_numpy(np.ascontiguousarray(np.asarray(a).transpose(0, 3, 1, 2)))


@pytest.mark.learning
def test_predictor_learns_the_mean_human_score(trained_predictor, tmp_path):
    """The conftest predictor (150 steps from scratch) correlates with the held-out human mean score."""
    cfg, workdir, state = trained_predictor
    fam = registry.create(cfg)
    res = fam.evaluator()(state, int(state.step), str(tmp_path / "eval"))
    m = res["metrics"]
    print(f"predictor after {int(state.step)} steps: {res['table']}")
    # Measured on the 128 held-out faces per XLA:CPU instruction set (tests/isa_matrix.sh, AVX2 EPYC), Pearson r of
    # the mean score / per rater: SSE4_2 0.764 / 0.682, AVX 0.777 / 0.696, AVX2 (native) 0.791 / 0.706.
    assert m["pearson_mean_score"] > 0.6 and m["pearson_per_rater"] > 0.5
    assert "Pearson r" in res["table"] and (tmp_path / "eval" / "metrics.json").exists()


def test_predictor_file_is_the_originals_and_round_trips(trained_predictor, tmp_path):
    cfg, _, state = trained_predictor
    fam = registry.create(cfg)
    layout = fam.torch_layout()
    written = layout.write(layout.export(state), str(tmp_path), int(state.step), "torch")
    assert written["predictor"].endswith("VGG16_beauty_rates.pt")
    m = cfg.model
    net = ref.VGG16BN(cfg.num_raters, tuple(m.widths), m.hidden, m.pool_size, m.dropout).eval()
    net.load_state_dict(torch.load(written["predictor"], weights_only=True), strict=True)  # the original's load
    x = np.random.default_rng(0).uniform(-1, 1, (4, 32, 32, 3)).astype(np.float32)
    with torch.no_grad():
        want = net(_nchw(x)).numpy()
    np.testing.assert_allclose(np.asarray(jax.jit(fam.predict)(state.params["net"], x)), want, atol=1e-4)
    step, imported, paths, notes = fam.import_files(str(tmp_path), 7)
    assert step == 7 and any("optimizer" in n for n in notes)
    same = jax.tree.map(lambda a, b: np.array_equal(np.asarray(a), np.asarray(b)), imported.params, state.params)
    assert all(jax.tree.leaves(same))
    with pytest.raises(FacejaxError, match="vgg16_bn-6c64b313.pth from https://download.pytorch.org"):
        registry.create(configs_scut()).load_pretrained(None)


def configs_scut():
    from facejax import configs

    return configs.load("beholder:scut_fbp5500", imagenet_weights="")


def test_labels_dataset_is_written_and_feeds_the_gan(trained_predictor, synthetic_tfds, tmp_path):
    cfg, workdir, state = trained_predictor
    out = str(tmp_path / "tfds")
    from facejax.families import base
    from facejax.families.beholder.family import Beholder

    step = Beholder.prepare_steps()["beauty_labels"]  # `facejax prepare beauty_labels`
    assert step.needs_config
    res = step.run(
        base.PrepareArgs(
            config=cfg, workdir=workdir, source="synthetic_faces/gender_32", out="synthetic_labels", data_dir=out
        )
    )
    assert res["splits"] == {"test": 128, "train": 1024}
    assert step.summary(res) == f"beauty_labels/synthetic_labels prepared in {res['path']}: test 128, train 1024"
    gcfg = gan_config(out, **{"data.name": "beauty_labels", "data.config": "synthetic_labels"})
    fam = registry.create(gcfg)
    table = fam.read_split("train")
    assert table["scores"].shape == (1024, 8) and np.all((table["scores"] > 0) & (table["scores"] < 6))
    # the labels are the predictor's outputs x 5 on the faces resized to its input
    pfam = registry.create(cfg)
    x = data.eval_images({"image": table["image"][:8]}, 32)
    want = np.asarray(jax.jit(pfam.predict)(state.params["net"], x)) * 5
    np.testing.assert_allclose(table["scores"][:8], want, rtol=1e-5, atol=1e-5)
    batch = next(iter(fam.train_dataset(16, 0, 1)))
    assert batch["x"].shape == (16, 16, 16, 3) and batch["beta"].shape == (16, 8)
    with pytest.raises(FacejaxError, match="already holds a beauty_labels dataset"):
        labels.prepare(cfg, workdir, "synthetic_faces/gender_32", "synthetic_labels", out)
    with pytest.raises(FacejaxError, match="predictor's config"):
        labels.prepare(gcfg, workdir, "synthetic_faces/gender_32", "x", out)


def test_labelling_uses_the_best_validation_checkpoint(trained_predictor, tmp_path):
    """train_beauty_prediction.py saves VGG16_beauty_rates.pt when the validation loss improves and
    execute_beauty_prediction.py labels with that file: the best checkpoint, not the newest."""
    from facejax.train import trainer

    cfg, _, state = trained_predictor
    assert cfg.eval.best_metric == "mse" and cfg.label.checkpoint == "best"
    workdir = str(tmp_path / "run")
    run = trainer.Run(cfg, workdir)
    worse = state.replace(params=jax.tree.map(lambda a: a * 0.5, state.params))
    for step, st, mse in ((50, state, 0.01), (100, worse, 0.5)):  # the newest has the higher validation loss
        run.checkpointer.save(step, st, None, cfg.to_dict(), force=True, metrics={"mse": mse})
    run.checkpointer.manager.wait_until_finished()
    run.checkpointer.close()
    step, restored, _ = labels.restore_predictor(cfg, workdir)
    assert step == 50
    same = jax.tree.map(lambda a, b: np.array_equal(np.asarray(a), np.asarray(b)), restored.params, state.params)
    assert all(jax.tree.leaves(same))
    from facejax import configs

    latest = configs.load("beholder:predictor_synthetic", **{"label.checkpoint": "latest"})
    assert labels.restore_predictor(latest, workdir)[0] == 100
    with pytest.raises(FacejaxError, match="config.label.checkpoint='newest'"):
        labels.restore_predictor(
            configs.load("beholder:predictor_synthetic", **{"label.checkpoint": "newest"}), workdir
        )


def test_predictor_preset_reads_the_raw_350px_faces():
    """train_beauty_prediction.py reads SCUT-FBP5500's released 350 x 350 images (Resize(224) in its transform);
    the padded 256 px copy is transform_images.py's input for the GAN."""
    from facejax import configs

    assert configs.load("beholder:scut_fbp5500").data.config == "original"
    assert configs.load("beholder:scut_gan").data.config == "256"


def test_gan_export_loads_strictly_and_round_trips(tmp_path):
    cfg = gan_config()
    fam = registry.create(cfg)
    state = jax.jit(fam.init)(root_key_data(1))
    state = state.replace(ema=jax.tree.map(lambda a: a * 0.5, state.ema))
    layout = fam.torch_layout()
    written = layout.write(layout.export(state), str(tmp_path), 12, "torch")
    assert sorted(written) == ["nets", "nets_ema"] and written["nets_ema"].endswith("000012_nets_ema.ckpt")
    m = cfg.model
    G = ref.Generator(16, 8, m.fmap_base, m.fmap_decay, m.fmap_max, m.latent_size)
    D = ref.Discriminator(16, 8, m.fmap_base, m.fmap_decay, m.fmap_max, m.label_groups, m.mbstd_group_size)
    nets = torch.load(written["nets"], weights_only=True)
    G.load_state_dict(torch.load(written["nets_ema"], weights_only=True)["generator"], strict=True)
    D.load_state_dict(nets["discriminator"], strict=True)
    rng = np.random.default_rng(0)
    z = rng.standard_normal((4, fam.latent_size)).astype(np.float32)
    b = rng.uniform(0.2, 1, (4, 8)).astype(np.float32)
    with torch.no_grad():
        want = G(torch.from_numpy(z), torch.from_numpy(b)).numpy().transpose(0, 2, 3, 1)
    got = np.asarray(jax.jit(lambda g: fam.render(g, z, b))(state.ema["G"]))
    np.testing.assert_allclose(got, want, atol=1e-4)
    step, imported, _, notes = fam.import_files(str(tmp_path))
    assert step == 12
    for a, b_ in ((imported.params, state.params), (imported.ema, state.ema)):
        assert all(jax.tree.leaves(jax.tree.map(lambda x, y: np.array_equal(np.asarray(x), np.asarray(y)), a, b_)))
    safe = layout.write(layout.export(state), str(tmp_path / "st"), 12, "safetensors")
    step, imported, _, _ = fam.import_files(safe["nets_ema"])
    np.testing.assert_array_equal(
        np.asarray(imported.ema["G"]["torgb"][0]["kernel"]), np.asarray(state.ema["G"]["torgb"][0]["kernel"])
    )
    wide = registry.create(gan_config(**{"model.fmap_max": 64}))
    with pytest.raises(FacejaxError, match=r"blocks\.0\.dense\.weight"):
        wide.import_files(str(tmp_path))
    with pytest.raises(FacejaxError, match="--with_optim"):
        layout.export(state, with_optim=True)
