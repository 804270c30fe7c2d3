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

    def __init__(self, make_dataset, sharding, *, size: int = 2, start_batch: int = 0):
        if size < 0:
            raise FacejaxError(f"config.data.prefetch_to_device={size}: expected >= 0")
        self._make = make_dataset
        self._sharding = sharding
        self._size = int(size)
        self.position = int(start_batch)  # index of the next batch __next__ returns
        self._thread = None
        self._sync_iter = None
        self._stop = None
        self._queue = None

    # ------------------------------------------------------------------ iteration

    def _to_global(self, local: dict) -> dict:
        return jax.tree.map(lambda x: jax.make_array_from_process_local_data(self._sharding, x), local)

    def _produce(self, start: int, stop: threading.Event, q: queue.Queue):
        def put(item) -> bool:
            while not stop.is_set():
                try:
                    q.put(item, timeout=0.1)
                    return True
                except queue.Full:
                    continue
            return False

        try:
            for local in self._make(start):
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
        self._thread = threading.Thread(target=self._produce, args=(self.position, self._stop, self._queue),
                                        name="facejax-device-prefetch", daemon=True)
        self._thread.start()

    def __iter__(self):
        return self

    def __next__(self) -> dict:
        if self._size == 0:
            if self._sync_iter is None:
                self._sync_iter = iter(self._make(self.position))
            batch = self._to_global(_local_numpy(next(self._sync_iter)))
            self.position += 1
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
        self.position += 1
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
        self.close()
        self.position = int(position)

    # ------------------------------------------------------------------ checkpointing

    def save_state(self, directory):
        """Writes {"next_batch": position} for this process under directory/process_<i>-of-<n>/."""
        path = process_dir(directory)
        path.mkdir(parents=True, exist_ok=True)
        (path / STATE_FILE).write_text(json.dumps({"next_batch": self.position}))

    def restore_state(self, directory):
        """Continues from the saved position. A checkpoint written by another number of processes
        has no part for this process: the run then continues at the same batch index (the step), on
        the new layout's streams (different examples than the old layout would have shown)."""
        directory = epath.Path(directory)
        path = process_dir(directory) / STATE_FILE
        if path.exists():
            self.seek(json.loads(path.read_text())["next_batch"])
            return
        others = sorted(directory.glob(f"process_*/{STATE_FILE}")) if directory.exists() else []
        if not others:
            found = sorted(p.name for p in directory.iterdir()) if directory.exists() else []
            raise FacejaxError(f"{directory} has no data-stream position ({path.parent.name}/{STATE_FILE}; found "
                               f"{found}): the checkpoint's data item is damaged or from another version")
        positions = {json.loads(p.read_text())["next_batch"] for p in others}
        if len(positions) != 1:
            raise FacejaxError(f"{directory}: the processes saved different data positions {sorted(positions)}")
        if jax.process_index() == 0:
            print(f"note: {directory} was written by {len(others)} process(es), this run has "
                  f"{jax.process_count()}; the data stream continues at batch {min(positions)} "
                  f"with this layout's examples", flush=True)
        self.seek(min(positions))
