"""Fault injection: no run loses its last good checkpoint, whatever goes wrong (issue 23).

Divergence (lr=1e8, a poisoned batch), damaged checkpoints (flipped bytes, truncated files, a lost
position), a second run on the same workdir, a full disk, and user mistakes each get one line (exit 2) or
an automatic fallback, with the good checkpoints intact. In-process where a subprocess adds nothing.
"""

import errno
import json
import os
import shutil
import socket
import subprocess
import sys

import jax
import numpy as np
import pytest
import tensorflow as tf
from tests.train.helpers import tiny_config

from facejax import registry
from facejax.errors import FacejaxError
from facejax.families.stargan_v2.family import StarGANv2
from facejax.input import prefetch
from facejax.train import checkpoint, finite, trainer
from facejax.train.lock import WorkdirLock


@pytest.fixture(scope="module")
def folder_data(afhq_samples):
    return {
        "data.source": "folder",
        "data.train_dir": str(afhq_samples / "ref"),
        "data.eval_dir": str(afhq_samples / "src"),
        "model.num_domains": 3,
    }


def _cfg(tmp_path, folder_data, **kw):
    return tiny_config(tmp_path / "tfds", **{**folder_data, **kw})


def _steps(work) -> list[int]:
    return sorted(int(d) for d in os.listdir(os.path.join(work, "checkpoints")) if d.isdigit())


def _leaves(state):
    return [np.asarray(x) for x in jax.tree.leaves(jax.device_get(state))]


def _restore(cfg, work, step=None):
    run = trainer.Run(cfg, str(work))
    try:
        step = step if step is not None else run.checkpointer.latest_step()
        return run.checkpointer.restore(step, run.abstract_state)
    finally:
        run.checkpointer.close()


# ------------------------------------------------------------------------------------------- non-finite


@pytest.fixture(scope="module")
def two_checkpoints(tmp_path_factory, folder_data):
    root = tmp_path_factory.mktemp("integrity")
    cfg = _cfg(root, folder_data, total_steps=2, checkpoint_every=1)
    trainer.train(cfg, str(root / "run"))
    return cfg, root / "run"


@pytest.fixture(scope="module")
def step1_leaves(two_checkpoints):
    cfg, work = two_checkpoints
    return _leaves(_restore(cfg, work, 1))


# A diverging learning rate: the synthetic preset's (lr 3e-4, f_lr 3e-6) times 2**40 (about 3e8). lower_lr with
# factor 2**-40 gives back exactly the preset's rates, so its step is the program the other tests compile.
SCALE = 2.0**40


def test_divergence_never_replaces_the_last_good_checkpoint(two_checkpoints, tmp_path, folder_data, capsys):
    preset, good_run = two_checkpoints  # a good run: steps 1 and 2 saved
    work = str(tmp_path / "run")
    shutil.copytree(good_run, work)
    good = dict(checkpoint_every=1, keep_checkpoints=1, log_every=1)
    # Continuing the good run with a learning rate that diverges: it stops at the check before the first
    # non-finite save, with one line; keep_checkpoints=1 would have rotated the good checkpoint away.
    diverging = dict(lr=preset.lr * SCALE, f_lr=preset.f_lr * SCALE, **good)
    with pytest.raises(FacejaxError, match=r"non-finite .*last good checkpoint, step \d") as err:
        trainer.train(_cfg(tmp_path, folder_data, total_steps=8, **diverging), work)
    assert "\n" not in str(err.value) and "--config.nonfinite=skip_batch" in str(err.value)
    kept = _steps(work)
    assert kept and 2 <= kept[-1] < 8  # nothing non-finite saved; the good step 2 (or a finite later one) kept
    state = _restore(preset, work)
    assert all(np.isfinite(x).all() for x in _leaves(state) if x.dtype.kind == "f")
    # lower_lr rolls back to that checkpoint and continues with the learning rates times the factor.
    capsys.readouterr()
    lowered = _cfg(
        tmp_path,
        folder_data,
        total_steps=kept[-1] + 2,
        nonfinite="lower_lr",
        nonfinite_lr_factor=1 / SCALE,
        **diverging,
    )
    state = trainer.train(lowered, work)
    out = capsys.readouterr().out
    assert "learning rates lowered for this launch: f_lr=3e-06, lr=0.0003 (retry 1 of 3)" in out, out
    assert int(state.step) == kept[-1] + 2
    assert all(np.isfinite(x).all() for x in _leaves(state) if x.dtype.kind == "f")


POISONED_BATCH = 2


class PoisonedStarGAN(StarGANv2):
    """StarGAN v2 whose batch POISONED_BATCH (of the run's batch size) holds NaN images: a corrupt input."""

    def train_dataset(self, local_batch, process_index=0, process_count=1, start_batch=0):
        ds = super().train_dataset(local_batch, process_index, process_count, start_batch=start_batch)

        def poison(i, batch):
            x = batch["x_src"]
            return {**batch, "x_src": tf.where(i == POISONED_BATCH, tf.fill(tf.shape(x), float("nan")), x)}

        return ds.enumerate(start_batch).map(poison)


