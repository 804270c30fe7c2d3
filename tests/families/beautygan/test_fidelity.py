"""BeautyGAN as the reference (wtjiang98/BeautyGAN_pytorch) does it: the VGG-19 perceptual network of net.VGG
(bethgelab vgg_conv.pth layout, fed [-1, 1]) against a PyTorch transcription on random weights, its file errors, the
input reading of user photos against torchvision's transforms on non-square pictures, ndis counted within the
epoch, and the min-max stretch of saved pictures."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image
from tests.families.beautygan.conftest import PRESET_OVERRIDES

from facejax import configs, images, registry
from facejax.errors import FacejaxError
from facejax.families.beautygan import preprocess, sample
from facejax.nn import vgg as vgg_lib
from facejax.train.state import root_key_data

VGG19_CFG = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512)


def _conv_names():
    names, block, k = [], 1, 0
    for v in VGG19_CFG:
        if v == "M":
            block, k = block + 1, 0
            continue
        k += 1
        names.append(f"conv{block}_{k}")
    return names


@pytest.fixture(scope="module")
def vgg_conv_file(tmp_path_factory):
    """(path of a random state dict in the bethgelab vgg_conv.pth layout (conv1_1.weight .. conv5_4.bias), a
    PyTorch transcription of net.VGG's forward to relu4_1 with those weights)."""
    torch = pytest.importorskip("torch")
    g = torch.Generator().manual_seed(0)
    sd, cin = {}, 3
    for name, cout in zip(_conv_names(), [v for v in VGG19_CFG if v != "M"]):
        sd[f"{name}.weight"] = torch.randn((cout, cin, 3, 3), generator=g) * float(np.sqrt(2.0 / (cin * 9)))
        sd[f"{name}.bias"] = torch.randn((cout,), generator=g) * 0.1
        cin = cout
    path = tmp_path_factory.mktemp("weights") / "vgg_conv.pth"
    torch.save(sd, path)

    def r41(x):  # net.VGG: relu(conv) per layer, max pool 2x2 after conv1_2, conv2_2, conv3_4; out['r41']
        F = torch.nn.functional
        for name in _conv_names()[: _conv_names().index("conv4_1") + 1]:
            x = F.relu(F.conv2d(x, sd[f"{name}.weight"], sd[f"{name}.bias"], padding=1))
            if name in ("conv1_2", "conv2_2", "conv3_4"):
                x = F.max_pool2d(x, 2, 2)
        return x

    return str(path), r41


def _family(**overrides):
    base = {**PRESET_OVERRIDES, "model.g_conv_dim": 4, "model.g_repeat_num": 1, "model.d_conv_dim": 4}
    return registry.create(configs.load("beautygan:synthetic", **{**base, **overrides}))


@pytest.mark.slow
def test_default_perceptual_network_is_the_references_vgg19(vgg_conv_file):
    """config.vgg defaults to "vgg19": relu4_1 of net.VGG with vgg_conv.pth, fed G's [-1, 1] output as it is. The
    features equal the PyTorch transcription (float32, rtol 1e-4: the two convolution libraries sum in different
    orders), and so do the loss terms MSE(VGG(fake), VGG(real)) * lambda_A * lambda_vgg * 0.5."""
    torch = pytest.importorskip("torch")
    path, r41 = vgg_conv_file
    assert configs.load("beautygan:mt").vgg == "vgg19"
    # only the terms compared here (no histogram or identity terms: they are tested elsewhere and slow this down)
    family = _family(lambda_vgg=5e-3, vgg_weights=path, lips=False, skin=False, eye=False, lambda_idt=0.0)
    state = family.load_pretrained(jax.jit(family.init)(root_key_data(0)))
    assert sorted(state.frozen["vgg"]) == sorted(vgg_lib.vgg19_convs("relu4_1"))
    batch = family.bench_batch(2, seed=1)
    nchw = lambda a: torch.from_numpy(np.ascontiguousarray(np.asarray(a).transpose(0, 3, 1, 2)))  # noqa: E731
    with torch.no_grad():
        want_f = r41(nchw(batch["x_src"])).numpy().transpose(0, 2, 3, 1)
    got_f = np.asarray(vgg_lib.vgg19_features(state.frozen["vgg"], jnp.asarray(batch["x_src"])))
    assert got_f.shape == (2, 4, 4, 512)
    np.testing.assert_allclose(got_f, want_f, rtol=1e-4, atol=1e-4 * np.abs(want_f).max())
    from facejax.families.beautygan import losses

    masks_a, _ = losses.region_masks(jnp.asarray(batch["parsing_src"]), 2)
    masks_b, _ = losses.region_masks(jnp.asarray(batch["parsing_ref"]), 2)
    fake_a, fake_b = family.generate(state.params["G"], batch["x_src"], batch["x_ref"])
    _, (terms, _, _) = family.g_loss(
        state.params["G"],
        (fake_a, fake_b),
        state.sampling_params(),
        jnp.asarray(batch["x_src"]),
        jnp.asarray(batch["x_ref"]),
        masks_a,
        masks_b,
        jnp.ones((2,)),
    )
    with torch.no_grad():
        want_a = torch.nn.functional.mse_loss(r41(nchw(fake_a)), r41(nchw(batch["x_src"]))).item()
        want_b = torch.nn.functional.mse_loss(r41(nchw(fake_b)), r41(nchw(batch["x_ref"]))).item()
    assert want_a > 0
    assert float(terms["vgg_A"]) == pytest.approx(0.5 * 10.0 * 5e-3 * want_a, rel=1e-4)
    assert float(terms["vgg_B"]) == pytest.approx(0.5 * 10.0 * 5e-3 * want_b, rel=1e-4)


def test_vgg19_file_errors_name_the_file(tmp_path, vgg_conv_file):
    missing = tmp_path / "vgg_conv.pth"
    fam = _family(lambda_vgg=5e-3, vgg_weights=str(missing))
    with pytest.raises(FacejaxError, match=r"vgg_conv\.pth' does not exist.*bethgelab"):
        fam.vgg_weights()
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(FacejaxError, match=r"junk\.pth \(config\.vgg_weights\): not a readable PyTorch state dict"):
        _family(lambda_vgg=5e-3, vgg_weights=str(tmp_path / "junk.pth")).vgg_weights()
    wrong = tmp_path / "wrong.npz"
    np.savez(wrong, **{"conv1_1.weight": np.zeros((64, 3, 5, 5), np.float32), "fc.weight": np.zeros((2, 2))})
    with pytest.raises(FacejaxError, match=r"wrong\.npz .*not the bethgelab VGG-19.*missing .*other shapes.*fc"):
        vgg_lib.load_vgg_conv(str(wrong))
    with pytest.raises(FacejaxError, match=r"config\.vgg='vgg11'"):
        _family(vgg="vgg11")
    with pytest.raises(FacejaxError, match=r"config\.vgg_layer='relu5_9'"):
        _family(vgg_layer="relu5_9")


@pytest.mark.parametrize("hw", [(300, 410), (410, 300), (361, 361)])
def test_user_photos_are_read_as_torchvision_reads_them(tmp_path, hw):
    """`facejax sample --src/--ref` and Model.translate read a photo with Resize(img_size) (PIL bilinear, aspect kept)
    and the central img_size window; the float array equals torchvision's Compose([Resize(256), CenterCrop(256),
    ToTensor(), Normalize(0.5, 0.5)]) exactly (the same PIL resize, the same float32 operations), and for a square
    photo it is the original's own Resize(256) with no crop. Parsing maps: Resize(256, NEAREST)."""
    torch = pytest.importorskip("torch")
    T = pytest.importorskip("torchvision.transforms")
    cfg = configs.load("beautygan:mt")
    rng = np.random.default_rng(hw[0])
    arr = np.clip(rng.normal(128, 60, hw + (3,)).cumsum(1) / np.arange(1, hw[1] + 1)[None, :, None], 0, 255)
    arr = arr.astype(np.uint8)
    path = tmp_path / "face.png"
    Image.fromarray(arr).save(path)
    got = images.read(str(path), preprocess.recipe(cfg))
    with Image.open(path) as im:
        im = im.convert("RGB")
        crop = T.Compose([T.Resize(256), T.CenterCrop(256), T.ToTensor(), T.Normalize((0.5,) * 3, (0.5,) * 3)])
        want = crop(im).permute(1, 2, 0).numpy()
        plain = T.Compose([T.Resize(256), T.ToTensor(), T.Normalize((0.5,) * 3, (0.5,) * 3)])(im)
    assert got.dtype == np.float32 and got.shape == (256, 256, 3)
    np.testing.assert_array_equal(got, want)
    plain = plain.permute(1, 2, 0).numpy()
    if hw[0] == hw[1]:
        np.testing.assert_array_equal(got, plain)
    else:  # the original's resized picture, its central window
        np.testing.assert_array_equal(got, images.center_crop(plain, 256))
    labels = (arr[..., 0] // 19).astype(np.uint8)  # 0..13
    want_p = T.Compose([T.Resize(256, T.InterpolationMode.NEAREST), T.CenterCrop(256)])(Image.fromarray(labels))
    got_p = images.prepare_map(labels, preprocess.parsing_recipe(cfg), "nearest")
    np.testing.assert_array_equal(got_p, np.asarray(want_p, np.float32))
    del torch


def test_g_update_every_ndis_iterations_within_the_epoch():
    """The reference updates G when (i + 1) % ndis == 0 with i the iteration within the epoch (its enumerate over
    the loader restarts every epoch); "global" counts the step."""
    fam = _family(n_critic=3, steps_per_epoch=5)
    turns = [bool(fam.g_turn(jnp.int32(s))) for s in range(12)]
    want = [(i % 5 + 1) % 3 == 0 for i in range(12)]
    assert turns == want and turns[7] and not turns[8]  # step 7 is iteration 2 of epoch 1
    fam = _family(n_critic=3, steps_per_epoch=5, n_critic_count="global")
    assert [bool(fam.g_turn(jnp.int32(s))) for s in range(12)] == [(s + 1) % 3 == 0 for s in range(12)]
    with pytest.raises(FacejaxError, match=r"config\.n_critic_count='x'"):
        _family(n_critic_count="x")
    with pytest.raises(FacejaxError, match=r"config\.data\.pairing='zip'"):
        _family(**{"data.pairing": "zip"})
    with pytest.raises(FacejaxError, match=r"config\.eye_box='wrap'"):
        _family(eye_box="wrap")


def test_saved_pictures_min_max_stretch_as_the_reference_test():
    """config.save_minmax: save_image(de_norm(x), normalize=True) of the reference's test(): clamp to [0, 1], then
    the picture's own min and max stretched to 0..255 (+ 0.5, truncated); off: (x + 1) / 2 clamped and rounded."""
    torch = pytest.importorskip("torch")
    tvu = pytest.importorskip("torchvision.utils")
    rng = np.random.default_rng(0)
    x = rng.uniform(-0.6, 0.7, (2, 8, 8, 3)).astype(np.float32)
    got = sample.to_display(x, True)
    for i in range(2):
        t = torch.from_numpy(x[i].transpose(2, 0, 1))
        grid = tvu.make_grid(((t + 1) / 2).clamp(0, 1)[None], nrow=1, padding=0, normalize=True)
        want = grid.mul(255).add_(0.5).clamp_(0, 255).permute(1, 2, 0).to(torch.uint8).numpy()
        np.testing.assert_array_equal(got[i], want)
    assert got.min() == 0 and got.max() == 255
    np.testing.assert_array_equal(sample.to_display(x, False), images.to_uint8(x))
