"""Pure-numpy renderer for the `synthetic_faces` dataset.

Every example is a frontal cartoon face drawn from signed-distance shapes on a coordinate grid. A shape
paints its colour with an anti-aliased alpha ``clip(0.5 - d / feather, 0, 1)`` (``d`` in pixels) and, when
it carries a parsing label, writes that label wherever ``d < 0``. Shapes are painted back to front, so
the parsing map is the hard version of the same shapes that made the image.

Randomness (see README.md, "Determinism"):
  * example ``index`` of split ``s`` draws everything from ``default_rng([seed, split_id, index])``;
  * identity attributes come from ``default_rng([seed, IDENTITY_STREAM, identity])``;
  * rater biases/slopes/noise levels come from ``default_rng([seed, RATER_STREAM])``.
The draws never depend on ``img_size``, so one example shows the same face at every resolution.
"""

from __future__ import annotations

import colorsys
import functools
import math
from typing import Any, Callable

import numpy as np

from .._mt_labels import PARSING_LABELS

KINDS = {"gender": ("female", "male"), "species": ("cat", "dog", "wild")}
MIN_IMG_SIZE, MAX_IMG_SIZE = 32, 256
SPLIT_IDS = {"train": 0, "test": 1}
IDENTITY_STREAM = 2
RATER_STREAM = 3

# Parsing maps use MT's label ids (data/_mt_labels.py), so the makeup families train on either dataset.
LABEL_IDS = range(len(PARSING_LABELS))
(BG, SKIN, L_BROW, R_BROW, L_EYE, R_EYE, NOSE, U_LIP, MOUTH, LO_LIP, HAIR, L_EAR, R_EAR, NECK) = LABEL_IDS

# Makeup palettes (RGB). Lipsticks are saturated reds, pinks, purples and oranges.
LIPSTICKS = np.array(
    [
        (200, 20, 40),
        (165, 10, 35),
        (225, 45, 60),
        (232, 80, 140),
        (240, 110, 170),
        (205, 45, 115),
        (135, 30, 110),
        (155, 65, 165),
        (105, 20, 85),
        (240, 100, 40),
        (228, 75, 30),
        (250, 135, 75),
    ],
    np.float32,
)
EYE_SHADOWS = np.array(
    [
        (125, 60, 145),
        (60, 95, 175),
        (175, 125, 60),
        (205, 110, 155),
        (95, 60, 40),
        (60, 135, 100),
        (40, 40, 60),
    ],
    np.float32,
)
FOUNDATIONS = np.array([(246, 222, 204), (236, 202, 178), (226, 188, 162), (246, 212, 206)], np.float32)

HUMAN_SKIN = np.array(
    [(255, 224, 196), (241, 194, 160), (224, 172, 135), (198, 134, 96), (160, 102, 70), (112, 72, 52)], np.float32
)
FEMALE_HAIR = np.array(
    [(232, 202, 120), (205, 155, 75), (150, 62, 30), (190, 85, 40), (110, 70, 40), (42, 32, 30), (70, 45, 35)],
    np.float32,
)
MALE_HAIR = np.array([(30, 26, 26), (68, 45, 30), (100, 70, 45), (140, 138, 136), (165, 135, 90)], np.float32)
HUMAN_IRIS = np.array(
    [(110, 70, 35), (75, 50, 30), (70, 120, 185), (90, 140, 90), (140, 110, 60), (120, 130, 140)], np.float32
)
FUR = {
    "cat": np.array([(228, 142, 62), (236, 212, 172), (150, 152, 166), (240, 238, 232), (200, 120, 70)], np.float32),
    "dog": np.array([(216, 172, 92), (142, 92, 52), (64, 52, 46), (232, 226, 214), (192, 142, 92)], np.float32),
    "wild": np.array([(122, 122, 128), (172, 82, 40), (96, 72, 54), (190, 162, 112)], np.float32),
}
ANIMAL_IRIS = {
    "cat": np.array([(95, 175, 80), (215, 190, 60), (95, 155, 225)], np.float32),
    "dog": np.array([(115, 72, 32), (80, 52, 28), (172, 112, 42)], np.float32),
    "wild": np.array([(205, 145, 40), (222, 200, 82), (180, 110, 30)], np.float32),
}
WHITE = np.array((236, 236, 230), np.float32)
DARK = np.array((38, 28, 28), np.float32)


