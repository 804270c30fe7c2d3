"""The family contract: everything facejax's trainer, commands and tools ask of a family.

A family is one folder, facejax/families/<name>/, a config file configs/<name>.py and one line in
facejax/registry.py (or, out of tree, in the FACEJAX_FAMILIES environment variable). Its class
subclasses `Family` (the core every family implements) and, for each optional capability, provides the
members of that capability's protocol below. Callers ask with `isinstance(family, Capability)` or
`require(family, Capability)`; a family without a capability gets one line naming both. This module is
the only place that probes a family for members.

Core (`Family`)                       every command needs it
  init, train_step, train_dataset, param_counts, sample_inputs, sample_grids, bench_batch
Capabilities (runtime-checkable protocols)
  Phased              the iteration changes over a run (loss stages, growing resolutions)
  LoadsPretrained     frozen networks read from files when a run starts from scratch
  TrainingFiles       frozen networks only training reads: import and sample go without them
  SamplesFolders      `facejax sample --src [--ref|--mask]` on the user's own folders
  TranslatesArrays    the same on arrays in memory (facejax.api Model.translate, notebooks)
  Evaluates           `facejax eval` / `config.eval_every`: the paper's protocol and headline metrics
  TorchInterop        `facejax export` / `import`: the original repository's PyTorch files
  ImportsOwnFiles     import reads files the original names its own way (not <step>_nets*.ckpt)
  TorchBaseline       `facejax bench --against=torch`: the same iteration in PyTorch eager mode
  Prepares            `facejax prepare <step>`: preprocessing steps beyond building a TFDS dataset
  Sweeps              `launch/sweep.py`: the paper's ablation rows and the files evaluation reads
  HasPrerequisites    runs to train first (frozen networks read from their checkpoints), trained by
                      `facejax train` into <workdir>/prereq/<name> with config.prerequisites.train

The train state (facejax/train/state.py TrainState) is the same pytree for every family: `params` and
`opt_state` of the trained networks, `ema` of the ones with an exponential moving average (empty when the
original keeps none), `frozen` for networks no optimizer touches (pretrained FAN, identity, VGG, parsing,
aesthetic networks).
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Callable, Hashable
from typing import Any, ClassVar, Protocol, runtime_checkable

import jax.numpy as jnp
import numpy as np

from facejax.errors import FacejaxError

# Compute dtypes a config may name (`config.dtype`); parameters and optimizer states stay float32.
DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}


def compute_dtype(config, field: str = "dtype"):
    """The jnp dtype of config.<field>; one line naming the field otherwise."""
    value = config[field]
    if value not in DTYPES:
        raise FacejaxError(f"config.{field}={value!r}: expected one of {', '.join(sorted(DTYPES))}")
    return DTYPES[value]


class Family(abc.ABC):
    """The core of a family: a small object the shared trainer drives. It never owns a loop.

    Construct it with a config (`Family(config)`); the constructor validates the family's own fields
    (facejax/train/config.py check validates the trainer's) and raises FacejaxError naming the
    field and what was expected.

    Class attributes:
      name                 the registry name, equal to config.family.
      architecture_fields  dotted config fields a checkpoint must agree on to be restored.
      description          one line for `facejax presets` and error messages.
    """

    name: ClassVar[str]
    architecture_fields: ClassVar[tuple[str, ...]]
    description: ClassVar[str] = ""

    config: Any

    @abc.abstractmethod
    def init(self, root_key_data) -> Any:
        """A fresh train state.

        Args:
          root_key_data: uint32 key data of the run's root key (state.root_key_data(seed)).
        Returns:
          TrainState. Pure: the trainer jits it with the state's shardings (out_shardings).
        """

    @abc.abstractmethod
    def train_step(self, state, batch) -> tuple[Any, dict]:
        """One training iteration.

        Args:
          state: TrainState.
          batch: a global batch, a dict of arrays shaped as train_dataset's elements (split over the
            `data` axis). A `Phased` family also takes `phase=` (static).
        Returns:
          (new TrainState with step + 1, {metric name: scalar}). Pure; jitted once per phase with the input
          state donated.
        """

    @abc.abstractmethod
    def train_dataset(self, local_batch: int, process_index: int, process_count: int, start_batch: int = 0):
        """This process's training batches.

        Args:
          local_batch: rows of each global batch this process feeds.
          process_index, process_count: this process among all (jax.process_index(), jax.process_count()).
          start_batch: the position to continue from (batches already trained).
        Returns:
          tf.data.Dataset of dicts of local batches from `start_batch` on, a pure function of (config.seed,
          position) so that resuming continues exactly (facejax/input/streams.py).
        """

    @abc.abstractmethod
    def param_counts(self) -> dict[str, int]:
        """{network name: number of parameters} of the trained networks (`facejax params`)."""

    @abc.abstractmethod
    def sample_inputs(self, n: int) -> dict:
        """A fixed batch for the periodic sample grids.

        Args:
          n: config.num_sample_images, the number of rows or images a grid shows.
        Returns:
          dict of numpy arrays, the same at every call (read from the evaluation data or drawn from
          config.seed).
        """

    @abc.abstractmethod
    def sample_grids(self, state, inputs: dict) -> dict[str, np.ndarray]:
        """Pictures of the current model.

        Args:
          state: TrainState (the EMA weights where the family keeps them).
          inputs: sample_inputs(n).
        Returns:
          {grid name: uint8 [H, W, 3] image}; written as <step>_<name>.png.
        """

    @abc.abstractmethod
    def bench_batch(self, batch_size: int, seed: int = 0) -> dict:
        """A batch of random numpy arrays shaped and typed like train_dataset's (`facejax bench`)."""


