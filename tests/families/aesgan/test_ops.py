"""AesGAN's pieces against NumPy transcriptions of the original: the losses, the lr decay loop, the
multi-reference selection rule, TF1's crop-and-resize, the ellipse masks, SegNet pooling."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from facejax.families.aesgan import data, layers, losses, selection
from facejax.metrics.ssim import ssim


def test_losses_match_a_numpy_transcription():
    rng = np.random.default_rng(0)
    real, fake = rng.normal(size=4).astype(np.float32), rng.normal(size=4).astype(np.float32)
    softplus = lambda v: np.log1p(np.exp(v))  # noqa: E731
    np.testing.assert_allclose(losses.d_loss(real, fake), softplus(-real).mean() + softplus(fake).mean(), rtol=1e-6)
    np.testing.assert_allclose(losses.g_adv(fake), softplus(-fake).mean(), rtol=1e-6)
    x, y = rng.uniform(-1, 1, (2, 2, 8, 8, 3)).astype(np.float32)
    np.testing.assert_allclose(losses.recon(x, y), np.mean(np.abs(x - y).sum(axis=(1, 2, 3)) / (8 * 8 * 3)), rtol=1e-6)
    logits = rng.normal(size=(2, 4, 4, 5)).astype(np.float32)
    labels = rng.integers(0, 5, (2, 4, 4))
    logp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    np.testing.assert_allclose(
        losses.parsing_ce(logits, labels), -np.take_along_axis(logp, labels[..., None], -1).mean(), rtol=1e-5
    )
    np.testing.assert_allclose(losses.aesthetic(x, y), np.mean((x - y) ** 2), rtol=1e-6)


def test_lr_decay_is_the_originals_loop():
    total, start, offset, floor = 1000, 200, 100, 0.1
    lr_decay, expected = 1.0, []
    for step in range(total + 1):  # AesGAN.train: while step <= max_iters
        if step > start and lr_decay > floor:
            lr_decay = (total - step) / float(total - offset)
        expected.append(lr_decay)
    got = np.asarray(jax.vmap(lambda s: losses.lr_multiplier(s, total, start, offset, floor))(jnp.arange(total + 1)))
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    assert expected[start] == 1.0 and expected[-1] <= floor and expected[-1] == expected[910] > expected[909] - 1


def test_selection_is_the_originals_greedy_rule():
    rng = np.random.default_rng(1)
    g, k = 6, 7
    ssims = rng.uniform(0.2, 0.9, (g, k, k)).astype(np.float32)
    scores = rng.choice([0.2, 0.5, 0.5, 0.9], (g, k)).astype(np.float32)  # ties on purpose
    opened = rng.choice([0.3, 0.7, 0.95], (g, k)).astype(np.float32)
    valid = np.ones((g, k), bool)
    valid[0, 5:] = False
    cand = valid & (opened >= 0.6)
    vmapped = jax.jit(jax.vmap(jax.vmap(selection._greedy, in_axes=(0, None, 0, 0)), in_axes=(0, 0, 0, None)))
    usable = cand[:, None, :] & ~np.eye(k, dtype=bool)[None]
    flg = np.where(np.arange(k) == 0, 1, 0)
    best = np.asarray(vmapped(ssims, scores, usable, flg))
    for gi in range(g):
        for j in range(k):
            assert best[gi, j] == selection.greedy_reference(ssims[gi, j], scores[gi], cand[gi], j), (gi, j)
    # the eyescore rule keeps image 2 over the more similar image 3 (whose score is lower) ...
    s4, sc4, all4 = np.array([1.0, 0.3, 0.5, 0.8], np.float32), np.array([0, 0.2, 0.9, 0.1], np.float32), [True] * 4
    assert selection.greedy_reference(s4, sc4, all4, 0) == 2
    one = jax.jit(selection._greedy)
    assert int(one(s4, sc4, np.array([False, True, True, True]), 1)) == 2
    # ... but when the greedy pass ends on the initial pick (flg = image 1 for target 0), the pure-SSIM pass runs
    s3, sc3 = np.array([1.0, 0.5, 0.8], np.float32), np.array([0, 0.9, 0.1], np.float32)
    assert selection.greedy_reference(s3, sc3, [True] * 3, 0) == 2
    assert int(one(s3, sc3, np.array([False, True, True]), 1)) == 2


def test_masked_ssim_and_select_on_images():
    rng = np.random.default_rng(2)
    imgs = rng.uniform(-1, 1, (1, 3, 32, 32, 3)).astype(np.float32)
    eyes = np.tile(np.array([[0.45, 0.35], [0.45, 0.65]], np.float32), (1, 3, 1, 1))
    axes = (4.0, 2.75)
    got = np.asarray(selection.masked_ssim(imgs, eyes, axes))
    m = np.asarray(data.eye_masks(eyes[0, 0], 32, axes))  # both with the default (cv2's) raster
    x01 = (imgs[0] + 1) / 2 * (1 - m)
    np.testing.assert_allclose(got[0, 0, 2], np.asarray(ssim(x01[:1], x01[2:3], 1.0))[0], rtol=1e-5)
    assert got[0, 1, 1] == pytest.approx(1.0)
    _, best, second = selection.select(
        imgs,
        eyes,
        np.ones((1, 3), bool),
        np.array([[0.9, 0.9, 0.9]], np.float32),
        np.array([[0.1, 0.5, 0.9]], np.float32),
        axes=axes,
    )
    for j in range(3):
        assert best[0, j] == selection.greedy_reference(got[0, j], [0.1, 0.5, 0.9], [True] * 3, j)
        assert second[0, j] == selection.greedy_reference(got[0, j], [0.1, 0.5, 0.9], [True] * 3, j, int(best[0, j]))


def test_crop_resize_is_tf1_bilinear_and_masks_are_ellipses():
    rng = np.random.default_rng(3)
    x = rng.uniform(size=(2, 20, 24, 1)).astype(np.float32)
    top, left, h, w, size = np.array([2, 5]), np.array([3, 1]), 6, 9, 8
    got = np.asarray(layers.crop_resize(x, top, left, h, w, size))
    for b in range(2):
        crop = x[b, top[b] : top[b] + h, left[b] : left[b] + w, 0]
        out = np.zeros((size, size), np.float32)
        for i in range(size):
            for j in range(size):
                sy, sx = i * h / size, j * w / size
                y0, x0 = int(np.floor(sy)), int(np.floor(sx))
                y1, x1 = min(y0 + 1, h - 1), min(x0 + 1, w - 1)
                fy, fx = sy - y0, sx - x0
                out[i, j] = (crop[y0, x0] * (1 - fx) + crop[y0, x1] * fx) * (1 - fy) + (
                    crop[y1, x0] * (1 - fx) + crop[y1, x1] * fx
                ) * fy
        np.testing.assert_allclose(got[b, ..., 0], out, atol=1e-6)
    m = np.asarray(
        data.eye_masks(np.array([[0.5, 0.25], [0.5, np.nan]], np.float32), 64, (25 / 4, 15 / 4), "analytic")
    )[..., 0]
    yy, xx = np.mgrid[:64, :64]
    np.testing.assert_array_equal(m, (((xx - 16) / 6.25) ** 2 + ((yy - 32) / 3.75) ** 2 <= 1).astype(np.float32))


def test_same_pads():
    assert layers.same_pads(256, 5, 2) == (1, 2) and layers.same_pads(128, 3, 2) == (0, 1)
