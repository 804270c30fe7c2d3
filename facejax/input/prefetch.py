"""Global batches on the devices ahead of the train step, with a position that checkpoints.

    it = DeviceIterator(lambda start: family.train_dataset(local_bs, pi, pc, start_batch=start),
                        mesh_lib.batch_sharding(mesh), size=2)
    batch = next(it)      # dict of global jax.Arrays sharded over `data`

A background thread reads this process's local numpy batches from tf.data and forms the global arrays
with `jax.make_array_from_process_local_data`, `size` batches ahead of the consumer, so the host work
and the host-to-device copy overlap the step. The iterator's state is one number, the index of the
next batch to hand out: the stream is a pure function of the position (streams.py), so the batches
read ahead and not consumed when a checkpoint is written are simply read again after a restore,
never lost or repeated. `save_state`/`restore_state` write/read that number per process (the data item
of facejax.train.checkpoint).
"""

import json
import queue
import threading

import jax
import numpy as np
from etils import epath

from facejax.errors import FacejaxError

STATE_FILE = "position.json"


def process_dir(directory, process_index: int | None = None, process_count: int | None = None) -> epath.Path:
    i = jax.process_index() if process_index is None else process_index
    n = jax.process_count() if process_count is None else process_count
    return epath.Path(directory) / f"process_{i}-of-{n}"


def _local_numpy(batch) -> dict:
    return jax.tree.map(lambda t: np.asarray(t._numpy() if hasattr(t, "_numpy") else t), batch)