def test_skip_batch_rolls_back_and_skips_the_poisoned_batch(tmp_path, folder_data, monkeypatch, capsys):
    monkeypatch.setitem(registry.FAMILIES, "poisoned_test", f"{__name__}:PoisonedStarGAN")
    cfg = _cfg(tmp_path, folder_data, total_steps=4, checkpoint_every=2, log_every=2, nonfinite="skip_batch")
    cfg.family = "poisoned_test"
    work = str(tmp_path / "run")
    state = trainer.train(cfg, work)
    out = capsys.readouterr().out
    # Step 3 read batch 2 (examples 8..11); the check at step 4 found it, the run went back to step 2
    # and continued with batches 3 and 4.
    assert "step 3: non-finite losses" in out and "skipping the batch at example 8" in out, out
    assert int(state.step) == 4 and _steps(work) == [2, 4]
    assert all(np.isfinite(x).all() for x in _leaves(state) if x.dtype.kind == "f")
    position = json.loads((tmp_path / "run/checkpoints/4/data/process_0-of-1/position.json").read_text())
    assert position == {"next_batch": 5, "next_example": 20, "batch_size": 4}


def test_finite_watch_reads_flags_only_when_checked():
    watch = finite.FiniteWatch()
    ok = {"loss": jax.numpy.float32(1.0), finite.FINITE: jax.numpy.array(True)}
    bad = {"loss": jax.numpy.float32(np.inf), finite.FINITE: jax.numpy.array(False)}
    assert watch.add(1, 0, ok) == {"loss": 1.0}
    watch.add(2, 4, bad)
    watch.add(3, 8, bad)
    with pytest.raises(finite.NonFinite) as err:
        watch.check()
    assert (err.value.step, err.value.example, err.value.losses) == (2, 4, ["loss"])
    watch.check()  # the flags were consumed


# ------------------------------------------------------------------------------------------- integrity


def _largest_data_file(step_dir):
    files = [p for p in step_dir.glob("state/**/d/*") if p.is_file()]
    return max(files, key=lambda p: p.stat().st_size)


def _flip(step_dir):
    path = _largest_data_file(step_dir)
    data = bytearray(path.read_bytes())
    data[100:4196] = bytes(b ^ 0xFF for b in data[100:4196])
    path.write_bytes(bytes(data))


