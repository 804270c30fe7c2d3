"""Multi-process training: 2 processes x 2 CPU devices (launch/local.sh, jax.distributed over gloo)
train exactly what 1 process x 4 devices trains; the checkpoint they write once restores onto 1 process
with 1 device, and that one's back onto 2 x 2."""

import pathlib
import subprocess
import sys

import jax
import numpy as np
import pytest
from tests import xla_env
from tests.train.helpers import tiny_config

from facejax.input import streams
from facejax.train import distributed, trainer

REPO = pathlib.Path(__file__).resolve().parents[2]
CACHE = str(pathlib.Path.home() / ".cache" / "facejax-test-xla")


def _overrides(afhq_samples):
    return {
        "data.source": "folder",
        "data.train_dir": str(afhq_samples / "ref"),
        "data.eval_dir": str(afhq_samples / "src"),
        "model.num_domains": 3,
        "log_every": 1,
    }


def _cli_args(workdir, overrides, total_steps):
    args = [f"--config={REPO}/configs/stargan_v2.py:synthetic", f"--workdir={workdir}"]
    cfg = tiny_config("unused", total_steps=total_steps, **overrides)
    for key in (
        "img_size",
        "batch_size",
        "seed",
        "model.dim_in",
        "model.max_conv_dim",
        "model.hidden_dim",
        "model.style_dim",
        "model.latent_dim",
        "log_every",
        "sample_every",
        "checkpoint_every",
        "num_sample_images",
        "total_steps",
        "data.source",
        "data.train_dir",
        "data.eval_dir",
        "model.num_domains",
    ):
        node = cfg
        for part in key.split("."):
            node = node[part]
        args.append(f"--config.{key}={node}")
    return args


def _launch(n_proc, devices_per_proc, workdir, overrides, total_steps, tmp_path):
    # launch/local.sh adds each process's device count to these flags
    env = xla_env.env(
        None,
        DEVICES_PER_PROCESS=str(devices_per_proc),
        LOG_DIR=str(tmp_path / f"logs{total_steps}"),
        JAX_COMPILATION_CACHE_DIR=CACHE,
        JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="1",
    )
    cmd = [
        "bash",
        str(REPO / "launch" / "local.sh"),
        str(n_proc),
        sys.executable,
        "-m",
        "facejax.cli",
        "train",
        *_cli_args(workdir, overrides, total_steps),
    ]
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900, cwd=REPO)
    logs = "".join(p.read_text() for p in sorted((tmp_path / f"logs{total_steps}").glob("*.log")))
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:] + logs[-3000:]
    return res.stdout


def _params(workdir, cfg, step):
    run = trainer.Run(cfg, str(workdir))
    state = run.checkpointer.restore(step, run.abstract_state)
    run.checkpointer.close()
    return jax.device_get(state)


def test_global_stream_rows_do_not_depend_on_the_process_count():
    def element(position):
        return {"p": position}

    one = [b["p"] for b in streams.batches(element, 8, start_batch=3).take(2).as_numpy_iterator()]
    parts = [
        [
            b["p"]
            for b in streams.batches(element, 4, start_batch=3, process_index=i, process_count=2)
            .take(2)
            .as_numpy_iterator()
        ]
        for i in range(2)
    ]
    for k in range(2):
        np.testing.assert_array_equal(np.concatenate([parts[0][k], parts[1][k]]), one[k])
    np.testing.assert_array_equal(one[0], np.arange(24, 32))


def test_environment_detection():
    assert distributed.detect({}) is None
    assert distributed.detect({"SLURM_NTASKS": "1"}) is None
    assert distributed.detect({"SLURM_NTASKS": "8"}) == {}
    assert distributed.detect({"TPU_WORKER_HOSTNAMES": "a,b,c,d"}) == {}
    assert distributed.detect(
        {"FACEJAX_COORDINATOR": "h:1", "FACEJAX_NUM_PROCESSES": "2", "FACEJAX_PROCESS_ID": "1"}
    ) == dict(coordinator_address="h:1", num_processes=2, process_id=1)
    with pytest.raises(Exception, match="FACEJAX_PROCESS_ID=2 must lie in"):
        distributed.detect({"FACEJAX_COORDINATOR": "h:1", "FACEJAX_NUM_PROCESSES": "2", "FACEJAX_PROCESS_ID": "2"})
    with pytest.raises(Exception, match="FACEJAX_COORDINATOR"):
        distributed.detect({"FACEJAX_NUM_PROCESSES": "2"})


