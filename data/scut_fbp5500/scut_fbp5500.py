"""`scut_fbp5500`: SCUT-FBP5500 faces with every rater's beauty score, read from a manual_dir;
Beholder-GAN conditions on the per-rater score vector.

Expected manual_dir (`SCUT-FBP5500_v2` as released):

    <manual_dir>/Images/AF1.jpg ... CM750.jpg          (350x350 JPEG; A/C = Asian/Caucasian, F/M = female/male)
    <manual_dir>/All_Ratings.xlsx                      sheet "ALL" (else the first sheet), header row
                                                       Rater, Filename, Rating[, original Rating]
      or <manual_dir>/All_Ratings.csv                  the same sheet exported as CSV: with that header
                                                       row, or header-less `rater,filename,rating` rows
                                                       (Beholder-GAN's format; extra columns ignored)
    <manual_dir>/train_test_files/split_of_60%training and 40%testing/train.txt, test.txt
    <manual_dir>/train_test_files/5_folders_cross_validations_files/cross_validation_<k>/train_<k>.txt, test_<k>.txt

The xlsx is read with openpyxl (a facejax dependency); when both files are there, the xlsx is used.
Split files hold `<file> <mean score>` lines; the scores stored come from the ratings file.

Configs: `original` and `256` use the 60%/40% split (3,300 train / 2,200 test); `cv<k>_256` (k = 1..5)
use cross-validation fold k (4,400 / 1,100). `256` pads an image to a centred square and resizes it to
256x256 (Lanczos), as Beholder-GAN's transform_images.py does.

See README.md next to this file for the features.
"""

from __future__ import annotations

import csv
import dataclasses
import math
import os
import re

import numpy as np
import tensorflow_datasets as tfds

from .._manual import ImageConfig, ManualBuilder, read_rgb, read_text_lines

LAYOUT = (
    "<manual_dir>/Images/<file>.jpg, <manual_dir>/All_Ratings.xlsx (or All_Ratings.csv: Rater,Filename,"
    "Rating rows) and <manual_dir>/train_test_files/ with 'split_of_60%training and 40%testing'/"
    "{train,test}.txt and 5_folders_cross_validations_files/cross_validation_<k>/{train,test}_<k>.txt "
    "(SCUT-FBP5500_v2)"
)
SPLIT_DIR = "train_test_files"
SPLIT_60_40 = "split_of_60%training and 40%testing"
CV_DIR = "5_folders_cross_validations_files"
RATINGS_XLSX, RATINGS_CSV = "All_Ratings.xlsx", "All_Ratings.csv"
NUM_RATERS = 60
FIT = "pad"
GENDERS = ("female", "male")
ETHNICITIES = ("asian", "caucasian")
_NAME = re.compile(r"^(?:(?P<eth>[AC])(?P<gen>[FM])|(?P<gen2>[fm])t(?P<eth2>[yw]))\d+\.", re.ASCII)


@dataclasses.dataclass(eq=False)
class ScutFbp5500Config(ImageConfig):
    """split_scheme: "60_40" or "cv1".."cv5"; num_raters: raters expected in the ratings file."""

    split_scheme: str = "60_40"
    num_raters: int = NUM_RATERS

    def __post_init__(self):
        super().__post_init__()
        if self.split_scheme not in ("60_40", "cv1", "cv2", "cv3", "cv4", "cv5"):
            raise ValueError(f"split_scheme must be '60_40' or 'cv1'..'cv5', got {self.split_scheme!r}")

    def split_files(self) -> dict[str, tuple[str, ...]]:
        if self.split_scheme == "60_40":
            return {s: (SPLIT_DIR, SPLIT_60_40, f"{s}.txt") for s in ("train", "test")}
        k = self.split_scheme[2:]
        return {s: (SPLIT_DIR, CV_DIR, f"cross_validation_{k}", f"{s}_{k}.txt") for s in ("train", "test")}


def _config(scheme: str, size: int | None) -> ScutFbp5500Config:
    name = ("original" if size is None else str(size)) if scheme == "60_40" else f"{scheme}_{size}"
    split = "the 60%/40% split" if scheme == "60_40" else f"cross-validation fold {scheme[2:]}"
    what = "images as released (350x350)" if size is None else f"images padded square and resized to {size}x{size}"
    return ScutFbp5500Config(name=name, img_size=size, split_scheme=scheme, description=f"{split}; {what}.")


def subgroup(file_name: str) -> tuple[int, int] | None:
    """(gender, ethnicity) label ids from a SCUT file name (AF/AM/CF/CM, or the older fty/mtw), or None."""
    m = _NAME.match(file_name)
    if not m:
        return None
    if m.group("eth"):
        return GENDERS.index("female" if m.group("gen") == "F" else "male"), ETHNICITIES.index(
            "asian" if m.group("eth") == "A" else "caucasian"
        )
    return GENDERS.index("female" if m.group("gen2") == "f" else "male"), ETHNICITIES.index(
        "asian" if m.group("eth2") == "y" else "caucasian"
    )


def _is_number(value) -> bool:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return True
    try:
        float(str(value).strip())
        return True
    except ValueError:
        return False


def _xlsx_rows(path):
    import openpyxl

    wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        ws = wb["ALL"] if "ALL" in wb.sheetnames else wb.worksheets[0]
        for row in ws.iter_rows(values_only=True):
            yield row
    finally:
        wb.close()


def _csv_rows(path):
    with open(path, newline="", encoding="utf-8-sig") as f:
        yield from csv.reader(f)


