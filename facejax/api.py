"""facejax from Python (notebooks, scripts): load a trained run or an original's checkpoint, sample and translate
images, get numpy arrays back.

    from facejax import api

    # A run trained with `facejax train` (its newest checkpoint, or step=N); overrides as on the command line.
    model = api.load("stargan_v2:afhq", "runs/afhq")
    grids = model.sample_grids()                 # {"latent": uint8 (H, W, 3), "reference": ...}

    # Every source with every reference's style (StarGAN v2 also needs each reference's domain).
    out = model.translate(["cat.jpg", "dog.jpg"], ref=["wild.jpg"], ref_domains=2)
    out.shape                                    # (2, 1, 256, 256, 3) uint8: out[i, j] = src i in ref j's style

    # The original repository's files, without writing a checkpoint (workdir= writes one).
    model = api.import_original("stargan_v2:afhq", "expr/checkpoints/afhq/100000_nets_ema.ckpt")

    # Other families: what src / ref / mask mean is what `facejax sample --src/--ref/--mask` takes.
    gfc = api.load("gfc:celeba", "runs/gfc")
    filled = gfc.translate(faces, mask="eyes")   # (N, 128, 128, 3): each face completed in the hole

Images (src, ref) are file paths, PIL images, uint8 arrays (H, W, 3) or (N, H, W, 3), or lists of these; float
arrays are read as facejax's [-1, 1] images. Each is scaled and resized as the family's `facejax sample` reads
a file, so `translate` returns exactly the images `facejax sample --src [--ref]` writes as PNGs. What a family
returns and the keyword inputs it needs beyond images (StarGAN v2's ref_domains, IPM-Net's parsing maps,
AesGAN's eye positions, BeautyGAN's direction) are in its `translate_arrays` docstring
(`help(model.family.translate_arrays)`); the capability is `TranslatesArrays` in facejax/families/base.py.
"""

from __future__ import annotations

import copy
import dataclasses
import inspect
import os
from typing import Any

import numpy as np

from facejax.errors import FacejaxError

__all__ = ["Model", "config", "import_original", "load"]


def config(config_or_spec, **overrides):
    """A ConfigDict from "family:preset" (configs/<family>.py), "path/to/config.py[:preset]", or a ConfigDict
    (copied), with dotted overrides: config("stargan_v2:synthetic", **{"model.dim_in": 16}, batch_size=4)."""
    from facejax import configs

    if isinstance(config_or_spec, str):
        path, _, preset = config_or_spec.rpartition(":") if ":" in config_or_spec else (config_or_spec, "", "")
        if path.endswith(".py"):
            return configs.load_file(path, preset, **overrides)
        return configs.load(config_or_spec, **overrides)
    if not hasattr(config_or_spec, "to_dict"):
        raise FacejaxError(
            f"config {config_or_spec!r}: expected 'family:preset', a config file 'path.py:preset' or a ConfigDict"
        )
    cfg = copy.deepcopy(config_or_spec)
    for key, value in overrides.items():
        configs.override(cfg, key, value)
    return cfg


@dataclasses.dataclass
class Model:
    """A family and a train state (restored or imported), ready to sample.

    config: the ConfigDict; family: the family object (facejax/families/base.py); state: the TrainState; step: the
    checkpoint's step; workdir: the run it came from (None for an import not written); read / notes: the files an
    import read and what it noted."""

    config: Any
    family: Any
    state: Any
    step: int
    workdir: str | None = None
    read: dict = dataclasses.field(default_factory=dict)
    notes: list = dataclasses.field(default_factory=list)

    def sample_grids(self, n: int | None = None) -> dict[str, np.ndarray]:
        """{grid name: uint8 (H, W, 3)}: the pictures `facejax sample` writes, of n images (default
        config.num_sample_images)."""
        n = int(self.config.num_sample_images if n is None else n)
        return {k: np.asarray(v) for k, v in self.family.sample_grids(self.state, self.family.sample_inputs(n)).items()}

    def translate(self, src, ref=None, mask=None, **extra) -> np.ndarray:
        """The model on your images: uint8 arrays, the same pixels `facejax sample --src [--ref] [--mask]` writes.

        src, ref: images (module docstring). mask: what the family's --mask takes (GFC: a mask type, an image
        file, or an array with 1 = the hole). extra: the family's keyword inputs (lists of files are read as
        arrays). The shape is the family's: (len(src), len(ref), S, S, 3) where every source meets every
        reference, (len(src), S, S, 3) for one result per source, (len(src), K, S, S, 3) for K variants."""
        from facejax.families import base

        family = base.require(self.family, base.TranslatesArrays, hint="Model.sample_grids() gives its pictures")
        params = inspect.signature(family.translate_arrays).parameters
        if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
            known = [k for k, p in params.items() if p.kind is inspect.Parameter.KEYWORD_ONLY]
            unknown = sorted(set(extra) - set(known))
            if unknown:
                raise FacejaxError(
                    f"family {family.name!r} takes no {', '.join(unknown)} in translate "
                    f"(its keyword inputs: {', '.join(known) or 'none'})"
                )
        out = family.translate_arrays(
            self.state,
            _images(src, "src"),
            None if ref is None else _images(ref, "ref"),
            _mask(mask),
            **{k: _files_as_arrays(v) for k, v in extra.items()},
        )
        return np.asarray(out)


