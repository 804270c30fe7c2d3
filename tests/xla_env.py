"""XLA flags of every process the suite runs: the test workers and the `facejax ...` commands they start.

Each process gets its virtual CPU device count, raised collective timeouts, and whatever XLA_FLAGS the person
running the suite set (e.g. `--xla_cpu_max_isa=AVX2` from tests/isa_matrix.sh), so a flag given to the suite
reaches the subprocesses too instead of being replaced by a test's own XLA_FLAGS.

Why the timeouts: XLA:CPU aborts the process when the virtual devices of a collective do not all arrive within
40 s (rendezvous termination), and warns after 20 s. On 2 cores shared by two xdist workers and whatever else
runs on the machine, a device's thread can wait that long for a core; the limit is raised so a loaded machine
does not kill a test (a real deadlock still ends, after 5 minutes).
"""

import os

# The flags the person running the suite gave (saved once, by the first process that imports this module: the
# pytest controller; xdist workers and subprocesses inherit it).
USER_FLAGS_VAR = "FACEJAX_TEST_USER_XLA_FLAGS"
os.environ.setdefault(USER_FLAGS_VAR, os.environ.get("XLA_FLAGS", ""))

TIMEOUTS = (
    "--xla_cpu_collective_call_warn_stuck_timeout_seconds=60 "
    "--xla_cpu_collective_call_terminate_timeout_seconds=300 --xla_cpu_collective_timeout_seconds=300"
)


def user_flags() -> str:
    """The suite runner's XLA flags, less any device count (each process sets its own)."""
    return " ".join(
        f
        for f in os.environ.get(USER_FLAGS_VAR, "").split()
        if not f.startswith("--xla_force_host_platform_device_count")
    )


def flags(devices: int | None) -> str:
    """XLA_FLAGS for a process with `devices` virtual CPU devices (None: leave the count to the process, as
    launch/local.sh sets it)."""
    count = f"--xla_force_host_platform_device_count={devices} " if devices else ""
    return f"{count}{TIMEOUTS} {user_flags()}".strip()


def env(devices: int | None, **extra) -> dict:
    """os.environ for a subprocess with `devices` virtual CPU devices (the compilation-cache variables that
    tests/conftest.py exports come along), plus `extra`."""
    return dict(os.environ, XLA_FLAGS=flags(devices), **extra)
