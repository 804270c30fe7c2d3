"""Orbax checkpoints: train state, tf.data iterator position and config, saved together.

Layout of `<workdir>/checkpoints/<step>/`:
  state/   the TrainState (params, optimizer states, EMA, step, root RNG key), StandardSave
  data/    the data stream of every process (`process_<i>-of-<n>/`): the position of a
           facejax.input.prefetch.DeviceIterator, or a tf.data iterator via tf.train.Checkpoint
  config/  the run's config as JSON; on restore it is compared with the current config

Saving is asynchronous for the state; the iterator is written synchronously before `save` returns
(it must capture the position at the step boundary, not a later one).
"""

import dataclasses
import json
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
                f"checkpoint was written by a different number of processes")
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


class Checkpointer:
    """The run's CheckpointManager with the fit check that makes resuming safe."""

    def __init__(self, workdir: str, *, keep: int = 3, save_interval_steps: int = 1, best_metric: str | None = None):
        """keep: the newest `keep` checkpoints stay (for resuming). best_metric: also keep the one
        checkpoint whose saved metrics (`save(..., metrics=...)`) have the lowest value of this key
        (e.g. an FID), however old; `best_step()` names it."""
        self.directory = epath.Path(workdir) / "checkpoints"
        self.best_metric = best_metric
        if best_metric:
            policies = ocp.checkpoint_managers

            def metric(m):
                return float(m.get(best_metric, float("inf"))) if m else float("inf")

            keep_opts = dict(
                preservation_policy=policies.AnyPreservationPolicy([
                    policies.LatestN(n=keep),
                    # sorted by decreasing metric, the last (lowest) one is kept
                    policies.BestN(get_metric_fn=metric, reverse=True, n=1, keep_checkpoints_without_metrics=False),
                ]),
                best_fn=metric, best_mode="min")
        else:
            keep_opts = dict(max_to_keep=keep)
        self.manager = ocp.CheckpointManager(
            self.directory.absolute(),
            options=ocp.CheckpointManagerOptions(
                save_interval_steps=save_interval_steps, create=True, enable_async_checkpointing=True,
                **keep_opts),
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

    def save(self, step: int, state, iterator, config: dict, *, force: bool = False, metrics: dict | None = None) -> bool:
        args = {"state": ocp.args.StandardSave(state), "config": ocp.args.JsonSave(config)}
        if iterator is not None:
            args["data"] = TfIteratorSave(iterator)
        if self.best_metric and metrics is None:
            metrics = {}  # ranked last by the best-metric policy (and no "no metrics" warning)
        return self.manager.save(step, args=ocp.args.Composite(**args), force=force, metrics=metrics)

    def saved_config(self, step: int) -> dict:
        out = self.manager.restore(step, args=ocp.args.Composite(config=ocp.args.JsonRestore()))
        return out["config"]

    def check_fits(self, step: int, config: dict, fields) -> None:
        lines = config_mismatches(self.saved_config(step), config, fields)
        if lines:
            raise FacejaxError(
                f"the checkpoint at {self.directory / str(step)} does not fit the config:\n"
                + "\n".join(lines)
                + "\nUse another --workdir, or the config the checkpoint was trained with.")

    def restore(self, step: int, abstract_state, iterator=None):
        """Restores the state (onto the shardings in `abstract_state`) and, if given, the iterator."""
        args = {"state": ocp.args.StandardRestore(abstract_state)}
        if iterator is not None and not (self.directory / str(step) / "data").exists():
            # Written without an input position (`facejax import`): the input starts from the beginning.
            if jax.process_index() == 0:
                print(f"{self.directory / str(step)} has no data-iterator state (an imported checkpoint); "
                      f"the input pipeline starts from the beginning", flush=True)
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
                f"from the config: {str(e).splitlines()[0][:400]}") from None
        return out["state"]

    def wait(self):
        self.manager.wait_until_finished()

    def close(self):
        self.manager.wait_until_finished()
        self.manager.close()


def write_json(path, obj) -> None:
    epath.Path(path).write_text(json.dumps(obj, indent=2, sort_keys=True))