# ------------------------------------------------------------------------------------ capabilities


@runtime_checkable
class Phased(Protocol):
    """The iteration changes over a run. `train_step(state, batch, phase=...)` compiles once per phase."""

    def phase(self, step: int) -> Hashable:
        """The phase of step number `step` (1-based); equal phases share one compiled step."""


@runtime_checkable
class AccumulatesGradients(Protocol):
    """`train_step` honours config.grad_accum = k (facejax/train/accum.py): the step's batch holds k micro-batches
    of config.batch_size and every update's gradient is their mean, as one batch k times larger would give."""

    accumulates_gradients: bool


@runtime_checkable
class LoadsPretrained(Protocol):
    """Frozen networks read from the files the config names (FAN, VGG, identity, parsing, aesthetic nets)."""

    def load_pretrained(self, state):
        """The state with state.frozen (and any pretrained initialisation) read from files.

        Called once, outside jit, for a run that starts from scratch (not on resume, not on import). A
        missing file is a FacejaxError naming the config field, the file and where it comes from.
        """


@dataclasses.dataclass(frozen=True)
class TrainingFile:
    """A frozen network that only training reads (VGG, identity, parsing, aesthetic weights).

    field: the config field naming its file (without "config."), e.g. "vgg_weights".
    load: load() -> the network's params (pure dict); a missing or wrong file is one FacejaxError naming `field`.
    """

    field: str
    load: Callable[[], Any]


@runtime_checkable
class TrainingFiles(Protocol):
    """Frozen networks only training reads. `facejax import` and `facejax sample` go without them: an imported state
    holds zeros in their place (as `init` does), and the trainer reads each file when training starts from such a
    state (`fill_training_files`), so a missing file is one line naming the config field, then, not at import."""

    def training_files(self) -> dict[str, TrainingFile]:
        """{state.frozen key: TrainingFile} of the networks this config's training reads from files (none: {})."""


def _any_nonzero(tree):
    import jax

    return jnp.any(jnp.stack([jnp.any(a != 0) for a in jax.tree.leaves(tree)]))


def placeholder(tree) -> bool:
    """Whether a frozen network's params are the zeros `init` leaves where a file's weights go (never loaded). One
    jitted reduction to a replicated scalar, so it reads no sharded array back (several processes)."""
    import jax

    if not jax.tree.leaves(tree):
        return False
    return not bool(jax.device_get(jax.jit(_any_nonzero)(tree)))


def fill_training_files(family, state, *, log=None):
    """`state` with every training-only frozen network that is still a placeholder read from its file (the trainer
    calls it when training starts from a restored state, e.g. one `facejax import` wrote)."""
    if not isinstance(family, TrainingFiles):
        return state
    frozen, changed = dict(state.frozen), False
    for name, spec in family.training_files().items():
        if name in frozen and placeholder(frozen[name]):
            if log is not None:
                log(f"reading {name} from config.{spec.field} (training reads it; the checkpoint holds none)")
            frozen[name], changed = spec.load(), True
    return state.replace(frozen=frozen) if changed else state


def zero_training_files(family, state):
    """`state` with the training-only frozen networks set to zeros (placeholders): what an import keeps of them."""
    import jax
    import jax.numpy as jnp

    if not isinstance(family, TrainingFiles):
        return state
    names = [k for k in family.training_files() if k in state.frozen]
    if not names:
        return state
    frozen = dict(state.frozen)
    for k in names:
        frozen[k] = jax.tree.map(jnp.zeros_like, frozen[k])
    return state.replace(frozen=frozen)


