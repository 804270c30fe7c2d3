"""Stopping at a step boundary when the scheduler sends SIGTERM.

Multi-process runs use Orbax's preemption sync point (jax.distributed's preemption service catches
SIGTERM itself), so every host agrees on the step to save at. A single process never sees SIGTERM
through it, so there a signal handler of our own sets a flag; the loop checks it once per step,
saves and exits 0.
"""

import signal
import threading

import jax


class PreemptionGuard:
    def __init__(self):
        self._flag = threading.Event()
        self._previous = None
        if jax.process_count() == 1 and threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGTERM, lambda signum, frame: self._flag.set())

    def should_stop(self, step: int, manager) -> bool:
        if jax.process_count() > 1:
            return bool(manager.reached_preemption(step))
        return self._flag.is_set()

    def close(self):
        if self._previous is not None:
            signal.signal(signal.SIGTERM, self._previous)
            self._previous = None
