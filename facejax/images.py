"""Image grids and PNG files (what people look at), and the readers of user images as each original reads them."""

import dataclasses
import io
import os

import numpy as np
from etils import epath
from PIL import Image

from facejax.errors import FacejaxError


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


# ------------------------------------------------------------------------------------------------ reading user images
#
# How each original turns a user's photo into the float array its generator reads. A family declares its `Recipe`
# (facejax/families/<name>/preprocess.py); the readers of `facejax sample --src/--ref`, `facejax.api`
# Model.translate and the families' evaluation inputs apply it with `prepare` / `read`, so the arrays equal the
# original's for the same file. See each family's docs/<family>.md ("Fidelity to the original").

# PIL filters by name ("antialias" is PIL's old name for Lanczos, Image.ANTIALIAS).
PIL_FILTERS = {
    "nearest": Image.NEAREST,
    "bilinear": Image.BILINEAR,
    "bicubic": Image.BICUBIC,
    "lanczos": Image.LANCZOS,
    "antialias": Image.LANCZOS,
}
FILTERS = tuple(PIL_FILTERS)


@dataclasses.dataclass(frozen=True)
class Recipe:
    """One original's reading of an image, in the order it applies the steps.

    resize   int: the shorter side becomes this, the aspect ratio kept (torchvision ``Resize(int)``: the longer
             side is int(size * long / short)); (h, w): exactly this size (``Resize([h, w])``, ``imresize(x, [h,
             w])``, ``img.resize((w, h))``: a non-square photo is squashed); None: no resize.
    crop     CenterCrop(crop) after the resize (torchvision's offsets, round((H - crop) / 2) with Python's
             rounding, zero padding where the picture is smaller); 0: none.
    filter   the resampling filter (FILTERS): PIL's filters on the uint8 picture as the originals call them
             (torchvision's Resize on a PIL image calls PIL's resize, whose bilinear filter antialiases when it
             shrinks).
    bytescale scipy.misc.imresize of a float array: min-max stretch to 0..255 (scipy's bytescale) first.
    scale    how the uint8 levels become [-1, 1]: "torch" (ToTensor then Normalize(0.5, 0.5), in float32:
             (x / 255 - 0.5) / 0.5), "numpy" (x / 127.5 - 1 in float64, then float32, as a NumPy program feeds
             TF), "matlab" (single(x) / 255 * 2 - 1, im2single then -1 + 2 * im).
    """

    resize: int | tuple[int, int] | None
    crop: int = 0
    filter: str = "bilinear"
    bytescale: bool = False
    scale: str = "torch"

    def __post_init__(self):
        if self.filter not in FILTERS:
            raise ValueError(f"filter {self.filter!r}: expected one of {', '.join(FILTERS)}")
        if self.scale not in ("torch", "numpy", "matlab"):
            raise ValueError(f"scale {self.scale!r}: expected 'torch', 'numpy' or 'matlab'")

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        """(h, w) of the array this recipe makes of a (height, width) picture."""
        if self.crop:
            return self.crop, self.crop
        return resized_size(height, width, self.resize)


def resized_size(height: int, width: int, size) -> tuple[int, int]:
    """(h, w) after torchvision's Resize(size) of a (height, width) picture (size an int, (h, w) or None)."""
    if size is None:
        return height, width
    if isinstance(size, (tuple, list)):
        return int(size[0]), int(size[1])
    short, long = (width, height) if width <= height else (height, width)
    new_short, new_long = int(size), int(int(size) * long / short)
    return (new_long, new_short) if width <= height else (new_short, new_long)


def pil_resize(image: Image.Image, size, filter: str = "bilinear") -> Image.Image:
    """torchvision's ``Resize(size, interpolation)`` of a PIL image: PIL's resize to resized_size."""
    h, w = resized_size(image.height, image.width, size)
    if (h, w) == (image.height, image.width):
        return image
    return image.resize((w, h), PIL_FILTERS[filter])


def center_crop(array: np.ndarray, size: int) -> np.ndarray:
    """torchvision's CenterCrop(size) of an (H, W, ...) array: zero padding where the picture is smaller (as
    torchvision pads), then the window at round((H - size) / 2), round((W - size) / 2)."""
    h, w = array.shape[:2]
    if h < size or w < size:
        pt, pl = (size - h) // 2 if h < size else 0, (size - w) // 2 if w < size else 0
        pb, pr = (size - h + 1) // 2 if h < size else 0, (size - w + 1) // 2 if w < size else 0
        array = np.pad(array, [(pt, pb), (pl, pr)] + [(0, 0)] * (array.ndim - 2))
        h, w = array.shape[:2]
    top, left = int(round((h - size) / 2.0)), int(round((w - size) / 2.0))
    return array[top : top + size, left : left + size]