def domains(kind: str) -> tuple[str, ...]:
    """Domain (class) names of a dataset kind."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {sorted(KINDS)}, got {kind!r}")
    return KINDS[kind]


def validate(config: Any) -> None:
    """Raises ValueError when a config field is out of range."""
    domains(config.kind)
    size = config.img_size
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or not (MIN_IMG_SIZE <= size <= MAX_IMG_SIZE):
        raise ValueError(f"img_size must be an int in [{MIN_IMG_SIZE}, {MAX_IMG_SIZE}] (inclusive), got {size!r}")
    for field in ("num_train", "num_test", "num_raters"):
        value = getattr(config, field)
        if not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{field} must be a positive int, got {value!r}")
    n_dom = len(KINDS[config.kind])
    if not isinstance(config.num_identities, (int, np.integer)) or config.num_identities < n_dom:
        raise ValueError(
            f"num_identities must be an int >= {n_dom} (one per domain) for kind "
            f"{config.kind!r}, got {config.num_identities!r}"
        )
    if not isinstance(config.seed, (int, np.integer)) or config.seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {config.seed!r}")


# ----------------------------------------------------------------------------------------------
# Signed distances (pixels; negative inside). u, v are head-local pixel coordinates.
# ----------------------------------------------------------------------------------------------


def _rot(u, v, cu, cv, angle):
    x, y = u - cu, v - cv
    if angle:
        c, s = math.cos(angle), math.sin(angle)
        x, y = c * x + s * y, -s * x + c * y
    return x, y


def sd_ellipse(u, v, cu, cv, a, b, angle=0.0):
    x, y = _rot(u, v, cu, cv, angle) if angle else (u - cu, v - cv)
    g = (x / a) ** 2 + (y / b) ** 2
    grad = 2.0 * np.sqrt((x / (a * a)) ** 2 + (y / (b * b)) ** 2) + 1e-6
    return (g - 1.0) / grad


def sd_head(u, v, a, b_up, b_low, p_low):
    """Egg-shaped head: ellipse on top, a superellipse of exponent p_low below (square jaw if > 2)."""
    up = v < 0
    inv_b = np.where(up, 1.0 / b_up, 1.0 / b_low).astype(np.float32)
    x = np.abs(u) * (1.0 / a) + 1e-6
    y = np.abs(v) * inv_b + 1e-6
    f = np.sqrt(x * x + y * y)
    d = (f - 1.0) * f / np.sqrt((x / a) ** 2 + (y * inv_b) ** 2)
    if p_low != 2.0:
        xp, yp = x**p_low, y**p_low
        s = xp + yp
        fl = s ** (1.0 / p_low)
        k = fl / s  # f^(1-p)
        gx = k * xp / (x * a)
        gy = k * yp * inv_b / y
        d = np.where(up, d, (fl - 1.0) / np.sqrt(gx * gx + gy * gy))
    return d


def sd_convex(u, v, pts, radius=0.0):
    """Convex polygon (vertices in any order of traversal), optionally rounded."""
    pts = np.asarray(pts, np.float32)
    centre = pts.mean(0)
    d = None
    for i in range(len(pts)):
        p0, p1 = pts[i], pts[(i + 1) % len(pts)]
        e = p1 - p0
        n = np.array([e[1], -e[0]], np.float32) / (np.hypot(e[0], e[1]) + 1e-9)
        if np.dot(n, centre - p0) > 0:
            n = -n
        di = (u - p0[0]) * n[0] + (v - p0[1]) * n[1]
        d = di if d is None else np.maximum(d, di)
    return d - radius


def sd_arc(u, v, cu, cv, half_len, curv, half_thick, taper=0.0, side=0.0, tilt=0.0, min_ht=0.55):
    """Band around the parabola v = cv + curv * half_len * s^2 + tilt * x, s = x / half_len.

    ``curv > 0`` lowers the ends (an arch). With ``side`` = +-1 the band thins by ``taper`` towards
    the outer end (the end at sign(side)); with side = 0 it thins towards both ends.
    """
    x = u - cu
    s = x / half_len
    yc = cv + curv * half_len * s * s + tilt * x
    slope = 2.0 * curv * s + tilt
    w = (1.0 + s * side) * 0.5 if side else s * s
    t = np.maximum(half_thick * (1.0 - taper * np.clip(w, 0.0, 1.0)), min_ht)
    d = np.abs(v - yc) / np.sqrt(1.0 + slope * slope) - t
    return np.maximum(d, np.abs(x) - half_len)


def sd_between(u, v, cu, half_w, top, bottom):
    """Region between two curves top(u) < v < bottom(u) for |u - cu| < half_w (vertical distance)."""
    return np.maximum(np.maximum(top - v, v - bottom), np.abs(u - cu) - half_w)


def sd_box(u, v, cu, half_w, top, bottom, radius=0.0):
    return np.maximum(np.maximum(np.abs(u - cu) - half_w, top - v), v - bottom) - radius


def _union(*ds):
    out = ds[0]
    for d in ds[1:]:
        out = np.minimum(out, d)
    return out


# ----------------------------------------------------------------------------------------------
# Canvas
# ----------------------------------------------------------------------------------------------


class Canvas:
    """RGB float canvas plus parsing map, in a head-local frame rotated by `roll` about (cx, cy)."""

    def __init__(self, size: int, cx: float, cy: float, roll: float, background: np.ndarray):
        self.size = size
        self.rgb = np.ascontiguousarray(background, np.float32)
        self.lab = np.zeros((size, size), np.uint8)
        self._c = np.arange(size, dtype=np.float32) + 0.5
        self.cx, self.cy = cx, cy
        self.cos, self.sin = math.cos(roll), math.sin(roll)
        self.clip_map: np.ndarray | None = None  # e.g. the head's signed distance, for clip=True
        self._cache: dict = {}

    def window(self, box):
        """(u0, v0, u1, v1) local box -> (slices, u, v) over the covering pixel window (cached)."""
        u0, v0, u1, v1 = box
        cs, sn, cx, cy = self.cos, self.sin, self.cx, self.cy
        mu, mv, du, dv = (u0 + u1) * 0.5, (v0 + v1) * 0.5, (u1 - u0) * 0.5, (v1 - v0) * 0.5
        xc, yc = cx + mu * cs - mv * sn, cy + mu * sn + mv * cs
        ex, ey = abs(cs) * du + abs(sn) * dv, abs(sn) * du + abs(cs) * dv
        c0 = max(int(math.floor(xc - ex)) - 2, 0)
        c1 = min(int(math.ceil(xc + ex)) + 2, self.size)
        r0 = max(int(math.floor(yc - ey)) - 2, 0)
        r1 = min(int(math.ceil(yc + ey)) + 2, self.size)
        if c1 <= c0 or r1 <= r0:
            return None, None, None
        key = (r0, r1, c0, c1)
        hit = self._cache.get(key)
        if hit is None:
            dx = self._c[None, c0:c1] - cx
            dy = self._c[r0:r1, None] - cy
            hit = ((slice(r0, r1), slice(c0, c1)), dx * cs + dy * sn, dy * cs - dx * sn)
            self._cache[key] = hit
        return hit

    def paint(
        self,
        box,
        sdf: Callable,
        color,
        label: int | None = None,
        opacity: float = 1.0,
        feather: float = 1.0,
        clip: bool = False,
    ):
        """Alpha-blends `color` inside `sdf`; `clip` intersects the shape with `clip_map`."""
        sl, u, v = self.window(box)
        if sl is None:
            return
        d = sdf(u, v)
        if clip:
            d = np.maximum(d, self.clip_map[sl])
        if d.size > 2048:  # shrink big windows to the rows/columns the shape actually touches
            touched = d < 0.5 * feather
            rows = np.flatnonzero(touched.any(1))
            if rows.size == 0:
                return
            cols = np.flatnonzero(touched.any(0))
            sub = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
            d, u, v = d[sub], u[sub], v[sub]
            sl = (
                slice(sl[0].start + rows[0], sl[0].start + rows[-1] + 1),
                slice(sl[1].start + cols[0], sl[1].start + cols[-1] + 1),
            )
        alpha = 0.5 - d * (1.0 / feather) if feather != 1.0 else 0.5 - d
        np.maximum(alpha, 0.0, out=alpha)
        np.minimum(alpha, 1.0, out=alpha)
        if opacity != 1.0:
            alpha *= opacity
        col = color(u, v) if callable(color) else np.asarray(color, np.float32)
        region = self.rgb[sl]
        region += alpha[..., None] * (col - region)
        if label is not None:
            self.lab[sl][d < 0] = label


# ----------------------------------------------------------------------------------------------
# Parameters
# ----------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _noise_tile() -> np.ndarray:
    """A fixed field of unit Gaussian noise; skin texture is a window of it at a random offset."""
    return np.random.default_rng(20240101).standard_normal((2 * MAX_IMG_SIZE, 2 * MAX_IMG_SIZE), dtype=np.float32)


def _mix(palette: np.ndarray, rng: np.random.Generator, jitter: float) -> np.ndarray:
    """A palette entry, blended a little towards a neighbour, with per-channel jitter."""
    i = rng.integers(len(palette))
    j = rng.integers(len(palette))
    t = rng.uniform(0.0, 0.3)
    c = (1 - t) * palette[i] + t * palette[j] + rng.normal(0.0, jitter, 3)
    return np.clip(c, 0, 255).astype(np.float32)


def _hsv(h, s, v):
    return np.array(colorsys.hsv_to_rgb(h % 1.0, s, v), np.float32) * 255.0


@functools.lru_cache(maxsize=4096)
def _identity_cached(kind: str, seed: int, identity: int, num_domains: int) -> dict:
    rng = np.random.default_rng([seed, IDENTITY_STREAM, identity])
    dom = KINDS[kind][identity % num_domains]
    u = rng.uniform
    p = dict(domain=dom, identity=identity)
    # Quantities shared by every domain (drawn in a fixed order).
    p["asym"] = u(0.0, 1.0)  # 0 = symmetric
    p["smooth"] = u(0.0, 1.0)  # skin smoothness
    p["eye_size"] = u(0.85, 1.15)
    p["charm"] = rng.normal()
    p["eye_sep"] = u(0.37, 0.43)
    p["nose_size"] = u(0.85, 1.15)
    p["mouth_w"] = u(0.9, 1.1)
    p["lip_full"] = u(0.85, 1.2)
    p["scale"] = u(0.94, 1.06)
    p["hair_jit"] = rng.normal(0.0, 1.0, 4)
    p["asym_dir"] = rng.choice([-1.0, 1.0], 3)
    p["brow_arch"] = u(0.0, 1.0)
    p["mark"] = u(0.0, 1.0)  # marking style selector (species) / beard (male)
    p["mark2"] = u(0.0, 1.0)
    if kind == "gender":
        p["skin"] = _mix(HUMAN_SKIN, rng, 6.0)
        p["iris"] = _mix(HUMAN_IRIS, rng, 8.0)
        female = dom == "female"
        p["hair"] = _mix(FEMALE_HAIR if female else MALE_HAIR, rng, 8.0)
        p["width"] = u(0.88, 0.96) if female else u(1.04, 1.12)
        p["b_up"] = u(1.18, 1.28)
        p["b_low"] = u(1.38, 1.5) if female else u(1.3, 1.4)
        p["jaw_p"] = u(1.85, 2.15) if female else u(2.5, 3.2)
        p["brow_ht"] = u(0.028, 0.04) if female else u(0.06, 0.085)
        p["hairline"] = u(0.3, 0.5) if female else u(0.5, 0.78)
        p["hair_vol"] = u(1.08, 1.16) if female else u(1.02, 1.07)
        p["hair_len"] = u(0.6, 1.6) if female else 0.0
        p["sweep"] = u(-0.15, 0.15)
        p["beard"] = (not female) and p["mark"] < 0.45
    else:
        p["skin"] = _mix(FUR[dom], rng, 8.0)
        p["iris"] = _mix(ANIMAL_IRIS[dom], rng, 8.0)
        p["hair"] = np.clip(p["skin"] * u(0.7, 0.85), 0, 255).astype(np.float32)
        p["width"] = {"cat": u(1.02, 1.1), "dog": u(0.94, 1.02), "wild": u(1.06, 1.14)}[dom]
        p["b_up"] = {"cat": u(0.95, 1.02), "dog": u(1.05, 1.15), "wild": u(1.0, 1.08)}[dom]
        p["b_low"] = {"cat": u(0.98, 1.06), "dog": u(1.2, 1.32), "wild": u(1.1, 1.2)}[dom]
        p["jaw_p"] = {"cat": 2.0, "dog": u(2.1, 2.5), "wild": u(1.7, 1.9)}[dom]
        p["brow_ht"] = u(0.03, 0.05)
        p["hairline"] = 0.0
        p["hair_vol"] = 1.0
        p["hair_len"] = 0.0
        p["sweep"] = 0.0
        p["beard"] = False
        if dom == "dog":
            p["ear"] = np.clip(p["skin"] * u(0.35, 0.6), 0, 255).astype(np.float32)
        elif dom == "wild":
            p["ear"] = np.clip(p["skin"] * u(0.45, 0.6), 0, 255).astype(np.float32)
        else:
            p["ear"] = p["skin"]
    return p


def identity_params(kind: str, seed: int, identity: int) -> dict:
    """Attributes fixed by an identity (a shallow copy; arrays must not be modified)."""
    return dict(_identity_cached(kind, int(seed), int(identity), len(KINDS[kind])))


@functools.lru_cache(maxsize=64)
def rater_params(seed: int, num_raters: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-rater (bias, slope, noise_std); fixed for a seed."""
    rng = np.random.default_rng([int(seed), RATER_STREAM])
    bias = rng.normal(0.0, 0.3, num_raters)
    slope = rng.uniform(0.75, 1.15, num_raters)
    noise = rng.uniform(0.3, 0.55, num_raters)
    return bias, slope, noise


