"""What every facejax builder that reads a manually downloaded dataset shares.

* `ManualBuilder`: base class. It finds the manual_dir, turns layout problems into one-line
  `FacejaxError`s that name the expected layout, and runs the per-example work (decode, check,
  resize, encode) on a thread pool in a fixed order. A file that cannot be used stops the build with
  an error naming it, or, with `skip_bad=True`, is skipped and recorded in `builder.skipped`.
* Listing helpers (`subdirs`, `image_files`), with hidden files and macOS/Windows litter ignored.
* Image helpers: `read_rgb` (RGB image, optionally cropped and fitted to a square, PNG-encoded, or
  the original bytes when nothing changes) and `encode_labels`/`read_label_map` (uint8 parsing maps,
  resized with nearest neighbour only, values checked against the number of classes).

Builders raise `BadFile(path, reason)` from their per-example function for a file that cannot be used
(unreadable, truncated, missing, wrong values); `ManualBuilder` decides between error and skip.
"""

from __future__ import annotations

import collections
import concurrent.futures
import dataclasses
import io
import itertools
import os
import sys
from typing import Any, Callable, Iterable, Iterator

import numpy as np
import PIL.Image
import tensorflow_datasets as tfds
from absl import logging
from etils import epath

from facejax.errors import FacejaxError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp")
_IGNORED_NAMES = ("__MACOSX", "Thumbs.db", "desktop.ini")
RESAMPLE = PIL.Image.Resampling.LANCZOS
FITS = ("resize", "pad", "crop")