@pytest.mark.slow
def test_two_processes_equal_one_and_checkpoints_move_between_layouts(tmp_path, afhq_samples):
    over = _overrides(afhq_samples)
    multi = tmp_path / "multi"
    out = _launch(2, 2, multi, over, 2, tmp_path)
    assert "4 device(s), 2 process(es)" in out and "step 2/2" in out
    # One checkpoint, written once (not once per process).
    assert sorted(p.name for p in (multi / "checkpoints").iterdir() if p.name.isdigit()) == ["2"]

    # The same config in this pytest process: 1 process, 4 devices.
    cfg = tiny_config(tmp_path / "tfds", total_steps=2, **over)
    single = tmp_path / "single"
    trainer.train(cfg, str(single))
    a, b = _params(multi, cfg, 2), _params(single, cfg, 2)
    assert int(a.step) == int(b.step) == 2
    # Discriminator, mapping network and style encoder: the same weights up to summation order.
    for net in ("discriminator", "mapping_network", "style_encoder"):
        for x, y in zip(jax.tree.leaves(a.params[net]), jax.tree.leaves(b.params[net])):
            np.testing.assert_allclose(x, y, rtol=1e-3, atol=1e-4)
    # Generator: compared by what it draws. StarGAN v2's Adam has beta1 = 0, so its first step moves every
    # parameter by +-lr, by the sign of its gradient; where that gradient is a nearly cancelling sum over the
    # batch (1 example per device here), the round-off of the all-reduce decides the sign. Gloo's cross-process
    # sum and XLA's in-process one add in different orders, and the processor's vector width changes which
    # parameters tip: the raw generators' outputs differed by at most 9e-5 on the machine this test was written on
    # and by 1.3e-2 (EMA: within 5e-4) on an AMD EPYC with AVX2. Its conv biases before instance norm (gradient zero
    # up to round-off) differ by ~lr in any two summation orders and change no output.
    family = trainer.Run(cfg, str(single)).family
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (4, 32, 32, 3)).astype(np.float32)
    z = rng.normal(size=(4, cfg.model.latent_dim)).astype(np.float32)
    y_trg = np.array([0, 1, 2, 0], np.int32)
    for (nets_a, nets_b), atol in (
        ((a.ema, b.ema), 2e-3),
        (({k: a.params[k] for k in a.ema}, {k: b.params[k] for k in b.ema}), 3e-2),
    ):
        out_a = np.asarray(family.translate(nets_a, x, ("latent", z), y_trg))
        out_b = np.asarray(family.translate(nets_b, x, ("latent", z), y_trg))
        np.testing.assert_allclose(out_a, out_b, atol=atol)

    # The 2x2 checkpoint resumes on 1 process with 1 device ...
    env = xla_env.env(1, JAX_COMPILATION_CACHE_DIR=CACHE)
    res = subprocess.run(
        [sys.executable, "-m", "facejax.cli", "train", *_cli_args(multi, over, 3)],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
        cwd=REPO,
    )
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert "resuming from" in res.stdout and "1 device(s), 1 process(es)" in res.stdout
    assert "step 3/3" in res.stdout and "step 1/" not in res.stdout
    final = _params(multi, cfg, 3)
    assert int(final.step) == 3
    assert all(np.isfinite(x).all() for x in jax.tree.leaves(final.params))
    # ... and the checkpoint the 1-device run wrote goes back onto 2 processes x 2 devices.
    out = _launch(2, 2, multi, over, 4, tmp_path)
    assert "resuming from" in out and "step 4/4" in out and "step 3/" not in out
    back = _params(multi, cfg, 4)
    assert int(back.step) == 4 and all(np.isfinite(x).all() for x in jax.tree.leaves(back.params))


HOLDER = """
import os, sys, time
from facejax.train import distributed
distributed.initialize()
import jax
from facejax.train.lock import WorkdirLock
lock = WorkdirLock(sys.argv[1]).acquire()
print(f"locked by process {jax.process_index()}: pid {os.getpid()}, holds the file: {lock._fd is not None}", flush=True)
time.sleep(600)
"""


@pytest.mark.slow
def test_two_processes_take_the_lock_once_and_a_second_run_stops_on_every_process(tmp_path):
    """A 2-process run holds the workdir lock on process 0 only; a second 2-process `facejax train` on the workdir
    gets the holder's pid and host on both processes and exits 2 (no collective hangs on the refusal), and so
    does a single-process run. Nothing is compiled: the lock is taken before the run builds anything."""
    import os
    import re
    import signal
    import socket
    import time

    from facejax.errors import FacejaxError

    work = tmp_path / "run"
    env = xla_env.env(None, LOG_DIR=str(tmp_path / "holder"))
    launch = ["bash", str(REPO / "launch" / "local.sh"), "2"]
    holder = subprocess.Popen(  # in its own process group, to end it with its two processes
        [*launch, sys.executable, "-c", HOLDER, str(work)],
        env=env,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        logs = [tmp_path / "holder" / f"process_{i}.log" for i in range(2)]
        deadline = time.time() + 300
        while not all(p.exists() and "locked by" in p.read_text() for p in logs):
            assert holder.poll() is None and time.time() < deadline, [p.read_text() for p in logs if p.exists()]
            time.sleep(0.2)
        lines = [re.search(r"locked by process (\d): pid (\d+), holds the file: (\w+)", p.read_text()) for p in logs]
        assert [(m[1], m[3]) for m in lines] == [("0", "True"), ("1", "False")]  # taken once, by process 0
        pid = lines[0][2]
        assert f'"pid": {pid}' in (work / "lock").read_text()
        expected = f"--workdir {work} is in use by another run: pid {pid} on host {socket.gethostname()}"

        second = subprocess.run(
            [*launch, sys.executable, "-m", "facejax.cli", "train"]
            + [f"--config={REPO}/configs/stargan_v2.py:synthetic", f"--workdir={work}"],
            env=dict(env, LOG_DIR=str(tmp_path / "second")),
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert second.returncode == 2, second.stdout[-2000:] + second.stderr[-2000:]
        for i in range(2):
            text = (tmp_path / "second" / f"process_{i}.log").read_text()
            assert expected in text and "Traceback" not in text, text[-2000:]
        assert not (work / "checkpoints").exists()

        with pytest.raises(FacejaxError, match=re.escape(expected)):  # a single-process run, in this process
            trainer.train(tiny_config(tmp_path / "tfds"), str(work))
    finally:
        os.killpg(holder.pid, signal.SIGKILL)  # (SIGTERM is a preemption notice to jax.distributed)
        holder.wait(timeout=60)
