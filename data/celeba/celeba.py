"""`celeba`: aligned CelebA faces with their 40 attributes and 5 landmarks, read from a manual_dir; GFC
trains on the `gfc_128` config.

Expected manual_dir (the official CelebA release, folders as on its Google Drive):

    <manual_dir>/Img/img_align_celeba/000001.jpg ... 202599.jpg     (178x218 JPEG)
    <manual_dir>/Anno/list_attr_celeba.txt                          (count, 40 names, `file v1 .. v40` with -1/1)
    <manual_dir>/Anno/list_landmarks_align_celeba.txt               (count, header, `file x y` x 5)
    <manual_dir>/Eval/list_eval_partition.txt                       (`file 0|1|2`)

Splits from list_eval_partition.txt: 0 -> `train` (162,770), 1 -> `validation` (19,867), 2 -> `test`
(19,962). Images listed there but missing in img_align_celeba/ are unusable files (error, or skipped
with skip_bad).

Configs: `aligned` stores the 178x218 images as released; `gfc_128` crops the box x in [30, 168),
y in [40, 178) (138x138) and scales it to 128x128 as dcgan.torch's crop_celebA.lua, which GFC uses, does:
`image.crop(im, 30, 40, 168, 178)` then `image.scale(cropped, 128, 128)` (Lua Torch's default mode,
'bilinear': `torch_scale`), on [0, 1] floats, stored rounded to 8 bits. Landmarks are given in the
pixels of the stored image.

See README.md next to this file for the features.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import tensorflow_datasets as tfds

from .._manual import RGB, BadFile, ImageConfig, ManualBuilder, decode, png_bytes, read_rgb, read_text_lines

LAYOUT = (
    "<manual_dir>/Img/img_align_celeba/<NNNNNN>.jpg, <manual_dir>/Anno/list_attr_celeba.txt, "
    "<manual_dir>/Anno/list_landmarks_align_celeba.txt and <manual_dir>/Eval/list_eval_partition.txt "
    "(the official CelebA release)"
)
IMAGES = ("Img", "img_align_celeba")
ATTR_FILE = ("Anno", "list_attr_celeba.txt")
LANDMARK_FILE = ("Anno", "list_landmarks_align_celeba.txt")
PARTITION_FILE = ("Eval", "list_eval_partition.txt")
PARTITIONS = {"0": "train", "1": "validation", "2": "test"}

ATTRIBUTE_NAMES = (
    "5_o_Clock_Shadow",
    "Arched_Eyebrows",
    "Attractive",
    "Bags_Under_Eyes",
    "Bald",
    "Bangs",
    "Big_Lips",
    "Big_Nose",
    "Black_Hair",
    "Blond_Hair",
    "Blurry",
    "Brown_Hair",
    "Bushy_Eyebrows",
    "Chubby",
    "Double_Chin",
    "Eyeglasses",
    "Goatee",
    "Gray_Hair",
    "Heavy_Makeup",
    "High_Cheekbones",
    "Male",
    "Mouth_Slightly_Open",
    "Mustache",
    "Narrow_Eyes",
    "No_Beard",
    "Oval_Face",
    "Pale_Skin",
    "Pointy_Nose",
    "Receding_Hairline",
    "Rosy_Cheeks",
    "Sideburns",
    "Smiling",
    "Straight_Hair",
    "Wavy_Hair",
    "Wearing_Earrings",
    "Wearing_Hat",
    "Wearing_Lipstick",
    "Wearing_Necklace",
    "Wearing_Necktie",
    "Young",
)
LANDMARK_NAMES = ("lefteye", "righteye", "nose", "leftmouth", "rightmouth")
LANDMARK_HEADER = tuple(f"{n}_{c}" for n in LANDMARK_NAMES for c in "xy")
GFC_BOX = (30, 40, 168, 178)  # (left, upper, right, lower) in img_align_celeba pixels


def torch_scale_weights(src_len: int, dst_len: int) -> np.ndarray:
    """(dst_len, src_len) weights of one axis of Lua Torch's ``image.scale(img, w, h)`` in its default mode
    'bilinear' (torch/image, generic/image.c ``scaleLinear_rowcol``): enlarging interpolates linearly between
    pixels with the end pixels aligned (position di * (src - 1) / (dst - 1)); shrinking averages each output's
    span [di * r, (di + 1) * r), r = src / dst, partly covered pixels weighted by their covered fraction (an area
    average, not a 2-tap interpolation). Positions in float32 as the C code computes them."""
    w = np.zeros((dst_len, src_len), np.float64)
    if dst_len == src_len:
        return np.eye(dst_len)
    if dst_len > src_len:
        scale = np.float32(src_len - 1) / np.float32(dst_len - 1) if src_len > 1 else np.float32(0)
        for di in range(dst_len - 1):
            pos = np.float32(di) * scale
            i = int(pos)
            f = float(pos - np.float32(i))
            w[di, i] += 1 - f
            if f:
                w[di, i + 1] += f
        w[dst_len - 1, src_len - 1] = 1.0
        return w
    scale = np.float32(src_len) / np.float32(dst_len)
    i0, f0 = 0, 0.0
    for di in range(dst_len):
        pos = np.float32(di + 1) * scale
        i1 = int(pos)
        f1 = float(pos - np.float32(i1))
        w[di, i0] += 1 - f0
        w[di, i0 + 1 : i1] += 1
        if i1 < src_len:
            w[di, i1] += f1
        w[di] /= w[di].sum()
        i0, f0 = i1, f1
    return w


def torch_scale(img: np.ndarray, width: int, height: int) -> np.ndarray:
    """Lua Torch's ``image.scale(img, width, height)`` ('bilinear') of an (H, W, C) float image: rows first, then
    columns, each a linear map (``torch_scale_weights``)."""
    out = np.einsum("xw,hwc->hxc", torch_scale_weights(img.shape[1], width), img.astype(np.float64))
    return np.einsum("yh,hxc->yxc", torch_scale_weights(img.shape[0], height), out)


def crop_celeba_lua(path, box: tuple[int, int, int, int], size: int) -> RGB:
    """crop_celebA.lua with its output size `size`: ``image.load`` ([0, 1] floats), ``image.crop`` to `box`,
    ``image.scale`` to size x size; stored as PNG rounded to 8 bits (the script writes a JPEG back)."""
    data, im = decode(path)
    width, height = im.size
    try:
        crop = np.asarray(im.convert("RGB").crop(box), np.float32) / 255.0
    except Exception as e:
        raise BadFile(path, f"cannot convert to RGB ({type(e).__name__}: {e})") from None
    out = np.clip(np.round(torch_scale(crop, size, size) * 255.0), 0, 255).astype(np.uint8)
    return RGB(png_bytes(out), width, height)


@dataclasses.dataclass(eq=False)
class CelebaConfig(ImageConfig):
    """crop: (left, upper, right, lower) box taken before resizing to img_size (None: whole image); resize: "lua"
    (crop_celebA.lua's Torch image.scale, `crop_celeba_lua`) or "lanczos" (PIL's)."""

    crop: tuple[int, int, int, int] | None = None
    resize: str = "lanczos"

    def image_shape(self, channels: int = 3) -> tuple:
        if self.img_size is None and self.crop is not None:
            left, upper, right, lower = self.crop
            return (lower - upper, right - left, channels)
        return super().image_shape(channels)

    def transform_landmarks(self, points: np.ndarray) -> np.ndarray:
        """(5, 2) (x, y) in img_align_celeba pixels -> pixels of the stored image."""
        if self.crop is None:
            return points
        left, upper, right, lower = self.crop
        out = points - np.array([left, upper], np.float32)
        if self.img_size is not None:
            out = out * np.array([self.img_size / (right - left), self.img_size / (lower - upper)], np.float32)
        return out.astype(np.float32)


class Celeba(ManualBuilder):
    """Aligned CelebA with attributes and landmarks; configs gfc_128 (default), aligned."""

    LAYOUT = LAYOUT
    MANUAL_DOWNLOAD_INSTRUCTIONS = (
        "Download CelebA (mmlab.ie.cuhk.edu.hk/projects/CelebA.html: Img/img_align_celeba.zip, Anno/ and "
        "Eval/), extract img_align_celeba.zip inside Img/, and pass the folder holding Img/, Anno/ and Eval/ "
        f"as manual_dir. Expected layout: {LAYOUT}."
    )
    BUILDER_CONFIGS = [
        CelebaConfig(
            name="gfc_128",
            img_size=128,
            crop=GFC_BOX,
            resize="lua",
            description="GFC's crop: box x 30..168, y 40..178 scaled to 128x128 as crop_celebA.lua "
            "(Lua Torch image.scale, bilinear).",
        ),
        CelebaConfig(name="aligned", description="img_align_celeba images as released (178x218 JPEG)."),
    ]
    DEFAULT_BUILDER_CONFIG_NAME = "gfc_128"
    VERSION = tfds.core.Version("1.1.0")
    RELEASE_NOTES = {
        "1.0.0": "First release.",
        "1.1.0": "gfc_128 scaled as crop_celebA.lua (Lua Torch image.scale) instead of PIL Lanczos.",
    }

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Image(shape=self.builder_config.image_shape()),
                    "attributes": tfds.features.Tensor(shape=(len(ATTRIBUTE_NAMES),), dtype=np.bool_),
                    "landmarks": tfds.features.Tensor(shape=(len(LANDMARK_NAMES), 2), dtype=np.float32),
                    "file_name": tfds.features.Text(),
                }
            ),
        )

    def _table(self, root, parts, header: tuple, parse) -> dict:
        """{file: parse(values)} of a CelebA annotation file (count line, header line, rows)."""
        rel = "/".join(parts)
        lines = read_text_lines(self.require_file(root, *parts))
        if len(lines) < 2 or tuple(lines[1].split()) != header:
            raise self.layout_error(
                root, f"{rel} does not start with a count line and the header {' '.join(header[:3])} ... {header[-1]}"
            )
        table = {}
        for n, line in enumerate(lines[2:], 3):
            fields = line.split()
            if len(fields) != len(header) + 1:
                raise self.layout_error(root, f"{rel} line {n} has {len(fields) - 1} values, expected {len(header)}")
            try:
                table[fields[0]] = parse(fields[1:])
            except ValueError:
                raise self.layout_error(root, f"{rel} line {n} has a value that is not a number") from None
        return table

    def _split_generators(self, dl_manager):
        root = self._manual_root(dl_manager)
        images = self.require_dir(root, *IMAGES)
        attrs = self._table(root, ATTR_FILE, ATTRIBUTE_NAMES, lambda v: np.array([int(x) for x in v], np.int8) > 0)
        marks = self._table(
            root, LANDMARK_FILE, LANDMARK_HEADER, lambda v: np.array([float(x) for x in v], np.float32).reshape(-1, 2)
        )
        partition = self.require_file(root, *PARTITION_FILE)
        splits: dict[str, list] = {}
        for n, line in enumerate(read_text_lines(partition), 1):
            fields = line.split()
            if len(fields) != 2 or fields[1] not in PARTITIONS:
                raise self.layout_error(
                    root, f"{'/'.join(PARTITION_FILE)} line {n} is {line!r}; expected '<file> 0|1|2'"
                )
            name = fields[0]
            for table, parts in ((attrs, ATTR_FILE), (marks, LANDMARK_FILE)):
                if name not in table:
                    raise self.layout_error(root, f"{'/'.join(parts)} has no row for {name}")
            splits.setdefault(PARTITIONS[fields[1]], []).append(
                (os.path.join(images, name), name, attrs[name], marks[name])
            )
        if not splits:
            raise self.layout_error(root, f"{'/'.join(PARTITION_FILE)} lists no images")
        return {split: self._generate_examples(records, self._example) for split, records in splits.items()}

    def _example(self, record):
        path, name, attributes, landmarks = record
        cfg = self.builder_config
        if cfg.resize == "lua" and cfg.crop is not None and cfg.img_size is not None:
            image = crop_celeba_lua(path, cfg.crop, cfg.img_size)
        else:
            image = read_rgb(path, size=cfg.img_size, box=cfg.crop)
        return name, {
            "image": image.encoded,
            "attributes": attributes,
            "landmarks": cfg.transform_landmarks(landmarks),
            "file_name": name,
        }
