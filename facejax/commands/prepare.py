"""facejax prepare NAME[/CONFIG] --manual_dir=DIR [--data_dir=DIR] [--skip_bad] [--json]

Builds one of facejax's TFDS datasets (`facejax.datasets.BUILDERS`) into --data_dir (TFDS's default,
~/tensorflow_datasets, when not given). Datasets read from a manual download need --manual_dir, the folder
laid out as the dataset's README.md says; `synthetic_faces` needs none. A wrong folder, an unreadable
image (named; --skip_bad skips and counts such files instead) or an unknown NAME/CONFIG is one line on
stderr and exit status 2. --json prints {"name": "NAME/CONFIG", "splits": {"train": N, ...},
"skipped": N, "data_dir": DIR} as the last line of stdout.
"""

import contextlib
import json
import os
import sys

from absl import flags

from facejax.commands import common
from facejax.errors import FacejaxError

HELP = "build a TFDS dataset from its manual download (NAME[/CONFIG] --manual_dir=DIR [--data_dir=DIR])"
NEEDS_CONFIG = False

MANUAL_DIR = flags.DEFINE_string("manual_dir", None, "prepare: folder holding the manually downloaded dataset")
DATA_DIR = flags.DEFINE_string("data_dir", None, "prepare: TFDS data_dir to build into (default: TFDS's)")
SKIP_BAD = flags.DEFINE_bool("skip_bad", False, "prepare: skip and count unreadable images instead of stopping")
SOURCE = common.flag(flags.DEFINE_string, "source", None,
                     "prepare beauty_labels: the TFDS dataset NAME[/CONFIG] to label (e.g. celeba_hq/256)")


def resolve(spec: str):
    """NAME or NAME/CONFIG -> (builder class, config name or None); FacejaxError naming the known ones."""
    from facejax.datasets import BUILDERS

    name, _, config = spec.partition("/")
    if name not in BUILDERS:
        raise FacejaxError(f"unknown dataset {name!r}; known: {', '.join(sorted(BUILDERS))}")
    cls = BUILDERS[name]
    if config and config not in cls.builder_configs:
        raise FacejaxError(f"unknown config {config!r} of {name}; known: {', '.join(cls.builder_configs)}")
    return cls, config or None


def prepare(spec: str, *, manual_dir=None, data_dir=None, skip_bad=False) -> dict:
    """Builds the dataset; returns {"name", "splits", "skipped", "skipped_files", "data_dir", "built"}."""
    import tensorflow_datasets as tfds

    from facejax.datasets._manual import ManualBuilder

    cls, config = resolve(spec)
    manual = issubclass(cls, ManualBuilder)
    if manual and not manual_dir:
        raise FacejaxError(f"--manual_dir is required for {cls.name}; expected {cls.LAYOUT}")
    if manual_dir and not manual:
        raise FacejaxError(f"{cls.name} is generated, not read from a download: drop --manual_dir")
    if manual_dir and not os.path.isdir(manual_dir):
        raise FacejaxError(f"--manual_dir {manual_dir} is not a folder; expected {cls.LAYOUT}")
    kwargs = {"skip_bad": skip_bad} if manual else {}
    builder = tfds.builder(cls.name, config=config, data_dir=data_dir or None, **kwargs)
    # (builder.is_prepared() would log a warning about the not-yet-built folder)
    built = not os.path.isfile(os.path.join(os.fspath(builder.data_dir), "dataset_info.json"))
    download_config = tfds.download.DownloadConfig(
        manual_dir=os.path.abspath(manual_dir) if manual_dir else None)
    try:
        with contextlib.redirect_stdout(sys.stderr):  # TFDS prints its progress on stdout
            builder.download_and_prepare(download_config=download_config)
    except PermissionError as e:
        raise FacejaxError(f"cannot write the dataset to {builder.data_dir}: {e.strerror or e} "
                           f"({e.filename or ''}); choose a writable --data_dir") from None
    skipped = list(getattr(builder, "skipped", []))
    return {
        "name": f"{builder.name}/{builder.builder_config.name}",
        "splits": {split: info.num_examples for split, info in builder.info.splits.items()},
        "skipped": len(skipped),
        "skipped_files": skipped,
        "data_dir": os.fspath(builder.data_dir),
        "built": built,
    }


def prepare_ipmnet_maps(manual_dir, out) -> dict:
    """`facejax prepare ipmnet_maps --manual_dir=DIR --out=OUT`: IPM-Net's mask and texture files for DIR/images
    with their MT parsing maps DIR/segs (facejax/families/ipmnet/preprocess.py write_maps)."""
    from facejax.families.ipmnet import preprocess

    if not manual_dir or not os.path.isdir(os.path.join(manual_dir, "images")):
        raise FacejaxError(f"ipmnet_maps: --manual_dir {manual_dir!r} must hold images/ and segs/ (MT parsing maps "
                           f"of the same names)")
    if not out:
        raise FacejaxError("ipmnet_maps: --out is required (it gets images/, mask/, highcontract/)")
    return preprocess.write_maps(os.path.join(manual_dir, "images"), os.path.join(manual_dir, "segs"), out)


def prepare_beauty_labels(config, workdir, source, out, data_dir) -> dict:
    """`facejax prepare beauty_labels --config=configs/beholder.py:scut_fbp5500 --workdir=RUN --source=NAME[/CONFIG]
    --out=NAME`: Beholder-GAN's semi-supervised step, the predictor of RUN labels every image of --source
    (facejax/families/beholder/labels.py); the GAN trains on the TFDS dataset beauty_labels/NAME."""
    from facejax.families.beholder import labels

    return labels.prepare(config, workdir, source, out, data_dir)


def main(config, args):
    if len(args) == 1 and args[0] == "beauty_labels":
        result = prepare_beauty_labels(config, common.WORKDIR.value, SOURCE.value, common.OUT.value, DATA_DIR.value)
        print(json.dumps(result) if common.JSON.value else f"{result['name']} prepared in {result['path']}: "
              + ", ".join(f"{k} {v}" for k, v in result["splits"].items()))
        return
    del config
    if len(args) == 1 and args[0] == "ipmnet_maps":
        result = prepare_ipmnet_maps(MANUAL_DIR.value, common.OUT.value)
        print(json.dumps(result) if common.JSON.value else f"wrote {result['images']} image(s) with mask/ and "
              f"highcontract/ into {result['out']}")
        return
    if len(args) != 1:
        from facejax.datasets import BUILDERS

        got = f"got {' '.join(args)!r}" if args else "got none"
        raise FacejaxError(f"give one dataset as NAME or NAME/CONFIG ({got}); known: {', '.join(sorted(BUILDERS))}")
    if common.JSON.value or not sys.stderr.isatty():
        import tensorflow_datasets as tfds

        tfds.disable_progress_bar()
    result = prepare(args[0], manual_dir=MANUAL_DIR.value, data_dir=DATA_DIR.value, skip_bad=SKIP_BAD.value)
    if common.JSON.value:
        print(json.dumps({k: result[k] for k in ("name", "splits", "skipped", "data_dir")}))
        return
    splits = ", ".join(f"{k} {v}" for k, v in result["splits"].items())
    state = "prepared" if result["built"] else "already prepared (delete the folder to rebuild)"
    print(f"{result['name']} {state} in {result['data_dir']}: {splits}")
    if result["skipped"]:
        print(f"skipped {result['skipped']} unusable file(s):")
        for line in result["skipped_files"]:
            print(f"  {line}")
