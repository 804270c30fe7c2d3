"""User images read as each original reads them (facejax/images.py and each family's preprocess.py recipe), on
NON-SQUARE photos. PyTorch originals (StarGAN v2 here; BeautyGAN and IPM-Net in their folders): the float array
equals torchvision's transform output exactly (the same PIL resize, the same float32 operations: (x / 255 - 0.5) /
0.5). The others against transcriptions of their code: AesGAN's scipy.misc.imresize of a float image (bytescale, PIL
bilinear, / 127.5 - 1 in float64), Beholder-GAN's PIL ANTIALIAS resize, GFC's crop_celebA.lua + demo_face128.m."""

import numpy as np
import pytest
from PIL import Image

from facejax import configs, images
from facejax.errors import FacejaxError
from facejax.families.aesgan import data as aesgan_data
from facejax.families.beholder import beautify
from facejax.families.gfc import data as gfc_data
from facejax.families.stargan_v2 import preprocess as stargan_pre

SHAPES = [(300, 410), (410, 300), (97, 131)]


def photo(hw, seed=0):
    """A smooth-ish non-square RGB photo (uint8): resampling differences show on gradients and edges."""
    rng = np.random.default_rng(seed)
    h, w = hw
    base = rng.normal(128, 70, (h, w, 3)).cumsum(1) / np.arange(1, w + 1)[None, :, None]
    base[h // 3 : h // 2, w // 4 :] += 60
    return np.clip(base, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def T():
    pytest.importorskip("torch")
    return pytest.importorskip("torchvision.transforms")


def _torchvision(T, im, resize, crop=0, normalize=True):
    steps = [T.Resize(resize)] + ([T.CenterCrop(crop)] if crop else []) + [T.ToTensor()]
    steps += [T.Normalize((0.5,) * 3, (0.5,) * 3)] if normalize else []
    return T.Compose(steps)(im).permute(1, 2, 0).numpy()


@pytest.mark.parametrize("hw", SHAPES)
def test_recipes_equal_torchvision_exactly(T, hw):
    """Resize(int) keeps the aspect ratio (the longer side int(size * long / short)), Resize([h, w]) squashes,
    CenterCrop takes the torchvision window: every recipe's array equals torchvision's bit for bit."""
    arr = photo(hw)
    im = Image.fromarray(arr)
    for resize, crop in ((321, 256), ((256, 256), 0), (256, 256), (64, 0), (40, 48)):
        got = images.prepare(arr, images.Recipe(resize, crop=crop))
        want = _torchvision(T, im, resize, crop)
        assert got.dtype == np.float32 and got.shape == want.shape, (resize, crop)
        np.testing.assert_array_equal(got, want, err_msg=str((resize, crop)))
    # one-channel maps: ToTensor's x / 255 (bilinear) or the labels (nearest)
    m = Image.fromarray(arr[..., 0])
    got = images.prepare_map(m, images.Recipe(321, crop=256))
    np.testing.assert_array_equal(got, T.Compose([T.Resize(321), T.CenterCrop(256), T.ToTensor()])(m)[0].numpy())
    got = images.prepare_map(m, images.Recipe(256), "nearest")
    np.testing.assert_array_equal(got, np.asarray(T.Resize(256, T.InterpolationMode.NEAREST)(m), np.float32))


@pytest.mark.parametrize("hw", SHAPES[:2])
def test_stargan_v2_reads_as_its_test_loader(T, tmp_path, hw):
    """core/data_loader.py: Resize([img_size, img_size]) (squashes), ToTensor, Normalize."""
    cfg = configs.load("stargan_v2:afhq")
    path = tmp_path / "a.jpg"
    Image.fromarray(photo(hw)).save(path, quality=90)
    got = images.read(str(path), stargan_pre.recipe(cfg))
    with Image.open(path) as im:
        want = _torchvision(T, im.convert("RGB"), [cfg.img_size, cfg.img_size])
    np.testing.assert_array_equal(got, want)


def _imresize_float(img_float64, size):
    """scipy.misc.imresize(arr, [size, size]) of a float array (scipy 1.0: toimage -> bytescale, then PIL's resize
    with interp='bilinear'), then / 127.5 - 1 (AesGAN's transform), as float32 fed to TF."""
    cmin, cmax = img_float64.min(), img_float64.max()
    cscale = cmax - cmin if cmax - cmin != 0 else 1
    byte = ((img_float64 - cmin) * (255.0 / cscale)).clip(0, 255) + 0.5
    resized = np.array(Image.fromarray(byte.astype(np.uint8)).resize((size, size), resample=Image.BILINEAR))
    return (resized / 127.5 - 1.0).astype(np.float32)


@pytest.mark.parametrize("hw", SHAPES[:2])
def test_aesgan_reads_as_imresize(tmp_path, hw):
    arr = photo(hw, 1) // 2 + 40  # levels 40..167: the bytescale stretch shows
    path = tmp_path / "f.png"
    Image.fromarray(arr).save(path)
    got = aesgan_data.read_face(str(path), 256, True)
    np.testing.assert_array_equal(got, _imresize_float(arr.astype(np.float64), 256))
    np.testing.assert_array_equal(aesgan_data.face_input(arr, 256, True), got)
    plain = aesgan_data.read_face(str(path), 256, False)  # config.data.bytescale=False: no stretch
    assert np.ptp(got) > np.ptp(plain) + 0.5  # the stretch widens the range
    want = np.asarray(Image.fromarray(arr).resize((256, 256), Image.BILINEAR)) / 127.5 - 1.0
    np.testing.assert_array_equal(plain, want.astype(np.float32))


@pytest.mark.parametrize("resize_filter", beautify.FILTERS)
def test_beholder_reads_as_beautify_image(tmp_path, resize_filter):
    """beautify_image.py: np.asarray(img.resize((res, res), Image.ANTIALIAS)) / 127.5 - 1."""
    arr = photo((350, 280), 2)
    path = tmp_path / "f.png"
    Image.fromarray(arr).save(path)
    got = beautify.read_face(str(path), 128, resize_filter)
    pil = Image.LANCZOS if resize_filter == "antialias" else Image.BILINEAR
    want = (np.asarray(Image.fromarray(arr).resize((128, 128), pil)) / 127.5 - 1.0).astype(np.float32)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(beautify.face_input(arr, 128, resize_filter), got)
    with pytest.raises(FacejaxError, match="resize_filter"):
        beautify.read_face(str(path), 128, "cubic")


def test_gfc_reads_as_crop_celeba_lua_and_demo_face128(tmp_path):
    """An aligned CelebA photo (178 x 218) gives exactly the celeba builder's gfc_128 face (crop_celebA.lua: the
    box, Lua Torch's image.scale, 8 bits), then demo_face128.m's im2single * 2 - 1 in single precision; a 128 px
    face is not resized; another size is scaled by image.scale (squashed). test_resize="tf": the earlier resize."""
    from facejax.datasets.celeba.celeba import crop_celeba_lua, torch_scale

    cfg = configs.load("gfc:celeba")
    assert cfg.img_size == 128 and cfg.data.test_resize == "torch7"
    arr = photo((218, 178), 3)
    path = tmp_path / "000001.jpg"
    Image.fromarray(arr).save(path, quality=95)
    with Image.open(path) as im:
        decoded = np.asarray(im.convert("RGB"))
    with Image.open(__import__("io").BytesIO(crop_celeba_lua(str(path), (30, 40, 168, 178), 128).encoded)) as im:
        face = np.asarray(im)
    want = face.astype(np.float32) / np.float32(255) * np.float32(2) - np.float32(1)
    np.testing.assert_array_equal(gfc_data.test_input(decoded, cfg), want)
    np.testing.assert_array_equal(gfc_data.test_input(face, cfg), want)  # a prepared 128 px face: no resize
    other = photo((100, 150), 4)
    scaled = np.clip(np.round(torch_scale(other.astype(np.float32) / np.float32(255), 128, 128) * 255), 0, 255)
    np.testing.assert_array_equal(
        gfc_data.test_input(other, cfg), scaled.astype(np.float32) / np.float32(255) * np.float32(2) - np.float32(1)
    )
    old = configs.load("gfc:celeba", **{"data.test_resize": "tf"})
    assert not np.array_equal(gfc_data.test_input(other, old), gfc_data.test_input(other, cfg))