@dataclasses.dataclass(frozen=True)
class OriginalFile:
    """One file of an original's checkpoints, for `facejax import --help` / `facejax export --help`.

    name: the original's file name (pattern), e.g. "{step:06d}_nets_ema.ckpt".
    holds: what it holds.
    source: where it comes from (the release, or the original's training script's saves).
    needed: "import" (facejax import needs it), "optional" (read when there), or "training" (only training reads
      it: asked for when training starts, through a config field).
    """

    name: str
    holds: str
    source: str
    needed: str = "import"


def original_files(family_or_class) -> tuple[OriginalFile, ...]:
    """The family's `original_files` (a class attribute of families with TorchInterop), or ()."""
    return tuple(getattr(family_or_class, "original_files", ()) or ())


def describe_original_files(family_or_class, brief: bool = False) -> str:
    """Lines naming a family's original files: what `facejax import` reads, what training reads later."""
    files = original_files(family_or_class)
    name = getattr(family_or_class, "name", type(family_or_class).__name__)
    if not files:
        return f"Family {name!r}: no original PyTorch files."
    label = {"import": "needed", "optional": "optional", "training": "training only"}
    if brief:
        return f"  {name}: " + "; ".join(f"{f.name} ({label.get(f.needed, f.needed)})" for f in files)
    lines = [f"Family {name!r}, the original's files:"]
    for f in files:
        lines.append(f"  {f.name}  [{label.get(f.needed, f.needed)}]  {f.holds}; {f.source}")
    return "\n".join(lines)


@dataclasses.dataclass(frozen=True)
class FolderInputs:
    """What `facejax sample` takes for a family's own folders; the help texts name the family's files.

    src: help of --src (always required).
    ref: help of --ref, or "" when the family takes no --ref.
    mask: help of --mask, or "" when the family takes no --mask.
    ref_required: --ref must be given with --src.
    """

    src: str
    ref: str = ""
    mask: str = ""
    ref_required: bool = False


@dataclasses.dataclass(frozen=True)
class FolderRequest:
    """The user's folders for one `facejax sample` call (None where not given)."""

    src: str
    ref: str | None = None
    mask: str | None = None


@runtime_checkable
class SamplesFolders(Protocol):
    """`facejax sample --src=DIR [--ref=DIR] [--mask=...]`: the model on the user's own images."""

    folder_inputs: FolderInputs

    def sample_folders(self, state, request: FolderRequest, out_dir: str) -> dict:
        """Writes one PNG per result and a grid of them into out_dir.

        Returns:
          {"grid": path of the grid PNG, "count": number of results, ...} plus any family-specific entries
          (paths or counts) that `facejax sample` prints.
        """


INPUT_KINDS = ("image", "mask", "labels", "number", "numbers", "choice")


@dataclasses.dataclass(frozen=True)
class TranslateInput:
    """One input of a family's `translate_arrays`, declared for tools that ask a user for it (`facejax demo`).

    name: "src", "ref" or "mask" (translate_arrays' arguments) or one of its keywords (e.g. "ref_domains").
    kind: how the value is given and passed:
      "image"    an RGB picture, passed as a batch of one uint8 (H, W, 3) image (src and ref).
      "mask"     a picture (white = the hole), passed as the path of a PNG file holding it (read as the family's
                 --mask reads a file); or, where `choices` lists names (mask types), one of them, passed as the name.
      "labels"   a picture whose pixel values are class labels 0..maximum (a parsing map), read as stored (no
                 colour conversion) and passed as a batch of one (1, H, W).
      "number"   one number in [minimum, maximum] (an int where `integer`), passed as a Python scalar.
      "numbers"  prod(shape) numbers in [minimum, maximum], passed as a batch of one float32 (1, *shape).
      "choice"   one of `choices` (strings), passed as the string.
    label: one line telling a user what to give.
    required: translate_arrays refuses to run without it (a required number or choice may still have a default
      the page fills in).
    default: what a form shows first (a number, "a,b,c" for numbers, a choice); None: nothing, and an optional
      input left empty is not passed, so the family's own default applies.
    """

    name: str
    kind: str
    label: str
    required: bool = False
    default: Any = None
    minimum: float | None = None
    maximum: float | None = None
    integer: bool = False
    shape: tuple[int, ...] = ()
    choices: tuple[str, ...] = ()

    def __post_init__(self):
        if self.kind not in INPUT_KINDS:
            raise ValueError(f"TranslateInput {self.name!r}: kind {self.kind!r} is not one of {INPUT_KINDS}")

    def as_dict(self) -> dict:
        """A JSON-ready dict of the fields."""
        out = dataclasses.asdict(self)
        out["shape"], out["choices"] = list(self.shape), list(self.choices)
        return out


