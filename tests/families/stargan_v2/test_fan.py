"""FAN in JAX: the original's architecture and masks (parity with the PyTorch reference of core/wing.py),
the preprocess quirks, wing.ckpt reading, and its use by the family when w_hpf > 0."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from tests.export.states import random_state

from facejax import configs, registry
from facejax.errors import FacejaxError
from facejax.export.convert import CheckpointMismatch
from facejax.families.stargan_v2 import fan, sample, torch_layout
from facejax.train.state import bind

SMALL = {
    "img_size": 32,
    "model.dim_in": 16,
    "model.max_conv_dim": 32,
    "model.hidden_dim": 32,
    "model.style_dim": 16,
    "model.latent_dim": 8,
    "model.w_hpf": 1.0,
    "model.fan_img_size": 64,
    "model.fan_width": 8,
}


def _blobs(n, size, seed, sigma=3.0):
    """Landmark-like heatmaps: one Gaussian peak per channel at a random place (values in [0, 1])."""
    rng = np.random.default_rng(seed)
    rows, cols = np.meshgrid(np.arange(size), np.arange(size), indexing="ij")
    out = np.zeros((n, size, size, fan.NUM_LANDMARKS), np.float32)
    for b in range(n):
        for c in range(fan.NUM_LANDMARKS):
            r, q = rng.uniform(0.25, 0.75, 2) * size
            out[b, :, :, c] = np.exp(-((rows - r) ** 2 + (cols - q) ** 2) / (2 * sigma**2))
    return out


def _peak_rows(mask):
    m = np.asarray(mask)[0, :, :, 0]
    return sorted(set(np.argwhere(m > 0.5 * m.max())[:, 0].tolist()))


def test_preprocess_shifts_and_powers_parts_as_the_original():
    """One landmark at row 128: nostrils move up 8 px, eyes down 8 (cubed) and 24, the nose bridge up 4,
    eyebrows down 7 (coarse mask only), face-line ends vanish."""
    size = 256
    base = np.zeros((1, size, size, fan.NUM_LANDMARKS), np.float32)
    rows, cols = np.meshgrid(np.arange(size), np.arange(size), indexing="ij")
    blob = np.exp(-((rows - 128) ** 2 + (cols - 128) ** 2) / 8.0).astype(np.float32)[None, :, :, None]
    for channel, expected_rows in [(56, [120]), (60, [136, 152]), (53, [124]), (40, [135]), (5, [])]:
        h = base.copy()
        h[..., channel : channel + 1] = blob
        coarse, fine = fan.preprocess(jnp.asarray(h))
        peaks = _peak_rows(coarse)
        centers = [r for r in peaks if coarse[0, r, 128, 0] >= max(coarse[0, r - 1, 128, 0], coarse[0, r + 1, 128, 0])]
        assert centers == expected_rows, (channel, centers)
        if channel == 40:  # eyebrows: in the coarse mask only
            assert float(fine.max()) == 0.0


def test_preprocess_matches_torch_reference_on_landmark_like_heatmaps():
    torch = pytest.importorskip("torch")
    from facejax.families.stargan_v2 import torch_wing as wing

    h = _blobs(2, 256, seed=1)
    coarse, fine = fan.preprocess(jnp.asarray(h))
    tc, tf = wing.preprocess(torch.from_numpy(h.transpose(0, 3, 1, 2).copy()))
    np.testing.assert_allclose(np.asarray(coarse), tc.numpy().transpose(0, 2, 3, 1), atol=1e-5)
    np.testing.assert_allclose(np.asarray(fine), tf.numpy().transpose(0, 2, 3, 1), atol=1e-5)
    assert 0.01 < float(coarse.mean()) < 0.5 and 0 < float(fine.mean()) < float(coarse.mean())
    assert bool(jnp.all(fine <= coarse + 1e-6))


def test_align_corners_upsampling_matches_torch():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(0).standard_normal((2, 16, 16, 5)).astype(np.float32)
    out = fan.resize_align_corners(jnp.asarray(x), 64)
    ref = torch.nn.functional.interpolate(
        torch.from_numpy(x.transpose(0, 3, 1, 2).copy()), scale_factor=4, mode="bilinear", align_corners=True
    )
    np.testing.assert_allclose(np.asarray(out), ref.numpy().transpose(0, 2, 3, 1), atol=1e-5)


def _random_torch_fan(wing, torch, img_size=256, width=64, seed=0):
    """A reference FAN with random weights of a sensible scale (eval mode), heatmaps of order 1."""
    torch.manual_seed(seed)
    model = wing.FAN(img_size, width).eval()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.0)
                m.bias.normal_(0, 0.1)
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(1.0, 2.0)
                m.num_batches_tracked.fill_(3)
        model.l0.weight.mul_(0.2)
    return model


def _jax_fan(torch_model, img_size, width):
    module = nnx.eval_shape(lambda: fan.FAN(img_size, width, rngs=nnx.Rngs(0)))
    net = torch_layout.module_layout(module, "fan")
    from facejax.export import convert

    params = convert.from_torch({k: v.numpy() for k, v in torch_model.state_dict().items()}, net, source="mem")
    graphdef = nnx.split(module, nnx.Param, ...)[0]
    return graphdef, params


@pytest.mark.torch
def test_full_fan_matches_torch_reference_at_256():
    torch = pytest.importorskip("torch")
    from facejax.families.stargan_v2 import torch_wing as wing

    tfan = _random_torch_fan(wing, torch)
    graphdef, params = _jax_fan(tfan, 256, 64)
    x = np.random.default_rng(2).uniform(-1, 1, (1, 200, 200, 3)).astype(np.float32)  # resized to 256 inside

    def run(p, x):
        m = bind(graphdef, p)
        return fan.heatmaps(m, x), fan.masks(m, x)

    with jax.default_matmul_precision("highest"):
        heat, (coarse, fine) = jax.jit(run)(params, x)
    with torch.no_grad():
        xt = torch.from_numpy(x.transpose(0, 3, 1, 2).copy())
        raw = tfan.get_heatmap(xt, b_preprocess=False)
        theat = torch.nn.functional.interpolate(raw, scale_factor=4, mode="bilinear", align_corners=True)
        tc, tf = tfan.get_heatmap(xt)
    theat = theat.numpy().transpose(0, 2, 3, 1)
    assert heat.shape == (1, 256, 256, 98) and coarse.shape == fine.shape == (1, 256, 256, 1)
    assert 0.1 < float(np.abs(theat).max()) < 100
    assert float(np.max(np.abs(np.asarray(heat) - theat))) <= 1e-4
    # Masks threshold the heatmaps at 0.1: a value within float error of it may flip, so allow a few pixels.
    for ours, theirs in ((coarse, tc), (fine, tf)):
        diff = np.abs(np.asarray(ours) - theirs.numpy().transpose(0, 2, 3, 1))
        assert float(np.mean(diff <= 1e-4)) >= 0.999, float(np.mean(diff <= 1e-4))


def test_fan_weights_file_errors_name_the_file_and_its_origin(tmp_path):
    cfg = configs.load("stargan_v2:synthetic", **SMALL)
    with pytest.raises(
        FacejaxError,
        match=r"config.model.w_hpf=1.0 needs FAN.*--config.fan_weights.*wing\.ckpt"
        r".*download\.sh",
    ):
        torch_layout.read_fan_weights(cfg)
    cfg.fan_weights = str(tmp_path / "nope" / "wing.ckpt")
    with pytest.raises(FacejaxError, match=r"nope/wing\.ckpt does not exist.*StarGAN v2 release"):
        registry.create(cfg).load_pretrained(None)
    torch = pytest.importorskip("torch")
    from facejax.families.stargan_v2 import torch_wing as wing

    sd = wing.FAN(64, 8).state_dict()
    del sd["m0.b3_2.conv2.weight"]
    torch.save({"state_dict": sd}, tmp_path / "wing.ckpt")
    cfg.fan_weights = str(tmp_path / "wing.ckpt")
    with pytest.raises(CheckpointMismatch, match=r"wing\.ckpt \[fan\]: tensor 'm0\.b3_2\.conv2\.weight' .*missing"):
        torch_layout.read_fan_weights(cfg)


@pytest.mark.torch
def test_family_reads_wing_ckpt_and_its_masks_steer_the_generator(tmp_path):
    torch = pytest.importorskip("torch")
    from facejax.families.stargan_v2 import torch_wing as wing

    tfan = _random_torch_fan(wing, torch, 64, 8, seed=4)
    sd = {k: v for k, v in tfan.state_dict().items() if not k.endswith("num_batches_tracked")}
    torch.save({"state_dict": {**sd, "extra.weight": torch.zeros(1)}, "epoch": 1}, tmp_path / "wing.ckpt")
    cfg = configs.load("stargan_v2:synthetic", fan_weights=str(tmp_path / "wing.ckpt"), **SMALL)
    family = registry.create(cfg)
    assert family.uses_fan and "fan" not in family.optimizers and "fan" not in family.param_counts()
    state = family.load_pretrained(random_state(family))
    np.testing.assert_array_equal(
        state.frozen["fan"]["l0"]["kernel"], tfan.l0.weight.detach().numpy().transpose(2, 3, 1, 0)
    )
    assert "fan" not in state.params and "fan" not in state.ema  # frozen: its own field, once
    assert sorted(state.opt_state) == ["discriminator", "generator", "mapping_network", "style_encoder"]

    x = np.random.default_rng(0).uniform(-1, 1, (2, 32, 32, 3)).astype(np.float32)
    z = np.random.default_rng(1).standard_normal((2, 8)).astype(np.float32)
    y = np.array([0, 1], np.int32)
    translate = jax.jit(lambda ema, x, z, y: family.translate(ema, x, ("latent", z), y))
    out = translate(sample.sampling_weights(state), x, z, y)
    flat_fan = jax.tree.map(lambda a: a, state.frozen["fan"])
    flat_fan["l0"]["kernel"] = np.zeros_like(flat_fan["l0"]["kernel"])  # constant heatmaps -> ~zero masks
    out2 = translate({**state.ema, "fan": flat_fan}, x, z, y)
    masks = fan.masks(bind(family.graphdefs["fan"], state.frozen["fan"]), x)
    flat = fan.masks(bind(family.graphdefs["fan"], flat_fan), x)
    assert masks[0].shape == masks[1].shape == (2, 64, 64, 1)  # at FAN's size; the generator resizes them
    # random weights: every landmark map is busy, the summed masks saturate; flat maps: (almost) empty masks
    assert float(masks[1].mean()) > 0.5 and max(float(flat[0].max()), float(flat[1].max())) < 0.2
    assert out.shape == (2, 32, 32, 3) and float(jnp.abs(out - out2).max()) > 1e-3