class DeviceIterator:
    """Iterates global batches from `make_dataset(start_batch)`, `size` ahead (0: no read-ahead)."""

    def __init__(self, make_dataset, sharding, *, size: int = 2, start_batch: int = 0, global_batch: int | None = None):
        """`global_batch`: examples per global batch. Given, the position is kept and saved in examples,
        so that a run resumed with another batch size continues at the same example."""
        if size < 0:
            raise FacejaxError(f"config.data.prefetch_to_device={size}: expected >= 0")
        self._make = make_dataset
        self._sharding = sharding
        self._size = int(size)
        self.global_batch = int(global_batch) if global_batch else None
        self._unit = self.global_batch or 1  # examples per batch (1: the position counts batches)
        self.example = int(start_batch) * self._unit  # the next example __next__ hands out
        self._thread = None
        self._sync_iter = None
        self._stop = None
        self._queue = None

    @property
    def position(self) -> int:
        """The index of the next batch (of this run's batch size)."""
        return self.example // self._unit

    def _dataset(self):
        """The batches from self.example on: from batch example // G; a remainder (a resume with another
        batch size, one process) is skipped inside that batch and the stream batched again."""
        start, skip = divmod(self.example, self._unit)
        ds = self._make(start)
        if skip:
            local = self.global_batch // jax.process_count()
            ds = ds.unbatch().skip(skip).batch(local, drop_remainder=True)
        return ds

    # ------------------------------------------------------------------ iteration

    def _to_global(self, local: dict) -> dict:
        return jax.tree.map(lambda x: jax.make_array_from_process_local_data(self._sharding, x), local)

    def _produce(self, stop: threading.Event, q: queue.Queue):
        def put(item) -> bool:
            while not stop.is_set():
                try:
                    q.put(item, timeout=0.1)
                    return True
                except queue.Full:
                    continue
            return False

        try:
            for local in self._dataset():
                if stop.is_set():
                    return
                if not put(("batch", self._to_global(_local_numpy(local)))):
                    return
            put(("end", None))
        except BaseException as e:  # handed to the consumer, raised there
            put(("error", e))

    def _start(self):
        self._stop = threading.Event()
        self._queue = queue.Queue(maxsize=self._size)
        self._thread = threading.Thread(
            target=self._produce, args=(self._stop, self._queue), name="facejax-device-prefetch", daemon=True
        )
        self._thread.start()

    def __iter__(self):
        return self

    def __next__(self) -> dict:
        if self._size == 0:
            if self._sync_iter is None:
                self._sync_iter = iter(self._dataset())
            batch = self._to_global(_local_numpy(next(self._sync_iter)))
            self.example += self._unit
            return batch
        if self._thread is None:
            self._start()
        while True:
            try:
                kind, item = self._queue.get(timeout=1.0)
                break
            except queue.Empty:
                if not self._thread.is_alive():
                    raise RuntimeError("the device prefetch thread stopped without a batch or an error") from None
        if kind == "error":
            self.close()
            raise item
        if kind == "end":
            self.close()
            raise StopIteration
        self.example += self._unit
        return item

    def close(self):
        """Stops the read-ahead (the batches read ahead are dropped; the position stays)."""
        if self._thread is not None:
            self._stop.set()
            while self._thread.is_alive():
                try:  # unblock a producer waiting on a full queue
                    while True:
                        self._queue.get_nowait()
                except queue.Empty:
                    pass
                self._thread.join(timeout=0.1)
        self._thread = self._queue = self._stop = None
        self._sync_iter = None

    def seek(self, position: int):
        """Continues from batch `position` (drops anything read ahead)."""
        self.seek_example(int(position) * self._unit)

    def seek_example(self, example: int):
        """Continues from example `example` (drops anything read ahead)."""
        self.close()
        self.example = int(example)

    # ------------------------------------------------------------------ checkpointing

    def save_state(self, directory):
        """Writes {"next_batch", and with a global batch "next_example", "batch_size"} for this process under
        directory/process_<i>-of-<n>/."""
        path = process_dir(directory)
        path.mkdir(parents=True, exist_ok=True)
        state = {"next_batch": self.position}
        if self.global_batch:
            state.update(next_example=self.example, batch_size=self.global_batch)
        (path / STATE_FILE).write_text(json.dumps(state))

    def _continue_from(self, saved: dict, where):
        """Seeks to a saved state; another batch size continues at the same example, with a note."""
        if not self.global_batch:
            self.seek(saved["next_batch"])
            return
        example = saved.get("next_example")
        if example is None:  # written before positions were kept in examples: same batch size assumed
            example = saved["next_batch"] * self.global_batch
        old_bs = saved.get("batch_size", self.global_batch)
        if old_bs != self.global_batch:
            msg = (
                f"note: {where} was written with batch size {old_bs}, this run uses {self.global_batch}; "
                f"the data stream continues at example {example}"
            )
            if example % self.global_batch and jax.process_count() > 1:
                rounded = -(-example // self.global_batch) * self.global_batch
                msg += (
                    f", rounded up to {rounded} (a multiple of the batch size, which a multi-process stream "
                    f"needs: {rounded - example} examples skipped)"
                )
                example = rounded
            if jax.process_index() == 0:
                print(msg, flush=True)
        self.seek_example(example)

    def restore_state(self, directory):
        """Continues from the saved position. A checkpoint written by another number of processes
        has no part for this process: the run then continues at the same example (or batch index)
        on the new layout's streams (different examples than the old layout would have shown, unless the
        family's stream is one global stream: streams.batches)."""
        directory = epath.Path(directory)
        path = process_dir(directory) / STATE_FILE
        if path.exists():
            self._continue_from(_read_state(path), directory)
            return
        others = sorted(directory.glob(f"process_*/{STATE_FILE}")) if directory.exists() else []
        if not others:
            found = sorted(p.name for p in directory.iterdir()) if directory.exists() else []
            raise FacejaxError(
                f"{directory} has no data-stream position ({path.parent.name}/{STATE_FILE}; found "
                f"{found}): the checkpoint's data item is damaged or from another version"
            )
        states = [_read_state(p) for p in others]
        positions = {json.dumps(s, sort_keys=True) for s in states}
        if len(positions) != 1:
            raise FacejaxError(
                f"{directory}: the processes saved different data positions {sorted(s['next_batch'] for s in states)}"
            )
        if jax.process_index() == 0:
            print(
                f"note: {directory} was written by {len(others)} process(es), this run has "
                f"{jax.process_count()}; the data stream continues at batch {states[0]['next_batch']} "
                f"with this layout's examples",
                flush=True,
            )
        self._continue_from(states[0], directory)


def _read_state(path) -> dict:
    try:
        state = json.loads(epath.Path(path).read_text())
        int(state["next_batch"])
        return state
    except (ValueError, KeyError, TypeError) as e:
        raise FacejaxError(
            f"{path} is damaged ({type(e).__name__}: {e}); expected the data-stream position as JSON"
        ) from None
