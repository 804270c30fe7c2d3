"""Inception v3 pool features: facejax vs pytorch-fid's InceptionV3 and torchvision's inception_v3 on
the same (random) weights, the preprocessing of both protocols, and the weight-file checks."""

import jax
import numpy as np
import pytest

from facejax.errors import FacejaxError
from facejax.metrics import inception, preprocess

torch = pytest.importorskip("torch", reason="parity tests need torch")


def _images(seed, n=2, size=299):
    return np.random.default_rng(seed).uniform(0, 1, (n, size, size, 3)).astype(np.float32)


def _nchw(x):
    return torch.from_numpy(np.ascontiguousarray(np.transpose(x, (0, 3, 1, 2))))


def _rel(a, b):
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


def test_fid_variant_matches_pytorch_fid(fid_inception):
    path, ref = fid_inception
    params = inception.load_params(path, "fid")
    x = _images(0)
    got = np.asarray(jax.jit(lambda p, x: inception.features(p, x, "fid"))(params, x))
    with torch.no_grad():
        want = ref(_nchw(x))[0].reshape(2, -1).numpy()
    assert got.shape == want.shape == (2, 2048)
    assert np.std(want) > 0.1  # features that carry signal, not a collapsed net
    print("relative error", _rel(got, want))
    assert _rel(got, want) < 1e-4, _rel(got, want)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * np.abs(want).max())


def test_imagenet_variant_matches_torchvision(imagenet_inception):
    path, net = imagenet_inception
    params = inception.load_params(path, "imagenet")
    x = _images(1)
    got = np.asarray(jax.jit(lambda p, x: inception.features(p, x, "imagenet"))(params, x))
    mean = torch.tensor(inception.IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(inception.IMAGENET_STD).view(1, 3, 1, 1)
    fc, net.fc = net.fc, torch.nn.Identity()  # pool features: torchvision's forward up to the classifier
    try:
        with torch.no_grad():
            want = net((_nchw(x) - mean) / std).numpy()
    finally:
        net.fc = fc
    assert np.std(want) > 0.1
    print("relative error", _rel(got, want))
    assert _rel(got, want) < 1e-4, _rel(got, want)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * np.abs(want).max())


def test_fid_resize_is_pytorch_fids_interpolate():
    x = _images(2, n=2, size=48)
    got = np.asarray(inception.network_input(x, "fid"))
    want = 2 * torch.nn.functional.interpolate(_nchw(x), size=(299, 299), mode="bilinear", align_corners=False) - 1
    # 1e-5: float32 round-off differs per XLA:CPU instruction set (3.7e-6 under --xla_cpu_max_isa=SSE4_2, no FMA,
    # against 2e-6 before); a wrong interpolation (align_corners, antialias, pixel centres) is off by ~1e-2
    np.testing.assert_allclose(got, np.transpose(want.numpy(), (0, 2, 3, 1)), atol=1e-5)


def test_stargan_preprocessing_is_torchvisions_pil_pipeline():
    tv = pytest.importorskip("torchvision")
    from PIL import Image

    img = np.random.default_rng(3).integers(0, 256, (48, 40, 3), dtype=np.uint8)
    t = tv.transforms.Compose(
        [
            tv.transforms.Resize([32, 32]),
            tv.transforms.Resize([299, 299]),
            tv.transforms.ToTensor(),
            tv.transforms.Normalize(inception.IMAGENET_MEAN, inception.IMAGENET_STD),
        ]
    )
    want = t(Image.fromarray(img)).numpy().transpose(1, 2, 0)
    ours = preprocess.inception_image(img, "imagenet", pre_size=32)
    got = np.asarray(inception.network_input(ours[None], "imagenet"))[0]
    np.testing.assert_allclose(got, want, atol=1e-6)


@pytest.mark.parametrize("variant", inception.VARIANTS)
def test_every_tensor_is_used_exactly_once(variant):
    used = inception.used_tensor_names(variant)
    assert len(used) == len(set(used)) == len(inception.expected_shapes()) == 94 * 5


def test_weight_file_errors(tmp_path, fid_inception, imagenet_inception):
    missing = tmp_path / "nope.pth"
    with pytest.raises(FacejaxError, match="pt_inception-2015-12-05-6726825d.pth.*github.com/mseitzer"):
        inception.load_params(str(missing), "fid", "--weights")
    with pytest.raises(FacejaxError, match="inception_v3_google-0cc3c7bd.pth.*download.pytorch.org"):
        inception.load_params("", "imagenet", "config.eval.inception_weights")
    # The other variant's file is refused, naming the file that was expected.
    with pytest.raises(FacejaxError, match="needs pt_inception-2015-12-05"):
        inception.load_params(imagenet_inception[0], "fid")
    with pytest.raises(FacejaxError, match="needs inception_v3_google"):
        inception.load_params(fid_inception[0], "imagenet")
    assert inception.detect_variant(fid_inception[0]) == "fid"
    assert inception.detect_variant(imagenet_inception[0]) == "imagenet"
    # A state dict missing a tensor / with a wrong shape names them.
    sd = torch.load(fid_inception[0], weights_only=True)
    del sd["Mixed_7c.branch_pool.conv.weight"]
    sd["Mixed_5b.branch1x1.bn.weight"] = torch.zeros(3)
    bad = tmp_path / "bad.pth"
    torch.save(sd, bad)
    with pytest.raises(
        FacejaxError,
        match=r"1 missing \(e.g. Mixed_7c.branch_pool.conv.weight\).*"
        r"Mixed_5b.branch1x1.bn.weight: file \(3,\), expected \(64,\)",
    ):
        inception.load_params(str(bad), "fid")
