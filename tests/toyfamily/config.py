"""The toy family's presets (tests/toyfamily/family.py): `--config=tests/toyfamily/config.py:small|wide`."""

from ml_collections import ConfigDict

from facejax.train import config as trainer_config


def _base():
    c = trainer_config.defaults(
        "toy",
        seed=0,
        img_size=16,
        batch_size=4,
        total_steps=2,
        log_every=1,
        sample_every=2,
        checkpoint_every=2,
        keep_checkpoints=2,
        num_sample_images=4,
    )
    c.data.config = "gender_32"
    c.data.prefetch_to_device = 1
    c.model = ConfigDict({"z_dim": 8, "num_classes": 2, "ch": 8})
    c.lr = 1e-3
    c.eval = ConfigDict({"num_images": 8, "best_metric": ""})
    # distilled: an L1 pull of G towards a frozen teacher G, read from a `small` run (a prerequisite run)
    c.teacher = ConfigDict({"checkpoint": "", "weight": 0.0})
    return c


def _small(c):
    return c


def _wide(c):
    c.model.ch = 16
    return c


def _distilled(c):
    c.teacher.weight = 1.0
    c.prerequisites.train = True
    return c


PRESETS = {
    "small": "8 channels, 16 px, 2 steps",
    "wide": "16 channels",
    "distilled": "small, pulled towards a frozen teacher trained first (a prerequisite run)",
}


def get_config(preset="small"):
    return trainer_config.select(
        preset,
        {"small": _small, "wide": _wide, "distilled": _distilled},
        base=_base,
        file="tests/toyfamily/config.py",
        default="small",
        descriptions=PRESETS,
    )
