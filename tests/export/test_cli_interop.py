"""End to end on the command line, w_hpf > 0 (FAN from a wing.ckpt the test writes): train 2 steps, export
with optimizer states, load every file into the reference modules in a torch-only process (strict, plus one
Adam step that must equal optax's), import into a new run (the same state, bit for bit), resume 1 step,
sample; and a config that does not fit the files is one error line."""

import json
import os
import pathlib
import subprocess
import sys

import jax
import numpy as np
import pytest
from tests import xla_env

from facejax import configs
from facejax.export import convert
from facejax.families.stargan_v2 import torch_layout
from facejax.train import trainer

pytestmark = [pytest.mark.torch, pytest.mark.slow]

ENV = xla_env.env(1)

FIELDS = {
    "img_size": 32,
    "batch_size": 4,
    "model.dim_in": 16,
    "model.max_conv_dim": 32,
    "model.hidden_dim": 32,
    "model.style_dim": 16,
    "model.latent_dim": 8,
    "model.num_domains": 3,
    "model.w_hpf": 1.0,
    "model.fan_img_size": 64,
    "model.fan_width": 8,
    "num_sample_images": 3,
    "f_lr": 1e-3,
    "data.source": "folder",
}

# Runs with torch only (no JAX, no TensorFlow), as a PyTorch user of the original code would.
TORCH_SIDE = r"""
import json, sys
import torch
from facejax.families.stargan_v2 import torch_ref as R, torch_wing as W
files, out = json.loads(sys.argv[1]), sys.argv[2]
nets = {"generator": R.Generator(32, 16, 32, 1.0, 16), "mapping_network": R.MappingNetwork(8, 16, 3, 32),
        "style_encoder": R.StyleEncoder(32, 16, 3, 32, 16), "discriminator": R.Discriminator(32, 3, 32, 16),
        "fan": W.FAN(64, 8)}
loaded = {k: torch.load(v, weights_only=True) for k, v in files.items()}
for kind in ("nets", "nets_ema"):
    for name, sd in loaded[kind].items():
        nets[name].load_state_dict(sd, strict=True)
nets["mapping_network"].load_state_dict(loaded["nets"]["mapping_network"], strict=True)
lrs = {"mapping_network": 1e-3}
for name, state in loaded["optims"].items():
    opt = torch.optim.Adam(nets[name].parameters(), lr=lrs.get(name, 3e-4), betas=(0.0, 0.99), weight_decay=1e-4)
    opt.load_state_dict(state)
    if name == "mapping_network":
        for p in nets[name].parameters():
            p.grad = torch.ones_like(p)
        opt.step()
        torch.save(nets[name].state_dict(), out)
print("strict loads ok:", sorted(loaded["nets"]), sorted(loaded["nets_ema"]), sorted(loaded["optims"]))
"""


def _run(*args, timeout=900):
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, env=ENV, timeout=timeout)


def facejax(*args):
    return _run("-m", "facejax.cli", *args)


def _flags(fields):
    return [f"--config.{k}={v}" for k, v in fields.items()]