def load(config_or_spec, workdir: str, step: int | None = None, **overrides) -> Model:
    """The run in `workdir` at its newest checkpoint (or `step`), for any family.

    config_or_spec: "family:preset", "path/to/config.py:preset" or a ConfigDict; overrides: dotted fields
    (**{"model.dim_in": 16}), as --config.X=Y. The checkpoint must fit the config (architecture fields)."""
    from facejax.train import trainer

    cfg = config(config_or_spec, **overrides)
    run = trainer.Run(cfg, str(workdir))
    try:
        steps = run.checkpointer.all_steps()
        if not steps:
            raise FacejaxError(
                f"{workdir} has no checkpoint (expected {run.checkpointer.directory}/<step>/); train first "
                f"or point workdir at a run"
            )
        if step is None or int(step) == steps[-1]:
            state = run.restore_state()
        else:
            if int(step) not in steps:
                raise FacejaxError(
                    f"{workdir} has no checkpoint of step {step}; it has steps {', '.join(map(str, steps))}"
                )
            run.checkpointer.check_fits(int(step), cfg.to_dict(), run.family.architecture_fields)
            state = run.checkpointer.restore(int(step), run.abstract_state)
    finally:
        run.checkpointer.close()
    return Model(cfg, run.family, state, int(state.step), str(workdir))


def import_original(config_or_spec, path: str, step: int | None = None, workdir: str | None = None, **overrides):
    """The original repository's checkpoint files at `path` (a folder or one file, as `facejax import --from`)
    read through the family's TorchInterop / ImportsOwnFiles, as a Model. Nothing is written unless `workdir`
    is given: then <workdir>/checkpoints/<step> is saved, from which `facejax train` resumes."""
    from facejax.export import importer

    cfg = config(config_or_spec, **overrides)
    if workdir is not None:
        importer.check_new_workdir(str(workdir))
    family, step, state, paths, notes = importer.read_original(cfg, str(path), step)
    if workdir is not None:
        importer.write_checkpoint(cfg, str(workdir), step, state)
    return Model(cfg, family, state, int(step), None if workdir is None else str(workdir), dict(paths), list(notes))


# ------------------------------------------------------------------------------------------------ inputs


def _is_file(x) -> bool:
    return isinstance(x, (str, os.PathLike))


def _rgb(item, what: str) -> np.ndarray:
    from PIL import Image

    from facejax import images

    if _is_file(item):
        try:
            with Image.open(item) as im:
                return np.asarray(im.convert("RGB"))
        except Exception as e:
            raise FacejaxError(
                f"{what}: unreadable image {item}: {type(e).__name__}: {e} (expected a PNG or JPEG image)"
            ) from None
    if isinstance(item, Image.Image):
        return np.asarray(item.convert("RGB"))
    arr = np.asarray(item)
    if arr.ndim != 3 or arr.shape[-1] != 3:
        raise FacejaxError(f"{what}: an image of shape {arr.shape}; expected (H, W, 3) RGB")
    if arr.dtype == np.uint8:
        return arr
    if np.issubdtype(arr.dtype, np.floating):
        return images.to_uint8(arr)  # facejax's [-1, 1] convention
    raise FacejaxError(f"{what}: an image of dtype {arr.dtype}; expected uint8 (0..255) or float in [-1, 1]")


def _images(x, what: str) -> list[np.ndarray]:
    """Paths, PIL images or arrays (one image or a batch) -> a list of uint8 (H, W, 3) arrays."""
    from PIL import Image

    if _is_file(x) or isinstance(x, Image.Image):
        x = [x]
    elif not isinstance(x, (list, tuple)):
        arr = np.asarray(x)
        x = [arr] if arr.ndim == 3 else list(arr) if arr.ndim == 4 else None
        if x is None:
            raise FacejaxError(f"{what}: an array of shape {arr.shape}; expected (H, W, 3) or (N, H, W, 3) images")
    if not len(x):
        raise FacejaxError(f"{what}: no images given")
    return [_rgb(item, f"{what}[{i}]") for i, item in enumerate(x)]


def _mask(mask):
    """A PIL mask image -> float (H, W, 1), 1 where brighter than mid-grey (the hole); anything else unchanged."""
    from PIL import Image

    if isinstance(mask, Image.Image):
        return (np.asarray(mask.convert("L")) > 127).astype(np.float32)[..., None]
    return str(mask) if isinstance(mask, os.PathLike) else mask


def _files_as_arrays(value):
    """Keyword inputs given as files (IPM-Net's parsing maps) -> arrays of their pixels as stored."""
    from PIL import Image

    if isinstance(value, (list, tuple)) and value and all(_is_file(v) or isinstance(v, Image.Image) for v in value):
        out = []
        for v in value:
            if isinstance(v, Image.Image):
                out.append(np.asarray(v))
                continue
            with Image.open(v) as im:
                out.append(np.asarray(im))
        return out
    return value
