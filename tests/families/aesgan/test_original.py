"""AesGAN behaves as the original's code (AliceQLin/AesGAN; issue 26 items 5-7), each checked against a
transcription of the original's code path: the per-image byte-scaling of scipy.misc.imresize on the input path,
the gradient through the spectral norm's power iteration (TF's ops.spectral_norm has no stop_gradient), the
duplicate second reference the test list keeps, and the eye masks pixel for pixel against OpenCV's cv2.ellipse.
Each default is the original's; the config switches give the earlier behaviour back."""

import io

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from PIL import Image

from facejax import configs, registry
from facejax.families.aesgan import data as data_lib
from facejax.families.aesgan import model, references
from facejax.families.aesgan.layers import SameSpectralConv2d, SpectralLinear, same_pads, trunc_normal_002

# ------------------------------------------------------------------ item 5: scipy.misc.imresize's bytescale


def scipy_bytescale(data, cmin=None, cmax=None, high=255, low=0):
    """scipy.misc.bytescale (scipy <= 1.2) as documented, transcribed: (data - cmin) * (high - low) / (cmax - cmin)
    + low, clipped to [low, high], + 0.5, cast to uint8 (truncation); cmin/cmax the array's min/max; a zero range
    counts as 1; uint8 input is returned as it is."""
    if data.dtype == np.uint8:
        return data
    cmin = data.min() if cmin is None else cmin
    cmax = data.max() if cmax is None else cmax
    cscale = cmax - cmin
    if cscale == 0:
        cscale = 1
    scale = float(high - low) / cscale
    bytedata = (data - cmin) * scale + low
    return (bytedata.clip(low, high) + 0.5).astype(np.uint8)


def original_transform(path_bytes, size):
    """utils.get_image(..., is_crop=False, resize_w=size): scipy.misc.imread(path).astype(float), then imresize
    (toimage = bytescale of the float array, PIL bilinear resize, back to an array), then / 127.5 - 1."""
    arr = np.asarray(Image.open(io.BytesIO(path_bytes)).convert("RGB")).astype(np.float64)
    im = Image.fromarray(scipy_bytescale(arr))
    if im.size != (size, size):
        im = im.resize((size, size), Image.BILINEAR)
    return np.array(im) / 127.5 - 1


def _png(arr):
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def _faces(encoded, eyes=None, identity=None, opened=None):
    n = len(encoded)
    eyes = np.tile(np.array([[0.45, 0.35], [0.45, 0.65]], np.float32), (n, 1, 1)) if eyes is None else eyes
    return data_lib.Faces(
        images=np.asarray(encoded, dtype=object),
        identity=np.zeros(n, np.int64) if identity is None else identity,
        eyes=eyes,
        opened=np.full(n, 0.9, np.float32) if opened is None else opened,
        order=np.arange(n),
        file_name=np.array([f"{i}.png" for i in range(n)], dtype=object),
        name="test faces",
    )


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(0)
    a = rng.integers(37, 181, (32, 32, 3)).astype(np.uint8)  # a narrow range: bytescale stretches it
    b = rng.integers(5, 250, (32, 32, 3)).astype(np.uint8)
    c = np.full((32, 32, 3), 77, np.uint8)  # constant: the original maps it to 0 (-1 after the normalisation)
    return [a, b, c]


def test_inputs_are_bytescaled_per_image_as_the_original(images, tmp_path):
    enc = [_png(x) for x in images]
    want = np.stack([original_transform(e, 32) for e in enc])
    # the decode path (sampling, evaluation) and the dataset transform
    np.testing.assert_allclose(data_lib.decode_images(enc, 32, True), want, atol=1e-6)
    assert not np.allclose(data_lib.decode_images(enc, 32, False), want, atol=0.01)  # the switch: as decoded
    # folder sampling, with the original's PIL bilinear resize
    path = tmp_path / "a.png"
    path.write_bytes(enc[0])
    np.testing.assert_allclose(data_lib.read_face(str(path), 32, True), want[0], atol=1e-6)
    np.testing.assert_allclose(data_lib.read_face(str(path), 24, True), original_transform(enc[0], 24), atol=1e-6)

    # the family's training stream and sample inputs use it by default (config.data.bytescale)
    cfg = configs.load("aesgan:synthetic", lambda_parsing=0.0)
    assert cfg.data.bytescale is True
    fam = registry.create(cfg)
    pairs = references.Pairs(_faces(enc[:2]), np.array([0, 0, 0, 0]), np.array([1, 1, 1, 1]), np.zeros(2))
    fam._pairs = {"train": pairs, "eval": pairs}
    batch = next(iter(fam.train_dataset(2, 0, 1).as_numpy_iterator()))
    np.testing.assert_allclose(batch["x"], np.stack([want[0]] * 2), atol=1e-6)
    np.testing.assert_allclose(batch["ref"], np.stack([want[1]] * 2), atol=1e-6)
    np.testing.assert_allclose(fam.sample_inputs(1)["x"][0], want[0], atol=1e-6)


