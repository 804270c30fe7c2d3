"""Device mesh and shardings shared by every family.

The mesh has one axis, `data`, over all devices of all processes; the batch is split over it and the
train state is replicated. Batches are assembled from each process's local slice with
`jax.make_array_from_process_local_data`, so the same code runs on one CPU and on a multi-host pod.
"""

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from facejax.errors import FacejaxError

DATA_AXIS = "data"


def make_mesh(devices=None) -> Mesh:
    devices = jax.devices() if devices is None else devices
    return Mesh(np.asarray(devices).reshape(-1), (DATA_AXIS,))


def replicated(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, P())


def batch_sharding(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, P(DATA_AXIS))


def local_batch_size(global_batch_size: int, mesh: Mesh) -> int:
    """The number of examples this process feeds per step; checks divisibility once, clearly."""
    n_dev, n_proc = mesh.devices.size, jax.process_count()
    if global_batch_size % n_dev:
        raise FacejaxError(
            f"config.batch_size={global_batch_size} must be divisible by the number of devices "
            f"({n_dev}) so that the `{DATA_AXIS}` axis splits it evenly")
    return global_batch_size // n_proc


def global_batch(local: dict, mesh: Mesh) -> dict:
    """Forms global arrays sharded over `data` from this process's numpy batch."""
    sharding = batch_sharding(mesh)
    return jax.tree.map(lambda x: jax.make_array_from_process_local_data(sharding, np.asarray(x)), local)
