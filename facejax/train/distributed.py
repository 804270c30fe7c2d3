"""Multi-process start-up: `jax.distributed.initialize` from the environment, before any JAX work.

Where the processes come from decides the arguments:

  explicit     FACEJAX_COORDINATOR=host:port, FACEJAX_NUM_PROCESSES=N, FACEJAX_PROCESS_ID=i
               (launch/local.sh sets them; any launcher may). Optional FACEJAX_LOCAL_DEVICE_IDS=0,1
  SLURM        SLURM_NTASKS > 1 (srun): JAX reads SLURM_* itself (launch/slurm.sbatch)
  TPU VM       a multi-worker TPU slice (TPU_WORKER_HOSTNAMES lists more than one worker):
               JAX reads the TPU metadata itself (launch/tpu_vm.sh)
  nothing      one process; nothing to initialise

On CPU, cross-process collectives go through gloo. TensorFlow (tf.data) is kept off accelerators so
it does not take their memory (in every facejax process: facejax/__init__.py).
"""

import os

from facejax.errors import FacejaxError

ENV_COORDINATOR = "FACEJAX_COORDINATOR"
ENV_NUM_PROCESSES = "FACEJAX_NUM_PROCESSES"
ENV_PROCESS_ID = "FACEJAX_PROCESS_ID"
ENV_LOCAL_DEVICE_IDS = "FACEJAX_LOCAL_DEVICE_IDS"

_initialized = False
_tf_hidden = False


def _int_env(name: str, env) -> int:
    value = env.get(name, "")
    try:
        return int(value)
    except ValueError:
        raise FacejaxError(f"environment variable {name}={value!r} must be an integer") from None


def detect(env=None) -> dict | None:
    """The keyword arguments for jax.distributed.initialize this environment asks for, or None for a
    single process. {} means "let JAX read the cluster itself" (SLURM, TPU VM)."""
    env = os.environ if env is None else env
    if env.get(ENV_COORDINATOR):
        n, i = _int_env(ENV_NUM_PROCESSES, env), _int_env(ENV_PROCESS_ID, env)
        if n < 1 or not 0 <= i < n:
            raise FacejaxError(f"{ENV_PROCESS_ID}={i} must lie in [0, {ENV_NUM_PROCESSES}={n})")
        kwargs = dict(coordinator_address=env[ENV_COORDINATOR], num_processes=n, process_id=i)
        if env.get(ENV_LOCAL_DEVICE_IDS):
            kwargs["local_device_ids"] = [int(x) for x in env[ENV_LOCAL_DEVICE_IDS].split(",")]
        return kwargs if n > 1 else None
    if env.get(ENV_NUM_PROCESSES) or env.get(ENV_PROCESS_ID):
        raise FacejaxError(
            f"{ENV_NUM_PROCESSES}/{ENV_PROCESS_ID} are set but {ENV_COORDINATOR} (host:port of process 0) is not"
        )
    if env.get("SLURM_NTASKS") and _int_env("SLURM_NTASKS", env) > 1:
        return {}
    workers = [w for w in env.get("TPU_WORKER_HOSTNAMES", "").split(",") if w]
    if len(workers) > 1:
        return {}
    return None


def initialize(env=None) -> bool:
    """Initialises jax.distributed when the environment describes several processes (idempotent).
    Returns whether this is a multi-process run. Must run before the first JAX computation."""
    global _initialized
    kwargs = detect(env)
    if kwargs is None or _initialized:
        return _initialized
    import jax

    # CPU processes exchange gradients through gloo (unused where an accelerator does the collectives).
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    try:
        jax.distributed.initialize(**kwargs)
    except RuntimeError as e:
        where = kwargs.get("coordinator_address", "the cluster's coordinator")
        raise FacejaxError(f"jax.distributed.initialize could not reach {where}: {str(e).splitlines()[0]}") from None
    _initialized = True
    hide_accelerators_from_tensorflow()
    return True


def hide_accelerators_from_tensorflow() -> bool:
    """tf.data only feeds the host; without this TensorFlow reserves the GPU's memory. `import facejax` runs it
    right after TensorFlow's import (facejax/__init__.py), so every facejax process does it before any tf op.
    Returns whether TensorFlow now sees no GPU or TPU (False where TensorFlow had already set up its devices);
    `tensorflow_hidden()` tells whether it has run."""
    global _tf_hidden
    try:
        import tensorflow as tf
    except ImportError:
        return False
    for kind in ("GPU", "TPU"):
        try:
            tf.config.set_visible_devices([], kind)
        except (RuntimeError, ValueError):  # devices already initialised, or no such device type
            pass
    _tf_hidden = not any(d.device_type in ("GPU", "TPU") for d in tf.config.get_visible_devices())
    return _tf_hidden


def tensorflow_hidden() -> bool:
    """Whether hide_accelerators_from_tensorflow has run in this process and TensorFlow sees only the host."""
    return _tf_hidden


def barrier(name: str, timeout_s: int = 3600) -> None:
    """Waits until every process reaches `name`, on the coordination service (no device collective), so that
    processes whose compile times differ enter their first collective together: gloo gives a peer only 30 s to set
    up its context, and a step that took one process a minute longer to compile than the other (a loaded host)
    failed there. A no-op in a single-process run."""
    from jax._src import distributed as jax_distributed

    client = jax_distributed.global_state.client
    if client is None:
        return
    client.wait_at_barrier(name, timeout_in_ms=timeout_s * 1000)
