"""What every configs/<family>.py shares: the trainer's fields with their defaults, and the preset parser.

    from facejax.train import config as trainer_config

    def _base():
        c = trainer_config.defaults("beautygan", seed=0, img_size=256, batch_size=1, total_steps=740_700)
        c.model = ConfigDict(); ...            # the family's own fields
        return c

    PRESETS = {"mt": "the original's settings on MT", "synthetic": "32 px on synthetic_faces: CPU minutes"}

    def get_config(preset="synthetic"):
        return trainer_config.select(preset, {"mt": _mt, "synthetic": _synthetic}, base=_base,
                                     file="configs/beautygan.py", descriptions=PRESETS)

A config file's `PRESETS` ({preset: one line}) is what `facejax presets` lists; `select` checks that it names every
preset and row the file builds.

`check(config)` validates these fields (registry.create calls it, so every command does); the family validates
its own fields in its constructor.
"""

from __future__ import annotations

from collections.abc import Callable

from ml_collections import ConfigDict

from facejax.errors import FacejaxError


def defaults(
    family: str, *, seed: int = 0, img_size: int = 256, batch_size: int = 8, total_steps: int = 100_000, **overrides
) -> ConfigDict:
    """A ConfigDict with `family` and every field the shared trainer, input and tools read, at their defaults.
    `overrides` set top-level fields (e.g. log_every=50)."""
    c = ConfigDict()
    c.family = family
    c.preset = ""
    c.seed = seed
    c.img_size = img_size
    c.batch_size = batch_size  # the global batch, split over every device of every process
    # Gradient accumulation (facejax/train/accum.py): each step reads grad_accum * batch_size examples and every
    # update's gradient is the mean over grad_accum micro-batches of batch_size, computed one after the other, so
    # batch_size=B, grad_accum=k trains as batch_size=k*B (same steps and schedules) with one micro-batch's
    # activation memory. BatchNorm with batch statistics (AesGAN's parsing net, Beholder-GAN's predictor, IPM-Net's
    # identity net once it trains its BN) normalises each micro-batch by its own statistics: close, not equal.
    c.grad_accum = 1
    c.total_steps = total_steps
    # Compute dtype ("float32" or "bfloat16"); parameters and optimizer state stay float32.
    c.dtype = "float32"
    # Kernel paths (facejax/nn/kernels.py): auto = CPU-tuned kernels on a CPU backend, XLA's own elsewhere.
    c.kernels = "auto"
    # Parameter sharding (facejax/train/mesh.py): 1 = replicated; > 1 splits large leaves over an `fsdp` axis.
    c.fsdp = 1
    c.fsdp_min_size = 2**14

    c.data = ConfigDict()
    # "tfds": a TFDS builder (name/config); "folder": the original's layout under train_dir / eval_dir.
    c.data.source = "tfds"
    c.data.name = "synthetic_faces"
    c.data.config = ""
    c.data.data_dir = ""  # TFDS data_dir; empty = TFDS default (~/tensorflow_datasets)
    c.data.train_split = "train"
    c.data.eval_split = "test"
    c.data.train_dir = ""  # for source="folder"
    c.data.eval_dir = ""
    c.data.cache = True  # folder source: read the images into memory once (True) or per example
    # Image resizing in the input pipelines of the families whose originals resize with PIL (StarGAN v2, BeautyGAN,
    # IPM-Net: torchvision's Resize on PIL images): "pil" (PIL's bilinear itself, the originals' pixels; run on the
    # host in tf.data) or "tf" (TF's antialiased bilinear rounded to 8 bits: within one level of PIL, faster).
    c.data.resize = "pil"
    c.data.skip_bad = False  # folder and TFDS data: leave images that do not decode out (counted) instead of stopping
    c.data.prefetch_to_device = 2  # global batches formed ahead of the step (0: none)
    # False: every process holds the whole (encoded) split and takes its rows of one global stream, so a
    # run's batches do not depend on the number of processes. True: each process holds 1/N of the examples.
    c.data.split_over_processes = False

    c.log_every = 50
    c.sample_every = 1000  # 0 = no sample grids
    c.checkpoint_every = 1000
    c.keep_checkpoints = 3
    c.num_sample_images = 8
    c.eval_every = 0  # 0 = no evaluation during training
    # Weights & Biases beside TensorBoard (facejax/train/tracking.py; `pip install facejax[tracking]`):
    # wandb = "" (off), "offline" (a run folder under <workdir>/wandb, `wandb sync` later) or "online".
    c.log = ConfigDict()
    c.log.wandb = ""
    c.log.wandb_project = "facejax"
    c.log.wandb_name = ""  # empty: the workdir's folder name
    # "A,B": a jax.profiler trace of steps A..B (1-based, inclusive; "A": one step) into <workdir>/profile, for
    # TensorBoard's profile plugin; "" = off.
    c.profile_steps = ""
    # A non-finite loss or parameter: "stop" (exit 2 at the last good checkpoint), "skip_batch" or
    # "lower_lr" (roll back and continue, at most nonfinite_retries times); README "When things go wrong".
    c.nonfinite = "stop"
    c.nonfinite_retries = 3
    c.nonfinite_lr_factor = 0.1
    # Runs a family needs trained first (base.HasPrerequisites: frozen aesthetic / parsing networks). train=True
    # (the synthetic presets): `facejax train` trains each missing one into <workdir>/prereq/<name> first, resuming
    # it and skipping it once finished; False: a missing one stops with the commands that train it.
    # total_steps > 0 replaces each prerequisite's own (quick runs, tests). dir: a folder several runs share their
    # prerequisites in (<dir>/<name>-<digest of its config>; launch/sweep.py sets it), "" = each run's own.
    c.prerequisites = ConfigDict()
    c.prerequisites.train = False
    c.prerequisites.total_steps = 0
    c.prerequisites.dir = ""
    for key, value in overrides.items():
        c[key] = value
    return c