@runtime_checkable
class TranslatesArrays(Protocol):
    """The model on images in memory (`facejax.api` Model.translate): what `sample_folders` does, without files.

    src / ref / mask mean what the family's `folder_inputs` says of --src / --ref / --mask; keyword arrays a family
    needs beyond images (IPM-Net's parsing maps, AesGAN's eye positions, StarGAN v2's reference domains) are named
    in its `translate_arrays` docstring.
    """

    def translate_inputs(self) -> tuple[TranslateInput, ...]:
        """What translate_arrays takes for this config, in the order a form shows it: "src" first, then "ref" /
        "mask" where the family takes them, then its keywords. Names not listed are never passed."""

    def translate_arrays(self, state, src, ref=None, mask=None, **extra) -> np.ndarray:
        """The family's result on arrays, through the same compiled sampler `sample_folders` uses, so that it
        equals the PNGs `facejax sample --src [--ref]` writes for the same images.

        Args:
          state: TrainState.
          src, ref: sequences of uint8 RGB images (H, W, 3), any size (an (N, H, W, 3) array or a list); the family
            scales and resizes each as its folder path does with a decoded file.
          mask: what the family's --mask takes (GFC: a mask type, an image file, or an array, 1 = hole).
          extra: keyword arrays the family needs besides images; an unknown keyword is a FacejaxError.
        Returns:
          uint8 images: (len(src), len(ref), S, S, 3) for families that pair every source with every reference,
          (len(src), S, S, 3) for one result per source, (len(src), K, S, S, 3) for K variants per source
          (Beholder-GAN's beauty sweep), as the family's docstring says.
        """


@dataclasses.dataclass(frozen=True)
class Metric:
    """One headline number: the key in the evaluator's metrics, its column label and format. A `*` in the key
    stands for every metric key it matches (GFC's `*/PSNR`: one column per mask type), the label's `*` for the part
    matched (facejax/train/report.py columns_of)."""

    key: str
    label: str
    fmt: str = "{:.4f}"


@runtime_checkable
class Evaluates(Protocol):
    """The paper's evaluation protocol (`facejax eval --workdir`, `config.eval_every`)."""

    headline_metrics: tuple[Metric, ...]

    def evaluator(self, mesh=None) -> Callable[[Any, int, str], dict]:
        """The protocol, with its weight files read now (a missing file stops a run before training).

        Returns:
          evaluate(state, step, out_dir) -> {"metrics": {key: float}, "table": str, "report": dict,
          "files": {name: path}}; it writes metrics.json, metrics.md and grids into out_dir.
        """


@runtime_checkable
class TorchInterop(Protocol):
    """The original repository's PyTorch files (`facejax export`, `facejax import`).

    The family's folder holds torch_ref.py (PyTorch modules with the original's names, for parity tests)
    and the layout (facejax/export/convert.py's Layout), which maps the train state to state_dicts."""

    def torch_layout(self):
        """The layout of this config's networks: export(state), write(...), load(paths), build_state(...),
        file_networks(kind) (facejax/export/convert.py)."""


@runtime_checkable
class ImportsOwnFiles(Protocol):
    """`facejax import` of files the original names its own way (BeautyGAN's <epoch>_<iter>_G.pth, TF1 .npz)."""

    def import_files(self, source: str, step: int | None = None):
        """Reads `source` (a folder or one file; `step` picks one where several are there).

        Returns:
          (step, TrainState, {kind: path read}, [notes printed to the user]).
        """


@runtime_checkable
class TorchBaseline(Protocol):
    """`facejax bench --against=torch`: the same iteration in PyTorch eager mode on the reference modules."""

    def bench_torch_step(self, seed: int = 0):
        """A runner with .device, .to_torch(bench_batch) and .step(torch_batch). Raises FacejaxError (before
        anything compiles) when this config has no PyTorch counterpart."""


@dataclasses.dataclass(frozen=True)
class PrepareArgs:
    """The `facejax prepare` flags a prepare step may read."""

    config: Any = None
    manual_dir: str | None = None
    out: str | None = None
    workdir: str | None = None
    source: str | None = None
    data_dir: str | None = None


