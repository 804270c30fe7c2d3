"""Orbax checkpoints: train state, tf.data iterator position and config, saved together.

Layout of `<workdir>/checkpoints/<step>/`:
  state/   the TrainState (params, optimizer states, EMA, step, root RNG key), StandardSave
  data/    the data stream of every process (`process_<i>-of-<n>/`): the position of a
           facejax.input.prefetch.DeviceIterator, or a tf.data iterator via tf.train.Checkpoint
  config/  the run's config as JSON; on restore it is compared with the current config
  checksums.json  size and SHA-256 of every other file, written once Orbax has committed the save

Saving is asynchronous for the state; the iterator is written synchronously before `save` returns
(it must capture the position at the step boundary, not a later one). The checksums are written when
the save is known to be committed (before the next save, and at `wait`/`close`); `verify(step)`
compares them at restore, so a damaged checkpoint (flipped or missing bytes, a lost file) is found
before it is restored, and the trainer falls back to the previous one. A checkpoint without the file
(killed between the commit and the checksum, or written by `facejax import`) is restored unverified.

The newest good checkpoint (committed, and its checksums written) is kept beside the `keep` rotation
(`NewestGood`, an Orbax preservation policy) until a newer one is good: with keep=1 a save that is not yet
checksummed, or one damaged later, never leaves the run without a verified checkpoint to fall back to.
"""

import dataclasses
import errno
import hashlib
import json
import os
import shutil
from typing import Any

import jax
import orbax.checkpoint as ocp
import tensorflow as tf
from etils import epath

from facejax.errors import FacejaxError

# --------------------------------------------------------------------------------------------
# tf.data iterator as an Orbax item


class TfIteratorHandler(ocp.CheckpointHandler):
    """Saves/restores the data stream per process: an iterator with save_state/restore_state
    (facejax.input.prefetch.DeviceIterator: its position) writes itself; a tf.data iterator is
    written with tf.train.Checkpoint."""

    def _path(self, directory: epath.Path) -> epath.Path:
        return directory / f"process_{jax.process_index()}-of-{jax.process_count()}"

    def save(self, directory: epath.Path, args: "TfIteratorSave"):
        if hasattr(args.iterator, "save_state"):
            args.iterator.save_state(directory)
            return
        path = self._path(directory)
        path.mkdir(parents=True, exist_ok=True)
        tf.train.Checkpoint(iterator=args.iterator).write(str(path / "iterator"))

    def restore(self, directory: epath.Path, args: "TfIteratorRestore"):
        if hasattr(args.iterator, "restore_state"):
            args.iterator.restore_state(directory)
            return args.iterator
        path = self._path(directory)
        if not path.exists():
            found = sorted(p.name for p in directory.iterdir()) if directory.exists() else []
            raise FacejaxError(
                f"{directory} has no data-iterator state for {path.name} (found {found}); the "
                f"checkpoint was written by a different number of processes"
            )
        tf.train.Checkpoint(iterator=args.iterator).read(str(path / "iterator")).assert_consumed()
        return args.iterator

    def metadata(self, directory):
        return None

    def finalize(self, directory):
        pass

    def close(self):
        pass


@ocp.args.register_with_handler(TfIteratorHandler, for_save=True)
@dataclasses.dataclass
class TfIteratorSave(ocp.args.CheckpointArgs):
    iterator: Any


@ocp.args.register_with_handler(TfIteratorHandler, for_restore=True)
@dataclasses.dataclass
class TfIteratorRestore(ocp.args.CheckpointArgs):
    iterator: Any


# --------------------------------------------------------------------------------------------


def flatten_dict(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten_dict(v, key + "."))
        else:
            out[key] = v
    return out


def config_mismatches(saved: dict, current: dict, fields) -> list[str]:
    """Lines `field: checkpoint has A, config has B` for each architecture field that differs."""
    s, c = flatten_dict(saved), flatten_dict(current)
    lines = []
    for f in fields:
        if s.get(f) != c.get(f):
            lines.append(f"  {f}: checkpoint has {s.get(f)!r}, config has {c.get(f)!r}")
    return lines


CHECKSUM_FILE = "checksums.json"


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _checkpoint_files(step_dir: str) -> list[str]:
    out = []
    for root, _, files in os.walk(step_dir):
        for f in files:
            rel = os.path.relpath(os.path.join(root, f), step_dir)
            if rel != CHECKSUM_FILE:
                out.append(rel)
    return sorted(out)