Preset = Callable[[ConfigDict], ConfigDict]


def select(
    preset: str | None,
    presets: dict[str, Preset],
    *,
    base: Callable[[], ConfigDict],
    file: str,
    default: str = "synthetic",
    modifiers: dict[str, Preset] | None = None,
    modifier_base: str | None = None,
    descriptions: dict[str, str] | None = None,
) -> ConfigDict:
    """The config of `preset`: base() changed by presets[name].

    With `modifiers` (StarGAN v2's Table 1 rows), `preset` may be "NAME,MODIFIER" (either order): the preset,
    then the modifier on top; a modifier alone applies to `modifier_base`. An unknown or repeated name is a
    ValueError naming `file` and the known presets (ml_collections reports it as the flag's error).
    `descriptions` (the file's PRESETS table, {name: one line}) must name every preset and modifier, no more.
    """
    modifiers = modifiers or {}
    if descriptions is not None and set(descriptions) != {*presets, *modifiers}:
        built, described = {*presets, *modifiers}, set(descriptions)
        raise ValueError(
            f"{file}: PRESETS describes {sorted(described - built)} that get_config does not build "
            f"and misses {sorted(built - described)}"
        )
    names = [p.strip() for p in (preset or default).split(",") if p.strip()] or [default]
    mods = [n for n in names if n in modifiers]
    scales = [n for n in names if n not in modifiers]
    for n in scales:
        if n not in presets:
            known = ", ".join([*presets, *modifiers])
            combine = (
                f" (a row of {', '.join(modifiers)} may be combined with a preset, e.g. "
                f"'{next(iter(modifiers))},{default}')"
                if modifiers
                else ""
            )
            raise ValueError(f"unknown preset {n!r} for {file}; expected one of {known}{combine}")
    if len(scales) > 1 or len(mods) > 1:
        raise ValueError(
            f"preset {preset!r} for {file}: give at most one preset" + (" and one row" if modifiers else "")
        )
    scale = scales[0] if scales else (modifier_base or default)
    c = presets[scale](base())
    if mods:
        c = modifiers[mods[0]](c)
    c.preset = ",".join(names)
    return c