class ScutFbp5500(ManualBuilder):
    """SCUT-FBP5500 faces with 60 per-rater scores; configs 256 (default), original, cv1_256..cv5_256."""

    LAYOUT = LAYOUT
    MANUAL_DOWNLOAD_INSTRUCTIONS = (
        "Download SCUT-FBP5500_v2 (github.com/HCIILAB/SCUT-FBP5500-Database-Release), extract it, and pass "
        f"the SCUT-FBP5500_v2 folder as manual_dir. Expected layout: {LAYOUT}."
    )
    BUILDER_CONFIGS = [_config("60_40", s) for s in (256, None)] + [_config(f"cv{k}", 256) for k in range(1, 6)]
    DEFAULT_BUILDER_CONFIG_NAME = "256"

    def _info(self) -> tfds.core.DatasetInfo:
        cfg = self.builder_config
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Image(shape=cfg.image_shape()),
                    "scores": tfds.features.Tensor(shape=(cfg.num_raters,), dtype=np.float32),
                    "mean_score": tfds.features.Tensor(shape=(), dtype=np.float32),
                    "gender": tfds.features.ClassLabel(names=list(GENDERS)),
                    "ethnicity": tfds.features.ClassLabel(names=list(ETHNICITIES)),
                    "file_name": tfds.features.Text(),
                }
            ),
        )

    def read_ratings(self, root) -> tuple[list, dict[str, np.ndarray]]:
        """(raters in score order, {file name: float32 scores with NaN where a rater gave none})."""
        xlsx, csv_path = os.path.join(root, RATINGS_XLSX), os.path.join(root, RATINGS_CSV)
        if os.path.isfile(xlsx):
            source, rows = RATINGS_XLSX, _xlsx_rows(xlsx)
        elif os.path.isfile(csv_path):
            source, rows = RATINGS_CSV, _csv_rows(csv_path)
        else:
            raise self.layout_error(root, f"missing {RATINGS_XLSX} (or its CSV export {RATINGS_CSV})")
        try:
            return self._parse_ratings(root, source, rows)
        except self._ReadError as e:
            raise self.layout_error(root, f"{source}: {e}") from None
        except Exception as e:  # openpyxl/zipfile errors for a broken xlsx, UnicodeDecodeError for a csv
            raise self.layout_error(root, f"{source} is not readable ({type(e).__name__}: {e})") from None

    class _ReadError(Exception):
        pass

    def _parse_ratings(self, root, source, rows):
        cols = None
        ratings: dict[str, dict] = {}
        for n, row in enumerate(rows, 1):
            row = ["" if v is None else v for v in row]
            if not any(str(v).strip() for v in row):
                continue
            if cols is None:
                if len(row) >= 3 and _is_number(row[0]) and _is_number(row[2]):
                    cols = (0, 1, 2)  # header-less rater,filename,rating
                else:
                    names = [str(v).strip().lower() for v in row]
                    try:
                        cols = tuple(names.index(c) for c in ("rater", "filename", "rating"))
                    except ValueError:
                        raise self._ReadError(
                            f"header row {row[:4]} lacks the columns Rater, Filename, Rating"
                        ) from None
                    continue
            try:
                rater, file_name, rating = (row[c] for c in cols)
                rating = float(rating)
            except (IndexError, ValueError, TypeError):
                raise self._ReadError(f"row {n} ({row[:4]}) is not rater, filename, rating") from None
            rater = int(rater) if _is_number(rater) and float(rater).is_integer() else str(rater).strip()
            per_file = ratings.setdefault(str(file_name).strip(), {})
            if rater in per_file:
                raise self._ReadError(f"rater {rater} rates {file_name} twice (row {n})")
            per_file[rater] = rating
        if not ratings:
            raise self._ReadError("holds no ratings")
        raters = sorted({r for per_file in ratings.values() for r in per_file}, key=lambda r: (str(type(r)), r))
        if len(raters) != self.builder_config.num_raters:
            raise self._ReadError(f"has {len(raters)} raters, expected {self.builder_config.num_raters}")
        index = {r: i for i, r in enumerate(raters)}
        scores = {}
        for file_name, per_file in ratings.items():
            vec = np.full(len(raters), np.nan, np.float32)
            for r, v in per_file.items():
                vec[index[r]] = v
            scores[file_name] = vec
        return raters, scores

    def _split_generators(self, dl_manager):
        root = self._manual_root(dl_manager)
        images = self.require_dir(root, "Images")
        split_files = {
            split: self.require_file(root, *parts) for split, parts in self.builder_config.split_files().items()
        }
        _, scores = self.read_ratings(root)
        splits = {}
        for split, path in split_files.items():
            rel = os.path.relpath(path, root)
            records = []
            for n, line in enumerate(read_text_lines(path), 1):
                name = line.split()[0]
                if name not in scores:
                    raise self.layout_error(root, f"{rel} line {n}: {name} has no ratings in the ratings file")
                group = subgroup(name)
                if group is None:
                    raise self.layout_error(
                        root, f"{rel} line {n}: {name} is not a SCUT-FBP5500 file name (AF/AM/CF/CM<n>.jpg)"
                    )
                records.append((os.path.join(images, name), name, scores[name], group))
            if not records:
                raise self.layout_error(root, f"{rel} lists no images")
            splits[split] = records
        return {split: self._generate_examples(records, self._example) for split, records in splits.items()}

    def _example(self, record):
        path, name, scores, (gender, ethnicity) = record
        image = read_rgb(path, size=self.builder_config.img_size, fit=FIT)
        mean = float(np.nanmean(scores)) if not np.all(np.isnan(scores)) else math.nan
        return name, {
            "image": image.encoded,
            "scores": scores,
            "mean_score": np.float32(mean),
            "gender": gender,
            "ethnicity": ethnicity,
            "file_name": name,
        }
