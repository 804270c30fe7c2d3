"""Tracking and profiling (issue 22 item 5): Weights & Biases as a writer beside TensorBoard (config.log.wandb,
offline here: no network) and a jax.profiler trace of config.profile_steps, on a short run of the toy family."""

import glob
import json
import os
import pathlib

import pytest

from facejax import configs
from facejax.errors import FacejaxError
from facejax.train import config as trainer_config
from facejax.train import tracking, trainer

TOY = pathlib.Path(__file__).resolve().parents[1] / "toyfamily" / "config.py"


def _wandb_installed() -> bool:
    try:
        import wandb  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """(workdir, W&B mode) of a 4-step toy run tracing steps 2..3, logging to W&B offline where wandb is installed."""
    import tensorflow_datasets as tfds

    import facejax.datasets  # noqa: F401

    data_dir = str(tmp_path_factory.mktemp("tfds"))
    tfds.builder("synthetic_faces", config="gender_32", data_dir=data_dir).download_and_prepare()
    mode = "offline" if _wandb_installed() else ""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FACEJAX_FAMILIES", "toy=tests.toyfamily.family:Toy")
        for var in ("WANDB_API_KEY", "WANDB_BASE_URL", "WANDB_MODE", "WANDB_DIR"):
            mp.delenv(var, raising=False)
        mp.setenv("WANDB_SILENT", "true")
        cfg = configs.load_file(
            TOY,
            "small",
            **{
                "data.data_dir": data_dir,
                "total_steps": 4,
                "sample_every": 4,
                "checkpoint_every": 4,
                "profile_steps": "2,3",
                "log.wandb": mode,
                "log.wandb_name": "toy-test",
            },
        )
        work = tmp_path_factory.mktemp("tracked") / "run"
        trainer.train(cfg, str(work))
    return work, mode


def test_profile_steps_write_a_trace_tensorboard_reads(run):
    work, _ = run
    traces = glob.glob(str(work / "profile" / "plugins" / "profile" / "*" / "*.xplane.pb"))
    assert traces and all(os.path.getsize(t) > 0 for t in traces)


def test_wandb_offline_run_holds_the_logged_scalars_and_images(run):
    work, mode = run
    if not mode:
        pytest.skip("wandb is not installed (pip install facejax[tracking])")
    runs = glob.glob(str(work / "wandb" / "offline-run-*" / "run-*.wandb"))
    assert len(runs) == 1
    history, config = {}, {}
    for record in _records(runs[0]):
        kind = record.WhichOneof("record_type")
        if kind == "history":
            items = {(i.key or "/".join(i.nested_key)): json.loads(i.value_json) for i in record.history.item}
            history[items["_step"]] = items
        elif kind == "config":
            config.update({(i.key or "/".join(i.nested_key)): json.loads(i.value_json) for i in record.config.update})
    assert set(history) == {1, 2, 3, 4}  # log_every=1
    assert all(isinstance(history[s].get("D/loss"), float) for s in history), history[1]
    assert "images_per_sec" in history[4]
    assert history[4].get("samples/fake/_type") == "image-file"
    assert config.get("log.wandb") == "offline" and config.get("total_steps") == 4
    assert (work / "wandb_run_id").read_text().strip() in runs[0]


def _records(path, block=32768):
    """The protobuf records of a W&B run file: a 7-byte header, then LevelDB's log format (32 KiB blocks of
    [crc32, length, type] + data chunks; FULL=1, FIRST=2, MIDDLE=3, LAST=4)."""
    from wandb.proto import wandb_internal_pb2

    data = pathlib.Path(path).read_bytes()
    assert data[:4] == b":W&B"
    pos, chunks = 7, b""
    while pos + 7 <= len(data):
        if block - pos % block < 7:  # a block's tail too short for a header is padding
            pos += block - pos % block
            continue
        length, kind = data[pos + 4] | data[pos + 5] << 8, data[pos + 6]
        if length == 0 and kind == 0:
            break
        chunks += data[pos + 7 : pos + 7 + length]
        pos += 7 + length
        if kind in (1, 4):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(chunks)
            chunks = b""
            yield record


def test_fields_are_checked_and_a_missing_wandb_says_how_to_install(monkeypatch):
    cfg = configs.load_file(TOY, "small")
    for field, value, match in (
        ("log.wandb", "cloud", r"config.log.wandb='cloud': expected one of '', 'offline', 'online'"),
        ("profile_steps", "3,2", r"config.profile_steps='3,2': expected 'A,B' with 1 <= A <= B"),
        ("profile_steps", "x", r"config.profile_steps='x'"),
    ):
        bad = configs.load_file(TOY, "small", **{field: value})
        with pytest.raises(FacejaxError, match=match):
            trainer_config.check(bad)
    assert trainer_config.profile_range(configs.load_file(TOY, "small", profile_steps="5")) == (5, 5)
    assert trainer_config.profile_range(cfg) is None
    monkeypatch.setitem(__import__("sys").modules, "wandb", None)  # import wandb raises ImportError
    with pytest.raises(FacejaxError, match=r"pip install wandb"):
        tracking.WandbWriter(configs.load_file(TOY, "small", **{"log.wandb": "offline"}), "unused")
