"""`facejax bench`: every field printed with values that agree with each other and with XLA's own
cost analysis; the PyTorch baseline and the speedup line; the input pipeline alone; clear errors.
Speeds are reported, never asserted."""

import json
import os
import re
import subprocess
import sys

import jax
import pytest
from tests import xla_env

from facejax import configs
from facejax.bench import core
from facejax.train import mesh as mesh_lib
from facejax.train import trainer

# Tiny widths: each subprocess compiles the step in seconds. The subprocesses and this process
# share a persistent compilation cache, so the step compiles once for the whole file.
TINY = {
    "img_size": 32,
    "batch_size": 4,
    "model.dim_in": 8,
    "model.max_conv_dim": 16,
    "model.hidden_dim": 16,
    "model.style_dim": 8,
    "model.latent_dim": 4,
}
CACHE = os.path.join(os.path.expanduser("~"), ".cache", "facejax-test-xla")
ENV = xla_env.env(
    4,
    JAX_COMPILATION_CACHE_DIR=CACHE,
    JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="1",
    JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0",
)


def facejax(repo_root, *args, overrides=TINY, timeout=900):
    cmd = [
        sys.executable,
        "-m",
        "facejax.cli",
        "bench",
        f"--config={repo_root}/configs/stargan_v2.py:synthetic",
        *[f"--config.{k}={v}" for k, v in overrides.items()],
        *args,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, env=ENV, timeout=timeout)


def _flops_from_cost_analysis(cfg):
    """XLA's cost analysis of the compiled step, computed here independently of facejax bench."""
    from facejax import registry

    family = registry.create(cfg)
    mesh = mesh_lib.make_mesh()
    shardings, init_fn, step_fn = trainer.jit_train_step(family, mesh)
    state = jax.eval_shape(init_fn, jax.ShapeDtypeStruct((2,), jax.numpy.uint32))
    state = jax.tree.map(lambda a, s: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=s), state, shardings)
    batch = {
        k: jax.ShapeDtypeStruct(v.shape, v.dtype, sharding=mesh_lib.batch_sharding(mesh))
        for k, v in family.bench_batch(cfg.batch_size).items()
    }
    compiled = step_fn.lower(state, batch).compile()
    return float(compiled.cost_analysis()["flops"]) * mesh.devices.size


@pytest.mark.slow
def test_bench_json_reports_consistent_fields(repo_root):
    res = facejax(repo_root, "--steps=3", "--warmup=1", "--json")
    assert res.returncode == 0, res.stderr
    r = json.loads(res.stdout.strip().splitlines()[-1])
    assert r["kernels"] == "cpu_tuned" and r["kernels_setting"] == "auto"  # config.kernels's default on a CPU
    assert r["family"] == "stargan_v2" and r["img_size"] == 32 and r["batch_size"] == 4
    assert r["num_devices"] == 4 and r["platform"] == "cpu" and r["steps"] == 3
    assert r["compile_s"] > 0 and 0 < r["step_ms_min"] <= r["step_ms_median"]
    assert r["images_per_s"] == pytest.approx(4 / (r["step_ms_median"] / 1e3), rel=1e-9)
    assert r["peak_bytes"] > 0 and r["peak_bytes_source"].startswith("XLA memory_analysis")
    assert r["mfu"] is None and r["peak_flops_per_s"] is None  # no known peak for a CPU
    assert r["torch_images_per_s"] is None and r["speedup"] is None
    assert r["donated"] is True, "the train state was not donated to the step"
    assert r["losses_finite"] is True and r["cpu_ms_median"] > 0
    assert r["flops_per_step"] > 0
    assert r["flops_per_step"] == _flops_from_cost_analysis(configs.load("stargan_v2:synthetic", **TINY))
    assert r["achieved_flops_per_s"] == pytest.approx(r["flops_per_step"] / (r["step_ms_median"] / 1e3))


