"""Where examples come from: a TFDS builder, or a folder in the `<dir>/<domain>/<image>` layout.

A Source is this process's part of a split as an in-memory table with random access: one numpy array
per feature, row i = example i. Pictures stay encoded (PNG/JPEG bytes, or file paths for a folder
read without `cache`) and are decoded per element in the pipeline, so the table is small (the size of
the encoded files) and streams can pick any example by index (streams.py). Each process reads its own
part: `tfds.split_for_jax_process` for TFDS, every n-th file (sorted by domain, then name) for folders;
the parts of all processes are disjoint and together hold every example once.

TFDS splits are read into memory whole (this process's part); a dataset larger than memory should be
read as a folder without `config.data.cache`, which keeps only file paths.

Every picture is decoded once when its source is made (folders: PIL, in threads; TFDS: the pipeline's own
decoder, `ops.decode`, in a parallel tf.data pass), so an undecodable one is named in one line before
training instead of stopping the run at the step that reaches it; with `config.data.skip_bad` it is left
out of the table and counted. Checked per example as "example index -> encoded bytes -> decode"
(`undecodable_rows`), so the check does not depend on how the bytes were read. A TFDS split's result is kept
beside its record files (`facejax-decode-check.<split>.<part>.json`, keyed by the files' names, sizes and
modification times), so later launches on unchanged files skip the pass.
"""

import concurrent.futures
import dataclasses
import io
import json
import os
import re

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds
from etils import epath
from PIL import Image

from facejax.errors import FacejaxError
from facejax.input import ops

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp")


@dataclasses.dataclass
class Source:
    """This process's part of a split.

    table: feature name -> numpy array with one row per example; always "label" (int64 domain
      index); pictures ("image", and e.g. "parsing") as encoded bytes, or as file paths when
      `from_files`; nested TFDS features are flattened with "/" ("makeup/lips").
    domains: the domain names, label k = domains[k] (sorted folder names for folders).
    image_features: the features that hold pictures.
    """

    table: dict
    domains: list
    from_files: bool = False
    image_features: tuple = ("image",)
    name: str = ""

    @property
    def num_examples(self) -> int:
        return len(self.table["label"])

    @property
    def labels(self) -> np.ndarray:
        return self.table["label"]

    @property
    def dataset(self) -> tf.data.Dataset:
        """The examples in table order (one pass), as small elements to decode with ops.decode."""
        return tf.data.Dataset.from_tensor_slices(self.table)

    def subset(self, rows, name: str = "") -> "Source":
        """The examples at `rows` (indices or a boolean mask), same domains."""
        rows = np.asarray(rows)
        rows = np.flatnonzero(rows) if rows.dtype == bool else rows.astype(np.int64)
        return dataclasses.replace(self, table={k: v[rows] for k, v in self.table.items()}, name=name or self.name)

    def tensors(self) -> dict:
        """The table as tf tensors (made once; tf.data functions capture them by reference)."""
        if not hasattr(self, "_tensors"):
            self._tensors = {k: tf.constant(v) for k, v in self.table.items()}
        return self._tensors


# --------------------------------------------------------------------------------------------
# folders


def list_domain_folder(root: str, *, what: str = "image folder") -> tuple[list, list, list]:
    """(paths, labels, domains) of `<root>/<domain>/<image>`; domains sorted = class indices.

    Raises FacejaxError naming the folder when it is missing, has no domain sub-folders, or a
    domain holds no images.
    """
    if not root or not os.path.isdir(root):
        raise FacejaxError(
            f"{what} {root!r} does not exist; expected a folder laid out as "
            f"<folder>/<domain>/<image>.png|jpg (one sub-folder per domain)"
        )
    domains = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)))
    if not domains:
        raise FacejaxError(
            f"{what} {root!r} has no domain sub-folders; expected "
            f"<folder>/<domain>/<image>.png|jpg, e.g. {root}/female/0001.jpg"
        )
    paths, labels = [], []
    for k, d in enumerate(domains):
        files = sorted(f for f in os.listdir(os.path.join(root, d)) if f.lower().endswith(IMAGE_EXTENSIONS))
        if not files:
            raise FacejaxError(f"{what} {root!r}: domain folder {d!r} holds no images ({', '.join(IMAGE_EXTENSIONS)})")
        paths += [os.path.join(root, d, f) for f in files]
        labels += [k] * len(files)
    return paths, labels, domains


