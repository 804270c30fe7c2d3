"""Writes every builder's dummy_data/ folder: a tiny copy of the real dataset's layout and file formats.

    python -m facejax.datasets.make_dummy_data            # all builders
    python -m facejax.datasets.make_dummy_data afhq mt_makeup

The files are committed; this script documents how they were made and regenerates them (the images are
deterministic; the xlsx file embeds a timestamp). Images are small cartoon faces (a skin ellipse, two
eyes and a mouth) on a background whose colour is derived from the file name, so every file differs.
The values the tests check (a label, a parsing id, a rater's score, a landmark) are documented in each
dataset's README.md under "Dummy data".
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import zlib

import numpy as np
from PIL import Image, ImageDraw

HERE = os.path.dirname(os.path.abspath(__file__))


def _colour(name: str, salt: int = 0) -> tuple[int, int, int]:
    h = zlib.crc32(f"{name}/{salt}".encode())
    return (60 + h % 170, 60 + (h >> 8) % 170, 60 + (h >> 16) % 170)


def face(name: str, width: int, height: int | None = None) -> Image.Image:
    """A deterministic cartoon face; eyes at (0.35 w, 0.42 h) and (0.65 w, 0.42 h)."""
    height = height or width
    im = Image.new("RGB", (width, height), _colour(name))
    d = ImageDraw.Draw(im)
    d.ellipse([0.2 * width, 0.15 * height, 0.8 * width, 0.9 * height], fill=_colour(name, 1))
    r = max(1, width // 16)
    for cx in (0.35, 0.65):
        d.ellipse([cx * width - r, 0.42 * height - r, cx * width + r, 0.42 * height + r], fill=(20, 20, 30))
    d.rectangle([0.4 * width, 0.7 * height, 0.6 * width, 0.76 * height], fill=(170, 40, 60))
    return im


def _save(im: Image.Image, *parts) -> str:
    path = os.path.join(*parts)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fmt = "JPEG" if path.lower().endswith((".jpg", ".jpeg")) else "PNG"
    im.save(path, format=fmt, **({"quality": 85} if fmt == "JPEG" else {"optimize": True}))
    return path


def _write(text: str, *parts) -> None:
    path = os.path.join(*parts)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)


def _fresh(name: str) -> str:
    out = os.path.join(HERE, name, "dummy_data")
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    return out


# ------------------------------------------------------------------------------------------------


def afhq():
    out = _fresh("afhq")
    for split, n in (("train", 2), ("val", 1)):
        for domain in ("cat", "dog", "wild"):
            for i in range(n):
                name = f"flickr_{domain}_{i + (0 if split == 'train' else 10):06d}.jpg"
                _save(face(f"afhq/{split}/{domain}/{name}", 32), out, split, domain, name)


def celeba_hq():
    out = _fresh("celeba_hq")
    k = 0
    for split, n in (("train", 2), ("val", 1)):
        for domain in ("female", "male"):
            for _ in range(n):
                k += 1
                _save(face(f"celeba_hq/{k}", 32), out, split, domain, f"{k:06d}.jpg")


def eye_aesthetics():
    out = _fresh("eye_aesthetics")
    for domain in ("high", "low"):
        for i in range(3):
            name = f"{domain}_{i:03d}.png"
            _save(face(f"eye/{domain}/{i}", 45, 30), out, domain, name)


def ffhq():
    out = _fresh("ffhq")
    for idx in (0, 1, 2, 60000):
        group = f"{idx // 1000 * 1000:05d}"
        big = face(f"ffhq/{idx}", 64).resize((1024, 1024), Image.Resampling.NEAREST)
        _save(big, out, "images1024x1024", group, f"{idx:05d}.png")
        thumb = big.resize((128, 128), Image.Resampling.LANCZOS)
        # The thumbnails carry a magenta 8x8 corner, so tests can tell which folder a config read.
        thumb.paste((255, 0, 255), (0, 0, 8, 8))
        _save(thumb, out, "thumbnails128x128", group, f"{idx:05d}.png")


MT_LIPS_BOX = (12, 22, 20, 25)  # (left, upper, right, lower) of the upper lip (id 7) in every 32x32 seg


def mt_makeup():
    out = os.path.join(_fresh("mt_makeup"), "all")
    names = {
        "makeup": ["vFG100.png", "vFG101.png", "XMY-014.png", "vRX200.png"],
        "non-makeup": ["vSYYZ1.png", "xfsy_0068.png", "XYUH-3.png"],
    }
    for domain, files in names.items():
        for f in files:
            _save(face(f"mt/{domain}/{f}", 36), out, "images", domain, f)
            seg = np.zeros((32, 32), np.uint8)
            seg[5:30, 6:26] = 1  # face skin
            seg[12:14, 9:13], seg[12:14, 19:23] = 5, 4  # right eye (image left), left eye
            seg[10, 8:14], seg[10, 18:24] = 3, 2  # brows
            seg[15:20, 14:18] = 6  # nose
            left, upper, right, lower = MT_LIPS_BOX
            seg[upper:lower, left:right] = 7
            seg[lower : lower + 2, left:right] = 9
            seg[0:5, :] = 10  # hair
            seg[30:, 10:22] = 13  # neck
            _save(Image.fromarray(seg, mode="L"), out, "segs", domain, f)


def celeb_id():
    out = _fresh("celeb_id")
    data = {
        "alice_a": [  # all eyes open -> train; boxes nested in the eye entries (align.py)
            {
                "filename": "alice_a-1.jpg",
                "eye_left": {"x": 22, "y": 27, "box_left": {"w": 16, "h": 12}},
                "eye_right": {"x": 42, "y": 27, "box_right": {"w": 20, "h": 10}},
                "opened": 0.93,
                "closed": 0.02,
            },
            {
                "filename": "alice_a-2.jpg",
                "eye_left": {"x": 21, "y": 28, "box_left": {"w": 18, "h": 12}},
                "eye_right": {"x": 43, "y": 28, "box_right": {"w": 18, "h": 12}},
                "opened": 0.81,
                "closed": 0.1,
            },
        ],
        "bob_b": [  # one closed eye -> test; boxes at the top level (ExGAN's README), one eye missing
            {
                "filename": "bob_b-1.jpg",
                "eye_left": {"x": 20, "y": 26},
                "box_left": {"w": 16, "h": 16},
                "eye_right": None,
                "opened": 0.3,
                "closed": 0.6,
            },
            {
                "filename": "bob_b-2.jpg",
                "eye_left": {"x": 22, "y": 27},
                "box_left": {"w": 16, "h": 16},
                "eye_right": {"x": 42, "y": 27},
                "box_right": {"w": 16, "h": 16},
                "opened": 0.9,
                "closed": 0.05,
            },
        ],
        "carol_c": [  # "opened" unknown -> test; no boxes at all
            {
                "filename": "carol_c-1.jpg",
                "eye_left": {"x": 22, "y": 27},
                "eye_right": {"x": 42, "y": 27},
                "opened": None,
                "closed": None,
            },
            {
                "filename": "carol_c-2.jpg",
                "eye_left": {"x": 22, "y": 27},
                "eye_right": {"x": 42, "y": 27},
                "opened": 0.95,
                "closed": 0.01,
            },
            {
                "filename": "carol_c-3.jpg",
                "eye_left": {"x": 22, "y": 27},
                "eye_right": {"x": 42, "y": 27},
                "opened": 0.99,
                "closed": 0.0,
            },
        ],
    }
    for entries in data.values():
        for e in entries:
            _save(face(f"celeb_id/{e['filename']}", 64), out, e["filename"])
    _write(json.dumps(data, indent=1) + "\n", out, "data.json")


def celeba():
    from facejax.datasets.celeba.celeba import ATTRIBUTE_NAMES, LANDMARK_HEADER

    out = _fresh("celeba")
    files = [f"{i:06d}.jpg" for i in range(1, 7)]
    attr_lines = [str(len(files)), " ".join(ATTRIBUTE_NAMES)]
    mark_lines = [str(len(files)), " ".join(LANDMARK_HEADER)]
    part_lines = []
    for i, f in enumerate(files):
        _save(face(f"celeba/{f}", 178, 218), out, "Img", "img_align_celeba", f)
        values = [1 if (a + i) % 3 == 0 else -1 for a in range(len(ATTRIBUTE_NAMES))]
        attr_lines.append(f + "".join(f" {v:2d}" for v in values))
        marks = [69 + i, 109, 106 + i, 113, 77, 142, 73, 152, 108, 154]
        mark_lines.append(f + "".join(f" {v:4d}" for v in marks))
        part_lines.append(f"{f} {0 if i < 3 else 1 if i == 3 else 2}")
    _write("\n".join(attr_lines) + "\n", out, "Anno", "list_attr_celeba.txt")
    _write("\n".join(mark_lines) + "\n", out, "Anno", "list_landmarks_align_celeba.txt")
    _write("\n".join(part_lines) + "\n", out, "Eval", "list_eval_partition.txt")


HELEN_NAMES = ["100032540_1", "100040721_1", "10405146_1", "1691766_1", "2433588_1"]


def helen():
    out = _fresh("helen")
    w, h = 40, 48
    for name in HELEN_NAMES:
        _save(face(f"helen/{name}", w, h), out, "images", f"{name}.jpg")
        yy, xx = np.mgrid[0:h, 0:w]
        target = np.zeros((h, w), np.int64)  # background
        target[(xx - 20) ** 2 / 12**2 + (yy - 26) ** 2 / 17**2 < 1] = 1  # skin
        target[:8] = 10  # hair
        target[20:22, 13:17], target[20:22, 23:27] = 5, 4  # eyes
        target[17, 12:18], target[17, 22:28] = 3, 2  # brows
        target[24:30, 18:22] = 6  # nose
        target[33:35, 16:24], target[35:36, 16:24], target[36:38, 16:24] = 7, 8, 9  # lips, mouth
        for k in range(11):
            # Soft masks as in the release: 255 on the class, a faint halo elsewhere on skin pixels.
            mask = np.where(target == k, 255, np.where((target == 1) & (k in (2, 3, 4, 5)), 40, 0))
            _save(Image.fromarray(mask.astype(np.uint8), mode="L"), out, "labels", name, f"{name}_lbl{k:02d}.png")
    lines = lambda names, start: "".join(f"{start + i:5d} , {n}\n" for i, n in enumerate(names))  # noqa: E731
    _write(lines(HELEN_NAMES[:3], 1), out, "exemplars.txt")
    _write(lines(HELEN_NAMES[3:4], 1), out, "tuning.txt")
    _write(lines(HELEN_NAMES[4:], 1), out, "testing.txt")


SCUT_FILES = ["AF1.jpg", "AM1.jpg", "CF1.jpg", "CM1.jpg", "AF2.jpg", "CM2.jpg"]


def scut_rating(rater: int, file_index: int) -> int:
    """The dummy rating of rater 1..60 for SCUT_FILES[file_index]."""
    return 1 + (rater + 2 * file_index) % 5


def scut_fbp5500():
    import openpyxl

    out = _fresh("scut_fbp5500")
    for i, f in enumerate(SCUT_FILES):
        _save(face(f"scut/{f}", 35, 35 if i % 2 == 0 else 30), out, "Images", f)
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "ALL"
    ws.append(["Rater", "Filename", "Rating", "original Rating"])
    for rater in range(1, 61):
        for i, f in enumerate(SCUT_FILES):
            ws.append([rater, f, scut_rating(rater, i), None])
    wb.save(os.path.join(out, "All_Ratings.xlsx"))

    def split_file(names, *parts):
        text = "".join(
            f"{n} {np.mean([scut_rating(r, SCUT_FILES.index(n)) for r in range(1, 61)]):.6f}\n" for n in names
        )
        _write(text, out, "train_test_files", *parts)

    split_file(SCUT_FILES[:4], "split_of_60%training and 40%testing", "train.txt")
    split_file(SCUT_FILES[4:], "split_of_60%training and 40%testing", "test.txt")
    for k in range(1, 6):
        test = [SCUT_FILES[k - 1]]
        train = [f for f in SCUT_FILES if f not in test]
        split_file(train, "5_folders_cross_validations_files", f"cross_validation_{k}", f"train_{k}.txt")
        split_file(test, "5_folders_cross_validations_files", f"cross_validation_{k}", f"test_{k}.txt")


MAKERS = {
    f.__name__: f for f in (afhq, celeba_hq, eye_aesthetics, ffhq, mt_makeup, celeb_id, celeba, helen, scut_fbp5500)
}


def main(argv):
    names = argv or sorted(MAKERS)
    unknown = [n for n in names if n not in MAKERS]
    if unknown:
        sys.exit(f"unknown dataset(s) {unknown}; known: {', '.join(sorted(MAKERS))}")
    for n in names:
        MAKERS[n]()
        print(f"wrote {os.path.join(HERE, n, 'dummy_data')}")


if __name__ == "__main__":
    main(sys.argv[1:])