def _truncate(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


DAMAGE = {
    "flipped bytes": (_flip, "does not match its checksum"),
    "truncated data file": (lambda d: _truncate(_largest_data_file(d)), "bytes, "),
    "truncated _METADATA": (lambda d: _truncate(d / "state" / "_METADATA"), "state/_METADATA has"),
    "missing position.json": (
        lambda d: (d / "data/process_0-of-1/position.json").unlink(),
        "data/process_0-of-1/position.json is missing",
    ),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_damaged_newest_checkpoint_falls_back_to_the_previous(two_checkpoints, step1_leaves, tmp_path, damage, capsys):
    cfg, src = two_checkpoints
    work = tmp_path / "run"
    shutil.copytree(src, work)
    assert json.loads((work / "checkpoints/2" / checkpoint.CHECKSUM_FILE).read_text())["files"]
    breaker, message = DAMAGE[damage]
    breaker(work / "checkpoints" / "2")
    run = trainer.Run(cfg, str(work))
    try:
        run.set_aside_damaged()
        state = run.restore_or_init(None)
    finally:
        run.checkpointer.close()
    out = capsys.readouterr().out
    assert "checkpoint step 2 is damaged (" in out and message in out, out
    assert "restoring step 1 instead" in out and out.count(" is damaged") == 1
    assert int(state.step) == 1
    for a, b in zip(step1_leaves, _leaves(state)):
        np.testing.assert_array_equal(a, b)
    assert (work / "checkpoints_damaged" / "2").is_dir() and _steps(work) == [1]


def test_newest_good_checkpoint_is_kept_beside_the_rotation(tmp_path):
    # keep=1: each save's checksums are written when the next save starts, so the rotation alone would delete
    # the one verified checkpoint as soon as an unverified newer one exists.
    ckpt = checkpoint.Checkpointer(str(tmp_path / "run"), keep=1)
    for step in (1, 2, 3):
        ckpt.save(step, {"w": np.full(3, float(step))}, None, {"note": "test"}, force=True)
        ckpt.manager.wait_until_finished()
        # the save of `step` wrote step - 1's checksums: that one is kept beside the newest
        assert (ckpt.all_steps(), ckpt.good_step) == ([step - 1, step] if step > 1 else [1], step - 1 or None)
    ckpt.close()  # writes step 3's checksums: the next save may rotate 2 away
    assert ckpt.good_step == 3 and checkpoint.newest_checksummed(tmp_path / "run" / "checkpoints") == 3


def test_restore_falls_back_to_the_kept_good_checkpoint_and_names_it(two_checkpoints, tmp_path, folder_data, capsys):
    preset, src = two_checkpoints  # steps 1 and 2, both checksummed
    work = tmp_path / "run"
    shutil.copytree(src, work)
    cfg = _cfg(tmp_path, folder_data, total_steps=3, checkpoint_every=1, keep_checkpoints=1)
    trainer.train(cfg, str(work))
    assert _steps(work) == [2, 3]  # 3: the newest; 2: the newest good one when 3 was saved (1 rotated away)
    _flip(work / "checkpoints" / "3")
    capsys.readouterr()
    run = trainer.Run(cfg, str(work))
    try:
        assert run.checkpointer.good_step == 3  # checksummed, not yet verified
        run.set_aside_damaged()
        assert run.checkpointer.good_step == 2
        state = run.restore_or_init(None)
        original = checkpoint.Checkpointer(str(src))
        want = _leaves(original.restore(2, run.abstract_state))
        original.close()
    finally:
        run.checkpointer.close()
    out = capsys.readouterr().out
    assert "checkpoint step 3 is damaged (state/" in out, out
    assert "restoring step 2 instead, the newest good checkpoint (checksummed; kept beside the keep_checkpoints" in out
    assert int(state.step) == 2
    for x, y in zip(want, _leaves(state)):
        np.testing.assert_array_equal(x, y)


def test_intact_checkpoints_verify(two_checkpoints):
    _, src = two_checkpoints
    assert [checkpoint.verify_checksums(src / "checkpoints" / str(s)) for s in (1, 2)] == [None, None]


# ------------------------------------------------------------------------------------------- workdir lock

HOLDER = """
import sys, time
from facejax.train.lock import WorkdirLock
lock = WorkdirLock(sys.argv[1]).acquire()
print("locked", flush=True)
time.sleep(600)
"""


def _refused(work, **overrides) -> str:
    """The FacejaxError (one line; the CLI prints it and exits 2) of a train call that must stop before training."""
    with pytest.raises(FacejaxError) as err:
        trainer.train(tiny_config(work.parent / "tfds", **overrides), str(work))
    assert "\n" not in str(err.value)
    return str(err.value)


def test_second_run_on_a_workdir_is_refused_and_a_dead_holders_lock_taken_over(tmp_path, capsys):
    work = tmp_path / "run"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(work)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        err = _refused(work)
        assert f"in use by another run: pid {holder.pid} on host {socket.gethostname()}" in err, err
        assert not os.path.exists(work / "checkpoints")
    finally:
        holder.kill()  # SIGKILL: the lock file stays behind, its flock dies with the holder
        holder.wait()
    with WorkdirLock(str(work)):
        pass
    out = capsys.readouterr().out
    assert f"took over the stale lock {work / 'lock'} of pid {holder.pid}" in out
    with WorkdirLock(str(work)):  # released cleanly: no note
        with pytest.raises(FacejaxError, match=f"pid {os.getpid()}"):
            WorkdirLock(str(work)).acquire()
    assert "stale" not in capsys.readouterr().out


# ------------------------------------------------------------------------------------------- user mistakes


@pytest.mark.parametrize(
    "overrides, expected",
    [
        ({"lr": -1.0}, "config.lr=-1.0: expected a learning rate > 0"),
        ({"f_lr": 0.0}, "config.f_lr=0.0: expected a learning rate > 0"),
        ({"keep_checkpoints": 0}, "config.keep_checkpoints=0: expected an integer >= 1"),
        ({"total_steps": -5}, "config.total_steps=-5: expected an integer >= 1"),
        ({"lambda_sty": -1.0}, "config.lambda_sty=-1.0: expected a loss weight >= 0"),
        ({"nonfinite": "retry"}, "config.nonfinite='retry'; expected one of stop, skip_batch, lower_lr"),
    ],
)
def test_values_out_of_range_are_refused_in_one_line(tmp_path, overrides, expected):
    assert expected in _refused(tmp_path / "run", **overrides)
    assert not os.path.exists(tmp_path / "run")


def test_workdir_that_is_a_file_gets_one_line(tmp_path):
    (tmp_path / "file").write_text("x")
    assert f"--workdir {tmp_path / 'file'} is a file" in _refused(tmp_path / "file")


def test_full_disk_while_saving_gets_one_line(tmp_path, monkeypatch):
    def full(self, directory):
        raise OSError(errno.ENOSPC, "No space left on device", str(directory))

    monkeypatch.setattr(prefetch.DeviceIterator, "save_state", full)
    ckpt = checkpoint.Checkpointer(str(tmp_path / "run"))
    it = prefetch.DeviceIterator(lambda start: iter(()), None, size=0)
    with pytest.raises(
        FacejaxError,
        match=r"disk of .* is full \(saving checkpoint step 3: .*No space left on "
        r"device.*\); .*the committed checkpoints are intact",
    ) as err:
        ckpt.save(3, {"w": np.arange(3.0)}, it, {"note": "test"}, force=True)
    assert "\n" not in str(err.value)
    ckpt.close()
