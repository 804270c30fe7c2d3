"""Device prefetch and exact resume of the input streams: the batches read ahead when a checkpoint is
written are neither lost nor repeated; a restored pipeline continues with the same next batch, bit
for bit (StarGAN v2's stream with reference pairs, and the makeup pairs)."""

import json
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import tensorflow as tf

from facejax.errors import FacejaxError
from facejax.families.stargan_v2 import pipeline as sg2_pipeline
from facejax.input import ops, pipelines, prefetch, sources, streams
from facejax.train import mesh as mesh_lib
from facejax.train.checkpoint import Checkpointer

BATCH = 8  # local = global batch here (one process), split over the 4 test devices


@pytest.fixture(scope="module")
def sharding():
    return mesh_lib.batch_sharding(mesh_lib.make_mesh())


@pytest.fixture(scope="module")
def stargan_stream(afhq_samples):
    src = sources.folder_source(str(afhq_samples / "ref"), cache=True)
    element = sg2_pipeline.train_element(src, num_domains=3, img_size=16, randcrop_prob=0.5, seeds=[5, 6, 7, 8])
    return lambda start: streams.batches(element, BATCH, start)


@pytest.fixture(scope="module")
def paired_stream(synthetic_builder):
    src = sources.tfds_source(
        synthetic_builder, "train", features=pipelines.MAKEUP_FEATURES, optional=pipelines.MAKEUP_OPTIONAL
    )
    element = pipelines.makeup_element(src, seed=3, img_size=16, randcrop_prob=0.5)
    return lambda start: streams.batches(element, BATCH, start)


def _numpy(batch):
    return {k: np.asarray(v) for k, v in batch.items()}


def _assert_equal(a, b):
    assert sorted(a) == sorted(b)
    for k in a:
        np.testing.assert_array_equal(np.asarray(a[k]), np.asarray(b[k]), err_msg=k)


def _wait_full(it, n, timeout=300.0):
    """Waits until the prefetch thread holds n batches read ahead."""
    deadline = time.time() + timeout
    while it._queue.qsize() < n:
        assert time.time() < deadline, "the prefetch thread did not read ahead"
        time.sleep(0.01)


def test_device_iterator_gives_the_stream_as_sharded_global_arrays(stargan_stream, sharding):
    want = [_numpy(b) for b in stargan_stream(0).take(3)]
    for size in (2, 0):
        it = prefetch.DeviceIterator(stargan_stream, sharding, size=size)
        for i in range(3 if size else 1):
            batch = next(it)
            assert all(isinstance(v, jax.Array) and v.sharding == sharding for v in batch.values())
            assert len(batch["x_src"].addressable_shards) == 4
            _assert_equal(_numpy(batch), want[i])
        assert it.position == (3 if size else 1)
        it.close()


@pytest.mark.parametrize("stream", ["stargan_stream", "paired_stream"])
def test_resume_continues_with_the_same_next_batch(stream, sharding, tmp_path, request):
    make = request.getfixturevalue(stream)
    state = {"w": jnp.arange(3.0)}
    ckpt = Checkpointer(str(tmp_path / "run"))
    it = prefetch.DeviceIterator(make, sharding, size=2)
    for _ in range(3):
        next(it)
    _wait_full(it, 2)  # batches 3 and 4 are read ahead and on the devices
    ckpt.save(3, state, it, {"note": "test"}, force=True)
    # The uninterrupted run goes on (consuming the read-ahead batches) while the save finishes.
    want = [_numpy(next(it)) for _ in range(3)]
    ckpt.wait()
    it.close()
    saved = json.loads(
        (tmp_path / "run" / "checkpoints" / "3" / "data" / "process_0-of-1" / "position.json").read_text()
    )
    assert saved == {"next_batch": 3}

    fresh = prefetch.DeviceIterator(make, sharding, size=2)
    abstract = {"w": jax.ShapeDtypeStruct((3,), jnp.float32, sharding=mesh_lib.replicated(sharding.mesh))}
    restored = ckpt.restore(3, abstract, fresh)
    np.testing.assert_array_equal(restored["w"], state["w"])
    assert fresh.position == 3
    for w in want:
        _assert_equal(_numpy(next(fresh)), w)  # bit for bit, reference pairs and maps included
    fresh.close()
    ckpt.close()


