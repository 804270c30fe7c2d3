"""Device mesh and shardings shared by every family.

The mesh is (`data`, `fsdp`) over all devices of all processes. The batch is split over both axes (every
device gets batch/devices examples). The train state is replicated over `data`; with config.fsdp = F > 1
every large parameter and optimizer-state leaf is split F ways over `fsdp` (FSDP / ZeRO-3: XLA gathers
a weight where it is used and reduce-scatters its gradient), so a model that outgrows one device fits
on F. F = 1 (the default) is plain data parallelism. Batches are assembled from each process's local
slice with `jax.make_array_from_process_local_data`, so the same code runs on one CPU and on a
multi-host pod.
"""

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from facejax.errors import FacejaxError

DATA_AXIS = "data"
FSDP_AXIS = "fsdp"
BATCH_AXES = (DATA_AXIS, FSDP_AXIS)


def make_mesh(devices=None, fsdp: int = 1) -> Mesh:
    devices = jax.devices() if devices is None else devices
    n = len(devices)
    if not isinstance(fsdp, int) or fsdp < 1 or n % fsdp:
        raise FacejaxError(f"config.fsdp={fsdp!r} must be a positive integer that divides the number of devices ({n})")
    return Mesh(np.asarray(devices).reshape(n // fsdp, fsdp), BATCH_AXES)


def replicated(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, P())


def batch_sharding(mesh: Mesh) -> NamedSharding:
    """Leading (batch) dimension split over every device."""
    return NamedSharding(mesh, P(tuple(a for a in BATCH_AXES if a in mesh.axis_names)))


def state_sharding(leaf, mesh: Mesh, min_size: int = 2**14) -> NamedSharding:
    """Replicated, or with an `fsdp` axis > 1, the leaf's largest dimension that the axis divides is
    split over it. Leaves under `min_size` elements (biases, norms, scalars) stay replicated: splitting
    them saves nothing and costs a collective each."""
    f = dict(zip(mesh.axis_names, mesh.devices.shape)).get(FSDP_AXIS, 1)
    shape = tuple(getattr(leaf, "shape", ()))
    if f == 1 or int(np.prod(shape, dtype=np.int64)) < min_size:
        return replicated(mesh)
    for d in sorted(range(len(shape)), key=lambda d: -shape[d]):
        if shape[d] % f == 0:
            spec = [None] * len(shape)
            spec[d] = FSDP_AXIS
            return NamedSharding(mesh, P(*spec))
    return replicated(mesh)


def local_batch_size(global_batch_size: int, mesh: Mesh) -> int:
    """The number of examples this process feeds per step; checks divisibility once, clearly."""
    n_dev, n_proc = mesh.devices.size, jax.process_count()
    if global_batch_size % n_dev:
        raise FacejaxError(
            f"config.batch_size={global_batch_size} must be divisible by the number of devices "
            f"({n_dev}) so that every device gets the same number of examples"
        )
    return global_batch_size // n_proc


def global_batch(local: dict, mesh: Mesh) -> dict:
    """Forms global arrays sharded over `data` from this process's numpy batch."""
    sharding = batch_sharding(mesh)
    return jax.tree.map(lambda x: jax.make_array_from_process_local_data(sharding, np.asarray(x)), local)
