"""`helen`: the Helen face-parsing set of Smith et al. (CVPR 2013), 11 classes, read from a manual_dir;
GFC's parsing network is trained on it.

Expected manual_dir (`SmithCVPR2013_dataset_resized.zip` extracted, or the `_original` variant):

    <manual_dir>/images/<name>.jpg
    <manual_dir>/labels/<name>/<name>_lbl00.png ... <name>_lbl10.png   (one grey mask per class)
    <manual_dir>/exemplars.txt    train (2,000)      lines `<n> , <name>`
    <manual_dir>/tuning.txt       validation (230)
    <manual_dir>/testing.txt      test (100)

The parsing map is the argmax over the 11 class masks (ties go to the lower id), so every pixel gets
exactly one of the ids 0..10 (README.md lists them).

Configs: `original` stores images and maps at their released size; `128` takes the largest centred
square and resizes it to 128x128 (image: Lanczos, map: nearest neighbour).
"""

from __future__ import annotations

import os

import numpy as np
import tensorflow_datasets as tfds

from .._manual import BadFile, ImageConfig, ManualBuilder, decode, encode_labels, read_rgb, read_text_lines

LAYOUT = (
    "<manual_dir>/images/<name>.jpg, <manual_dir>/labels/<name>/<name>_lbl00.png ... _lbl10.png and "
    "the lists exemplars.txt, tuning.txt, testing.txt (Helen's SmithCVPR2013_dataset_resized)"
)
LISTS = {"train": "exemplars.txt", "validation": "tuning.txt", "test": "testing.txt"}
PARSING_LABELS = (
    "background",
    "face_skin",
    "left_eyebrow",
    "right_eyebrow",
    "left_eye",
    "right_eye",
    "nose",
    "upper_lip",
    "inner_mouth",
    "lower_lip",
    "hair",
)
NUM_CLASSES = len(PARSING_LABELS)
FIT = "crop"


def _config(size: int | None) -> ImageConfig:
    return ImageConfig(
        name="original" if size is None else str(size),
        img_size=size,
        description=(
            "images and parsing maps as released."
            if size is None
            else f"largest centred square resized to {size}x{size} (image Lanczos, map nearest)."
        ),
    )


def parse_list_line(line: str) -> str:
    """`   1 , 100032540_1` -> `100032540_1` (a bare name is accepted too)."""
    return line.split(",")[-1].strip() if "," in line else line.split()[-1]


def parsing_from_masks(mask_paths: list[str], image_path: str, size: tuple[int, int]) -> np.ndarray:
    """uint8 (H, W) argmax over the class masks; BadFile when a mask is missing or of another size."""
    stack = []
    for path in mask_paths:
        if not os.path.isfile(path):
            raise BadFile(image_path, f"its class mask {os.path.basename(path)} is missing")
        _, im = decode(path)
        if im.size != size:
            raise BadFile(path, f"mask is {im.size[0]}x{im.size[1]}, the image {size[0]}x{size[1]}")
        stack.append(np.asarray(im.convert("L")))
    return np.argmax(np.stack(stack), axis=0).astype(np.uint8)


class Helen(ManualBuilder):
    """Helen faces with 11-class parsing maps; configs original (default), 128."""

    LAYOUT = LAYOUT
    MANUAL_DOWNLOAD_INSTRUCTIONS = (
        "Download Helen's parsing set (SmithCVPR2013_dataset_resized.zip from "
        "pages.cs.wisc.edu/~lizhang/projects/face-parsing/), extract it, and pass the folder holding "
        f"images/, labels/ and the .txt lists as manual_dir. Expected layout: {LAYOUT}."
    )
    BUILDER_CONFIGS = [_config(s) for s in (None, 128)]
    DEFAULT_BUILDER_CONFIG_NAME = "original"

    def _info(self) -> tfds.core.DatasetInfo:
        cfg = self.builder_config
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Image(shape=cfg.image_shape()),
                    "parsing": tfds.features.Image(shape=cfg.image_shape(1)),
                    "file_name": tfds.features.Text(),
                }
            ),
        )

    def _split_generators(self, dl_manager):
        root = self._manual_root(dl_manager)
        self.require_dir(root, "images")
        self.require_dir(root, "labels")
        splits = {}
        for split, list_name in LISTS.items():
            names = [parse_list_line(ln) for ln in read_text_lines(self.require_file(root, list_name))]
            if not names:
                raise self.layout_error(root, f"{list_name} lists no images")
            splits[split] = [(root, name) for name in names]
        return {split: self._generate_examples(records, self._example) for split, records in splits.items()}

    def _example(self, record):
        root, name = record
        size = self.builder_config.img_size
        image_path = os.path.join(root, "images", f"{name}.jpg")
        image = read_rgb(image_path, size=size, fit=FIT)
        masks = [os.path.join(root, "labels", name, f"{name}_lbl{k:02d}.png") for k in range(NUM_CLASSES)]
        labels = parsing_from_masks(masks, image_path, (image.width, image.height))
        return name, {
            "image": image.encoded,
            "parsing": encode_labels(labels, size=size, fit=FIT),
            "file_name": f"{name}.jpg",
        }