def _image_params(rng: np.random.Generator, ident: dict, kind: str) -> dict:
    """Per-image draws: a fixed sequence, independent of image size."""
    u = rng.uniform
    p = dict(ident)
    p["dx"], p["dy"] = u(-0.035, 0.035), u(-0.03, 0.03)
    p["zoom"] = u(0.93, 1.07)
    p["roll"] = float(np.clip(rng.normal(0.0, 0.06), -0.14, 0.14))
    p["gaze"] = u(-1.0, 1.0)
    p["smile"] = u(-0.1, 0.4)
    p["mouth_open"] = u(0.05, 0.2) if u() < 0.3 else 0.0
    p["brow_raise"] = u(-0.02, 0.05)
    p["has_makeup"] = bool(u() < 0.5)
    lip_mk = _mix(LIPSTICKS, rng, 10.0)
    shadow_mk = _mix(EYE_SHADOWS, rng, 10.0)
    found = FOUNDATIONS[rng.integers(len(FOUNDATIONS))]
    found_t = u(0.3, 0.5)
    liner = u(0.5, 1.0)
    p["closed"] = bool(u() < 0.2)
    op = u(0.65, 1.0, 2)
    p["open"] = np.zeros(2, np.float32) if p["closed"] else op.astype(np.float32)
    h = u()
    bg0 = _hsv(h, u(0.08, 0.35), u(0.72, 0.95))
    bg1 = _hsv(h + u(-0.08, 0.08), u(0.08, 0.35), u(0.65, 0.9))
    p["bg"] = (bg0, bg1)
    p["shirt"] = _hsv(u(), u(0.2, 0.7), u(0.3, 0.85))
    p["hair_wave"] = u(0.0, 2 * math.pi)
    p["tex_seed"] = int(rng.integers(2**31))
    p["beauty_noise"] = rng.normal(0.0, 0.25)
    p["rater_noise"] = rng.normal(0.0, 1.0, 64)  # only the first num_raters are used

    skin = p["skin"]
    natural_lip = np.clip(0.72 * skin + 0.28 * np.array((188, 88, 92), np.float32), 0, 255)
    if kind == "species":
        natural_lip = np.clip(0.55 * skin + 0.45 * np.array((120, 70, 75), np.float32), 0, 255)
    if p["has_makeup"]:
        p["skin_applied"] = np.clip((1 - found_t) * skin + found_t * found, 0, 255)
        p["lips"] = lip_mk
        p["shadow"] = shadow_mk
        p["liner"] = liner
        p["smooth_img"] = p["smooth"] + 0.4 * (1.0 - p["smooth"])
    else:
        p["skin_applied"] = skin.copy()
        p["lips"] = natural_lip.astype(np.float32)
        p["shadow"] = p["skin_applied"].copy()
        p["liner"] = 0.0
        p["smooth_img"] = p["smooth"]
    for k in ("skin_applied", "lips", "shadow"):
        p[k] = np.round(p[k]).astype(np.float32)
    return p