def write_checksums(step_dir) -> None:
    """Writes `<step_dir>/checksums.json`: {relative path: [size, sha256]} of every file (atomically)."""
    step_dir = str(step_dir)
    files = {
        rel: [os.path.getsize(os.path.join(step_dir, rel)), _sha256(os.path.join(step_dir, rel))]
        for rel in _checkpoint_files(step_dir)
    }
    tmp = os.path.join(step_dir, CHECKSUM_FILE + ".tmp")
    with open(tmp, "w") as f:
        json.dump({"algorithm": "sha256", "files": files}, f, indent=0, sort_keys=True)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, os.path.join(step_dir, CHECKSUM_FILE))


def verify_checksums(step_dir) -> str | None:
    """None when every file has its recorded size and checksum (or no checksums were written: an
    unverified checkpoint); else what is wrong, naming the first damaged file."""
    step_dir = str(step_dir)
    path = os.path.join(step_dir, CHECKSUM_FILE)
    if not os.path.exists(path):
        return None
    try:
        with open(path) as f:
            files = json.load(f)["files"]
    except (OSError, ValueError, KeyError) as e:
        return f"{CHECKSUM_FILE} unreadable ({type(e).__name__})"
    for rel, (size, digest) in sorted(files.items()):
        full = os.path.join(step_dir, rel)
        if not os.path.exists(full):
            return f"{rel} is missing"
        actual = os.path.getsize(full)
        if actual != size:
            return f"{rel} has {actual} bytes, {size} were written"
        if _sha256(full) != digest:
            return f"{rel} does not match its checksum"
    return None


def disk_full(e: BaseException) -> bool:
    """Whether `e` (or an exception it was raised from) is ENOSPC / EDQUOT."""
    seen = set()
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if "No space left on device" in str(e):
            return True
        e = e.__cause__ or e.__context__
    return False


@dataclasses.dataclass
class NewestGood(ocp.checkpoint_managers.PreservationPolicy):
    """Preserves the checkpoint whose step `step_fn()` returns (the newest good one), whatever the rotation says."""

    step_fn: Any

    def should_preserve(self, checkpoints, *, context):
        good = self.step_fn()
        return [c.step == good for c in checkpoints]


def newest_checksummed(directory) -> int | None:
    """The newest step under `directory` that has its checksums file, or None."""
    directory = str(directory)
    steps = [int(d) for d in os.listdir(directory) if d.isdigit()] if os.path.isdir(directory) else []
    good = [s for s in steps if os.path.exists(os.path.join(directory, str(s), CHECKSUM_FILE))]
    return max(good) if good else None


