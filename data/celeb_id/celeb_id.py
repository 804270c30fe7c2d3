"""`celeb_id`: ExGAN's Celeb-ID eye-in-painting benchmark (several aligned photos per celebrity, eye
positions, eye-state scores), read from a manual_dir; AesGAN trains on it.

Expected manual_dir (ExGAN's `data/celeb_id_aligned/`, as `python src/align.py 256` writes it, or the
`celeb_id_aligned.zip` archive extracted):

    <manual_dir>/data.json                  {identity: [{"filename": "<identity>-<k>.jpg",
                                                         "eye_left": {"x", "y", "box_left": {"w", "h"}} | null,
                                                         "eye_right": {"x", "y", "box_right": {"w", "h"}} | null,
                                                         "opened": float | null, "closed": float | null}, ...]}
    <manual_dir>/<identity>-<k>.jpg         aligned faces (256x256), eye positions in their pixels

`box_left`/`box_right` may also sit at the top level of an entry (as ExGAN's README shows), or be
absent (some copies of data.json lack them). Images listed in data.json but missing on disk are unusable
files: they stop the build, or are skipped with skip_bad.

Splits follow ExGAN (and AesGAN's reference code): an identity goes to `test` when any of its images has
`opened` missing or below 0.60 (a closed eye to in-paint), otherwise to `train`.

See README.md next to this file for configs and features.
"""

from __future__ import annotations

import dataclasses
import json
import os

import numpy as np
import tensorflow_datasets as tfds

from .._manual import ImageConfig, ManualBuilder, read_rgb

LAYOUT = (
    "<manual_dir>/data.json ({identity: [{filename, eye_left, eye_right, opened, closed}, ...]}) "
    "and the aligned images <manual_dir>/<identity>-<k>.jpg (ExGAN's data/celeb_id_aligned/)"
)
NAN = float("nan")


@dataclasses.dataclass(eq=False)
class CelebIdConfig(ImageConfig):
    """open_threshold: an identity with an image whose `opened` is missing or below it goes to test."""

    open_threshold: float = 0.60


def _config(size: int | None) -> CelebIdConfig:
    return CelebIdConfig(
        name="original" if size is None else str(size),
        img_size=size,
        description=(
            "aligned images as released (256x256)."
            if size is None
            else f"aligned images resized to {size}x{size} (Lanczos)."
        ),
    )


def _number(value) -> float:
    return NAN if value is None else float(value)


def eye_geometry(entry: dict, side: str, width: int, height: int) -> tuple[list, list]:
    """([y, x], [ymin, xmin, ymax, xmax]) of one eye ("left"/"right"), normalised by the image size;
    NaN where data.json has no eye or no box."""
    eye = entry.get(f"eye_{side}")
    if not eye:
        return [NAN, NAN], [NAN] * 4
    x, y = float(eye["x"]), float(eye["y"])
    box = eye.get(f"box_{side}") or entry.get(f"box_{side}")
    centre = [y / height, x / width]
    if not box:
        return centre, [NAN] * 4
    w, h = float(box["w"]), float(box["h"])
    return centre, [(y - h / 2) / height, (x - w / 2) / width, (y + h / 2) / height, (x + w / 2) / width]


class CelebId(ManualBuilder):
    """Celeb-ID aligned faces with identities, eye positions and eye-state scores; configs original
    (default), 128."""

    LAYOUT = LAYOUT
    MANUAL_DOWNLOAD_INSTRUCTIONS = (
        "Build Celeb-ID with ExGAN's scripts (github.com/bdol/exemplar_gans: `python src/download_pics.py` "
        "then `python src/align.py 256`) and pass data/celeb_id_aligned/ as manual_dir. "
        f"Expected layout: {LAYOUT}."
    )
    BUILDER_CONFIGS = [_config(s) for s in (None, 128)]
    DEFAULT_BUILDER_CONFIG_NAME = "original"

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Image(shape=self.builder_config.image_shape()),
                    "identity": tfds.features.Tensor(shape=(), dtype=np.int64),
                    "identity_name": tfds.features.Text(),
                    "eye_centers": tfds.features.Tensor(shape=(2, 2), dtype=np.float32),
                    "eye_boxes": tfds.features.Tensor(shape=(2, 4), dtype=np.float32),
                    "opened": tfds.features.Tensor(shape=(), dtype=np.float32),
                    "closed": tfds.features.Tensor(shape=(), dtype=np.float32),
                    "file_name": tfds.features.Text(),
                }
            ),
        )

    def read_index(self, root) -> dict[str, list[dict]]:
        path = self.require_file(root, "data.json")
        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
        except (OSError, ValueError) as e:
            raise self.layout_error(root, f"data.json is not readable JSON ({e})") from None
        if not isinstance(data, dict) or not all(isinstance(v, list) for v in data.values()):
            raise self.layout_error(root, "data.json is not a mapping {identity: [image entries]}")
        for identity, entries in data.items():
            for entry in entries:
                if not isinstance(entry, dict) or not isinstance(entry.get("filename"), str):
                    raise self.layout_error(
                        root, f'data.json entry of identity {identity!r} has no "filename": {str(entry)[:80]}'
                    )
                for key in ("opened", "closed"):
                    if not isinstance(entry.get(key), (int, float, type(None))):
                        raise self.layout_error(
                            root, f"data.json: {entry['filename']} has {key}={entry[key]!r}; expected a number or null"
                        )
        return data

    def _split_generators(self, dl_manager):
        root = self._manual_root(dl_manager)
        data = self.read_index(root)
        threshold = self.builder_config.open_threshold
        splits: dict[str, list] = {"train": [], "test": []}
        for identity_id, name in enumerate(sorted(data)):
            entries = data[name]
            closed = any(e.get("opened") is None or float(e["opened"]) < threshold for e in entries)
            for entry in entries:
                splits["test" if closed else "train"].append((root, identity_id, name, entry))
        return {split: self._generate_examples(records, self._example) for split, records in splits.items() if records}

    def _example(self, record):
        root, identity_id, name, entry = record
        file_name = entry["filename"]
        image = read_rgb(os.path.join(root, file_name), size=self.builder_config.img_size)
        try:
            centres, boxes = zip(*(eye_geometry(entry, side, image.width, image.height) for side in ("left", "right")))
        except (KeyError, TypeError, ValueError, AttributeError):
            raise self.layout_error(
                root,
                f"data.json: {file_name} has a malformed eye entry "
                f'(expected {{"x", "y"[, "box_<side>": {{"w", "h"}}]}} or null)',
            ) from None
        return file_name, {
            "image": image.encoded,
            "identity": identity_id,
            "identity_name": name,
            "eye_centers": np.asarray(centres, np.float32),
            "eye_boxes": np.asarray(boxes, np.float32),
            "opened": np.float32(_number(entry.get("opened"))),
            "closed": np.float32(_number(entry.get("closed"))),
            "file_name": file_name,
        }
