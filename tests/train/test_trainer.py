"""The shared trainer: one compilation, sharded batches, checkpoints that must fit, SIGTERM."""

import os
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest
from tests import xla_env
from tests.train.helpers import tiny_config

from facejax import registry
from facejax.errors import FacejaxError
from facejax.families.stargan_v2.family import StarGANv2
from facejax.train import mesh as mesh_lib
from facejax.train import trainer


@pytest.fixture(scope="module")
def folder_data(afhq_samples):
    return {
        "data.source": "folder",
        "data.train_dir": str(afhq_samples / "ref"),
        "data.eval_dir": str(afhq_samples / "src"),
        "model.num_domains": 3,
    }


def test_step_compiles_once_and_shards_batch(tmp_path, folder_data):
    cfg = tiny_config(tmp_path / "tfds", **folder_data)
    run = trainer.Run(cfg, str(tmp_path / "run"))
    assert run.mesh.devices.size == 4
    it = iter(run.family.train_dataset(cfg.batch_size, 0, 1))
    state = run.restore_or_init()
    for _ in range(3):
        batch = mesh_lib.global_batch(jax.tree.map(lambda t: t._numpy(), next(it)), run.mesh)
        # split over every device: 4 shards of 1 example
        assert batch["x_src"].sharding == mesh_lib.batch_sharding(run.mesh)
        assert [s.data.shape[0] for s in batch["x_src"].addressable_shards] == [1, 1, 1, 1]
        state, metrics = run.step_fn(state, batch)
    assert int(state.step) == 3
    assert run.step_fn._cache_size() == 1, "the train step recompiled after the first step"
    assert all(np.isfinite(float(v)) for v in jax.device_get(metrics).values())
    run.checkpointer.close()


TRACED = []


class PhasedStarGAN(StarGANv2):
    """StarGAN v2 with two phases (steps 1-2 and 3-), as GFC's stages or Beholder-GAN's resolutions."""

    def phase(self, step):
        return "early" if step <= 2 else "late"

    def train_step(self, state, batch, phase):
        TRACED.append(phase)  # runs when jit traces the step, once per compiled phase
        return super().train_step(state, batch)


def test_phased_family_compiles_one_step_per_phase(tmp_path, folder_data, monkeypatch):
    monkeypatch.setitem(registry.FAMILIES, "phased_test", f"{__name__}:PhasedStarGAN")
    TRACED.clear()
    cfg = tiny_config(tmp_path / "tfds", total_steps=5, **folder_data)
    cfg.family = "phased_test"
    state = trainer.train(cfg, str(tmp_path / "run"))
    assert int(state.step) == 5
    assert TRACED == ["early", "late"], "each phase compiles exactly one step, in the order the steps need"


def test_checkpoint_that_does_not_fit_is_refused(tmp_path, folder_data):
    work = str(tmp_path / "run")
    trainer.train(tiny_config(tmp_path / "tfds", total_steps=1, **folder_data), work)
    for field, value, shown in (
        ("img_size", 64, "img_size"),
        ("model.num_domains", 2, "model.num_domains"),
        ("model.max_conv_dim", 64, "model.max_conv_dim"),
    ):
        cfg = tiny_config(tmp_path / "tfds", total_steps=2, **{**folder_data, field: value})
        with pytest.raises(FacejaxError, match=shown) as err:
            trainer.train(cfg, work)
        assert "does not fit" in str(err.value)
    # The refused attempts destroyed nothing: the checkpoint is still there and resumable.
    assert sorted(os.listdir(os.path.join(work, "checkpoints")))[:1] == ["1"]


@pytest.mark.slow
def test_sigterm_saves_and_exits_zero_then_resumes(tmp_path, afhq_samples, repo_root):
    work = tmp_path / "run"
    cmd = [
        sys.executable,
        "-m",
        "facejax.cli",
        "train",
        f"--config={repo_root}/configs/stargan_v2.py:synthetic",
        f"--workdir={work}",
        "--config.img_size=32",
        "--config.batch_size=4",
        "--config.total_steps=100000",
        "--config.model.dim_in=16",
        "--config.model.max_conv_dim=32",
        "--config.model.hidden_dim=32",
        "--config.data.source=folder",
        f"--config.data.train_dir={afhq_samples / 'ref'}",
        f"--config.data.eval_dir={afhq_samples / 'src'}",
        "--config.model.num_domains=3",
        "--config.log_every=1",
        "--config.sample_every=0",
        "--config.checkpoint_every=100000",
    ]
    env = xla_env.env(1)  # the compilation cache comes along: the relaunch reuses the first's compile
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    lines = []
    deadline = time.time() + 900
    for line in proc.stdout:
        lines.append(line)
        if line.startswith("step 3/"):
            proc.send_signal(signal.SIGTERM)
            break
        assert time.time() < deadline, "".join(lines)
    out, _ = proc.communicate(timeout=600)
    lines.append(out)
    text = "".join(lines)
    assert proc.returncode == 0, text
    assert "SIGTERM received; checkpoint saved" in text
    saved = [int(d) for d in os.listdir(work / "checkpoints") if d.isdigit()]
    assert len(saved) == 1 and saved[0] >= 3
    # Relaunching the same command (with a reachable end) resumes from that step.
    cmd2 = [a if not a.startswith("--config.total_steps") else f"--config.total_steps={saved[0] + 1}" for a in cmd]
    res = subprocess.run(cmd2, capture_output=True, text=True, env=env, timeout=900)
    assert res.returncode == 0, res.stdout + res.stderr
    assert f"steps {saved[0]} -> {saved[0] + 1}" in res.stdout