def bytescale(array: np.ndarray) -> np.ndarray:
    """scipy.misc.bytescale of a float array (what scipy.misc.imresize does to a non-uint8 input first): (x - min) *
    255 / (max - min), clipped, + 0.5, truncated to uint8 (float64). A uint8 array is returned as it is."""
    x = np.asarray(array)
    if x.dtype == np.uint8:
        return x
    x = x.astype(np.float64)
    cscale = x.max() - x.min()
    out = (x - x.min()) * (255.0 / (cscale if cscale != 0 else 1.0))
    return (np.clip(out, 0.0, 255.0) + 0.5).astype(np.uint8)


def to_unit(levels: np.ndarray, scale: str = "torch") -> np.ndarray:
    """uint8 levels -> float32 in [-1, 1] with the original's arithmetic (Recipe.scale)."""
    x = np.asarray(levels)
    if scale == "torch":
        return (x.astype(np.float32) / np.float32(255.0) - np.float32(0.5)) / np.float32(0.5)
    if scale == "numpy":
        return (x.astype(np.float64) / 127.5 - 1.0).astype(np.float32)
    return x.astype(np.float32) / np.float32(255.0) * np.float32(2.0) - np.float32(1.0)


def open_image(item, what: str, mode: str | None) -> Image.Image:
    """A file path, encoded bytes, PIL image or uint8 array as a PIL image (converted to `mode` when given)."""
    if isinstance(item, (bytes, bytearray, np.bytes_)):
        item = io.BytesIO(bytes(item))
    if isinstance(item, Image.Image):
        im = item
    elif isinstance(item, (str, os.PathLike, io.BytesIO)):
        try:
            with Image.open(item) as f:
                f.load()
                im = f.copy() if mode is None else f.convert(mode)
        except Exception as e:  # PIL raises many types for corrupt files
            raise FacejaxError(
                f"{what}: unreadable image {item}: {type(e).__name__}: {e} (expected a PNG or JPEG image)"
            ) from None
    else:
        arr = np.asarray(item)
        if arr.dtype != np.uint8:
            raise FacejaxError(f"{what}: an image of dtype {arr.dtype}; expected uint8 levels 0..255")
        if arr.ndim == 3 and arr.shape[-1] == 1:
            arr = arr[..., 0]
        im = Image.fromarray(arr)
    return im if mode is None or im.mode == mode else im.convert(mode)


def resample_levels(image: Image.Image, recipe: Recipe) -> np.ndarray:
    """The resized and cropped uint8 levels (H, W[, C]) of a PIL image as the recipe reads it."""
    levels = np.asarray(pil_resize(image, recipe.resize, recipe.filter), np.uint8)
    return center_crop(levels, recipe.crop) if recipe.crop else levels


def prepare(image, recipe: Recipe, what: str = "image") -> np.ndarray:
    """A picture (file path, PIL image, or uint8 (H, W, 3) array) -> the float32 (h, w, 3) array in [-1, 1] the
    original feeds its generator (RGB)."""
    im = open_image(image, what, "RGB")
    if recipe.bytescale:  # scipy.misc.imread(...).astype(float) then imresize: the stretch comes before the resize
        im = Image.fromarray(bytescale(np.asarray(im, np.float64)))
    return to_unit(resample_levels(im, recipe), recipe.scale)


def read(path, recipe: Recipe) -> np.ndarray:
    """`prepare` of an image file; one FacejaxError line naming the file when it cannot be read."""
    return prepare(str(path), recipe, "image")


def prepare_map(image, recipe: Recipe, filter: str = "bilinear", what: str = "map") -> np.ndarray:
    """A one-channel map (mask, texture, parsing map: file path, PIL image or uint8 array) resized and cropped as
    the original reads it with `filter` (torchvision Resize then CenterCrop of the PIL image), as float32 (h, w):
    ToTensor's x / 255 for a bilinear map (soft edges kept), the labels as they are for "nearest". An RGB file is
    read by its first channel."""
    im = open_image(image, what, None)
    if im.mode not in ("L", "P", "I", "F", "1"):
        im = im.getchannel(0)
    r = dataclasses.replace(recipe, filter=filter, bytescale=False)
    levels = np.asarray(resample_levels(im, r))
    if filter == "nearest":
        return levels.astype(np.float32)
    return levels.astype(np.float32) / np.float32(255.0)