class Checkpointer:
    """The run's CheckpointManager with the fit check that makes resuming safe, and checksums."""

    def __init__(self, workdir: str, *, keep: int = 3, save_interval_steps: int = 1, best_metric: str | None = None):
        """keep: the newest `keep` checkpoints stay (for resuming). best_metric: also keep the one
        checkpoint whose saved metrics (`save(..., metrics=...)`) have the lowest value of this key
        (e.g. an FID), however old; `best_step()` names it. The newest good checkpoint (`good_step`: committed
        and checksummed) is kept too, until a newer one is good."""
        self.directory = epath.Path(workdir) / "checkpoints"
        self.best_metric = best_metric
        # The same on every process: read from the disk at start, then advanced by the saves all processes make.
        self.good_step = newest_checksummed(self.directory)
        policies = ocp.checkpoint_managers
        keep_newest_good = NewestGood(lambda: self.good_step)
        if best_metric:

            def metric(m):
                return float(m.get(best_metric, float("inf"))) if m else float("inf")

            keep_opts = dict(
                preservation_policy=policies.AnyPreservationPolicy(
                    [
                        policies.LatestN(n=keep),
                        keep_newest_good,
                        # sorted by decreasing metric, the last (lowest) one is kept
                        policies.BestN(get_metric_fn=metric, reverse=True, n=1, keep_checkpoints_without_metrics=False),
                    ]
                ),
                best_fn=metric,
                best_mode="min",
            )
        else:
            keep_opts = dict(
                preservation_policy=policies.AnyPreservationPolicy([policies.LatestN(n=keep), keep_newest_good])
            )
        self._unchecked = []  # saved steps whose checksums are not written yet
        self.manager = ocp.CheckpointManager(
            self.directory.absolute(),
            options=ocp.CheckpointManagerOptions(
                save_interval_steps=save_interval_steps, create=True, enable_async_checkpointing=True, **keep_opts
            ),
            item_names=("state", "data", "config"),
        )

    def latest_step(self):
        return self.manager.latest_step()

    def best_step(self):
        """The kept checkpoint with the lowest `best_metric`, or None (no metric saved yet, or no best_metric)."""
        if not self.best_metric:
            return None
        step = self.manager.best_step()
        if step is None:
            return None
        metrics = self.manager.metrics(step) or {}
        return step if self.best_metric in metrics else None

    def save(
        self, step: int, state, iterator, config: dict, *, force: bool = False, metrics: dict | None = None
    ) -> bool:
        try:
            return self._save(step, state, iterator, config, force=force, metrics=metrics)
        except Exception as e:
            if disk_full(e):
                raise self._disk_full(step, e) from None
            raise

    def _disk_full(self, step, e) -> FacejaxError:
        what = f"checkpoint step {step}" if step is not None else "a checkpoint"
        return FacejaxError(
            f"the disk of {self.directory} is full (saving {what}: {str(e).splitlines()[0][:200]}); "
            f"free some space and relaunch: the committed checkpoints are intact"
        )

    def _save(self, step, state, iterator, config, *, force, metrics):
        self._write_pending_checksums()
        args = {"state": ocp.args.StandardSave(state), "config": ocp.args.JsonSave(config)}
        if iterator is not None:
            args["data"] = TfIteratorSave(iterator)
        if self.best_metric and metrics is None:
            metrics = {}  # ranked last by the best-metric policy (and no "no metrics" warning)
        saved = self.manager.save(step, args=ocp.args.Composite(**args), force=force, metrics=metrics)
        if saved:
            self._unchecked.append(step)
        return saved

    def _write_pending_checksums(self):
        """Checksums of the saves Orbax has committed (waits for the one in flight)."""
        if not self._unchecked:
            return
        self.manager.wait_until_finished()
        steps, self._unchecked = self._unchecked, []
        committed = [s for s in steps if s in self.manager.all_steps()]  # (a later save may have rotated one away)
        if jax.process_index() == 0:
            for step in committed:
                write_checksums(self.directory / str(step))
        if committed:
            self.good_step = max(committed + [self.good_step or 0])

    def verify(self, step: int) -> str | None:
        """None if checkpoint `step` is intact (or unverified: no checksums); else what is damaged."""
        return verify_checksums(self.directory / str(step))

    def all_steps(self) -> list[int]:
        return sorted(self.manager.all_steps())

    def move_aside(self, step: int) -> epath.Path:
        """Moves a damaged checkpoint out of the manager's folder (to `<workdir>/checkpoints_damaged/`),
        so that the run can save that step again; returns where it went (process 0 moves it)."""
        dest_root = self.directory.parent / "checkpoints_damaged"
        dest = dest_root / str(step)
        k = 1
        while dest.exists():
            dest, k = dest_root / f"{step}.{k}", k + 1
        if jax.process_index() == 0:
            dest_root.mkdir(parents=True, exist_ok=True)
            shutil.move(str(self.directory / str(step)), str(dest))
        if jax.process_count() > 1:
            from jax.experimental import multihost_utils

            multihost_utils.sync_global_devices(f"facejax-move-aside-{step}")
        self.manager.reload()
        self.good_step = newest_checksummed(self.directory)
        return dest

    def saved_config(self, step: int) -> dict:
        out = self.manager.restore(step, args=ocp.args.Composite(config=ocp.args.JsonRestore()))
        return out["config"]

    def check_fits(self, step: int, config: dict, fields) -> None:
        lines = config_mismatches(self.saved_config(step), config, fields)
        if lines:
            raise FacejaxError(
                f"the checkpoint at {self.directory / str(step)} does not fit the config:\n"
                + "\n".join(lines)
                + "\nUse another --workdir, or the config the checkpoint was trained with."
            )

    def restore(self, step: int, abstract_state, iterator=None):
        """Restores the state (onto the shardings in `abstract_state`) and, if given, the iterator."""
        args = {"state": ocp.args.StandardRestore(abstract_state)}
        if iterator is not None and not (self.directory / str(step) / "data").exists():
            # Written without an input position (`facejax import`): the input starts from the beginning.
            if jax.process_index() == 0:
                print(
                    f"{self.directory / str(step)} has no data-iterator state (an imported checkpoint); "
                    f"the input pipeline starts from the beginning",
                    flush=True,
                )
            iterator = None
        if iterator is not None:
            args["data"] = TfIteratorRestore(iterator)
        try:
            out = self.manager.restore(step, args=ocp.args.Composite(**args))
        except FacejaxError:
            raise
        except (ValueError, KeyError) as e:  # shape/structure mismatch not caught by check_fits
            raise FacejaxError(
                f"the checkpoint at {self.directory / str(step)} does not fit the networks built "
                f"from the config: {str(e).splitlines()[0][:400]}"
            ) from None
        return out["state"]

    def wait(self):
        try:
            self.manager.wait_until_finished()
            self._write_pending_checksums()
        except Exception as e:
            if disk_full(e):
                raise self._disk_full(None, e) from None
            raise

    def close(self):
        try:
            self.wait()
        finally:
            self.manager.close()


def write_json(path, obj) -> None:
    epath.Path(path).write_text(json.dumps(obj, indent=2, sort_keys=True))
