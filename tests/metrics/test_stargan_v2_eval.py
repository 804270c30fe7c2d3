"""StarGAN v2's evaluation protocol on a tiny run: evaluation during training (clu scalars, best-FID
checkpoint kept besides the newest), then `facejax eval --config --workdir` on the best checkpoint
with random Inception/AlexNet weights."""

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image
from tests import xla_env
from tests.train.helpers import tiny_config

from facejax.errors import FacejaxError
from facejax.families.stargan_v2.family import StarGANv2
from facejax.train import trainer

pytest.importorskip("torch", reason="the weight files are written with torch")

FIDS = {1: 5.0, 2: 3.0, 3: 4.0, 4: 6.0}  # what the stand-in evaluator reports at each step


def _run_overrides(afhq_samples, **extra):
    """tests/train's tiny 3-domain run on the AFHQ samples (the same train step, so the compilation
    cache serves both), evaluated every step."""
    return {
        "data.source": "folder",
        "data.train_dir": str(afhq_samples / "ref"),
        "data.eval_dir": str(afhq_samples / "src"),
        "model.num_domains": 3,
        "eval_every": 1,
        "keep_checkpoints": 1,
        **extra,
    }


class _StandIn:
    """Reports FIDS[step], so the training test checks the trainer's wiring without running Inception."""

    def __init__(self):
        self.calls = []

    def __call__(self, state, step, out_dir):
        assert set(state.ema) == {"generator", "mapping_network", "style_encoder"}
        self.calls.append(step)
        return {"metrics": {"FID_latent/mean": FIDS[step], "LPIPS_latent/mean": 0.1 * step}}


@pytest.fixture(scope="module")
def trained(tmp_path_factory, afhq_samples):
    tmp = tmp_path_factory.mktemp("train_eval")
    over = _run_overrides(afhq_samples)
    cfg = tiny_config(tmp / "tfds", **over)
    stand_in = _StandIn()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(StarGANv2, "evaluator", lambda self, mesh=None: stand_in)
        trainer.train(cfg, str(tmp / "run"))
    return tmp / "run", cfg, stand_in


def test_training_evaluates_logs_and_keeps_the_best_checkpoint(trained):
    work, cfg, stand_in = trained
    assert stand_in.calls == [1, 2, 3, 4]
    run = trainer.Run(cfg, str(work))
    # keep_checkpoints=1 keeps the newest (4) for resuming, and the lowest FID (step 2) besides it; step 3, the newest
    # checksummed one when 4 was saved, is kept beside the rotation until a save after 4 finds 4 verified
    assert sorted(run.checkpointer.manager.all_steps()) == [2, 3, 4]
    assert run.checkpointer.best_step() == 2
    run.checkpointer.close()
    # the numbers went to TensorBoard through the clu writer
    from tensorboard.backend.event_processing import event_accumulator
    from tensorboard.util import tensor_util

    acc = event_accumulator.EventAccumulator(str(work), size_guidance={"tensors": 0})
    acc.Reload()
    logged = {e.step: float(tensor_util.make_ndarray(e.tensor_proto)) for e in acc.Tensors("FID_latent/mean")}
    assert logged == FIDS


def test_missing_eval_weights_stop_training_before_it_starts(tmp_path, afhq_samples):
    cfg = tiny_config(
        tmp_path / "tfds",
        **_run_overrides(afhq_samples, **{"eval.inception_weights": str(tmp_path / "inception_v3.pth")}),
    )
    with pytest.raises(FacejaxError, match=r"config.eval.inception_weights.*inception_v3_google-0cc3c7bd.pth"):
        trainer.train(cfg, str(tmp_path / "run"))
    ckpts = tmp_path / "run" / "checkpoints"
    assert not ckpts.exists() or not any(p.name.isdigit() for p in ckpts.iterdir())  # no step trained


def test_eval_command_runs_the_protocol_on_the_best_checkpoint(trained, repo_root, imagenet_inception, lpips_alex):
    work, cfg, _ = trained
    # 2 devices: a task's global batch (1 source + 1 padding row) is split one row per device
    env = xla_env.env(2)
    fields = (
        "img_size",
        "batch_size",
        "seed",
        "model.dim_in",
        "model.max_conv_dim",
        "model.hidden_dim",
        "model.style_dim",
        "model.latent_dim",
        "model.num_domains",
        "data.source",
        "data.train_dir",
        "data.eval_dir",
    )
    flags = [f"--config.{k}={cfg[k.split('.')[0]][k.split('.')[1]] if '.' in k else cfg[k]}" for k in fields]
    flags += [
        f"--config.eval.inception_weights={imagenet_inception[0]}",
        f"--config.eval.alexnet_weights={lpips_alex[0]}",
        "--config.eval.num_outs_per_domain=2",
        "--config.eval.batch_size=2",
        "--config.eval.max_sources=1",
        "--config.eval.max_real=2",
        "--config.eval.fid_method=eigh",
        "--config.eval.grid_sources=1",
    ]
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "facejax.cli",
            "eval",
            f"--config={repo_root}/configs/stargan_v2.py:synthetic",
            *flags,
            f"--workdir={work}",
            "--eval_checkpoint=best",
            "--json",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    report = json.loads(res.stdout.strip().splitlines()[-1])
    assert report["step"] == 2 and report["inception"] == "imagenet"
    assert report["inception_weights"] == "inception_v3_google-0cc3c7bd.pth"
    m = report["metrics"]
    # every target domain, every other source; domains are the sorted folders cat, dog, wild
    tasks = ["dog2cat", "wild2cat", "cat2dog", "wild2dog", "cat2wild", "dog2wild"]
    keys = {
        f"{metric}_{mode}/{t}"
        for metric in ("FID", "LPIPS")
        for mode in ("latent", "reference")
        for t in tasks + ["mean"]
    }
    assert set(m) == keys
    assert all(np.isfinite(v) for v in m.values())
    for mode in ("latent", "reference"):
        assert m[f"FID_{mode}/mean"] == pytest.approx(np.mean([m[f"FID_{mode}/{t}"] for t in tasks]))
        assert m[f"LPIPS_{mode}/mean"] == pytest.approx(np.mean([m[f"LPIPS_{mode}/{t}"] for t in tasks]))
        assert all(m[f"FID_{mode}/{t}"] > 0 and m[f"LPIPS_{mode}/{t}"] > 0 for t in tasks)
        for t in tasks:  # 1 source x 2 outputs against 2 real images of the target domain
            assert report["counts"][f"{mode}/{t}"] == {"fake": 2, "real": 2}
    out = work / "eval" / "000002"
    assert json.loads((out / "metrics.json").read_text())["metrics"] == m
    assert "| cat2dog |" in (out / "metrics.md").read_text() and "| wild2dog |" in res.stdout
    grid = Image.open(out / "latent_cat2dog.png")  # 1 source: the source + 2 outputs, 32 px + 2 px pad
    assert grid.size == (3 * 34 + 2, 1 * 34 + 2)
    assert (out / "reference_dog2wild.png").exists()
