"""Where examples come from: a TFDS builder, or a folder in the `<dir>/<domain>/<image>` layout.

Either way a source is a tf.data.Dataset of small elements ({"image": encoded bytes or a file
path, "label": int64}) that can be cached and shuffled cheaply, plus the domain names. Images are
decoded after shuffling (`decode`), so shuffle buffers, caches and checkpointed iterator states
stay small. Each process reads its own part (`tfds.split_for_jax_process`, or every n-th file).
"""

import concurrent.futures
import dataclasses
import os

import tensorflow as tf
import tensorflow_datasets as tfds
from PIL import Image

from facejax.errors import FacejaxError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp")


@dataclasses.dataclass
class Source:
    dataset: tf.data.Dataset  # {"image": tf.string (encoded bytes or path), "label": tf.int64}
    domains: list
    num_examples: int  # in this process's part
    from_files: bool  # "image" holds a path to read, not the encoded bytes


def list_domain_folder(root: str, *, what: str = "image folder") -> tuple[list, list, list]:
    """(paths, labels, domains) of `<root>/<domain>/<image>`; domains sorted = class indices.

    Raises FacejaxError naming the folder when it is missing, has no domain sub-folders, or a
    domain holds no images.
    """
    if not root or not os.path.isdir(root):
        raise FacejaxError(f"{what} {root!r} does not exist; expected a folder laid out as "
                           f"<folder>/<domain>/<image>.png|jpg (one sub-folder per domain)")
    domains = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)))
    if not domains:
        raise FacejaxError(f"{what} {root!r} has no domain sub-folders; expected "
                           f"<folder>/<domain>/<image>.png|jpg, e.g. {root}/female/0001.jpg")
    paths, labels = [], []
    for k, d in enumerate(domains):
        files = sorted(f for f in os.listdir(os.path.join(root, d))
                       if f.lower().endswith(IMAGE_EXTENSIONS))
        if not files:
            raise FacejaxError(f"{what} {root!r}: domain folder {d!r} holds no images "
                               f"({', '.join(IMAGE_EXTENSIONS)})")
        paths += [os.path.join(root, d, f) for f in files]
        labels += [k] * len(files)
    return paths, labels, domains


def verify_images(paths, *, workers: int = 8) -> None:
    """Opens every image's header and structure; names the first unreadable file."""

    def check(p):
        try:
            with Image.open(p) as im:
                im.verify()
            return None
        except Exception as e:  # PIL raises many types for corrupt files
            return f"{p}: {type(e).__name__}: {e}"

    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        for err in pool.map(check, paths):
            if err:
                raise FacejaxError(f"unreadable image {err} (expected a PNG or JPEG image; remove or "
                                   f"replace the file)")


def _folder_source(root, process_index, process_count, what) -> Source:
    paths, labels, domains = list_domain_folder(root, what=what)
    verify_images(paths)
    paths, labels = paths[process_index::process_count], labels[process_index::process_count]
    ds = tf.data.Dataset.from_tensor_slices({"image": paths, "label": tf.constant(labels, tf.int64)})
    return Source(ds, domains, len(paths), from_files=True)


def tfds_builder(name: str, config: str = "", data_dir: str = ""):
    """A TFDS builder, prepared if it can be built without downloads; a clear error otherwise."""
    import facejax.datasets  # noqa: F401  (registers facejax's builders)

    try:
        builder = tfds.builder(name, config=config or None, data_dir=data_dir or None)
    except tfds.core.registered.DatasetNotFoundError:
        raise FacejaxError(f"unknown TFDS dataset {name!r} (config.data.name)") from None
    except ValueError as e:
        raise FacejaxError(f"dataset {name!r}: {e} (config.data.config={config!r})") from None
    if not builder.is_prepared():
        if getattr(builder, "MANUAL_DOWNLOAD_INSTRUCTIONS", None):
            raise FacejaxError(
                f"dataset {name}/{config} is not prepared in {builder.data_dir}; build it first with "
                f"`facejax prepare {name} --manual_dir=DIR` (see its MANUAL_DOWNLOAD_INSTRUCTIONS)")
        builder.download_and_prepare()
    return builder


def _tfds_source(data, split, process_index, process_count) -> Source:
    builder = tfds_builder(data.name, data.config, data.data_dir)
    if split not in builder.info.splits:
        raise FacejaxError(f"dataset {data.name}/{data.config} has no split {split!r}; it has "
                           f"{sorted(builder.info.splits)}")
    sub = tfds.split_for_jax_process(split, process_index=process_index, process_count=process_count)
    ds = builder.as_dataset(split=sub, shuffle_files=False, decoders={"image": tfds.decode.SkipDecoding()})
    ds = ds.map(lambda ex: {"image": ex["image"], "label": tf.cast(ex["label"], tf.int64)})
    n = builder.info.splits[sub].num_examples
    return Source(ds, list(builder.info.features["label"].names), n, from_files=False)


def load_source(data, split: str, process_index: int = 0, process_count: int = 1) -> Source:
    """The source named by `config.data` for `split` ("train" or the eval split)."""
    if data.source == "tfds":
        name_split = data.train_split if split == "train" else data.eval_split
        return _tfds_source(data, name_split, process_index, process_count)
    if data.source == "folder":
        root = data.train_dir if split == "train" else (data.eval_dir or data.train_dir)
        field = "config.data.train_dir" if split == "train" else "config.data.eval_dir"
        if not root:
            raise FacejaxError(
                f"{field} is empty: point it at the {data.name} images in the <dir>/<domain>/<image> "
                f"layout (e.g. data/{data.name}/train from StarGAN v2's download.sh)")
        return _folder_source(root, process_index, process_count, field)
    raise FacejaxError(f"config.data.source={data.source!r}; expected 'tfds' or 'folder'")


def read_image(path: str, size: int) -> "np.ndarray":
    """One image file -> float32 (size, size, 3) in [-1, 1] (PIL bilinear resize, as the original's
    test transform); a FacejaxError names the file when it cannot be read."""
    import numpy as np

    try:
        with Image.open(path) as im:
            im = im.convert("RGB")
            if im.size != (size, size):
                im = im.resize((size, size), Image.BILINEAR)
            arr = np.asarray(im, np.float32)
    except Exception as e:
        raise FacejaxError(f"unreadable image {path}: {type(e).__name__}: {e} "
                           f"(expected a PNG or JPEG image)") from None
    return arr / 127.5 - 1.0
