"""One run per workdir: a lock file held by the primary process for the run's life.

    with WorkdirLock(workdir):
        ...train...

`<workdir>/lock` names the holder (pid, host, start time) and is held with an exclusive `flock`, which
the kernel releases when the holder dies however it dies (SIGKILL included): a lock file whose flock
is free is stale and is taken over, with a note naming the dead holder. A second run on the same
workdir gets one line naming the live holder (FacejaxError, exit 2). Multi-process runs take it once,
on process 0; the others learn the outcome (the same line) through the coordination service's key-value
store, not a device collective: nothing is compiled, no gloo context is set up, and a process that reaches
the lock late still gets the answer, so every process stops with the holder's pid and host when process 0
cannot have it.
"""

import fcntl
import json
import os
import socket
import time

import jax

from facejax.errors import FacejaxError

LOCK_FILE = "lock"


def prepare_workdir(workdir: str) -> None:
    """Creates the workdir; one clear line when the path is a file or cannot be created."""
    if os.path.exists(workdir) and not os.path.isdir(workdir):
        raise FacejaxError(
            f"--workdir {workdir} is a file; expected a folder (created if missing) for the "
            f"run's checkpoints, logs and samples"
        )
    try:
        os.makedirs(workdir, exist_ok=True)
    except OSError as e:
        raise FacejaxError(f"--workdir {workdir} cannot be created: {e.strerror or e}") from None


def _describe(info: dict) -> str:
    started = info.get("started")
    when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(started)) if started else "an unknown time"
    return f"pid {info.get('pid', '?')} on host {info.get('host', '?')} (since {when})"


_acquisitions = 0
WAIT_S = 3600  # how long the other processes wait for process 0's answer (it may still be importing)


def _from_primary(key: str, value: str) -> str:
    """Process 0's `value`, on every process, through the coordination service (jax.distributed's client)."""
    from jax._src import distributed as jax_distributed

    client = jax_distributed.global_state.client
    if client is None:  # several processes without jax.distributed (not a facejax launch): nothing to share
        return value
    if jax.process_index() == 0:
        client.key_value_set(key, value)
        return value
    return client.blocking_key_value_get(key, WAIT_S * 1000)


class WorkdirLock:
    """The exclusive lock of a workdir (see the module docstring); a context manager."""

    def __init__(self, workdir: str):
        self.workdir = str(workdir)
        self.path = os.path.join(self.workdir, LOCK_FILE)
        self._fd = None

    def _acquire_local(self) -> str | None:
        """Takes the lock; returns None, or the error line naming the holder."""
        prepare_workdir(self.workdir)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            info = self._read(fd)
            os.close(fd)
            return (
                f"--workdir {self.workdir} is in use by another run: {_describe(info)} holds {self.path}. "
                f"Wait for it to end, stop it, or use another --workdir"
            )
        previous = self._read(fd)
        if previous.get("pid") is not None:
            print(
                f"note: took over the stale lock {self.path} of {_describe(previous)}, which ended "
                f"without releasing it",
                flush=True,
            )
        mine = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(mine).encode(), 0)
        os.fsync(fd)
        self._fd = fd
        return None

    @staticmethod
    def _read(fd) -> dict:
        try:
            data = os.pread(fd, 4096, 0)
            return json.loads(data.decode()) if data.strip() else {}
        except (OSError, ValueError):
            return {}

    def acquire(self) -> "WorkdirLock":
        global _acquisitions
        primary = jax.process_index() == 0
        try:
            error = self._acquire_local() if primary else None
        except FacejaxError as e:  # (the workdir is a file, or cannot be created): every process stops with it
            error = str(e)
        if jax.process_count() > 1:
            _acquisitions += 1  # every process acquires in the same order: one key per acquisition
            error = _from_primary(f"facejax/workdir-lock/{_acquisitions}", error or "") or None
        if error:
            self.release()
            raise FacejaxError(error)
        return self

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            os.ftruncate(self._fd, 0)  # an empty lock file: the next run takes it without a stale-lock note
        except OSError:
            pass
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()
        return False