# ----------------------------------------------------------------------------------------------
# Drawing
# ----------------------------------------------------------------------------------------------


def _draw(p: dict, size: int, kind: str) -> tuple[np.ndarray, np.ndarray]:
    S = float(size)
    dom = p["domain"]
    human = kind == "gender"
    A = S * 0.245 * p["width"] * p["scale"] * p["zoom"]  # head half-width in pixels
    b_up, b_low = A * p["b_up"], A * p["b_low"]
    cx = S * (0.5 + p["dx"])
    cy = S * ((0.44 if human else 0.47) + p["dy"])
    tex = np.random.default_rng(p["tex_seed"])

    yy = (np.arange(size, dtype=np.float32) + 0.5)[:, None] / S
    bg0, bg1 = p["bg"]
    background = bg0 + (bg1 - bg0) * yy[..., None]
    background = np.broadcast_to(background, (size, size, 3)).copy()
    cv = Canvas(size, cx, cy, p["roll"], background)

    skin = p["skin_applied"]
    hair = p["hair"]
    asym = p["asym"]
    ad = p["asym_dir"]
    px = lambda x: max(x, 0.6)  # noqa: E731  minimum feature half-size in pixels

    def hair_col(u, v):
        x = u * (23.0 / A) + np.sin(v * (5.0 / A) + p["hair_wave"])
        k = 1.0 + 0.06 * np.sin(x + p["hair_wave"])
        return hair * k[..., None]

    # ---- neck and shoulders (label 13 neck; shirt is background, as cloth is 0 in MT) ----
    neck_hw = A * (0.42 if dom == "female" else 0.5 if human else 0.62)
    neck_col = skin * 0.86
    neck_top = 0.3 * b_low
    cv.paint(
        (-A * 1.4, neck_top, A * 1.4, 2 * S),
        lambda u, v: sd_box(u, v, 0.0, neck_hw + np.maximum(v - b_low, 0) * (0.15 if human else 0.6), neck_top, 2 * S),
        lambda u, v: neck_col * (0.9 + 0.1 * np.clip((v - b_low) / A, 0, 1))[..., None],
        NECK,
    )
    if human:
        sh_top = b_low + 0.42 * A
        cv.paint(
            (-3 * A, sh_top, 3 * A, 2 * S),
            lambda u, v: np.maximum(
                sd_ellipse(u, v, 0.0, sh_top + 1.1 * A, 2.4 * A, 1.1 * A),
                -sd_ellipse(u, v, 0.0, sh_top - 0.05 * A, neck_hw * 1.15, 0.45 * A),
            ),
            p["shirt"],
            BG,
        )

    # ---- back hair (female long hair, wild mane) ----
    if dom == "female":
        hj = p["hair_jit"]
        length = b_low + p["hair_len"] * A
        half = A * p["hair_vol"] * 1.12
        channel = lambda u, v: np.maximum(np.abs(u) - (neck_hw + 0.06 * A), 0.25 * b_low - v)  # noqa

        def back(u, v):
            wave = 0.05 * A * np.sin(u / A * 9.0 + p["hair_wave"])
            outer = _union(
                sd_ellipse(u, v, 0.0, -0.1 * A, half, b_up * 1.14),
                sd_box(
                    u,
                    v,
                    0.0,
                    half * (0.94 + 0.03 * np.clip(hj[0], -1, 1)) + 0.12 * A * np.clip(v / A, 0, 3),
                    0.2 * A,
                    length + wave,
                    0.0,
                ),
            )
            return np.maximum(outer, -channel(u, v))

        cv.paint(
            (-half - 0.4 * A, -1.3 * b_up, half + 0.4 * A, length + 0.1 * A),
            back,
            lambda u, v: hair_col(u, v) * 0.85,
            HAIR,
        )
    elif dom == "wild":
        ruff = A * 1.34

        def mane(u, v):
            ang = np.arctan2(v, u)
            r = np.sqrt(u * u + (v * 0.95) ** 2)
            return r - ruff * (1.0 + 0.07 * np.sin(11.0 * ang + p["hair_wave"]))

        cv.paint((-1.6 * A, -1.6 * A, 1.6 * A, 1.6 * A), mane, lambda u, v: hair_col(u, v), HAIR)

    # ---- ears behind the head ----
    ear_v = 0.12 * A
    for side in (-1.0, 1.0):
        lab = L_EAR if side > 0 else R_EAR
        if human:
            ecu = side * A * 0.97
            cv.paint(
                (ecu - 0.3 * A, ear_v - 0.45 * A, ecu + 0.3 * A, ear_v + 0.45 * A),
                lambda u, v, c=ecu: sd_ellipse(u, v, c, ear_v, 0.17 * A, 0.3 * A),
                skin * 0.93,
                lab,
            )
            cv.paint(
                (ecu - 0.3 * A, ear_v - 0.45 * A, ecu + 0.3 * A, ear_v + 0.45 * A),
                lambda u, v, c=ecu: sd_ellipse(u, v, c + side * 0.03 * A, ear_v, 0.08 * A, 0.18 * A),
                skin * 0.75,
                opacity=0.6,
                feather=max(1.0, 0.03 * A),
            )
        elif dom == "cat":
            j = 0.06 * p["hair_jit"][1]
            tri = [
                (side * 0.22 * A, -0.72 * b_up),
                (side * 0.98 * A, -0.3 * b_up),
                (side * (0.78 + j) * A, -1.55 * b_up),
            ]
            cen = np.mean(tri, 0)
            inner = [tuple(cen + 0.55 * (np.array(t) - cen) + np.array([0, 0.06 * A])) for t in tri]
            box = (
                side * 0.1 * A - 1.2 * A * (side < 0),
                -1.7 * b_up,
                side * 0.1 * A + 1.2 * A * (side > 0),
                -0.1 * b_up,
            )
            cv.paint(box, lambda u, v, t=tri: sd_convex(u, v, t, 0.03 * A), skin, lab)
            cv.paint(
                box, lambda u, v, t=inner: sd_convex(u, v, t, 0.02 * A), (238, 150, 170), feather=max(1.0, 0.02 * A)
            )
        elif dom == "wild":
            ecu, ecv = side * 0.7 * A, -0.86 * b_up
            box = (ecu - 0.4 * A, ecv - 0.4 * A, ecu + 0.4 * A, ecv + 0.4 * A)
            cv.paint(box, lambda u, v, a=ecu: sd_ellipse(u, v, a, ecv, 0.3 * A, 0.3 * A), p["ear"], lab)
            cv.paint(
                box,
                lambda u, v, a=ecu: sd_ellipse(u, v, a, ecv + 0.03 * A, 0.16 * A, 0.16 * A),
                (225, 215, 205),
                feather=max(1.0, 0.02 * A),
            )

    # ---- head / face skin ----
    smooth = p["smooth_img"]
    noise_amp = 4.0 * (1.0 - smooth)
    b_mid = 0.5 * (b_up + b_low)
    noise_offset = tex.integers(0, MAX_IMG_SIZE, 2)

    def face_col(u, v):
        r2 = (u / A) ** 2 + (v / b_mid) ** 2
        shade = 1.0 - 0.09 * np.clip(r2 - 0.4, 0.0, None)
        col = skin * shade[..., None]
        if noise_amp > 0.5:
            oy, ox = noise_offset
            col += noise_amp * _noise_tile()[oy : oy + u.shape[0], ox : ox + u.shape[1], None]
        return col

    # The head's signed distance is computed once; colour-only details are clipped to it.
    head_box = (-1.1 * A, -1.1 * b_up, 1.1 * A, 1.1 * b_low)
    head_map = np.full((size, size), 1e4, np.float32)
    hsl, hu_, hv_ = cv.window(head_box)
    head_map[hsl] = sd_head(hu_, hv_, A, b_up, b_low, p["jaw_p"])
    cv.clip_map = head_map
    cv.paint(head_box, lambda u, v: head_map[hsl], face_col, SKIN)
    soft = max(1.0, 0.04 * A)

    # eye geometry (needed by markings)
    ve = 0.05 * A if human else -0.02 * A
    ex = p["eye_sep"] * A
    ae0 = 0.2 * A * p["eye_size"] * (1.08 if dom == "cat" else 1.0)
    eyes = []
    for k, side in enumerate((1.0, -1.0)):  # row 0: subject's left eye = image right
        a_s = ae0 * (1.0 + side * ad[0] * 0.08 * asym)
        eyes.append(
            dict(side=side, u=side * ex, v=ve + side * ad[1] * 0.05 * A * asym, a=a_s, open=float(p["open"][k]))
        )

    # blemishes (fewer for smooth skin)
    n_blem = int(round((1.0 - smooth) * 7))
    blem_col = skin * np.array((0.85, 0.72, 0.7), np.float32)
    for _ in range(n_blem):
        bu, bv = tex.uniform(-0.7, 0.7) * A, tex.uniform(-0.1, 0.9) * b_low
        r = tex.uniform(0.025, 0.04) * A
        cv.paint(
            (bu - r - 2, bv - r - 2, bu + r + 2, bv + r + 2),
            lambda u, v, a=bu, b=bv, c=r: sd_ellipse(u, v, a, b, c, c),
            blem_col,
            opacity=0.45,
            feather=max(1.0, r * 0.6),
            clip=True,
        )

    if p["beard"]:
        cv.paint(
            head_box,
            lambda u, v: np.maximum(sd_ellipse(u, v, 0.0, 0.95 * b_low, 1.2 * A, 0.72 * b_low), 0.35 * A - v),
            hair * 0.8,
            opacity=0.55 if p["mark2"] < 0.5 else 0.85,
            feather=max(1.0, 0.06 * A),
            clip=True,
        )

    # species markings and muzzle (colour only, on the face skin)
    if not human:
        light = np.clip(skin * 0.4 + 0.6 * np.array((245, 240, 232), np.float32), 0, 255)
        if dom == "cat" and p["mark"] < 0.6:  # tabby stripes on the forehead
            for i in (-1.0, 0.0, 1.0):
                # a vertical band: sd_arc with u and v swapped, thinning downwards
                cv.paint(
                    head_box,
                    lambda u, v, i=i: sd_arc(
                        v, u, -0.8 * b_up, i * 0.19 * A, 0.3 * b_up, 0.0, 0.045 * A, taper=0.8, side=1.0
                    ),
                    skin * 0.6,
                    feather=soft,
                    clip=True,
                )
        if dom == "dog" and p["mark"] < 0.5:  # white blaze
            cv.paint(
                head_box,
                lambda u, v: sd_box(
                    u, v, 0.0, 0.08 * A + 0.12 * np.clip(v / A, 0, 2) * A, -1.2 * b_up, 0.6 * b_low, 0.0
                ),
                light,
                feather=soft,
                clip=True,
            )
        if dom == "wild":  # light cheeks and a dark eye mask
            cv.paint(
                head_box,
                lambda u, v: np.maximum(
                    sd_ellipse(u, v, 0.0, ve + 0.5 * A, 0.95 * A, 0.45 * A),
                    -sd_ellipse(u, v, 0.0, ve + 0.5 * A, 0.18 * A, 0.6 * A),
                ),
                light,
                feather=soft,
                clip=True,
            )
            cv.paint(
                head_box,
                lambda u, v: sd_arc(u, v, 0.0, ve - 0.05 * A, 0.9 * A, 0.12, 0.19 * A, taper=0.5),
                (40, 34, 34),
                feather=soft,
                clip=True,
            )
        mz_v = ve + (0.62 if dom == "dog" else 0.55) * A  # muzzle pads
        mz_a = (0.24 if dom == "dog" else 0.2) * A
        for side in (-1.0, 1.0):
            cv.paint(
                head_box,
                lambda u, v, s=side: sd_ellipse(u, v, s * mz_a * 0.8, mz_v, mz_a, mz_a * 0.78),
                light,
                opacity=0.85,
                feather=soft,
                clip=True,
            )

    # eye shadow (makeup) between eye and brow
    if p["has_makeup"]:
        for e in eyes:
            ea = e["a"]
            box = (e["u"] - 1.9 * ea, e["v"] - 2.2 * ea, e["u"] + 1.9 * ea, e["v"] + 1.0 * ea)
            cv.paint(
                box,
                lambda u, v, e=e: sd_ellipse(
                    u, v, e["u"] + e["side"] * 0.12 * e["a"], e["v"] - 0.65 * e["a"], 1.35 * e["a"], 1.0 * e["a"]
                ),
                p["shadow"],
                opacity=0.9,
                feather=max(1.0, 0.2 * ea),
                clip=True,
            )

    # ---- eyebrows ----
    for e in eyes:
        side = e["side"]
        lab = L_BROW if side > 0 else R_BROW
        hb = e["a"] * (1.2 if human else 0.8)
        bcu = e["u"] + side * 0.04 * A
        bcv = e["v"] - (0.3 if human else 0.36) * A - p["brow_raise"] * A
        arch = (0.05 + 0.2 * p["brow_arch"]) if dom == "female" else 0.04 + 0.06 * p["brow_arch"]
        if human:
            col = np.clip(hair * 0.8, 0, 255)
        elif dom == "dog":
            col = np.array((205, 150, 90), np.float32) if p["skin"].mean() < 120 else p["skin"] * 0.6
        elif dom == "wild":
            col = np.array((232, 226, 214), np.float32)
        else:
            col = p["skin"] * 0.6
        box = (bcu - hb - 2, bcv - 0.5 * A, bcu + hb + 2, bcv + 0.3 * A)
        cv.paint(
            box,
            lambda u, v, c=bcu, w=bcv: sd_arc(
                u, v, c, w - arch * hb, hb, arch, p["brow_ht"] * A, taper=0.5, side=side, tilt=side * 0.04, min_ht=0.55
            ),
            col,
            lab,
        )

    # ---- eyes ----
    for e in eyes:
        side, eu, ev, ea, op = e["side"], e["u"], e["v"], e["a"], e["open"]
        lab = L_EYE if side > 0 else R_EYE
        box = (eu - 1.3 * ea, ev - 1.1 * ea, eu + 1.3 * ea, ev + 1.1 * ea)
        lid = DARK if human else np.array((30, 26, 26), np.float32)
        if op <= 0.0:
            cv.paint(
                box,
                lambda u, v, c=eu, w=ev: sd_arc(
                    u, v, c, w + 0.25 * ea, ea, -0.22, 0.07 * ea * (1 + p["liner"]), taper=0.4, min_ht=0.45
                ),
                lid,
                lab,
            )
            continue
        hu = ea * (0.55 if human else 0.58) * op
        hl = ea * (0.36 if human else 0.52) * op
        almond = lambda u, v, c=eu, w=ev, hu=hu, hl=hl: sd_between(  # noqa: E731
            u, v, c, ea, w - hu * (1 - ((u - c) / ea) ** 2), w + hl * (1 - ((u - c) / ea) ** 2)
        )
        sclera = WHITE if human else np.clip(p["iris"] * 0.55, 0, 255)
        cv.paint(box, almond, sclera, lab)
        ri = ea * (0.46 if human else 0.6)
        icu = eu + p["gaze"] * 0.22 * ea
        icv = ev + 0.04 * ea
        iris = p["iris"]

        def iris_col(u, v, c=icu, w=icv, ri=ri):
            r = np.sqrt((u - c) ** 2 + (v - w) ** 2) / ri
            return iris * (1.05 - 0.2 * np.clip(r, 0, 1) ** 2)[..., None]

        cv.paint(
            box,
            lambda u, v, c=icu, w=icv, ri=ri, al=almond: np.maximum(sd_ellipse(u, v, c, w, ri, ri), al(u, v)),
            iris_col,
        )
        if dom == "cat":
            pupil = lambda u, v, c=icu, w=icv, ri=ri: sd_ellipse(u, v, c, w, 0.16 * ri, 0.85 * ri)  # noqa
        else:
            pupil = lambda u, v, c=icu, w=icv, ri=ri: sd_ellipse(u, v, c, w, 0.45 * ri, 0.45 * ri)  # noqa
        cv.paint(box, lambda u, v, al=almond, pu=pupil: np.maximum(pu(u, v), al(u, v)), (14, 12, 14))
        cv.paint(
            box,
            lambda u, v, c=icu, w=icv, ri=ri, al=almond: np.maximum(
                sd_ellipse(u, v, c + 0.35 * ri, w - 0.35 * ri, 0.17 * ri, 0.17 * ri), al(u, v)
            ),
            (250, 250, 250),
            opacity=0.9,
        )
        # upper lid line (eyeliner with makeup)
        cv.paint(
            box,
            lambda u, v, c=eu, w=ev, hu=hu: sd_arc(
                u, v, c, w - hu, ea * 1.02, hu / ea * 1.0, 0.055 * ea * (1 + 1.5 * p["liner"]), taper=0.5, min_ht=0.45
            ),
            lid,
            lab,
        )

    # ---- nose ----
    if human:
        vn = ve + 0.56 * A * p["nose_size"]
        nw = 0.13 * A * p["nose_size"]
        ncu = ad[2] * 0.04 * A * asym

        def nose(u, v):
            return _union(
                sd_ellipse(u, v, ncu, vn - 0.06 * A, px(nw), px(0.1 * A)),
                sd_ellipse(u, v, ncu - 0.75 * nw, vn - 0.03 * A, px(0.06 * A), px(0.06 * A)),
                sd_ellipse(u, v, ncu + 0.75 * nw, vn - 0.03 * A, px(0.06 * A), px(0.06 * A)),
                sd_box(u, v, ncu, px(0.045 * A), ve + 0.05 * A, vn - 0.06 * A),
            )

        def nose_col(u, v):
            t = np.clip((v - ve) / (vn - ve), 0, 1)
            return skin * (0.95 - 0.1 * t)[..., None]

        nbox = (ncu - 2 * nw - 2, ve - 2, ncu + 2 * nw + 2, vn + 0.2 * A)
        cv.paint(nbox, nose, nose_col, NOSE)
        for s in (-1.0, 1.0):
            cv.paint(
                nbox,
                lambda u, v, s=s: sd_ellipse(u, v, ncu + s * 0.45 * nw, vn + 0.0 * A, 0.045 * A, 0.03 * A),
                skin * 0.45,
                opacity=0.8,
            )
        mouth_v = ve + 0.88 * A
    else:
        vn = ve + (0.5 if dom == "dog" else 0.45) * A
        ncu = ad[2] * 0.03 * A * asym
        if dom == "cat":
            tri = [(ncu - 0.11 * A, vn - 0.08 * A), (ncu + 0.11 * A, vn - 0.08 * A), (ncu, vn + 0.05 * A)]
            nose = lambda u, v: sd_convex(u, v, tri, 0.02 * A)  # noqa: E731
            ncol = np.array((228, 130, 150), np.float32)
        elif dom == "dog":
            nose = lambda u, v: sd_ellipse(u, v, ncu, vn, px(0.21 * A), px(0.13 * A))  # noqa: E731
            ncol = np.array((30, 26, 28), np.float32)
        else:
            nose = lambda u, v: _union(  # noqa: E731
                sd_ellipse(u, v, ncu, vn, px(0.15 * A), px(0.09 * A)),  # noqa
                sd_convex(u, v, [(ncu - 0.15 * A, vn), (ncu + 0.15 * A, vn), (ncu, vn + 0.1 * A)]),
            )
            ncol = np.array((40, 34, 36), np.float32)
        nbox = (ncu - 0.35 * A, vn - 0.3 * A, ncu + 0.35 * A, vn + 0.3 * A)
        cv.paint(nbox, nose, ncol, NOSE)
        cv.paint(
            nbox,
            lambda u, v: sd_ellipse(u, v, ncu - 0.05 * A, vn - 0.04 * A, 0.05 * A, 0.03 * A),
            (250, 250, 250),
            opacity=0.35,
        )
        mouth_v = vn + (0.3 if dom == "dog" else 0.25) * A

    # ---- mouth ----
    mcu = ad[2] * 0.05 * A * asym
    mw = A * p["mouth_w"] * (0.32 if dom == "male" else 0.29 if human else 0.2 if dom == "cat" else 0.26)
    h_up = max(A * 0.1 * p["lip_full"] * (1.15 if dom == "female" else 1.0 if human else 0.8), 1.1)
    h_lo = max(A * 0.13 * p["lip_full"] * (1.15 if dom == "female" else 1.0 if human else 0.8), 1.1)
    gap_max = p["mouth_open"] * A
    smile = p["smile"] * 0.3 * mw
    bow = 0.25

    def k_of(u):
        s = (u - mcu) / mw
        return s, np.clip(1.0 - s * s, 0.0, 1.0)

    def mline(u):
        s, _ = k_of(u)
        return mouth_v - smile * s * s

    def upper(u, v):
        s, k = k_of(u)
        m = mline(u) - 0.5 * gap_max * k**0.8
        top = m - h_up * k**0.6 * (1.0 - bow * np.exp(-((s / 0.22) ** 2)))
        return sd_between(u, v, mcu, mw, top, m)

    def interior(u, v):
        _, k = k_of(u)
        g = 0.5 * gap_max * k**0.8
        return sd_between(u, v, mcu, mw, mline(u) - g, mline(u) + g)

    def lower(u, v):
        _, k = k_of(u)
        m = mline(u) + 0.5 * gap_max * k**0.8
        return sd_between(u, v, mcu, mw, m, m + h_lo * k**0.5)

    lips = p["lips"]
    mbox = (
        mcu - mw - 2,
        mouth_v - h_up - abs(smile) - gap_max - 2,
        mcu + mw + 2,
        mouth_v + h_lo + abs(smile) + gap_max + 2,
    )
    cv.paint(mbox, upper, lips * 0.96, U_LIP)
    if gap_max > 0:

        def mouth_col(u, v):
            t = (v - (mline(u) - 0.5 * gap_max)) / max(gap_max, 1e-3)
            teeth = (t < 0.45)[..., None]
            return np.where(teeth, np.array((240, 238, 228), np.float32), np.array((92, 30, 40), np.float32))

        cv.paint(mbox, interior, mouth_col, MOUTH)
    cv.paint(
        mbox,
        lower,
        lambda u, v: lips * (1.0 + 0.04 * np.clip(1.0 - ((u - mcu) / (0.5 * mw)) ** 2, 0, 1))[..., None],
        LO_LIP,
    )

    # ---- front hair (covers the forehead) ----
    if human:
        female = dom == "female"
        hj = p["hair_jit"]
        cap_a = A * p["hair_vol"]
        cap_b = b_up * (p["hair_vol"] + 0.03)
        hl0 = -b_up * (p["hairline"] + 0.03 * hj[2])
        side_start = 0.68 if female else 0.86
        side_slope = 5.0 if female else 2.5
        sweep = p["sweep"]

        def cap(u, v):
            un = u / A
            hl = hl0 + b_up * (side_slope * np.clip(np.abs(un) - side_start, 0, None) + sweep * un + 0.06 * un * un)
            return np.maximum(sd_ellipse(u, v, 0.0, -0.06 * A, cap_a, cap_b), v - hl)

        un_max = cap_a / A
        hl_max = hl0 + b_up * (side_slope * max(un_max - side_start, 0.0) + abs(sweep) * un_max + 0.06 * un_max**2)
        cap_bottom = min(-0.06 * A + cap_b, hl_max)
        cv.paint((-cap_a, -0.06 * A - cap_b, cap_a, cap_bottom), cap, hair_col, HAIR)
    else:  # a fur tuft on the crown (wavy lower edge)
        tw = {"cat": 0.3, "dog": 0.42, "wild": 0.3}[dom] * A
        th = {"cat": 0.2, "dog": 0.22, "wild": 0.2}[dom] * A
        tv = -b_up * 0.97

        def tuft(u, v):
            edge = tv + 0.6 * th + 0.25 * th * np.cos(u / tw * 7.0)
            return np.maximum(sd_ellipse(u, v, 0.0, tv, tw, th * 1.6), v - edge)

        cv.paint((-A, -1.4 * b_up, A, 0.0), tuft, hair_col, HAIR)

    # ---- floppy dog ears hang over the sides of the head ----
    if dom == "dog":
        for side in (-1.0, 1.0):
            lab = L_EAR if side > 0 else R_EAR
            ecu, ecv = side * 0.98 * A, -0.05 * A
            ang = side * (0.3 + 0.1 * p["hair_jit"][3])
            box = (ecu - 0.9 * A, ecv - 1.0 * A, ecu + 0.9 * A, ecv + 1.0 * A)
            cv.paint(
                box,
                lambda u, v, c=ecu, w=ecv, g=ang: sd_ellipse(u, v, c, w, 0.3 * A, 0.78 * A, angle=g),
                lambda u, v: p["ear"] * (1.0 + 0.06 * np.sin(u / A * 17.0))[..., None],
                lab,
            )

    img = np.clip(np.rint(cv.rgb), 0, 255).astype(np.uint8)
    return img, cv.lab


