"""Filled ellipses rasterised as OpenCV's ``cv2.ellipse(img, center, axes, 0, 0, 360, color, -1)`` does (the
original's eye masks, ``AesGAN.get_Mask``), in NumPy: the same polygon, the same fixed-point arithmetic, the same
scan-line fill and the same outline. tests/families/aesgan/test_ops.py checks it pixel for pixel against OpenCV.

OpenCV's path (imgproc drawing: ``ellipse`` -> ``EllipseEx`` -> ``ellipse2Poly`` -> ``FillConvexPoly``), for an
unrotated full ellipse, 8-connected lines:

1. Centre and semi-axes in 16.16 fixed point (integer pixels shifted by 16; ``shift`` lets a caller give
   fractions). The polygon step is 5 degrees for a semi-axis of 15 px or more (18, 30, 90 for smaller ones).
2. ``ellipse2Poly``: vertex i at angle t = 0, step, ..., 360 is (cx + a * SinTable[450 - t], cy + b * SinTable[t])
   in double precision, SinTable being OpenCV's float table of sin at whole degrees (7 decimals); each vertex is
   rounded half to even to an integer of the fixed-point grid; repeated consecutive vertices are dropped.
3. ``FillConvexPoly``: every polygon edge is drawn as an 8-connected fixed-point line (``Line2``); then the rows
   ymin..ymax (vertex y rounded half up) are filled between a left and a right edge walker whose x starts at the
   edge's upper vertex and moves by a rounded-to-nearest slope per row, the span [(xl + 1/2) >> 16, (xr + 1/2) >>
   16] inclusive.

The whole construction commutes with integer translations of the centre, so ``stamp`` computes the filled shape
once per semi-axes (relative to the centre) and ``facejax.families.aesgan.data.eye_masks`` places it at each eye
under jit. (OpenCV clips the outline at the image border before drawing it; a mask whose ellipse crosses the
border may differ there by a pixel of outline. Eyes of aligned faces are far from the border.)
"""

from __future__ import annotations

import functools
import math

import numpy as np

XY_SHIFT = 16
XY_ONE = 1 << XY_SHIFT


@functools.lru_cache(maxsize=1)
def sin_table() -> np.ndarray:
    """OpenCV's SinTable: sin(d degrees) for d = 0..450, written with 7 decimals, as float32."""
    return np.asarray([round(math.sin(math.radians(d)), 7) for d in range(451)], np.float32)


def _round_half_even(x: float) -> int:
    return int(np.rint(x))  # cvRound: the FPU's default rounding, half to even


def ellipse_polygon(cx: int, cy: int, a: int, b: int) -> list[tuple[int, int]]:
    """The vertices (16.16 fixed point) of OpenCV's polygon for a full unrotated ellipse with centre (cx, cy) and
    semi-axes (a, b), all in 16.16 fixed point (EllipseEx + ellipse2Poly)."""
    a, b = abs(a), abs(b)
    delta = (max(a, b) + (XY_ONE >> 1)) >> XY_SHIFT
    delta = 90 if delta < 3 else 30 if delta < 10 else 18 if delta < 15 else 5
    table = sin_table()
    pts = []
    for i in range(0, 360 + delta, delta):
        t = min(i, 360)
        x = float(cx) + float(a) * float(table[450 - t])  # cos(0) = 1, sin(0) = 0: no rotation terms
        y = float(cy) + float(b) * float(table[t])
        pts.append((x, y))
    out, prev = [], None
    for x, y in pts:
        px = _round_half_even(x / XY_ONE) << XY_SHIFT
        py = _round_half_even(y / XY_ONE) << XY_SHIFT
        px += _round_half_even(x - px)
        py += _round_half_even(y - py)
        if (px, py) != prev:
            out.append((px, py))
            prev = (px, py)
    if len(out) == 1:
        out = [(cx, cy), (cx, cy)]
    return out


def _c_div(n: int, d: int) -> int:
    """C's integer division (truncation toward zero)."""
    q = abs(n) // abs(d)
    return q if (n >= 0) == (d >= 0) else -q


def _line(img: np.ndarray, p1: tuple[int, int], p2: tuple[int, int]) -> None:
    """OpenCV's Line2: an 8-connected line between two 16.16 fixed-point points (no clipping: the caller's canvas
    holds the whole polygon)."""
    (x1, y1), (x2, y2) = p1, p2
    dx, dy = x2 - x1, y2 - y1
    ax, ay = abs(dx), abs(dy)
    h, w = img.shape

    def put(x, y):
        if 0 <= x < w and 0 <= y < h:
            img[y, x] = True

    if ax > ay:
        if dx < 0:
            dy = -dy
            x1, x2, y1, y2 = x2, x1, y2, y1
        y_step = _c_div(dy << XY_SHIFT, ax | 1)
        ecount = (x2 - x1) >> XY_SHIFT
    else:
        if dy < 0:
            dx = -dx
            x1, x2, y1, y2 = x2, x1, y2, y1
        x_step = _c_div(dx << XY_SHIFT, ay | 1)
        ecount = (y2 - y1) >> XY_SHIFT
    x1 += XY_ONE >> 1
    y1 += XY_ONE >> 1
    put((x2 + (XY_ONE >> 1)) >> XY_SHIFT, (y2 + (XY_ONE >> 1)) >> XY_SHIFT)
    if ax > ay:
        x1 >>= XY_SHIFT
        while ecount >= 0:
            put(x1, y1 >> XY_SHIFT)
            x1 += 1
            y1 += y_step
            ecount -= 1
    else:
        y1 >>= XY_SHIFT
        while ecount >= 0:
            put(x1 >> XY_SHIFT, y1)
            x1 += x_step
            y1 += 1
            ecount -= 1


