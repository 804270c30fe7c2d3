"""Streams that are pure functions of their position.

Element p of a stream is computed from (seed, p) alone: which examples it shows (a sampler maps p to
row indices of a Source table) and every random draw of its augmentation (a stateless seed derived
from p). So the batches from position n on are `batches(element_fn, batch, start_batch=n)`, with no
iterator state to save but n: resuming and reading ahead for the device never lose or repeat a batch,
and tf.data's iterator checkpoints (if someone takes them) hold a position, not shuffle buffers or
caches of images. Each process has its own part of the data and its own seeds (ops.seeds_for).

Samplers:
  balanced     class-balanced with replacement: a domain uniformly, then one of its examples
               uniformly (the original StarGAN v2's WeightedRandomSampler with weights 1/class count)
  uniform      any example uniformly, with replacement
  epochs       every example once per epoch, in a fresh random order each epoch
               (tf.random.experimental.index_shuffle: a random-access permutation)
"""

import numpy as np
import tensorflow as tf

from facejax.errors import FacejaxError

MAX_POSITION = 2**62


def key(seed: int, position, purpose: int = 0) -> tf.Tensor:
    """The stateless seed (a (2,) tensor) of element `position` for one purpose."""
    base = tf.stack([tf.constant(seed, tf.int64), tf.cast(position, tf.int64)])
    return tf.random.experimental.stateless_fold_in(base, purpose)


def _uniform_int(seed, n) -> tf.Tensor:
    """An int64 uniformly in [0, n) (n a positive scalar tensor)."""
    return tf.random.stateless_uniform([], seed, 0, tf.cast(n, tf.int64), dtype=tf.int64)


class Balanced:
    """position -> (domain, j): a domain uniformly, then its j-th example uniformly; row(d, j) is the
    table row of that example."""

    def __init__(self, labels, num_domains: int, seed: int, *, what: str = "the data"):
        labels = np.asarray(labels, np.int64)
        counts = np.bincount(labels, minlength=num_domains)
        empty = [d for d in range(num_domains) if counts[d] == 0]
        if empty:
            raise FacejaxError(
                f"{what} has no examples of domain(s) {empty} (of {num_domains}); every domain "
                f"needs at least one (per process, when the data is split over processes)"
            )
        self.num_domains, self.seed = num_domains, seed
        self.domain_counts = counts
        self.domain_offsets = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
        self.rows = tf.constant(np.argsort(labels, kind="stable"), tf.int64)  # grouped by domain
        self.offsets = tf.constant(self.domain_offsets, tf.int64)
        self.counts = tf.constant(counts, tf.int64)

    def __call__(self, position):
        k = tf.random.experimental.stateless_split(key(self.seed, position), 2)
        d = _uniform_int(k[0], self.num_domains)
        return d, _uniform_int(k[1], self.counts[d])

    def row(self, d, j):
        """The table row of the j-th example of domain d."""
        return self.rows[self.offsets[d] + j]


class Uniform:
    """position -> row, uniformly over n rows, with replacement."""

    def __init__(self, n: int, seed: int, *, what: str = "the data"):
        if n < 1:
            raise FacejaxError(f"{what} is empty")
        self.n, self.seed = n, seed

    def __call__(self, position):
        return _uniform_int(key(self.seed, position), self.n)


class Epochs:
    """position -> row: epoch e = position // n visits every row once, in its own random order."""

    def __init__(self, n: int, seed: int, *, what: str = "the data"):
        if n < 1:
            raise FacejaxError(f"{what} is empty")
        self.n, self.seed = n, seed

    def __call__(self, position):
        position = tf.cast(position, tf.int64)
        epoch, offset = position // self.n, position % self.n
        seed = tf.stack([tf.constant(self.seed, tf.int64), epoch])
        return tf.random.experimental.index_shuffle(offset, seed, self.n - 1)


def batches(
    element_fn, local_batch: int, start_batch: int = 0, *, process_index: int = 0, process_count: int = 1
) -> tf.data.Dataset:
    """Batches of `element_fn(position)` from batch `start_batch` on (forever).

    With process_count = 1, batch b holds positions b*L .. b*L+L-1 (L = local_batch). With several
    processes reading one global stream (every process holds the whole table), process i's batch b holds
    its rows of global batch b: positions b*G + i*L .. b*G + i*L + L-1 (G = L * process_count), so the
    global batches, and the training run, do not depend on how many processes read them.

    Deterministic order (parallel map keeps it); `experimental_symbolic_checkpoint` so that a tf
    iterator checkpoint of it stores positions only.
    """
    if local_batch < 1:
        raise FacejaxError(f"local batch size {local_batch}: expected >= 1")
    if not 0 <= process_index < process_count:
        raise FacejaxError(f"process_index {process_index} outside [0, {process_count})")
    L, G = int(local_batch), int(local_batch) * int(process_count)
    offset = int(process_index) * L

    def global_position(p):  # p: this process's element counter
        return (p // L) * G + offset + p % L

    def element_at(p):
        return element_fn(global_position(p))

    ds = tf.data.Dataset.range(int(start_batch) * L, MAX_POSITION)
    ds = ds.map(
        tf.autograph.experimental.do_not_convert(element_at if process_count > 1 else element_fn),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,
    )
    ds = ds.batch(local_batch, drop_remainder=True).prefetch(2)
    options = tf.data.Options()
    options.deterministic = True
    options.experimental_symbolic_checkpoint = True
    return ds.with_options(options)
