"""Image loading and resizing exactly as the reference tools do it, on the host.

  pytorch-fid     PIL RGB -> ToTensor ([0, 1]); the network resizes to 299 (inception.network_input)
  StarGAN v2      PIL RGB -> Resize([img_size, img_size]) -> Resize([299, 299]) (PIL bilinear, i.e.
                  torchvision.transforms.Resize on PIL images) -> ToTensor; the ImageNet mean/std
                  normalisation follows in inception.network_input
  lpips           PIL RGB -> [-1, 1] (lpips.im2tensor: x / 127.5 - 1)

Generated images enter these pipelines as the uint8 PNGs the original evaluation writes
(facejax.images.to_uint8: (x + 1) / 2, clamp, round), so in-memory evaluation gives the same
numbers as writing the files and reading them back.
"""

from __future__ import annotations

import os

import numpy as np
from PIL import Image

from facejax.errors import FacejaxError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp")  # as facejax.input.sources (no TF import here)


def list_images(folder: str, what: str) -> list[str]:
    """Sorted image files directly in `folder` (no sub-folders), or one clear error."""
    if not folder or not os.path.isdir(folder):
        raise FacejaxError(f"{what} {folder!r} is not a folder; expected a folder of .png/.jpg images")
    files = sorted(
        f
        for f in os.listdir(folder)
        if f.lower().endswith(IMAGE_EXTENSIONS) and os.path.isfile(os.path.join(folder, f))
    )
    if not files:
        raise FacejaxError(f"{what} {folder!r} holds no images ({', '.join(IMAGE_EXTENSIONS)})")
    return [os.path.join(folder, f) for f in files]


def load_uint8(path: str) -> np.ndarray:
    """(H, W, 3) uint8 RGB; a FacejaxError names the file when it cannot be read."""
    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"), np.uint8)
    except Exception as e:
        raise FacejaxError(f"unreadable image {path}: {type(e).__name__}: {e} (expected a PNG or JPEG image)") from None


def pil_resize(img: np.ndarray, size: int) -> np.ndarray:
    """torchvision.transforms.Resize([size, size]) on a PIL image: PIL bilinear (antialiased when shrinking)."""
    if img.shape[0] == size and img.shape[1] == size:
        return img
    return np.asarray(Image.fromarray(img).resize((size, size), Image.BILINEAR), np.uint8)


def to_unit(img: np.ndarray) -> np.ndarray:
    """transforms.ToTensor: uint8 -> float32 in [0, 1]."""
    return np.asarray(img, np.float32) / 255.0


def inception_image(img: np.ndarray, variant: str, pre_size: int = 0) -> np.ndarray:
    """One uint8 image -> the float32 [0, 1] image the variant's network_input takes.

    imagenet: PIL resize to pre_size (StarGAN v2's img_size; 0 = skip) then to 299.
    fid: unchanged unless pre_size > 0 (then PIL-resized to pre_size); the network resizes to 299.
    """
    if pre_size:
        img = pil_resize(img, pre_size)
    if variant == "imagenet":
        img = pil_resize(img, 299)
    return to_unit(img)


def to_signed(img: np.ndarray) -> np.ndarray:
    """uint8 -> float32 in [-1, 1]: lpips.im2tensor, and the original's ToTensor + Normalize(0.5, 0.5)."""
    return np.asarray(img, np.float32) / 127.5 - 1.0


lpips_image = to_signed
