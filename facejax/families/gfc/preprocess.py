"""How GFC reads a user's image (matlab/FaceCompletion_testing/demo_face128.m): ``im2single(imread(f))`` then
``-1 + 2 * im``, with no resize: its test faces are already 128 px, made by dcgan.torch's ``crop_celebA.lua``
(``image.crop(im, 30, 40, 168, 178)`` of an aligned CelebA photo, then ``image.scale(cropped, 128, 128)``, Lua
Torch's bilinear on [0, 1] floats, saved in 8 bits).

facejax reads a photo of another size as that script prepares one: a 178 x 218 photo (aligned CelebA's size) is first
cropped to the script's box, then any photo not at img_size is scaled to img_size x img_size with Lua Torch's
image.scale (config.data.test_resize "torch7"; a non-square photo is squashed, as image.scale does) and rounded to 8
bits, exactly as the celeba builder's gfc_128 config stores CelebA (facejax/datasets/celeba); "tf" is facejax's
earlier antialiased bilinear (input/ops.py). The JPEG re-encoding of the script's output is not reproduced."""

import numpy as np

from facejax.datasets.celeba.celeba import torch_scale

CELEBA_ALIGNED_HW = (218, 178)
CELEBA_BOX = (40, 178, 30, 168)  # rows 40..177, columns 30..167: image.crop(im, 30, 40, 168, 178)
TEST_RESIZES = ("torch7", "tf")


def test_levels(img_uint8, config) -> np.ndarray:
    """uint8 (H, W, 3) -> the uint8 (S, S, 3) face demo_face128.m reads (see the module docstring)."""
    arr = np.asarray(img_uint8, np.uint8)
    size = config.img_size
    if arr.shape[:2] == CELEBA_ALIGNED_HW:
        t, b, lft, r = CELEBA_BOX
        arr = arr[t:b, lft:r]
    if arr.shape[:2] == (size, size):
        return arr
    if config.data.get("test_resize", "torch7") == "tf":
        from facejax.input import ops

        return np.asarray(ops.resize(arr, size), np.uint8)
    # the celeba builder's gfc_128 scaling (crop_celebA.lua's image.scale, rounded to 8 bits): the same pixels
    scaled = torch_scale(arr.astype(np.float32) / np.float32(255.0), size, size)
    return np.clip(np.round(scaled * 255.0), 0, 255).astype(np.uint8)