def _check_image(path, read: bool):
    """(bytes or None, error or None) for one image file, decoded in full (PIL's `verify` alone accepts
    a truncated JPEG, which would then stop the run when the pipeline reaches it)."""
    try:
        data = None
        if read:
            with open(path, "rb") as f:
                data = f.read()
        with Image.open(io.BytesIO(data) if read else path) as im:
            im.load()
        return data, None
    except Exception as e:  # PIL raises many types for corrupt files
        return None, f"{path}: {type(e).__name__}: {e}"


PROGRESS_FROM = 2000  # folders with more images than this print a progress line while checked


def verify_images(
    paths, *, read: bool = False, workers: int | None = None, skip_bad: bool = False, what: str = "image folder"
):
    """Decodes every image in full, in parallel; names the first unreadable file (FacejaxError). With
    `skip_bad`, unreadable files are left out and counted instead. Returns (kept indices, the files'
    bytes when `read` else None)."""
    workers = workers or min(32, (os.cpu_count() or 1) + 4)
    results = []
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        for i, res in enumerate(pool.map(lambda p: _check_image(p, read), paths)):
            results.append(res)
            if len(paths) > PROGRESS_FROM and ((i + 1) % 1000 == 0 or i + 1 == len(paths)):
                print(f"{what}: checked {i + 1}/{len(paths)} images", flush=True)
    bad = [err for _, err in results if err]
    if bad and not skip_bad:
        more = f" ({len(bad) - 1} more)" if len(bad) > 1 else ""
        raise FacejaxError(
            f"unreadable image {bad[0]}{more} (expected a PNG or JPEG image; remove or replace "
            f"the file, or set --config.data.skip_bad=true to leave unreadable images out)"
        )
    if bad:
        print(
            f"{what}: skipped {len(bad)} unreadable image(s) of {len(paths)} (config.data.skip_bad), first {bad[0]}",
            flush=True,
        )
    keep = [i for i, (_, err) in enumerate(results) if not err]
    return keep, ([results[i][0] for i in keep] if read else None)


def folder_source(
    root: str,
    process_index: int = 0,
    process_count: int = 1,
    *,
    what: str = "image folder",
    cache: bool = False,
    skip_bad: bool = False,
) -> Source:
    """Every process_count-th image of the sorted `<root>/<domain>/<image>` list, from process_index,
    each decoded once to check it (`skip_bad`: unreadable ones left out and counted).

    With `cache`, the files are read into memory once; otherwise the table holds their paths and the
    pipeline reads them per element.
    """
    paths, labels, domains = list_domain_folder(root, what=what)
    paths, labels = paths[process_index::process_count], labels[process_index::process_count]
    keep, data = verify_images(paths, read=cache, skip_bad=skip_bad, what=what)
    paths, labels = [paths[i] for i in keep], [labels[i] for i in keep]
    table = {
        "image": np.array(data if cache else paths, dtype=object),
        "label": np.asarray(labels, np.int64),
        "file_name": np.array([os.path.relpath(p, root) for p in paths], dtype=object),
    }
    return Source(table, domains, from_files=not cache, name=f"{what} {root}")


# --------------------------------------------------------------------------------------------
# TFDS


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
                f"`facejax prepare {name} --manual_dir=DIR` (see its MANUAL_DOWNLOAD_INSTRUCTIONS)"
            )
        builder.download_and_prepare()
    return builder


def flatten(d: dict, prefix: str = "") -> dict:
    """Nested dicts -> one dict with "/"-joined keys (TFDS feature names such as "makeup/lips")."""
    out = {}
    for k, v in d.items():
        if isinstance(v, (dict, tfds.features.FeaturesDict)):
            out.update(flatten(v, f"{prefix}{k}/"))
        else:
            out[f"{prefix}{k}"] = v
    return out