class BadFile(Exception):
    """A file that cannot be used: unreadable, truncated, missing, or holding out-of-range values."""

    def __init__(self, path, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason


# ------------------------------------------------------------------------------------------------
# listing
# ------------------------------------------------------------------------------------------------


def _visible(name: str) -> bool:
    return not name.startswith(".") and name not in _IGNORED_NAMES


def subdirs(path) -> list[str]:
    """Sorted names of the visible sub-folders of `path` ([] when `path` is not a folder)."""
    if not os.path.isdir(path):
        return []
    return sorted(d for d in os.listdir(path) if _visible(d) and os.path.isdir(os.path.join(path, d)))


def is_image_name(name: str) -> bool:
    return _visible(name) and name.lower().endswith(IMAGE_EXTENSIONS)


def image_files(path, *, recursive: bool = False) -> list[str]:
    """Sorted image file names under `path` (relative, '/'-separated when `recursive`)."""
    if not recursive:
        return sorted(f for f in os.listdir(path) if is_image_name(f) and os.path.isfile(os.path.join(path, f)))
    out = []
    for dirpath, dirnames, filenames in os.walk(path):
        dirnames[:] = [d for d in dirnames if _visible(d)]
        rel = os.path.relpath(dirpath, path)
        for f in filenames:
            if is_image_name(f):
                out.append(f if rel == "." else f"{rel}/{f}".replace(os.sep, "/"))
    return sorted(out)


def read_text_lines(path) -> list[str]:
    """Non-empty, stripped lines of a text annotation file (UTF-8, BOM tolerated)."""
    with open(path, encoding="utf-8-sig", errors="replace") as f:
        return [ln.strip() for ln in f if ln.strip()]


# ------------------------------------------------------------------------------------------------
# images
# ------------------------------------------------------------------------------------------------


def decode(path) -> tuple[bytes, PIL.Image.Image]:
    """(file bytes, fully decoded PIL image); BadFile when the file is missing, truncated or not an
    image. Decoding everything (not just `verify()`) is what catches truncated JPEGs."""
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise BadFile(path, "file not found") from None
    except OSError as e:
        raise BadFile(path, f"cannot read: {e.strerror or e}") from None
    try:
        im = PIL.Image.open(io.BytesIO(data))
    except PIL.UnidentifiedImageError:
        raise BadFile(path, "not an image (unrecognised or empty file)") from None
    except Exception as e:  # PIL raises OSError, SyntaxError, ValueError, DecompressionBombError...
        raise BadFile(path, f"not a readable image ({type(e).__name__}: {e})") from None
    try:
        im.load()
    except Exception as e:
        raise BadFile(path, f"corrupt or truncated {im.format or 'image'} ({type(e).__name__}: {e})") from None
    return data, im


def fit_square(im: PIL.Image.Image, size: int, fit: str, resample) -> PIL.Image.Image:
    """`resize`: stretch to size x size (as StarGAN v2's Resize([s, s])); `pad`: pad to a centred
    square with black, then resize (Beholder-GAN's transform); `crop`: take the largest centred square,
    then resize."""
    if fit not in FITS:
        raise ValueError(f"fit must be one of {FITS}, got {fit!r}")
    w, h = im.size
    if fit != "resize" and w != h:
        side = max(w, h) if fit == "pad" else min(w, h)
        x0, y0 = (w - side) // 2, (h - side) // 2
        # PIL pads with zeros when the box reaches outside the image.
        im = im.crop((x0, y0, x0 + side, y0 + side))
    if im.size != (size, size):
        im = im.resize((size, size), resample)
    return im


def png_bytes(image, compress_level: int = 3) -> bytes:
    if isinstance(image, np.ndarray):
        image = PIL.Image.fromarray(image[..., 0] if image.ndim == 3 and image.shape[-1] == 1 else image)
    buf = io.BytesIO()
    image.save(buf, format="PNG", compress_level=compress_level)
    return buf.getvalue()


@dataclasses.dataclass
class RGB:
    encoded: bytes  # PNG, or the file's own JPEG/PNG bytes when nothing had to change
    width: int  # of the source image (before any crop or resize)
    height: int


def read_rgb(
    path, *, size: int | None = None, fit: str = "resize", box: tuple[int, int, int, int] | None = None
) -> RGB:
    """An RGB image for an `Image(shape=(..., ..., 3))` feature.

    `box` = (left, upper, right, lower) crops first; `size` then fits the result to size x size (see
    `fit_square`, Lanczos) and stores it as PNG. An RGB JPEG or PNG that needs neither (no box, and no
    size or already size x size) is passed through byte for byte; other modes (grey, palette, RGBA,
    CMYK) are converted to RGB and stored as PNG.
    """
    data, im = decode(path)
    width, height = im.size
    if box is None and (size is None or im.size == (size, size)) and im.mode == "RGB" and im.format in ("JPEG", "PNG"):
        return RGB(data, width, height)
    try:
        out = im.convert("RGB")
        if box is not None:
            out = out.crop(box)
        if size is not None:
            out = fit_square(out, size, fit, RESAMPLE)
    except Exception as e:
        raise BadFile(path, f"cannot convert to RGB ({type(e).__name__}: {e})") from None
    return RGB(png_bytes(out), width, height)


def label_array(path, num_classes: int) -> np.ndarray:
    """A single-channel label map (PNG 'L' or 'P', values are class ids) as a uint8 (H, W) array."""
    _, im = decode(path)
    if im.mode not in ("L", "P", "I", "I;16"):
        raise BadFile(
            path,
            f"expected a single-channel label map (8-bit grey or palette PNG), got "
            f"mode {im.mode} (a colour visualisation is not a label map)",
        )
    arr = np.asarray(im)
    check_labels(path, arr, num_classes)
    return arr.astype(np.uint8)


def check_labels(path, arr: np.ndarray, num_classes: int) -> None:
    top = int(arr.max()) if arr.size else 0
    if top >= num_classes:
        raise BadFile(path, f"label value {top} outside 0..{num_classes - 1}")


def encode_labels(
    arr: np.ndarray, *, size: int | None = None, fit: str = "resize", box: tuple[int, int, int, int] | None = None
) -> bytes:
    """A uint8 (H, W) label map -> PNG bytes for an `Image(shape=(..., ..., 1))` feature; crops and
    resizes with nearest neighbour only, so every value stays a class id."""
    im = PIL.Image.fromarray(np.asarray(arr, np.uint8), mode="L")
    if box is not None:
        im = im.crop(box)
    if size is not None:
        im = fit_square(im, size, fit, PIL.Image.Resampling.NEAREST)
    return png_bytes(im)


def read_label_map(path, num_classes: int, **kwargs) -> bytes:
    return encode_labels(label_array(path, num_classes), **kwargs)


# ------------------------------------------------------------------------------------------------
# configs
# ------------------------------------------------------------------------------------------------


@dataclasses.dataclass(eq=False)
class ImageConfig(tfds.core.BuilderConfig):
    """A config that stores images as released (`img_size=None`) or fitted to img_size x img_size."""

    img_size: int | None = None

    def __post_init__(self):
        size = self.img_size
        if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 8):
            raise ValueError(f"img_size must be None (as released) or an int >= 8, got {size!r}")

    def image_shape(self, channels: int = 3) -> tuple:
        s = self.img_size
        return (s, s, channels)  # (None, None, c) when stored as released


