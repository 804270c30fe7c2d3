"""Shared fixtures of the AesGAN tests: synthetic_faces (built once), the two frozen networks AesGAN reads,
trained by the shared trainer with their synthetic presets (once per session): the eye aesthetic network (400
steps: open vs closed eyes; 200 left its held-out accuracy at 0.83 under AVX2, too near the test's 0.8) and the
parsing network (3 steps: the path, not a good parser); and ONE in-painting run (GAN_STEPS iterations of the
`synthetic` preset through trainer.train) that both the run test (sampling, evaluation, export -> import) and the
learning test read, so the GAN's train step compiles once per session."""

import sys
import types

import pytest

sys.modules.setdefault("triton", None)

QUIET = {"log_every": 1000, "sample_every": 0, "checkpoint_every": 100_000}
AES_STEPS = 400
PARSING_STEPS = 3
GAN_STEPS = 150


@pytest.fixture(scope="session")
def aux_runs(synthetic_tfds, tmp_path_factory):
    """{"aesthetic": workdir, "parsing": workdir} of the two frozen networks' runs."""
    from facejax import configs
    from facejax.train import trainer

    root = tmp_path_factory.mktemp("aux")
    out = {}
    for name, steps in (("aesthetic", AES_STEPS), ("parsing", PARSING_STEPS)):
        cfg = configs.load(f"aesgan:{name}_synthetic", total_steps=steps, **QUIET, **{"data.data_dir": synthetic_tfds})
        trainer.train(cfg, str(root / name))
        out[name] = str(root / name)
    return out


def gan_config(synthetic_tfds, aux_runs, **overrides):
    from facejax import configs

    fields = {
        **QUIET,
        "data.data_dir": synthetic_tfds,
        "aesthetic.checkpoint": aux_runs["aesthetic"],
        "parsing.checkpoint": aux_runs["parsing"],
        **overrides,
    }
    return configs.load("aesgan:synthetic", **fields)


@pytest.fixture(scope="session")
def gan_run(synthetic_tfds, aux_runs, tmp_path_factory):
    """The shared in-painting run: trained by trainer.train for GAN_STEPS iterations, then reopened as a Run.
    `init` is the state the training started from (the same seed's init with the frozen networks loaded), for
    the learning test's numbers before training."""
    from facejax.train import trainer
    from facejax.train.state import root_key_data

    cfg = gan_config(synthetic_tfds, aux_runs, total_steps=GAN_STEPS)
    workdir = str(tmp_path_factory.mktemp("gan") / "run")
    final = trainer.train(cfg, workdir)
    run = trainer.Run(cfg, workdir)
    state = run.restore_state()
    init = run.family.load_pretrained(run.init_fn(root_key_data(cfg.seed)))
    yield types.SimpleNamespace(
        config=cfg, workdir=workdir, run=run, state=state, init=init, trained_steps=int(final.step)
    )
    run.checkpointer.close()
