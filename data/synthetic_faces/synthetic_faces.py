"""`synthetic_faces`: procedural cartoon faces, the project's embedded default dataset (no download).

    import facejax.datasets  # registers the builder
    ds = tfds.load("synthetic_faces/gender_64", split="train", data_dir=...)
    cfg = make_config("species", 48, num_train=256, seed=3)
    builder = tfds.builder("synthetic_faces", config=cfg, data_dir=...)

See README.md next to this file for the feature spec and the determinism contract.
"""

from __future__ import annotations

import dataclasses
import io

import numpy as np
import PIL.Image
import tensorflow_datasets as tfds
from etils import epath

from . import render

_SIZES = (32, 64, 128, 256)
_OVERRIDABLE = ("num_train", "num_test", "seed", "num_identities", "num_raters")


@dataclasses.dataclass(eq=False)
class SyntheticFacesConfig(tfds.core.BuilderConfig):
    """Config of one synthetic_faces variant.

    Attributes:
      kind: "gender" (domains female, male) or "species" (domains cat, dog, wild).
      img_size: height = width of the images, any int in [32, 256].
      num_train: number of train examples.
      num_test: number of test examples.
      seed: base seed; every example is a pure function of (seed, split, index).
      num_identities: size of the identity pool shared by both splits; identity k belongs to domain
        k % num_domains.
      num_raters: length of `scores`.
    """

    kind: str = "gender"
    img_size: int = 32
    num_train: int = 1024
    num_test: int = 128
    seed: int = 0
    num_identities: int = 64
    num_raters: int = 8

    def __post_init__(self):
        render.validate(self)

    @property
    def domains(self) -> tuple[str, ...]:
        return render.domains(self.kind)


def _describe(kind: str, size: int) -> str:
    names = ", ".join(render.domains(kind))
    return f"{kind} domains ({names}) at {size}x{size} px."


_BUILDER_CONFIGS = [
    SyntheticFacesConfig(name=f"{kind}_{size}", kind=kind, img_size=size, description=_describe(kind, size))
    for kind in render.KINDS
    for size in _SIZES
]


def make_config(kind: str = "gender", img_size: int = 32, **overrides) -> SyntheticFacesConfig:
    """A config for any kind/size; the named config itself when nothing differs from it.

    The name is `{kind}_{img_size}` plus, for each override that differs from the default, a suffix
    like `_seed3` (sorted by field), e.g. `species_48_num_train256_seed3`. Configs with the same
    name describe the same data, so TFDS can cache them in the same data_dir.
    """
    unknown = sorted(set(overrides) - set(_OVERRIDABLE))
    if unknown:
        raise TypeError(f"make_config got unknown fields {unknown}; allowed: {list(_OVERRIDABLE)}")
    defaults = {f.name: f.default for f in dataclasses.fields(SyntheticFacesConfig)}
    changed = {k: v for k, v in sorted(overrides.items()) if v != defaults[k]}
    name = f"{kind}_{img_size}" + "".join(f"_{k}{v}" for k, v in changed.items())
    for cfg in _BUILDER_CONFIGS:
        if cfg.name == name:
            return cfg
    return SyntheticFacesConfig(
        name=name, kind=kind, img_size=img_size, description=_describe(kind, img_size), **changed
    )


class SyntheticFaces(tfds.core.GeneratorBasedBuilder):
    """Procedural frontal cartoon faces with domains, parsing, makeup, eyes, ratings, identities."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "First release."}
    BUILDER_CONFIGS = _BUILDER_CONFIGS
    DEFAULT_BUILDER_CONFIG_NAME = "gender_32"
    # data/ is installed as facejax.datasets, so TFDS cannot infer this folder from the module name;
    # its README.md becomes the dataset description.
    pkg_dir_path = epath.Path(__file__).parent

    @tfds.core.utils.classproperty
    @classmethod
    def code_path(cls) -> epath.Path:
        # TFDS's default resolves the path through the top-level package, which fails for the
        # facejax.datasets mapping (and imports importlib_resources, not a dependency here).
        return epath.Path(__file__)

    def _info(self) -> tfds.core.DatasetInfo:
        cfg = self.builder_config
        s = cfg.img_size
        rgb = lambda: tfds.features.Tensor(shape=(3,), dtype=np.uint8)  # noqa: E731
        return self.dataset_info_from_configs(
            description=(
                "Procedural frontal cartoon faces generated on the fly (no download). " + _describe(cfg.kind, s)
            ),
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Image(shape=(s, s, 3), encoding_format="png"),
                    "label": tfds.features.ClassLabel(names=list(cfg.domains)),
                    "parsing": tfds.features.Image(shape=(s, s, 1), encoding_format="png"),
                    "makeup": tfds.features.FeaturesDict(
                        {
                            "lips": rgb(),
                            "eye_shadow": rgb(),
                            "skin": rgb(),
                            "has_makeup": tfds.features.Tensor(shape=(), dtype=np.bool_),
                        }
                    ),
                    "eye_boxes": tfds.features.Tensor(shape=(2, 4), dtype=np.float32),
                    "eyes_open": tfds.features.Tensor(shape=(2,), dtype=np.float32),
                    "scores": tfds.features.Tensor(shape=(cfg.num_raters,), dtype=np.float32),
                    "beauty": tfds.features.Tensor(shape=(), dtype=np.float32),
                    "identity": tfds.features.Tensor(shape=(), dtype=np.int64),
                    "file_name": tfds.features.Text(),
                }
            ),
            supervised_keys=("image", "label"),
            homepage=None,
        )

    def _split_generators(self, dl_manager):
        del dl_manager  # nothing to download
        return {split: self._generate_examples(split) for split in render.SPLIT_IDS}

    def _generate_examples(self, split: str):
        cfg = self.builder_config
        n = cfg.num_train if split == "train" else cfg.num_test
        for index in range(n):
            example = render.render_face(cfg, split, index)
            # PNG-encode here (PIL is faster than TFDS's per-example TF op); decoding gives the
            # same pixels.
            example["image"] = _png(example["image"])
            example["parsing"] = _png(example["parsing"][..., 0])
            yield index, example


def _png(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    PIL.Image.fromarray(array).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()