def test_restore_on_another_process_layout_continues_at_the_step(stargan_stream, sharding, tmp_path):
    data = tmp_path / "data"
    for i in range(2):  # written by a 2-process run at batch 5
        d = data / f"process_{i}-of-2"
        d.mkdir(parents=True)
        (d / prefetch.STATE_FILE).write_text(json.dumps({"next_batch": 5}))
    it = prefetch.DeviceIterator(stargan_stream, sharding, size=1)
    it.restore_state(data)
    assert it.position == 5
    _assert_equal(_numpy(next(it)), _numpy(next(iter(stargan_stream(5)))))
    it.close()
    (data / "process_1-of-2" / prefetch.STATE_FILE).write_text(json.dumps({"next_batch": 6}))
    with pytest.raises(FacejaxError, match=r"different data positions \[5, 6\]"):
        it.restore_state(data)
    with pytest.raises(FacejaxError, match="no data-stream position"):
        it.restore_state(tmp_path / "nothing")


def test_errors_and_the_end_of_a_stream_reach_the_consumer(sharding):
    def broken(start):
        ds = tf.data.Dataset.from_tensor_slices([b"not an image"] * 8)
        return ds.map(lambda x: {"x": ops.decode(x, False)}).batch(8)

    it = prefetch.DeviceIterator(broken, sharding, size=2)
    with pytest.raises(tf.errors.InvalidArgumentError):
        next(it)
    assert it._thread is None  # stopped

    def finite(start):
        return tf.data.Dataset.range(start * 4, 8).batch(4).map(lambda x: {"x": x})

    for size in (2, 0):
        it = prefetch.DeviceIterator(finite, sharding, size=size)
        assert [next(it)["x"].tolist() for _ in range(2)] == [[0, 1, 2, 3], [4, 5, 6, 7]]
        with pytest.raises(StopIteration):
            next(it)


def test_a_plain_tf_iterator_checkpoints_its_position_only(stargan_stream, tmp_path):
    # The handler's other path: a tf.data iterator of a stream is written with tf.train.Checkpoint;
    # the symbolic checkpoint holds positions, not images.
    ckpt = Checkpointer(str(tmp_path / "run"))
    it = iter(stargan_stream(0))
    for _ in range(2):
        next(it)
    ckpt.save(2, {"w": jnp.zeros(2)}, it, {}, force=True)
    ckpt.wait()
    want = _numpy(next(it))
    files = list((tmp_path / "run" / "checkpoints" / "2" / "data").rglob("*"))
    assert sum(f.stat().st_size for f in files if f.is_file()) < 20_000
    fresh = iter(stargan_stream(0))
    ckpt.restore(2, {"w": jax.ShapeDtypeStruct((2,), jnp.float32)}, fresh)
    _assert_equal(_numpy(next(fresh)), want)
    ckpt.close()


@pytest.fixture(scope="module")
def element_stream(afhq_samples):
    """make(batch) -> make_dataset(start_batch) of the StarGAN v2 stream at any batch size."""
    src = sources.folder_source(str(afhq_samples / "ref"), cache=True)
    element = sg2_pipeline.train_element(src, num_domains=3, img_size=16, randcrop_prob=0.5, seeds=[5, 6, 7, 8])
    return lambda batch: lambda start: streams.batches(element, batch, start)


def _examples(make, first, count):
    """Examples first .. first+count-1 of the stream, concatenated (read in batches of 1)."""
    rows = [_numpy(b) for b in make(1)(first).take(count)]
    return {k: np.concatenate([r[k] for r in rows]) for k in rows[0]}


def test_resume_with_another_batch_size_continues_at_the_same_example(element_stream, sharding, tmp_path, capsys):
    """The position is saved in examples: 3 batches of 4 then batch size 8 continues at example 12
    (a multiple), and batch size 8 after 5 batches of 4 continues at example 20 (not a multiple)."""
    for consumed, new_bs in ((3, 8), (5, 8)):
        data = tmp_path / f"data{consumed}"
        it = prefetch.DeviceIterator(element_stream(4), sharding, size=2, global_batch=4)
        for _ in range(consumed):
            next(it)
        it.save_state(data)
        it.close()
        assert json.loads((data / "process_0-of-1" / prefetch.STATE_FILE).read_text()) == {
            "next_batch": consumed,
            "next_example": 4 * consumed,
            "batch_size": 4,
        }
        fresh = prefetch.DeviceIterator(element_stream(new_bs), sharding, size=2, global_batch=new_bs)
        fresh.restore_state(data)
        assert fresh.example == 4 * consumed
        assert (
            f"written with batch size 4, this run uses {new_bs}; the data stream continues at example "
            f"{4 * consumed}" in capsys.readouterr().out
        )
        for k in range(2):
            _assert_equal(_numpy(next(fresh)), _examples(element_stream, 4 * consumed + k * new_bs, new_bs))
        fresh.close()