TFDS_ID = "tfds_id"  # "<record file>__<record index in it>", what TFDS's ReadConfig(add_tfds_id=True) adds


def undecodable_rows(
    table: dict, channels: dict, *, what: str = "", progress_from: int = 2000, tensors: dict | None = None
) -> list:
    """The rows of `table` whose encoded pictures (`channels`: feature -> channels to decode to) `ops.decode`,
    the decoder the pipelines use, rejects; decoded in a parallel tf.data pass over row indices, with a
    progress line (naming `what`) for more than `progress_from` rows. `tensors`: the table's columns as tf
    tensors where they are made already (Source.tensors(), which the pipelines reuse)."""
    n = len(table["label"])
    if not n or not channels:
        return []
    cols = {f: (tensors or {}).get(f, None) for f in channels}
    cols = {f: tf.constant(table[f]) if c is None else c for f, c in cols.items()}

    def decoded(i):  # the row, and each picture's shape (which makes the decode run)
        return i, [tf.shape(ops.decode(tf.gather(cols[f], i), False, c)) for f, c in channels.items()]

    ds = tf.data.Dataset.range(n).map(decoded, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    ds = ds.ignore_errors().map(lambda i, _: i).batch(1024)
    good = np.zeros(n, bool)
    every, shown = max(1000, n // 10), 0
    for rows in ds.as_numpy_iterator():
        good[rows] = True
        if n > progress_from and (rows[-1] + 1 - shown >= every or rows[-1] + 1 == n):
            shown = int(rows[-1]) + 1
            print(f"{what}: checked {shown}/{n} examples", flush=True)
    return np.flatnonzero(~good).tolist()


def decode_error(table: dict, channels: dict, row: int) -> str:
    """What `ops.decode` says about the first picture of `row` it cannot decode: "feature: message"."""
    for f, c in channels.items():
        try:
            ops.decode(tf.constant(table[f][row]), False, c)
        except (tf.errors.OpError, ValueError) as e:
            return f"feature {f!r}: {tf_message(e)}"
    return "decodes when read alone"


def tf_message(e: Exception) -> str:
    """The first line of a TensorFlow error without its op decorations ({{function_node ...}}, [Op:...])."""
    message = re.sub(r"\{\{function_node [^}]*\}\}|\[Op:\w+\].*", "", getattr(e, "message", str(e))).strip()
    return message.splitlines()[0] if message else type(e).__name__


def _record_locator(builder, split: str):
    """tfds_id -> (index of the example in `split`, record file, record index in that file)."""
    info = builder.info.splits[split]
    offsets = dict(zip(info.filenames, np.concatenate([[0], np.cumsum(info.shard_lengths)[:-1]]).tolist()))

    def locate(tfds_id: str):
        file, _, record = tfds_id.rpartition("__")
        if not record.isdigit() or file not in offsets:
            return None, file or tfds_id, None
        return offsets[file] + int(record), file, int(record)

    return locate


def _check_record(builder, split: str, process_index: int, process_count: int, channels: dict):
    """Where the result of the decode check of this process's part of `split` is kept (beside the dataset's
    record files), and the key it is valid for: the record files' names, sizes and modification times,
    the part, and the features checked. None when the files cannot be listed."""
    try:
        root = epath.Path(builder.data_dir)
        files = {f: _stamp(root / f) for f in builder.info.splits[split].filenames}
    except (OSError, KeyError, AttributeError):
        return None, None
    key = {"files": files, "part": [process_index, process_count], "channels": channels, "version": 1}
    return root / f"facejax-decode-check.{split}.{process_index}-of-{process_count}.json", key


def _stamp(path) -> list:
    """A file's size and modification time (nanoseconds for a local file, seconds on a remote file system)."""
    if "://" not in str(path):
        st = os.stat(path)
        return [st.st_size, st.st_mtime_ns]
    st = path.stat()
    return [st.length, st.mtime]


def _checked_rows(builder, split: str, process_index: int, process_count: int, channels: dict):
    """The undecodable rows a previous check of the same, unchanged record files found, else None."""
    path, key = _check_record(builder, split, process_index, process_count, channels)
    try:
        record = json.loads(path.read_text()) if path is not None and path.exists() else None
    except (OSError, ValueError):
        return None
    return record["bad"] if isinstance(record, dict) and record.get("key") == key else None


def _record_check(builder, split: str, process_index: int, process_count: int, channels: dict, bad: list):
    """Keeps the decode check's result so that later launches on the same files skip the pass (a dataset
    of 70k pictures takes minutes to decode); a read-only dataset folder only means checking every time."""
    path, key = _check_record(builder, split, process_index, process_count, channels)
    if path is None:
        return
    try:
        tmp = path.parent / f"{path.name}.tmp{os.getpid()}"
        tmp.write_text(json.dumps({"key": key, "bad": [int(r) for r in bad]}))
        tmp.rename(path)
    except OSError:
        pass


def tfds_source(
    builder,
    split: str,
    process_index: int = 0,
    process_count: int = 1,
    features=("image", "label"),
    optional=(),
    *,
    skip_bad: bool = False,
) -> Source:
    """This process's part (`tfds.split_for_jax_process`) of `split`, features read into memory;
    Image features stay encoded. `features` may name nested features as "makeup/lips"; `optional`
    features are read when the dataset has them.

    Every picture is decoded once (`undecodable_rows`): the first that does not decode is named (its
    index in the split, record file and record, file_name where the dataset has one) in a FacejaxError;
    with `skip_bad` such examples are left out and counted in one line."""
    name = builder.info.full_name
    if split not in builder.info.splits:
        raise FacejaxError(f"dataset {name} has no split {split!r}; it has {sorted(builder.info.splits)}")
    flat = flatten(builder.info.features)
    features = tuple(features) + tuple(f for f in optional if f in flat)
    for f in features:
        if f not in flat:
            raise FacejaxError(f"dataset {name} has no feature {f!r}; it has {sorted(flat)}")
    labelled = "label" in flat and isinstance(flat["label"], tfds.features.ClassLabel)
    if not labelled and "label" in features:  # unlabelled sets (celeba, helen): ask without "label"
        raise FacejaxError(f"dataset {name} has no ClassLabel feature 'label' (the domain); it has {sorted(flat)}")
    features = tuple(dict.fromkeys(("label",) * labelled + tuple(features)))
    images = tuple(f for f in features if isinstance(flat[f], tfds.features.Image))
    decoders = {f: tfds.decode.SkipDecoding() for f in images if "/" not in f}
    sub = tfds.split_for_jax_process(split, process_index=process_index, process_count=process_count)
    ds = builder.as_dataset(
        split=sub, shuffle_files=False, decoders=decoders, read_config=tfds.ReadConfig(add_tfds_id=True)
    )
    ds = ds.map(lambda ex: {**{f: flatten(ex)[f] for f in features}, TFDS_ID: ex[TFDS_ID]})
    cols = {f: [] for f in features + (TFDS_ID,)}
    try:
        for chunk in ds.batch(4096).as_numpy_iterator():
            for f in cols:
                cols[f].append(chunk[f])
    except tf.errors.OpError as e:  # a damaged record file (e.g. a failed CRC: DataLossError)
        raise FacejaxError(
            f"dataset {name} split {split!r} in {builder.data_dir} cannot be read: {type(e).__name__}: "
            f"{tf_message(e)} (a damaged record file: prepare the dataset again)"
        ) from None
    table = {f: np.concatenate(v) if v else np.zeros((0,), object) for f, v in cols.items()}
    ids = table.pop(TFDS_ID)
    n = len(table[features[0]])
    table["label"] = table["label"].astype(np.int64) if labelled else np.zeros((n,), np.int64)
    where = f"dataset {name} split {split!r}"
    # the encoded pictures (a nested Image feature comes decoded by TFDS: nothing to check)
    channels = {f: flat[f].shape[-1] or 3 for f in images if table[f].dtype == object}
    source = Source(
        table,
        list(flat["label"].names) if labelled else ["all"],
        from_files=False,
        image_features=images,
        name=f"{name} {split!r}",
    )
    bad = _checked_rows(builder, split, process_index, process_count, channels)
    if bad is None:
        bad = undecodable_rows(table, channels, what=where, tensors=source.tensors())
        _record_check(builder, split, process_index, process_count, channels, bad)
    if bad:
        locate = _record_locator(builder, split)

        def describe(row, of_where=True):
            index, file, record = locate(ids[row].decode())
            what = f"example {index}" if index is not None else "an example"
            what += f" of {where}" if of_where else ""
            at = f"record {record} of {file}" if record is not None else file
            named = table["file_name"][row] if "file_name" in table else None
            named = f", file_name {named.decode() if isinstance(named, bytes) else named}" if named is not None else ""
            return f"{what} ({at}{named}), {decode_error(table, channels, row)}"

        if not skip_bad:
            more = f" ({len(bad) - 1} more)" if len(bad) > 1 else ""
            raise FacejaxError(
                f"undecodable image: {describe(bad[0])}{more}; prepare the dataset again, or set "
                f"--config.data.skip_bad=true to leave undecodable examples out"
            )
        print(
            f"{where}: skipped {len(bad)} undecodable example(s) of {n} (config.data.skip_bad), first "
            f"{describe(bad[0], of_where=False)}",
            flush=True,
        )
        keep = np.ones(n, bool)
        keep[bad] = False
        return source.subset(keep)
    return source


def load_source(
    data, split: str, process_index: int = 0, process_count: int = 1, features=("image", "label"), optional=()
) -> Source:
    """The source named by `config.data` for `split` ("train" or the eval split); see tfds_source
    for `features` and `optional`."""
    if data.source == "tfds":
        name_split = data.train_split if split == "train" else data.eval_split
        builder = tfds_builder(data.name, data.config, data.data_dir)
        return tfds_source(
            builder,
            name_split,
            process_index,
            process_count,
            features,
            optional,
            skip_bad=bool(data.get("skip_bad", False)),
        )
    if data.source == "folder":
        extra = [f for f in features if f not in ("image", "label")]
        if extra:
            raise FacejaxError(
                f"config.data.source='folder' holds images and labels only; features "
                f"{extra} need a TFDS dataset (config.data.source='tfds')"
            )
        root = data.train_dir if split == "train" else (data.eval_dir or data.train_dir)
        # the field the user set: an empty eval_dir falls back to train_dir, and errors then name train_dir
        field = "config.data.eval_dir" if split != "train" and data.eval_dir else "config.data.train_dir"
        if not root:
            raise FacejaxError(
                f"{field} is empty: point it at the {data.name} images in the <dir>/<domain>/<image> "
                f"layout (e.g. data/{data.name}/train from StarGAN v2's download.sh)"
            )
        return folder_source(
            root,
            process_index,
            process_count,
            what=field,
            cache=bool(data.cache),
            skip_bad=bool(data.get("skip_bad", False)),
        )
    raise FacejaxError(f"config.data.source={data.source!r}; expected 'tfds' or 'folder'")


def read_image(path: str, size: int) -> "np.ndarray":
    """One image file -> float32 (size, size, 3) in [-1, 1]: torchvision's Resize([size, size]) (PIL's bilinear),
    ToTensor, Normalize(0.5, 0.5) (facejax.images); a FacejaxError names the file when it cannot be read. A family
    reads user images with its own recipe (facejax/families/<name>/preprocess.py)."""
    from facejax import images

    return images.read(path, images.Recipe((size, size)))


def image_input(image, size: int, resample=Image.BILINEAR) -> "np.ndarray":
    """A uint8 RGB image (array (H, W, 3) or PIL image) -> float32 (size, size, 3) in [-1, 1], resized as
    read_image resizes a file (the array form of `facejax sample --src`; facejax.api)."""
    from facejax import images

    name = {v: k for k, v in images.PIL_FILTERS.items() if k != "antialias"}[resample]
    return images.prepare(image, images.Recipe((size, size), filter=name))