def _eye_boxes(parsing: np.ndarray) -> np.ndarray:
    """Tight boxes (+ margin) of labels 4 and 5, normalised [ymin, xmin, ymax, xmax]."""
    size = parsing.shape[0]
    boxes = np.zeros((2, 4), np.float32)
    for row, lab in enumerate((L_EYE, R_EYE)):
        m = parsing == lab
        rows = np.flatnonzero(m.any(1))
        cols = np.flatnonzero(m.any(0))
        if rows.size == 0:
            continue
        margin = max(1.0, 0.06 * (cols[-1] + 1 - cols[0]))
        boxes[row] = (rows[0] - margin, cols[0] - margin, rows[-1] + 1 + margin, cols[-1] + 1 + margin)
    return np.clip(boxes / size, 0.0, 1.0).astype(np.float32)


def _beauty_and_scores(p: dict, num_raters: int, seed: int) -> tuple[np.ndarray, np.float32]:
    """Latent beauty from visible attributes, then per-rater integer scores on 1..5."""
    sym = (0.5 - p["asym"]) / 0.29  # uniform(0,1) -> ~unit variance
    smooth = (p["smooth_img"] - 0.6) / 0.3
    eye = (p["eye_size"] - 1.0) / 0.087
    makeup = 1.0 if p["has_makeup"] else -1.0
    smile = (p["smile"] - 0.15) / 0.144
    raw = 1.0 * sym + 0.8 * smooth + 0.6 * eye + 0.5 * makeup + 0.3 * smile + 0.4 * p["charm"] + p["beauty_noise"]
    b = raw / 1.6
    bias, slope, noise = rater_params(seed, num_raters)
    eps = (
        p["rater_noise"][:num_raters]
        if num_raters <= 64
        else np.random.default_rng(p["tex_seed"] + 1).normal(0.0, 1.0, num_raters)
    )
    scores = np.clip(np.rint(3.0 + 0.9 * slope * b + bias + noise * eps), 1.0, 5.0)
    scores = scores.astype(np.float32)
    return scores, np.float32(scores.mean())