# ------------------------------------------------------------------ item 6: gradient through the power iteration


def _tf_spectral_norm(w, u):
    """ops.spectral_norm (one iteration) in JAX as TF differentiates it: w reshaped to (-1, out), u (1, out) the
    stored vector (a variable: constant), no stop_gradient anywhere else."""
    shape = w.shape
    w2 = w.reshape(-1, shape[-1])
    l2n = lambda x: x / (jnp.sum(x**2) ** 0.5 + 1e-12)  # noqa: E731
    v_hat = l2n(jnp.matmul(u, w2.T, precision="highest"))
    u_hat = l2n(jnp.matmul(v_hat, w2, precision="highest"))
    sigma = jnp.matmul(jnp.matmul(v_hat, w2, precision="highest"), u_hat.T, precision="highest")
    return (w2 / sigma).reshape(shape)


def _tf_conv(x, w, u):
    """ops.conv2d(..., k 5, stride 2, spectural_normed=True): SAME padding, bias 0 here."""
    ph, pw = same_pads(x.shape[1], 5, 2), same_pads(x.shape[2], 5, 2)
    return jax.lax.conv_general_dilated(
        x, _tf_spectral_norm(w, u), (2, 2), (ph, pw), dimension_numbers=("NHWC", "HWIO", "NHWC"), precision="highest"
    )


def _layer_grad(layer, x, probe):
    graphdef, state = nnx.split(layer)
    pure = nnx.to_pure_dict(state)

    @jax.jit
    def grad(kernel):
        return jax.grad(lambda k: jnp.sum(nnx.merge(graphdef, nnx.State({**pure, "kernel": k}))(x) * probe))(kernel)

    return grad(pure["kernel"]), pure


def test_discriminator_backpropagates_through_the_power_iteration_as_tf():
    assert configs.load("aesgan:synthetic").model.sn_power_iteration_grad is True
    rng = np.random.default_rng(1)
    x = jnp.asarray(rng.standard_normal((2, 16, 16, 6)), jnp.float32)
    h = jnp.asarray(rng.standard_normal((3, 64)), jnp.float32)
    probe = jnp.asarray(rng.standard_normal((2, 8, 8, 16)), jnp.float32)
    probe_fc = jnp.asarray(rng.standard_normal((3, 64)), jnp.float32)
    # the model's own layers (built abstractly: an eager init compiles every initialiser), then concrete copies
    default = nnx.eval_shape(lambda: model.Discriminator(32, 8, rngs=nnx.Rngs(0)))
    assert default.dis_conv_0.grad_through_iteration is True and default.dis_fully1.sn_grad is True
    for sn_grad in (True, False):
        conv = SameSpectralConv2d(6, 16, 5, 2, sn_grad=sn_grad, kernel_init=trunc_normal_002, rngs=nnx.Rngs(1))
        fc = SpectralLinear(64, 64, sn_grad=sn_grad, rngs=nnx.Rngs(2))
        g, pure = _layer_grad(conv, x, probe)
        u = jnp.asarray(pure["u"])[None]
        want = jax.jit(jax.grad(lambda k: jnp.sum((_tf_conv(x, k, u) + pure["bias"]) * probe)))(pure["kernel"])
        g_fc, pure_fc = _layer_grad(fc, h, probe_fc)
        u_fc = jnp.asarray(pure_fc["u"])[None]
        want_fc = jax.jit(
            jax.grad(lambda k: jnp.sum(jnp.matmul(h, _tf_spectral_norm(k, u_fc), precision="highest") * probe_fc))
        )(pure_fc["kernel"])
        scale, scale_fc = float(jnp.abs(want).max()), float(jnp.abs(want_fc).max())
        if sn_grad:
            np.testing.assert_allclose(g, want, atol=1e-5 * scale)
            np.testing.assert_allclose(g_fc, want_fc, atol=1e-5 * scale_fc)
        else:  # the switch (u, v constants) is a different gradient, by far more than the tolerance above
            assert float(jnp.abs(g - want).max()) > 1e-2 * scale
            assert float(jnp.abs(g_fc - want_fc).max()) > 1e-2 * scale_fc


# ------------------------------------------------------------------ item 7: the test list and the eye masks


class _FakeFamily:
    """What references.eval_pairs reads of a family: its config, mask axes and an eyescore function."""

    def __init__(self, **overrides):
        self.config = configs.load(
            "aesgan:synthetic", **{"eval.targets": "closed", "eval.references": "same", **overrides}
        )
        self.axes = data_lib.mask_axes(self.config)

    def eye_scores(self, e_params, x, eyes):
        return np.zeros(len(x), np.float32)