KERNELS = ("auto", "native", "cpu_tuned")  # facejax/nn/kernels.py CHOICES


def check(config) -> None:
    """The trainer's own fields in range, and the learning rates (`lr`, `*_lr`, `lr_overrides`, > 0) and loss
    weights (`lambda_*`, `*_w`, >= 0) every family names alike; one line naming the field otherwise. A field the
    config lacks is not checked (a family's auxiliary configs carry only some)."""
    from facejax.families import base
    from facejax.train import finite

    def need(name, ok, expected):
        if name in config and not ok(config[name]):
            raise FacejaxError(f"config.{name}={config[name]!r}: expected {expected}")

    def number(v):
        return isinstance(v, (int, float)) and not isinstance(v, bool)

    def integer(v):
        return isinstance(v, int) and not isinstance(v, bool)

    for name in ("total_steps", "batch_size", "grad_accum", "log_every", "checkpoint_every", "keep_checkpoints"):
        need(name, lambda v: integer(v) and v >= 1, "an integer >= 1")
    for name in ("sample_every", "eval_every", "num_sample_images"):
        need(name, lambda v: integer(v) and v >= 0, "an integer >= 0")
    need("dtype", lambda v: v in base.DTYPES, f"one of {', '.join(sorted(base.DTYPES))}")
    need(
        "kernels",
        lambda v: v in KERNELS,
        f"one of {', '.join(repr(k) for k in KERNELS)} (auto: cpu_tuned on a CPU backend, native on GPU/TPU)",
    )
    for name, value in config.items():
        if finite.is_lr_field(name):
            need(name, lambda v: number(v) and v > 0, "a learning rate > 0")
        elif name == "lr_overrides" and hasattr(value, "items"):
            for k, v in value.items():
                if not (number(v) and v > 0):
                    raise FacejaxError(f"config.lr_overrides[{k!r}]={v!r}: expected a learning rate > 0")
        elif name.startswith("lambda_") or name.endswith("_w"):
            need(name, lambda v: not number(v) or v >= 0, "a loss weight >= 0")
    if "log" in config and "wandb" in config.log:
        wandb_mode = config.log.wandb
        if wandb_mode not in WANDB_MODES:
            raise FacejaxError(
                f"config.log.wandb={wandb_mode!r}: expected one of {', '.join(repr(m) for m in WANDB_MODES)} ('' = off)"
            )
    if "data" in config and "resize" in config.data and config.data.resize not in ("pil", "tf"):
        raise FacejaxError(
            f"config.data.resize={config.data.resize!r}: expected 'pil' (PIL's bilinear, the originals') or 'tf'"
        )
    if "profile_steps" in config:
        profile_range(config)
    if "prerequisites" in config:
        p = config.prerequisites
        if not isinstance(p.get("train"), bool):
            raise FacejaxError(f"config.prerequisites.train={p.get('train')!r}: expected True or False")
        if not (integer(p.get("total_steps")) and p.total_steps >= 0):
            raise FacejaxError(
                f"config.prerequisites.total_steps={p.get('total_steps')!r}: expected an integer >= 0 "
                "(0 = each prerequisite's own)"
            )
    finite.check_policy(config)


WANDB_MODES = ("", "offline", "online")


def profile_range(config) -> tuple[int, int] | None:
    """(first, last) step of config.profile_steps ("A,B", 1 <= A <= B), or None when it is ""."""
    value = config.get("profile_steps", "")
    if value in ("", None):
        return None
    try:
        parts = [int(v) for v in str(value).split(",")]
        first, last = (parts[0], parts[0]) if len(parts) == 1 else parts
    except ValueError:
        first, last = 0, -1
    if not 1 <= first <= last:
        raise FacejaxError(
            f"config.profile_steps={value!r}: expected 'A,B' with 1 <= A <= B (steps A..B traced into "
            f"<workdir>/profile; 'A' for one step), or '' for no trace"
        )
    return first, last
