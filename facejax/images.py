"""Image grids and PNG files: what people look at."""

import numpy as np
from etils import epath
from PIL import Image


def to_uint8(x) -> np.ndarray:
    """[-1, 1] float images -> uint8, as the original's save_image ((x + 1) / 2, clamp, round)."""
    x = (np.asarray(x, np.float32) + 1.0) / 2.0
    return np.clip(np.rint(x * 255.0), 0, 255).astype(np.uint8)


def make_grid(images, ncol: int, pad: int = 2, fill: int = 255) -> np.ndarray:
    """(N, H, W, C) uint8 -> one (rows*(H+pad)+pad, ncol*(W+pad)+pad, C) uint8 grid, row-major."""
    images = np.asarray(images)
    n, h, w, c = images.shape
    nrow = -(-n // ncol)
    grid = np.full((nrow * (h + pad) + pad, ncol * (w + pad) + pad, c), fill, np.uint8)
    for i in range(n):
        r, q = divmod(i, ncol)
        y, x = pad + r * (h + pad), pad + q * (w + pad)
        grid[y : y + h, x : x + w] = images[i]
    return grid


def save_png(path, image: np.ndarray) -> str:
    path = epath.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    with path.open("wb") as f:
        Image.fromarray(image).save(f, format="PNG")
    return str(path)