@pytest.mark.torch
def test_bench_against_torch_prints_both_and_speedup_last(repo_root):
    pytest.importorskip("torch")
    res = facejax(repo_root, "--steps=1", "--warmup=1", "--against=torch")
    assert res.returncode == 0, res.stderr
    lines = res.stdout.strip().splitlines()
    text = "\n".join(lines)
    assert re.search(r"^kernels\s+cpu_tuned \(config.kernels=auto;", text, re.M), text  # auto on a CPU
    for label in (
        "compile",
        "step (median)",
        "images/s",
        "peak memory",
        "FLOPs/step",
        "MFU",
        "torch eager step",
        "torch images/s",
    ):
        assert re.search(rf"^{re.escape(label)}\s", text, re.M), f"no {label!r} line in:\n{text}"
    m = re.fullmatch(r"speedup (\d+\.\d\d)", lines[-1])
    assert m, f"last line is not 'speedup N.NN':\n{text}"
    ours = float(re.search(r"^images/s\s+([\d.]+)", text, re.M).group(1))
    theirs = float(re.search(r"^torch images/s\s+([\d.]+)", text, re.M).group(1))
    assert float(m.group(1)) == pytest.approx(ours / theirs, rel=0.02, abs=0.011)


def test_bench_input_times_the_pipeline_alone(repo_root, afhq_samples):
    folder = {**TINY, "data.source": "folder", "data.train_dir": str(afhq_samples / "ref"), "model.num_domains": 3}
    res = facejax(repo_root, "--input", "--steps=4", "--warmup=1", "--json", overrides=folder)
    assert res.returncode == 0, res.stderr
    r = json.loads(res.stdout.strip().splitlines()[-1])
    assert r["input_batches"] == 4 and r["batch_size"] == 4 and r["images_per_example"] == 3
    assert r["input_images_per_s"] > 0
    assert r["input_images_per_s"] == pytest.approx(4 * r["input_batches_per_s"])
    assert r["input_decoded_images_per_s"] == pytest.approx(3 * r["input_images_per_s"])
    res = facejax(repo_root, "--input", "--steps=2", overrides=folder)
    assert res.returncode == 0, res.stderr
    assert re.search(r"^images/s\s+[\d.]+ training examples", res.stdout, re.M), res.stdout


@pytest.mark.parametrize(
    "args, overrides, expected",
    [
        (["--input", "--against=torch"], {}, "does not take --against"),
        (["--against=torch"], {"model.generator": "stargan_v1", "model.style": "label"}, "config.model.generator="),
        (["--against=torch"], {"model.style": "label", "model.generator": "stargan_v2"}, "config.model.style='label'"),
        (["--steps=0"], {}, "--steps=0"),
        (["--against=tf"], {}, "--against"),
        ([], {"kernels": "gpu"}, "config.kernels='gpu': expected one of 'auto', 'native', 'cpu_tuned'"),
    ],
)
def test_bench_mistakes_get_one_clear_line(repo_root, args, overrides, expected):
    res = facejax(repo_root, *args, overrides={**TINY, **overrides})
    assert res.returncode == 2, res.stdout + res.stderr
    assert "Traceback" not in res.stderr
    ours = [ln for ln in res.stderr.splitlines() if ln.startswith("facejax")]  # (TensorFlow logs start-up lines)
    assert len(ours) == 1 and ours[0].startswith("facejax bench: error: ") and expected in ours[0], res.stderr


def test_peak_flops_table_knows_accelerators_not_cpus():
    assert core.peak_flops("NVIDIA H100 80GB HBM3", "bfloat16") == 989e12
    assert core.peak_flops("NVIDIA H100 PCIe", "bfloat16") == 756e12
    assert core.peak_flops("NVIDIA H200", "bfloat16") == 989e12
    assert core.peak_flops("NVIDIA A100-SXM4-80GB", "float32") == 156e12
    assert core.peak_flops("TPU v5 lite", "bfloat16") == 197e12
    assert core.peak_flops("TPU v4", "bfloat16") == 275e12
    assert core.peak_flops("Tesla V100-SXM2-16GB", "bfloat16") is None
    assert core.peak_flops("cpu", "float32") is None