def render_face(config: Any, split: str | int, index: int) -> dict:
    """Renders example `index` of `split` ("train"/"test" or 0/1) exactly as the builder stores it.

    Returns a dict of numpy values: image (H, W, 3) uint8, label int64, parsing (H, W, 1) uint8,
    makeup {lips, eye_shadow, skin: (3,) uint8, has_makeup: bool}, eye_boxes (2, 4) float32,
    eyes_open (2,) float32, scores (num_raters,) float32, beauty float32, identity int64,
    file_name str.
    """
    validate(config)
    if isinstance(split, str):
        if split not in SPLIT_IDS:
            raise ValueError(f"split must be one of {sorted(SPLIT_IDS)}, got {split!r}")
        split_name, split_id = split, SPLIT_IDS[split]
    else:
        split_id = int(split)
        split_name = {v: k for k, v in SPLIT_IDS.items()}[split_id]
    n = config.num_train if split_name == "train" else config.num_test
    if not 0 <= index < n:
        raise IndexError(f"index {index} out of range for split {split_name!r} with {n} examples")
    kind = config.kind
    n_dom = len(KINDS[kind])
    rng = np.random.default_rng([int(config.seed), split_id, int(index)])
    label = index % n_dom
    n_ids = len(range(label, config.num_identities, n_dom))
    identity = label + n_dom * int(rng.integers(n_ids))
    ident = _identity_cached(kind, int(config.seed), identity, n_dom)
    p = _image_params(rng, ident, kind)
    image, parsing = _draw(p, int(config.img_size), kind)
    scores, beauty = _beauty_and_scores(p, int(config.num_raters), int(config.seed))
    return {
        "image": image,
        "label": np.int64(label),
        "parsing": parsing[..., None],
        "makeup": {
            "lips": p["lips"].astype(np.uint8),
            "eye_shadow": p["shadow"].astype(np.uint8),
            "skin": p["skin_applied"].astype(np.uint8),
            "has_makeup": np.bool_(p["has_makeup"]),
        },
        "eye_boxes": _eye_boxes(parsing),
        "eyes_open": p["open"].astype(np.float32),
        "scores": scores,
        "beauty": beauty,
        "identity": np.int64(identity),
        "file_name": f"{split_name}_{index:06d}.png",
    }