def fill_convex_poly(img: np.ndarray, v: list[tuple[int, int]]) -> None:
    """OpenCV's FillConvexPoly (8-connected, shift 16) of the 16.16 fixed-point polygon v into the bool image."""
    npts = len(v)
    delta = XY_ONE >> 1
    h, w = img.shape
    p0 = v[-1]
    for p in v:
        _line(img, p0, p)
        p0 = p
    ys = [p[1] for p in v]
    xs = [p[0] for p in v]
    imin = int(np.argmin(ys))  # the first vertex with the smallest y
    xmin, xmax = (min(xs) + delta) >> XY_SHIFT, (max(xs) + delta) >> XY_SHIFT
    ymin, ymax = (min(ys) + delta) >> XY_SHIFT, (max(ys) + delta) >> XY_SHIFT
    if npts < 3 or xmax < 0 or ymax < 0 or xmin >= w or ymin >= h:
        return
    ymax = min(ymax, h - 1)
    edges = npts
    edge = [
        {"idx": imin, "di": 1, "x": -XY_ONE, "dx": 0, "ye": ymin},
        {"idx": imin, "di": npts - 1, "x": -XY_ONE, "dx": 0, "ye": ymin},
    ]
    y = ymin
    while True:
        for e in edge:
            if y >= e["ye"]:
                idx0 = e["idx"]
                idx = idx0 + e["di"]
                if idx >= npts:
                    idx -= npts
                while edges > 0:
                    edges -= 1
                    ty = (v[idx][1] + delta) >> XY_SHIFT
                    if ty > y:
                        xs0, xe = v[idx0][0], v[idx][0]
                        e["ye"] = ty
                        e["dx"] = _c_div((xe - xs0) * 2 + (ty - y), 2 * (ty - y))
                        e["x"] = xs0
                        e["idx"] = idx
                        break
                    idx0 = idx
                    idx += e["di"]
                    if idx >= npts:
                        idx -= npts
                else:
                    edges -= 1  # the C loop's `edges-- > 0` test decrements once more when it fails
        if edges < 0:
            break
        if y >= 0:
            left, right = (1, 0) if edge[0]["x"] > edge[1]["x"] else (0, 1)
            xx1 = (edge[left]["x"] + delta) >> XY_SHIFT
            xx2 = (edge[right]["x"] + delta) >> XY_SHIFT
            if xx2 >= 0 and xx1 < w:
                img[y, max(xx1, 0) : min(xx2, w - 1) + 1] = True
        edge[0]["x"] += edge[0]["dx"]
        edge[1]["x"] += edge[1]["dx"]
        y += 1
        if y > ymax:
            break


def fixed(value: float) -> int:
    """A length in pixels as OpenCV's 16.16 fixed point (what cv2.ellipse(..., shift=16) reads)."""
    return int(round(value * XY_ONE))


@functools.lru_cache(maxsize=32)
def stamp(a: float, b: float) -> tuple[np.ndarray, int, int]:
    """(filled (H, W) bool, row, column of the centre in it): cv2.ellipse's filled ellipse with semi-axes (a along
    x, b along y) in pixels (fractions as 16.16 fixed point) around an integer centre."""
    fa, fb = fixed(a), fixed(b)
    ra, rb = int(math.ceil(a)) + 2, int(math.ceil(b)) + 2
    canvas = np.zeros((2 * rb + 1, 2 * ra + 1), bool)
    fill_convex_poly(canvas, ellipse_polygon(ra << XY_SHIFT, rb << XY_SHIFT, fa, fb))
    return canvas, rb, ra


def draw(img: np.ndarray, cx: int, cy: int, a: float, b: float) -> np.ndarray:
    """``img`` (H, W) bool with the filled ellipse centred at the integer pixel (cx, cy) set (NumPy; the stamp
    placed, clipped at the border)."""
    s, r0, c0 = stamp(float(a), float(b))
    h, w = img.shape
    ys, xs = np.nonzero(s)
    ys, xs = ys - r0 + cy, xs - c0 + cx
    keep = (ys >= 0) & (ys < h) & (xs >= 0) & (xs < w)
    img[ys[keep], xs[keep]] = True
    return img