def test_train_export_import_resume_sample(tmp_path, afhq_samples, repo_root):
    torch = pytest.importorskip("torch")
    from facejax.families.stargan_v2 import torch_wing as wing

    torch.manual_seed(0)
    wing_file = tmp_path / "wing.ckpt"
    torch.save({"state_dict": wing.FAN(64, 8).state_dict(), "epoch": 1}, wing_file)
    fields = dict(
        FIELDS,
        **{"data.train_dir": afhq_samples / "ref", "data.eval_dir": afhq_samples / "src", "fan_weights": wing_file},
    )
    common = [f"--config={repo_root}/configs/stargan_v2.py:synthetic", *_flags(fields)]
    run, run2, out = tmp_path / "run", tmp_path / "imported", tmp_path / "export"

    res = facejax(
        "train",
        *common,
        f"--workdir={run}",
        "--config.total_steps=2",
        "--config.log_every=1",
        "--config.sample_every=0",
    )
    assert res.returncode == 0, res.stdout + res.stderr
    res = facejax("export", *common, f"--workdir={run}", f"--out={out}", "--with_optim", "--json")
    assert res.returncode == 0, res.stdout + res.stderr
    written = json.loads(res.stdout.strip().splitlines()[-1])
    assert written["step"] == 2 and {k: os.path.basename(v) for k, v in written.items() if k != "step"} == {
        "nets": "000002_nets.ckpt",
        "nets_ema": "000002_nets_ema.ckpt",
        "optims": "000002_optims.ckpt",
    }

    stepped = tmp_path / "mapping_after_adam_step.pt"
    res = _run("-c", TORCH_SIDE, json.dumps({k: v for k, v in written.items() if k != "step"}), str(stepped))
    assert res.returncode == 0, res.stdout + res.stderr
    assert "strict loads ok" in res.stdout

    config = configs.load(
        "stargan_v2:synthetic", **{k: (str(v) if isinstance(v, pathlib.Path) else v) for k, v in fields.items()}
    )
    trained = trainer.Run(config, str(run))
    state = trained.restore_state()
    trained.checkpointer.close()
    # FAN is frozen: the exported weights are wing.ckpt's, bit for bit
    nets = torch.load(written["nets"], weights_only=True)
    for k, v in torch.load(wing_file, weights_only=True)["state_dict"].items():
        assert torch.equal(nets["fan"][k], v), k
    # One Adam step in PyTorch from the exported optimizer state equals optax's from the run's state
    family = trained.family
    grads = jax.tree.map(np.ones_like, state.params["mapping_network"])
    updates, _ = family.optimizers["mapping_network"].update(
        grads, state.opt_state["mapping_network"], state.params["mapping_network"]
    )
    before = convert.to_torch(
        jax.device_get(state.params["mapping_network"]), torch_layout.net_layout(config, "mapping_network")
    )
    after = convert.to_torch(
        jax.tree.map(lambda p, u: np.asarray(p) + np.asarray(u), state.params["mapping_network"], updates),
        torch_layout.net_layout(config, "mapping_network"),
    )
    theirs = torch.load(stepped, weights_only=True)
    for k in after:
        moved = np.abs(after[k] - before[k]).max()
        assert moved > 1e-4, k  # the step is visible (lr 1e-3) ...
        np.testing.assert_allclose(theirs[k].numpy(), after[k], atol=1e-6, err_msg=k)  # ... and equal

    res = facejax("import", *common, f"--from={out}", f"--workdir={run2}", "--json")
    assert res.returncode == 0, res.stdout + res.stderr
    report = json.loads(res.stdout.strip().splitlines()[-1])
    assert report["step"] == 2 and report["notes"] == []
    imported = trainer.Run(config, str(run2))
    again = imported.restore_state()
    imported.checkpointer.close()
    a, b = jax.tree_util.tree_leaves_with_path(jax.device_get(state)), jax.tree.leaves(jax.device_get(again))
    assert len(a) == len(b)
    for (path, x), y in zip(a, b):
        np.testing.assert_array_equal(x, y, err_msg=jax.tree_util.keystr(path))

    res = facejax("train", *common, f"--workdir={run2}", "--config.total_steps=3", "--config.sample_every=0")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "trained to step 3" in res.stdout and "no data-iterator state" in res.stdout
    res = facejax("sample", *common, f"--workdir={run2}", f"--out={tmp_path / 'samples'}", "--json")
    assert res.returncode == 0, res.stdout + res.stderr
    grids = json.loads(res.stdout.strip().splitlines()[-1])
    assert os.path.basename(grids["latent"]) == "000003_latent.png" and os.path.exists(grids["reference"])

    res = facejax(
        "import",
        *common,
        "--config.model.num_domains=2",
        f"--from={written['nets_ema']}",
        f"--workdir={tmp_path / 'other'}",
    )
    assert res.returncode == 2 and "Traceback" not in res.stderr
    errors = [line for line in res.stderr.splitlines() if line.startswith("facejax import: error:")]
    assert len(errors) == 1, res.stderr
    # the step's files are read in name order: nets first
    assert "000002_nets.ckpt [mapping_network]: tensor 'unshared.2.0.weight' [32, 32] is in the file" in errors[0]
    assert "config.model.num_domains=3 (this config has 2)" in errors[0]
    assert not (tmp_path / "other" / "checkpoints").exists()