@dataclasses.dataclass(frozen=True)
class PrepareStep:
    """`facejax prepare <name>`: a preprocessing step of a family.

    help: one line for `facejax prepare --help`.
    run: run(PrepareArgs) -> result dict (printed as JSON with --json).
    summary: summary(result) -> the line printed without --json.
    needs_config: the step reads --config.
    """

    help: str
    run: Callable[[PrepareArgs], dict]
    summary: Callable[[dict], str]
    needs_config: bool = False


@runtime_checkable
class Prepares(Protocol):
    """Preprocessing steps beyond building a TFDS dataset (IPM-Net's masks, Beholder-GAN's beauty labels)."""

    @classmethod
    def prepare_steps(cls) -> dict[str, PrepareStep]:
        """{step name: PrepareStep}; names are unique across families (facejax prepare checks)."""


@runtime_checkable
class Sweeps(Protocol):
    """Defaults of `launch/sweep.py` for this family."""

    @classmethod
    def sweep_rows(cls) -> dict[str, str]:
        """{preset: what the row adds}, in the paper's order: the default presets of a sweep and the labels of
        its report (StarGAN v2's Table 1 rows A-F)."""

    @classmethod
    def sweep_eval_files(cls) -> tuple[str, ...]:
        """Config fields naming the weight files the evaluation reads (a sweep asks for them up front)."""


@dataclasses.dataclass(frozen=True)
class Prerequisite:
    """A run this config needs trained before it: a frozen network the family reads from that run's checkpoint.

    name: the part's name; `facejax train` trains it in <workdir>/prereq/<name> (config.prerequisites.train) and
      finds it there otherwise.
    preset: what --config names for it (`aesgan:aesthetic_synthetic`), for the commands facejax prints.
    config: the run's config: the preset's, with whatever this config shares with it (sizes, sub-configs).
    field: the dotted field of this config that names the run's workdir (`aesthetic.checkpoint`); empty = not
      given yet.
    what: one line, what the run trains.
    """

    name: str
    preset: str
    config: Any
    field: str
    what: str = ""


@runtime_checkable
class HasPrerequisites(Protocol):
    """Frozen networks trained by runs of their own first (AesGAN's aesthetic and parsing nets, GFC's parsing net).

    `facejax train` (facejax/train/prerequisites.py) asks before it builds the family: with
    config.prerequisites.train (the synthetic presets) it trains each missing run into <workdir>/prereq/<name>,
    resuming it like any run and skipping it once finished, and fills `field`; without, a missing run is one line
    naming the commands that train it. `facejax eval`, `sample` and `export` fill `field` from <workdir>/prereq/
    too, so a run trained this way needs no extra flag."""

    @classmethod
    def prerequisites(cls, config) -> tuple[Prerequisite, ...]:
        """The runs `config` needs (none where the config reads no frozen network, e.g. an ablation without it),
        in the order they are trained."""


CAPABILITIES = {
    Phased: "a phased iteration",
    LoadsPretrained: "pretrained frozen networks",
    TrainingFiles: "frozen networks only training reads",
    SamplesFolders: "sampling from your own folders (facejax sample --src)",
    TranslatesArrays: "translation of images in memory (facejax.api Model.translate)",
    Evaluates: "an evaluation protocol (facejax eval, config.eval_every)",
    TorchInterop: "PyTorch export/import (facejax export, facejax import)",
    ImportsOwnFiles: "reading the original's own checkpoint files",
    AccumulatesGradients: "gradient accumulation (config.grad_accum)",
    TorchBaseline: "a PyTorch baseline (facejax bench --against=torch)",
    Prepares: "prepare steps (facejax prepare)",
    Sweeps: "sweep defaults (launch/sweep.py)",
    HasPrerequisites: "prerequisite runs (config.prerequisites)",
}


def has(family, capability) -> bool:
    """Whether `family` (an instance, or a class for the class-level Prepares / Sweeps) has the capability."""
    return isinstance(family, capability)


def require(family, capability, *, hint: str = ""):
    """`family` itself when it has the capability, else FacejaxError naming the family and the capability."""
    if isinstance(family, capability):
        return family
    name = getattr(family, "name", type(family).__name__)
    what = CAPABILITIES.get(capability, capability.__name__)
    raise FacejaxError(
        f"family {name!r} has no {what} ({capability.__name__} in facejax/families/base.py)"
        + (f"; {hint}" if hint else "")
    )
