"""BeautyGAN's makeup loss: the JAX histogram matching against a NumPy transcription of the original algorithm
(makeup.md 3.4: torch.histc with 256 unit bins, float32 CDFs accumulated level by level, the first-match lookup
table with table[255] = 255, floor remapping, L1 over the whole image on the 0-255 scale), region masks against
the original's slicing rule, and the gradient."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from facejax.families.beautygan import losses

# ----------------------------------------------------------------------------------- the NumPy reference


def np_cdf(values):
    """torch.histc(bins=256, min=0, max=256) -> hist / hist.sum() -> pdf[j] = pdf[j-1] + pdf[j], in float32."""
    hist = np.zeros(256, np.float32)
    for v in np.asarray(values, np.float32):
        hist[min(int(v), 255)] += np.float32(1)
    total = hist.sum(dtype=np.float32)
    with np.errstate(invalid="ignore", divide="ignore"):
        pdf = [np.float32(h) / total for h in hist]
    for j in range(1, 256):
        pdf[j] = np.float32(pdf[j - 1] + pdf[j])
    return pdf


def np_table(src, ref):
    table = list(range(256))
    for i in range(1, 256):
        for j in range(1, 256):
            if src[i] >= ref[j - 1] and src[i] <= ref[j]:
                table[i] = j
                break
    table[255] = 255
    return table


def np_histogram_loss(fake, target, mask_src, mask_tar):
    """One example: (H, W, 3) images in [-1, 1], (H, W) 0/1 masks -> criterionHis."""
    src = np.clip((fake.astype(np.float32) + np.float32(1)) / np.float32(2), 0, 1) * np.float32(255)
    tar = np.clip((target.astype(np.float32) + np.float32(1)) / np.float32(2), 0, 1) * np.float32(255)
    src_masked = src * mask_src[..., None]
    matched = src_masked.copy()
    ys, xs = np.nonzero(mask_src)
    yt, xt = np.nonzero(mask_tar)
    for c in range(3):
        table = np_table(np_cdf(src[ys, xs, c]), np_cdf(tar[yt, xt, c]))
        for y, x in zip(ys, xs):
            matched[y, x, c] = table[int(src[y, x, c])]
    return float(np.mean(np.abs(src_masked - matched)))


def np_eye_mask(parsing, eye, margin, box="slice"):
    """rebound_box transcribed: the face (1, 6) written into the eye's own mask inside [min - margin : max + margin +
    1] with NumPy's slicing (PyTorch's rules: a negative start counts from the far edge). box "clip": the start
    clipped at 0 and nothing outside the box (facejax's earlier reading)."""
    face = np.isin(parsing, (1, 6)).astype(np.float32)
    eye_px = (parsing == eye).astype(np.float32)
    ys, xs = np.nonzero(eye_px)
    if box == "clip":
        out = np.zeros_like(face)
        if len(ys):
            r0, r1 = max(ys.min() - margin, 0), ys.max() + margin + 1
            c0, c1 = max(xs.min() - margin, 0), xs.max() + margin + 1
            out[r0:r1, c0:c1] = face[r0:r1, c0:c1]
        return out
    out = eye_px.copy()
    if len(ys):
        rows = slice(ys.min() - margin, ys.max() + margin + 1)
        cols = slice(xs.min() - margin, xs.max() + margin + 1)
        out[rows, cols] = face[rows, cols]
    return out


def np_masks(parsing, margin, box="slice"):
    return {
        "lips": np.isin(parsing, (7, 9)).astype(np.float32),
        "skin": np.isin(parsing, (1, 6, 13)).astype(np.float32),
        "eye_left": np_eye_mask(parsing, 4, margin, box),
        "eye_right": np_eye_mask(parsing, 5, margin, box),
    }


# ----------------------------------------------------------------------------------- test data


def face_parsing(h, rng, eyes=True):
    """A face-like MT parsing map with every region, jittered."""
    p = np.zeros((h, h), np.int32)
    o = rng.integers(-2, 3, 2)
    q = h // 16
    p[3 * q + o[0] : 14 * q + o[0], 3 * q + o[1] : 13 * q + o[1]] = 1
    p[14 * q + o[0] :, 6 * q : 10 * q] = 13
    if eyes:
        p[6 * q + o[0] : 7 * q + o[0], 4 * q + o[1] : 6 * q + o[1]] = 5
        p[6 * q + o[0] : 7 * q + o[0], 10 * q + o[1] : 12 * q + o[1]] = 4
    p[5 * q + o[0], 4 * q + o[1] : 6 * q + o[1]] = 3
    p[8 * q + o[0] : 10 * q + o[0], 7 * q + o[1] : 9 * q + o[1]] = 6
    p[11 * q + o[0], 6 * q + o[1] : 10 * q + o[1]] = 7
    p[12 * q + o[0], 6 * q + o[1] : 10 * q + o[1]] = 9
    return p


def images(b, h, rng):
    """Images with the cases that stress the table: a smooth field, few distinct levels (empty bins and CDF
    plateaus), exact 0 / 255 after clamping, values beyond [-1, 1]."""
    x = rng.uniform(-1, 1, (b, h, h, 3)).astype(np.float32)
    x[0, : h // 2] = np.round(x[0, : h // 2] * 4) / 4  # 9 levels only
    x[-1, :, : h // 4] = 1.3  # clamps to 255
    x[-1, :, h // 4 : h // 2] = -1.0  # exactly 0
    return x


# ----------------------------------------------------------------------------------- tests


def test_histogram_loss_matches_the_numpy_algorithm():
    rng = np.random.default_rng(0)
    h, b = 32, 3
    fake, target = images(b, h, rng), images(b, h, rng)
    target[1] = fake[1]  # identical histograms: CDF ties everywhere
    pa = np.stack([face_parsing(h, rng) for _ in range(b)])
    pb = np.stack([face_parsing(h, rng) for _ in range(b)])
    pb[2] = np.where(np.isin(pb[2], (7, 9)), 1, pb[2])  # no lips in the reference: NaN CDF, identity table
    masks_a, eyes_a = losses.region_masks(jnp.asarray(pa), 2)
    masks_b, eyes_b = losses.region_masks(jnp.asarray(pb), 2)
    assert np.asarray(eyes_a).all() and np.asarray(eyes_b).all()
    checked = 0
    for region in losses.REGIONS:
        got = np.asarray(
            losses.histogram_loss(jnp.asarray(fake), jnp.asarray(target), masks_a[region], masks_b[region])
        )
        for i in range(b):
            ma, mb = np_masks(pa[i], 2)[region], np_masks(pb[i], 2)[region]
            np.testing.assert_array_equal(np.asarray(masks_a[region][i]), ma, err_msg=region)
            np.testing.assert_array_equal(np.asarray(masks_b[region][i]), mb, err_msg=region)
            want = np_histogram_loss(fake[i], target[i], ma, mb)
            assert got[i] == pytest.approx(want, rel=1e-6, abs=1e-7), (region, i)
            checked += want > 0
    assert checked >= 10  # the losses compared are not trivially zero


def test_matched_image_equals_the_numpy_remapping_pixel_for_pixel():
    rng = np.random.default_rng(1)
    h = 32
    fake, target = images(2, h, rng), images(2, h, rng)
    p = np.stack([face_parsing(h, rng) for _ in range(2)])
    masks, _ = losses.region_masks(jnp.asarray(p), 2)
    m = masks["skin"]
    got = np.asarray(
        losses.histogram_match(losses.to_levels(jnp.asarray(fake)), m, losses.to_levels(jnp.asarray(target)), m)
    )
    for i in range(2):
        src = np.clip((fake[i] + 1) / 2, 0, 1) * np.float32(255)
        tar = np.clip((target[i] + 1) / 2, 0, 1) * np.float32(255)
        mi = np.asarray(m[i])
        ys, xs = np.nonzero(mi)
        want = src * mi[..., None]
        for c in range(3):
            t = np_table(np_cdf(src[ys, xs, c]), np_cdf(tar[ys, xs, c]))
            want[ys, xs, c] = [t[int(v)] for v in src[ys, xs, c]]
        np.testing.assert_array_equal(got[i], want)
        assert np.any(got[i][mi > 0] != np.floor(src[mi > 0]))  # the table moved levels


def test_cdf_is_the_sequential_float32_sum():
    rng = np.random.default_rng(2)
    counts = rng.integers(0, 40, (5, 256)).astype(np.float32)
    counts[:, ::3] = 0
    got = np.asarray(losses.cdf(jnp.asarray(counts)))
    for row, c in zip(got, counts):
        want = np_cdf(np.repeat(np.arange(256), c.astype(int)).astype(np.float32))
        np.testing.assert_array_equal(row, np.asarray(want, np.float32))


def test_gradient_flows_through_the_generated_image_only():
    rng = np.random.default_rng(3)
    h = 16
    fake, target = rng.uniform(-0.9, 0.9, (2, 2, h, h, 3)).astype(np.float32)
    p = np.stack([face_parsing(h, rng) for _ in range(2)])
    masks, _ = losses.region_masks(jnp.asarray(p), 1)
    m = masks["skin"]
    g_fake, g_target = jax.grad(lambda f, t: jnp.sum(losses.histogram_loss(f, t, m, m)), argnums=(0, 1))(
        jnp.asarray(fake), jnp.asarray(target)
    )
    matched = np.asarray(
        losses.histogram_match(losses.to_levels(jnp.asarray(fake)), m, losses.to_levels(jnp.asarray(target)), m)
    )
    src = (fake + 1) / 2 * 255
    want = np.sign(src - matched) * np.asarray(m)[..., None] * 127.5 / (3 * h * h)
    np.testing.assert_allclose(np.asarray(g_fake), want, rtol=1e-5, atol=1e-9)
    assert not np.any(np.asarray(g_target))


def test_region_masks_follow_the_original_rules():
    p = np.zeros((1, 40, 40), np.int32)
    p[0, 10:30, 5:35] = 1
    p[0, 15:17, 8:12] = 5  # right eye (image left)
    p[0, 15:17, 26:30] = 4
    p[0, 2:4, 2:4] = 4  # a stray left-eye pixel near the corner: the box reaches the image edge
    p[0, 25, 15:25] = 7
    p[0, 26, 15:25] = 9
    p[0, 20:23, 18:21] = 6
    p[0, 32:, 15:25] = 13
    masks, eyes = losses.region_masks(jnp.asarray(p[..., None]), 10)
    assert bool(eyes[0])
    want = np_masks(p[0], 10)
    for k in losses.REGIONS:
        np.testing.assert_array_equal(np.asarray(masks[k][0]), want[k], err_msg=k)
    assert np.asarray(masks["lips"]).sum() == 20 and np.asarray(masks["skin"]).sum() > 0
    # with a margin of 10 the right eye's column slice starts at -2 (empty): its mask is the eye itself; with 5
    # the ring is written and the eye itself is not part of it
    assert np.asarray(masks["eye_right"])[0, 15:17, 8:12].all()
    ring, _ = losses.region_masks(jnp.asarray(p[..., None]), 5)
    assert not np.asarray(ring["eye_right"])[0, 15:17, 8:12].any() and np.asarray(ring["eye_right"]).sum() > 0
    p2 = np.where(p == 5, 1, p)
    _, eyes = losses.region_masks(jnp.asarray(p2), 10)
    assert not bool(eyes[0])


@pytest.mark.parametrize("box", losses.EYE_BOXES)
def test_eye_box_near_the_edge_slices_as_the_original(box):
    """An eye nearer than the margin to the top or left edge: the original's slice [min - 10 : max + 11] starts below
    0, counts from the far edge and selects nothing, so the eye's mask stays the eye itself (box "slice", the
    default); "clip" (the earlier reading) clips the box at 0 and takes the face ring. Both against the NumPy
    transcription, on several positions (near the top, the left, both, the bottom-right, and inside)."""
    h = 40
    checked_empty = 0
    for top, left in ((3, 15), (15, 4), (2, 2), (33, 33), (15, 15), (9, 9)):
        p = np.zeros((h, h), np.int32)
        p[:, :] = 1
        p[top : top + 2, left : left + 4] = 4
        p[30:32, 20:24] = 5
        masks, _ = losses.region_masks(jnp.asarray(p[None]), 10, box)
        want = np_masks(p, 10, box)
        for k in ("eye_left", "eye_right"):
            np.testing.assert_array_equal(np.asarray(masks[k][0]), want[k], err_msg=f"{k} at {(top, left)}")
        if box == "slice" and (top < 10 or left < 10):
            np.testing.assert_array_equal(np.asarray(masks["eye_left"][0]), (p == 4).astype(np.float32))
            checked_empty += 1
    assert box == "clip" or checked_empty == 4
