"""Shared fixtures of the GFC tests: the synthetic_faces data, and one short run of each family (a parsing run, then
a completion run that crosses all three stages and reads that parsing run), trained once per session: the
compiled steps (persistent compilation cache) and the checkpoints serve the other tests."""

import sys

import pytest

sys.modules.setdefault("triton", None)

OVERRIDES = {"log_every": 1, "sample_every": 0, "checkpoint_every": 100_000}
# Stage 1 at step 1, stage 2 at step 2, stage 3 at step 3.
STAGES = {"stages.recon_end": 1, "stages.local_end": 2}


@pytest.fixture(scope="session")
def runs(synthetic_tfds, tmp_path_factory):
    """(parsing config, parsing workdir, completion config, completion workdir): 2 + 3 steps."""
    from facejax import configs
    from facejax.train import trainer

    root = tmp_path_factory.mktemp("gfc_runs")
    p_cfg = configs.load("gfc:parsing_synthetic", **OVERRIDES, **{"data.data_dir": synthetic_tfds, "total_steps": 2})
    trainer.train(p_cfg, str(root / "parsing"))
    g_cfg = configs.load(
        "gfc:synthetic",
        **{
            **OVERRIDES,
            **STAGES,
            "data.data_dir": synthetic_tfds,
            "total_steps": 3,
            "sample_every": 3,
            "num_sample_images": 4,
            "parsing_checkpoint": str(root / "parsing"),
        },
    )
    trainer.train(g_cfg, str(root / "gfc"))
    return p_cfg, str(root / "parsing"), g_cfg, str(root / "gfc")
