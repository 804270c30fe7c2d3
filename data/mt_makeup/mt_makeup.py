"""`mt_makeup`: the Makeup Transfer (MT) dataset of BeautyGAN: faces with and without makeup, with
parsing maps, read from a manual_dir.

Expected manual_dir (`makeup_dataset.rar` extracted; the folder `all/`, or the folder holding `all/`;
PSGAN's repack `data/` works too):

    <root>/images/makeup/<name>.png         made-up faces (2,719 in the release, 361x361 RGB PNG)
    <root>/images/non-makeup/<name>.png     bare faces (1,115)
    <root>/segs/makeup/<name>.png           parsing maps with the image's file name (321x321, 8-bit
    <root>/segs/non-makeup/<name>.png       grey, values 0..13; see README.md for the ids)
    <root>/train_MAKEMIX.txt, train_SYMIX.txt, test_MAKEMIX.txt, test_SYMIX.txt   (optional)

Splits `train` and `test`:
  * when the four list files are there (BeautyGAN_pytorch's format: one `images/<dir>/<f>.png
    segs/<dir>/<f>.png` pair per line, paths relative to <root>; MAKEMIX = makeup, SYMIX = non-makeup),
    they define the splits;
  * otherwise the papers' split is drawn: 100 non-makeup and 250 makeup images for test (capped at half
    of a domain's images when it has fewer than twice that), the rest for train. The test images of a
    domain are `sorted(file names)[i]` for i in
    `np.random.default_rng([split_seed, label]).choice(n, size=n_test, replace=False)`, with label 0 for
    non-makeup and 1 for makeup and split_seed 0, so every build draws the same split.

See README.md next to this file for configs and features.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import tensorflow_datasets as tfds

from .._manual import BadFile, ImageConfig, ManualBuilder, image_files, read_label_map, read_rgb, read_text_lines
from .._mt_labels import PARSING_LABELS

LAYOUT = (
    "<manual_dir>/images/{makeup,non-makeup}/<name>.png and <manual_dir>/segs/{makeup,non-makeup}/"
    "<name>.png (the MT release's all/ folder, or the folder holding all/), optionally with the lists "
    "train_MAKEMIX.txt, train_SYMIX.txt, test_MAKEMIX.txt, test_SYMIX.txt"
)
DOMAINS = ("non-makeup", "makeup")  # label 0 = bare face (BeautyGAN's A), 1 = made up (B)
LISTS = {
    ("train", "makeup"): "train_MAKEMIX.txt",
    ("train", "non-makeup"): "train_SYMIX.txt",
    ("test", "makeup"): "test_MAKEMIX.txt",
    ("test", "non-makeup"): "test_SYMIX.txt",
}
NUM_CLASSES = len(PARSING_LABELS)


@dataclasses.dataclass(eq=False)
class MtMakeupConfig(ImageConfig):
    """The drawn test split (used only without list files): test_non_makeup + test_makeup images,
    drawn with split_seed."""

    test_non_makeup: int = 100
    test_makeup: int = 250
    split_seed: int = 0

    def num_test(self, domain: str) -> int:
        return self.test_makeup if domain == "makeup" else self.test_non_makeup


def _config(size: int | None) -> MtMakeupConfig:
    return MtMakeupConfig(
        name="original" if size is None else str(size),
        img_size=size,
        description=(
            "images (361x361) and parsing maps (321x321) as released."
            if size is None
            else f"images resized to {size}x{size} (Lanczos), parsing maps to {size}x{size} (nearest neighbour)."
        ),
    )


def drawn_split(files: list[str], num_test: int, seed: int, label: int) -> set[str]:
    """The test files of one domain when there are no list files (see the module docstring)."""
    files = sorted(files)
    n_test = min(num_test, len(files) // 2)
    idx = np.random.default_rng([seed, label]).choice(len(files), size=n_test, replace=False)
    return {files[i] for i in idx}


class MtMakeup(ManualBuilder):
    """MT makeup / non-makeup faces with parsing maps; configs 256 (default), original, 128."""

    LAYOUT = LAYOUT
    MANUAL_DOWNLOAD_INSTRUCTIONS = (
        "Download the MT dataset (makeup_dataset.rar; mirrors are listed in BeautyGAN_pytorch's issues "
        "#12/#13), extract it, and pass its all/ folder (or the folder holding all/) as manual_dir. "
        f"Expected layout: {LAYOUT}."
    )
    BUILDER_CONFIGS = [_config(s) for s in (256, None, 128)]
    DEFAULT_BUILDER_CONFIG_NAME = "256"

    def _info(self) -> tfds.core.DatasetInfo:
        cfg = self.builder_config
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Image(shape=cfg.image_shape()),
                    "parsing": tfds.features.Image(shape=cfg.image_shape(1)),
                    "label": tfds.features.ClassLabel(names=list(DOMAINS)),
                    "file_name": tfds.features.Text(),
                }
            ),
            supervised_keys=("image", "label"),
        )

    def find_root(self, manual_dir) -> str:
        for root in (manual_dir, os.path.join(manual_dir, "all")):
            if os.path.isdir(os.path.join(root, "images")):
                return root
        raise self.layout_error(manual_dir, "missing folder images/ (nor all/images/)")

    def _split_generators(self, dl_manager):
        root = self.find_root(self._manual_root(dl_manager))
        for part in ("images", "segs"):
            for domain in DOMAINS:
                self.require_dir(root, part, domain)
        present = [f for f in LISTS.values() if os.path.isfile(os.path.join(root, f))]
        if present and len(present) < len(LISTS):
            missing = [f for f in LISTS.values() if f not in present]
            raise self.layout_error(
                root,
                f"has the list file(s) {', '.join(present)} but not "
                f"{', '.join(missing)} (give all four, or none to draw the split)",
            )
        splits = self._listed_splits(root) if present else self._drawn_splits(root)
        return {split: self._generate_examples(records, self._example) for split, records in splits.items()}

    def _listed_splits(self, root) -> dict[str, list]:
        splits: dict[str, list] = {"train": [], "test": []}
        for (split, domain), list_name in LISTS.items():
            for n, line in enumerate(read_text_lines(os.path.join(root, list_name)), 1):
                parts = line.split()
                if len(parts) != 2:
                    raise self.layout_error(
                        root, f"{list_name} line {n} is {line!r}; expected 'images/<dir>/<f>.png segs/<dir>/<f>.png'"
                    )
                image_rel, seg_rel = (p.replace("\\", "/").lstrip("./") for p in parts)
                splits[split].append((root, image_rel, seg_rel, DOMAINS.index(domain)))
        return splits

    def _drawn_splits(self, root) -> dict[str, list]:
        cfg = self.builder_config
        splits: dict[str, list] = {"train": [], "test": []}
        for label, domain in enumerate(DOMAINS):
            files = image_files(os.path.join(root, "images", domain))
            if not files:
                raise self.layout_error(root, f"images/{domain}/ holds no images")
            test = drawn_split(files, cfg.num_test(domain), cfg.split_seed, label)
            for f in files:
                record = (root, f"images/{domain}/{f}", f"segs/{domain}/{f}", label)
                splits["test" if f in test else "train"].append(record)
        return splits

    def _example(self, record):
        root, image_rel, seg_rel, label = record
        size = self.builder_config.img_size
        image = read_rgb(os.path.join(root, image_rel), size=size)
        seg_path = os.path.join(root, seg_rel)
        if not os.path.isfile(seg_path):
            raise BadFile(os.path.join(root, image_rel), f"its parsing map {seg_rel} is missing")
        parsing = read_label_map(seg_path, NUM_CLASSES, size=size)
        return image_rel, {"image": image.encoded, "parsing": parsing, "label": label, "file_name": image_rel}
