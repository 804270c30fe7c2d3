"""`ffhq`: Flickr-Faces-HQ, read from a manual_dir, at 1024 px or resized.

Expected manual_dir (the FFHQ release's folders; either or both):

    <manual_dir>/images1024x1024/00000/00000.png ... 69000/69999.png   (1024x1024 PNG)
    <manual_dir>/thumbnails128x128/00000/00000.png ...                 (128x128 PNG, optional)

The 1000-image group folders may be present or not (a flat folder of NNNNN.png works too). Images
00000-59999 form the `train` split and 60000-69999 the `validation` split (the release's "training" and
"validation" categories in ffhq-dataset-v2.json); files whose name is not a number go to `train`.

Sources: configs of 128 px and smaller read thumbnails128x128/ when it exists (the 128 config stores the
thumbnails byte for byte, smaller ones resize them with Lanczos); larger configs, and every config when
there are no thumbnails, resize images1024x1024/ with Lanczos.

    facejax prepare ffhq/256 --manual_dir=data/ffhq

See README.md next to this file for configs and features.
"""

from __future__ import annotations

import dataclasses
import os

import tensorflow_datasets as tfds

from .._manual import ImageConfig, ManualBuilder, image_files, read_rgb

LAYOUT = (
    "<manual_dir>/images1024x1024/[<group>/]<NNNNN>.png (FFHQ's 1024x1024 PNGs, e.g. "
    "images1024x1024/00000/00000.png) and/or <manual_dir>/thumbnails128x128/[<group>/]<NNNNN>.png "
    "(serves configs of 128 px and smaller)"
)
IMAGES, THUMBNAILS = "images1024x1024", "thumbnails128x128"
THUMBNAIL_SIZE = 128
NUM_TRAIN = 60_000  # images 00000-59999 are "training", 60000-69999 "validation"


@dataclasses.dataclass(eq=False)
class FfhqConfig(ImageConfig):
    img_size: int | None = 1024

    def __post_init__(self):
        super().__post_init__()
        if self.img_size is None:
            raise ValueError("ffhq configs need an img_size (1024 stores the release's images as they are)")


def _config(size: int) -> FfhqConfig:
    if size == 1024:
        what = "the 1024x1024 images as released"
    elif size == THUMBNAIL_SIZE:
        what = "the 128x128 thumbnails as released (or images1024x1024 resized when there are none)"
    else:
        what = f"images resized to {size}x{size} (Lanczos)"
    return FfhqConfig(name=str(size), img_size=size, description=f"FFHQ: {what}.")


def split_of(file_name: str) -> str:
    stem = os.path.splitext(os.path.basename(file_name))[0]
    return "validation" if stem.isdigit() and int(stem) >= NUM_TRAIN else "train"


class Ffhq(ManualBuilder):
    """FFHQ faces; configs 1024, 512, 256 (default), 128, 64."""

    LAYOUT = LAYOUT
    MANUAL_DOWNLOAD_INSTRUCTIONS = (
        "Download FFHQ (github.com/NVlabs/ffhq-dataset: `python download_ffhq.py --images` and/or "
        "`--thumbs`) and pass the folder holding images1024x1024/ and/or thumbnails128x128/ as "
        f"manual_dir. Expected layout: {LAYOUT}."
    )
    BUILDER_CONFIGS = [_config(s) for s in (256, 1024, 512, 128, 64)]
    DEFAULT_BUILDER_CONFIG_NAME = "256"

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Image(shape=self.builder_config.image_shape()),
                    "file_name": tfds.features.Text(),
                }
            ),
        )

    def source_folder(self, root) -> str:
        """The folder this config reads: thumbnails128x128 or images1024x1024."""
        size = self.builder_config.img_size
        has_images = os.path.isdir(os.path.join(root, IMAGES))
        has_thumbs = os.path.isdir(os.path.join(root, THUMBNAILS))
        if size <= THUMBNAIL_SIZE and has_thumbs:
            return THUMBNAILS
        if has_images:
            return IMAGES
        if has_thumbs:
            raise self.layout_error(
                root,
                f"missing folder {IMAGES}/, needed for ffhq/{self.builder_config.name} "
                f"({THUMBNAILS}/ only serves configs of 128 px and smaller)",
            )
        raise self.layout_error(root, f"neither {IMAGES}/ nor {THUMBNAILS}/ is there")

    def _split_generators(self, dl_manager):
        root = self._manual_root(dl_manager)
        folder = self.source_folder(root)
        files = image_files(os.path.join(root, folder), recursive=True)
        if not files:
            raise self.layout_error(root, f"{folder}/ holds no images")
        splits: dict[str, list] = {}
        for f in files:
            rel = f"{folder}/{f}"
            splits.setdefault(split_of(f), []).append((rel, os.path.join(root, folder, f)))
        return {split: self._generate_examples(records, self._example) for split, records in sorted(splits.items())}

    def _example(self, record):
        rel, path = record
        image = read_rgb(path, size=self.builder_config.img_size)
        return rel, {"image": image.encoded, "file_name": rel}