# ------------------------------------------------------------------------------------------------
# builder base
# ------------------------------------------------------------------------------------------------


_END = object()


def _call(fn, record):
    try:
        return fn(record)
    except BadFile as e:
        return e


class ManualBuilder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    """Base of facejax's builders of manually downloaded datasets.

    Subclasses set `LAYOUT` (one line naming the expected manual_dir layout, used in every layout
    error) and `MANUAL_DOWNLOAD_INSTRUCTIONS`, and return `self._generate_examples(records, make)`
    from `_split_generators`, where `make(record) -> (key, example)` may raise `BadFile`.

    Extra constructor arguments (e.g. `tfds.builder("afhq", skip_bad=True)`):
      skip_bad: skip unusable files instead of stopping; they are listed in `builder.skipped`
        (one "path: reason" string each) after `download_and_prepare`.
      workers: threads that decode and encode images (default min(8, CPU count)).
    """

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "First release."}
    LAYOUT = ""

    def __init__(self, *, skip_bad: bool = False, workers: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.skip_bad = bool(skip_bad)
        self.workers = workers or min(8, os.cpu_count() or 1)
        self.skipped: list[str] = []

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        # data/ is installed as facejax.datasets, so TFDS cannot find a builder's folder from its
        # module name; the folder's README.md becomes the dataset description.
        cls.pkg_dir_path = epath.Path(sys.modules[cls.__module__].__file__).parent

    @tfds.core.utils.classproperty
    @classmethod
    def code_path(cls) -> epath.Path:
        return epath.Path(sys.modules[cls.__module__].__file__)

    # -- errors --------------------------------------------------------------------------------

    def layout_error(self, root, problem: str) -> FacejaxError:
        """One line: what is wrong, where, and the layout that was expected."""
        return FacejaxError(f"{self.name}: {problem} (manual_dir {root}); expected {self.LAYOUT}")

    def _manual_root(self, dl_manager) -> str:
        try:
            root = dl_manager.manual_dir
        except AssertionError:  # TFDS: the folder does not exist or is empty
            root = getattr(dl_manager, "_manual_dir", None)
            raise self.layout_error(root, "manual_dir does not exist or is empty") from None
        return os.fspath(root)

    def require_dir(self, root, *parts) -> str:
        path = os.path.join(root, *parts)
        if not os.path.isdir(path):
            raise self.layout_error(root, f"missing folder {'/'.join(parts)}/")
        return path

    def require_file(self, root, *parts) -> str:
        path = os.path.join(root, *parts)
        if not os.path.isfile(path):
            raise self.layout_error(root, f"missing file {'/'.join(parts)}")
        return path

    # -- generation ----------------------------------------------------------------------------

    def download_and_prepare(self, *args, **kwargs):
        self.skipped = []
        return super().download_and_prepare(*args, **kwargs)

    def _generate_examples(
        self, records: Iterable[Any], make: Callable[[Any], tuple[str, dict]]
    ) -> Iterator[tuple[str, dict]]:
        """`make(record)` for every record on a thread pool, yielded in record order."""
        for result in self._map(make, records):
            if isinstance(result, BadFile):
                if not self.skip_bad:
                    raise FacejaxError(
                        f"{self.name}: unusable file {result.path}: {result.reason}; replace or remove it, "
                        f"or pass --skip_bad (skip_bad=True in Python) to skip such files"
                    )
                self.skipped.append(str(result))
                logging.warning("%s: skipped %s", self.name, result)
                continue
            yield result

    def _map(self, fn, records) -> Iterator[Any]:
        records = iter(records)
        if self.workers <= 1:
            for r in records:
                yield _call(fn, r)
            return
        window = 4 * self.workers
        with concurrent.futures.ThreadPoolExecutor(self.workers) as pool:
            pending = collections.deque(pool.submit(_call, fn, r) for r in itertools.islice(records, window))
            try:
                while pending:
                    result = pending.popleft().result()
                    nxt = next(records, _END)
                    if nxt is not _END:
                        pending.append(pool.submit(_call, fn, nxt))
                    yield result
            finally:
                for f in pending:
                    f.cancel()