def _original_second_reference(ssims, scores, cand, target, best):
    """utils.read_image_list_for_Eyes' second walk for a closed-eye target (is_close_id), transcribed: the same
    greedy passes without the target and the first pick, starting from ref_picn = flg (1 if the target is image 0,
    else 0)."""
    ref_picn = 1 if target == 0 else 0
    flg, tmp, eyescore = ref_picn, 0, 0
    for i in range(len(ssims)):
        if i == target or i == best or not cand[i]:
            continue
        if ssims[i] > tmp and scores[i] >= eyescore:
            tmp, ref_picn, eyescore = ssims[i], i, scores[i]
    if flg == ref_picn:
        for i in range(len(ssims)):
            if i == target or i == best or not cand[i]:
                continue
            if ssims[i] > tmp:
                tmp, ref_picn = ssims[i], i
    return ref_picn


def test_the_test_list_keeps_the_duplicate_second_reference(images):
    # one identity: a closed-eye target (image 0) and one open-eyed image: the first walk picks image 1, the
    # second has no candidate left and ends on its initial pick, image 1 again; the original appends both pairs
    enc = [_png(images[0]), _png(images[1])]
    faces = _faces(enc, opened=np.array([0.2, 0.9], np.float32))
    assert _original_second_reference([1.0, 0.5], [0, 0], [False, True], 0, 1) == 1
    fam = _FakeFamily()
    assert fam.config.eval.drop_duplicate_reference is False
    pairs = references.eval_pairs(fam, None, faces, None)
    assert list(pairs.target) == [0, 0] and list(pairs.reference) == [1, 1]
    pairs = references.eval_pairs(_FakeFamily(**{"eval.drop_duplicate_reference": True}), None, faces, None)
    assert list(pairs.target) == [0] and list(pairs.reference) == [1]


def _cv2_masks(cv2, eyes, size, axes, shift=0):
    """AesGAN.get_Mask per image: cv2.ellipse on a float (size, size, 3) array, centre (int(x), int(y)); with
    shift > 0 the centre and the semi-axes as fixed point (for the fractional semi-axes of a smaller frame)."""
    out = []
    for e in eyes:
        mask = np.zeros((size, size, 3))
        for y, x in e:
            cx, cy = int(x * size), int(y * size)
            if shift:
                cv2.ellipse(
                    mask,
                    (cx << shift, cy << shift),
                    tuple(int(round(a * (1 << shift))) for a in axes),
                    0,
                    0,
                    360,
                    (1.0, 1.0, 1.0),
                    -1,
                    cv2.LINE_8,
                    shift,
                )
            else:
                cv2.ellipse(mask, (cx, cy), tuple(int(a) for a in axes), 0, 0, 360, (1.0, 1.0, 1.0), -1)
        out.append(mask[..., :1])
    return np.stack(out).astype(np.float32)


def test_eye_masks_are_cv2_ellipse_pixel_for_pixel():
    cv2 = pytest.importorskip("cv2")
    rng = np.random.default_rng(3)
    # the original's frame: 256 px, semi-axes (25, 15), eyes anywhere the ellipses stay inside the frame
    eyes = np.stack([rng.uniform([18 / 256, 28 / 256], [236 / 256, 226 / 256], (2, 2)) for _ in range(64)])
    eyes = eyes.astype(np.float32)
    want = _cv2_masks(cv2, eyes, 256, (25, 15))
    got = np.asarray(data_lib.eye_masks(eyes, 256, (25, 15)))
    np.testing.assert_array_equal(got, want)
    analytic = np.asarray(data_lib.eye_masks(eyes, 256, (25, 15), "analytic"))
    assert (analytic != want).any(axis=(1, 2, 3)).all()  # the earlier masks differ on the rim of every face
    # the synthetic preset's frame: 32 px, semi-axes (4, 2.75) as cv2's 16.16 fixed point
    eyes32 = np.stack([rng.uniform([4 / 32, 6 / 32], [27 / 32, 25 / 32], (2, 2)) for _ in range(32)]).astype(np.float32)
    fam = registry.create(configs.load("aesgan:synthetic"))
    assert fam.config.mask_raster == "opencv"
    np.testing.assert_array_equal(np.asarray(fam.masks(eyes32)), _cv2_masks(cv2, eyes32, 32, fam.axes, shift=16))
    # a missing eye draws nothing
    one = np.array([[[0.5, 0.3], [np.nan, np.nan]]], np.float32)
    np.testing.assert_array_equal(
        np.asarray(data_lib.eye_masks(one, 256, (25, 15))), _cv2_masks(cv2, one[:, :1], 256, (25, 15))
    )
