"""Soak: a run SIGKILLed at random moments, relaunched, fed a damaged checkpoint once, ends with the
parameters of a run never interrupted, bit for bit (CPU), and never loses a good checkpoint."""

import os
import random
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest
from tests import xla_env
from tests.train.helpers import tiny_config

from facejax.train import checkpoint, trainer

TOTAL = 10
KILLS = 3


def _overrides(afhq_samples, tfds_dir):
    return {
        "data.source": "folder",
        "data.train_dir": str(afhq_samples / "ref"),
        "data.eval_dir": str(afhq_samples / "src"),
        "model.num_domains": 3,
        "data.data_dir": str(tfds_dir),
        "total_steps": TOTAL,
    }


def _command(repo_root, work, overrides):
    """`facejax train` with tiny_config's values and `overrides`; checkpoints at every step (kills land in saves)."""
    values = {
        "img_size": 32,
        "batch_size": 4,
        "seed": 3,
        "model.dim_in": 16,
        "model.max_conv_dim": 32,
        "model.hidden_dim": 32,
        "model.style_dim": 16,
        "model.latent_dim": 8,
        "log_every": 2,
        "sample_every": 0,
        "num_sample_images": 4,
        **overrides,
        "checkpoint_every": 1,
        "keep_checkpoints": 2,
    }
    return [
        sys.executable,
        "-m",
        "facejax.cli",
        "train",
        f"--config={repo_root}/configs/stargan_v2.py:synthetic",
        f"--workdir={work}",
        *(f"--config.{k}={v}" for k, v in values.items()),
    ]


def _steps(work):
    d = work / "checkpoints"
    return sorted(int(p) for p in os.listdir(d) if p.isdigit()) if d.is_dir() else []


def _flip_newest(work):
    """Flips 4 KiB of the largest data file of the newest checkpoint, if it has checksums; its step or None."""
    steps = _steps(work)
    if not steps or not (work / "checkpoints" / str(steps[-1]) / checkpoint.CHECKSUM_FILE).exists():
        return None
    files = [p for p in (work / "checkpoints" / str(steps[-1])).glob("state/**/d/*") if p.is_file()]
    path = max(files, key=lambda p: p.stat().st_size)
    data = bytearray(path.read_bytes())
    data[64:4160] = bytes(b ^ 0x5A for b in data[64:4160])
    path.write_bytes(bytes(data))
    return steps[-1]


@pytest.mark.slow
def test_sigkill_soak_ends_bit_exact_without_losing_a_good_checkpoint(tmp_path, afhq_samples, repo_root):
    overrides = _overrides(afhq_samples, tmp_path / "tfds")
    reference = trainer.train(tiny_config(tmp_path / "tfds", **overrides), str(tmp_path / "reference"))

    work = tmp_path / "soak"
    cmd = _command(repo_root, work, overrides)
    env = xla_env.env(4)  # the device count of this process: the same compiled step (the cache is shared)
    rng = random.Random(23)
    damaged, log = None, []
    for launch in range(KILLS + 1):
        before = _steps(work)
        if launch >= 2 and damaged is None:
            damaged = _flip_newest(work)
            flipped_now = damaged is not None
        else:
            flipped_now = False
        t0 = time.time()
        out_path = tmp_path / f"launch{launch}.log"
        with open(out_path, "w") as out:
            proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
            killed_after = None
            if launch < KILLS:
                # A random moment once this launch has committed a checkpoint of its own (so the run progresses):
                # in a step, a save, or between a save's commit and its checksums.
                while proc.poll() is None and (_steps(work) or [0])[-1] <= (before or [0])[-1]:
                    time.sleep(0.05)
                killed_after = rng.uniform(0.0, 3.0)
                time.sleep(killed_after)
                proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=900)
        text = out_path.read_text()
        after = _steps(work)
        log.append((launch, round(time.time() - t0), killed_after and round(killed_after, 2), before, after))
        if killed_after is None:
            assert proc.returncode == 0, text
        else:
            assert proc.returncode == -signal.SIGKILL, text
        if before:
            assert "took over the stale lock" in text, text
        # No good checkpoint lost: the newest only moves forward, except past the damaged one (reported, set aside).
        if flipped_now:
            assert f"checkpoint step {damaged} is damaged" in text and "restoring step" in text, text
            assert after[-1] >= before[-2], (before, after)
        elif before:
            assert after[-1] >= before[-1], (before, after)
    print(
        "\nsoak (launch, seconds, SIGKILL s after its first commit, checkpoints before, after; damaged step "
        f"{damaged}):",
        *log,
        sep="\n  ",
    )
    assert damaged is not None, log
    assert _steps(work)[-1] == TOTAL
    run = trainer.Run(tiny_config(tmp_path / "tfds", **overrides), str(work))
    try:
        final = run.checkpointer.restore(TOTAL, run.abstract_state)
    finally:
        run.checkpointer.close()
    a = [np.asarray(x) for x in jax.tree.leaves(jax.device_get(reference))]
    b = [np.asarray(x) for x in jax.tree.leaves(jax.device_get(final))]
    assert len(a) == len(b)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
