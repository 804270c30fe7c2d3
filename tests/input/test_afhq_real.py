"""Real images end to end: the `afhq` TFDS builder reads shared/data/afhq_samples (its src/ and ref/
folders become splits), and StarGAN v2 trains a few steps on it through the shared trainer."""

import json
import math
import re

import jax
import numpy as np
import pytest
import tensorflow_datasets as tfds
from PIL import Image
from tests.train.helpers import tiny_config

from facejax import registry
from facejax.train import trainer

STEPS = 3


@pytest.fixture(scope="module")
def afhq_dir(afhq_samples, tmp_path_factory):
    """afhq/v1 (the files as released, 512 px JPEG) built from the samples into a fresh data_dir."""
    import facejax.datasets  # noqa: F401  (registers afhq)

    data_dir = tmp_path_factory.mktemp("tfds")
    builder = tfds.builder("afhq", config="v1", data_dir=str(data_dir))
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=str(afhq_samples)))
    assert set(builder.info.splits) == {"src", "ref"}
    assert builder.info.splits["ref"].num_examples == 28 and builder.info.splits["src"].num_examples == 15
    return data_dir


def _files(afhq_samples, split):
    """{domain: [(name, PIL-resized [-1, 1] 32-px image), ...]} of a samples split."""
    out = {}
    for domain in ("cat", "dog", "wild"):
        out[domain] = []
        for path in sorted((afhq_samples / split / domain).iterdir()):
            with Image.open(path) as im:
                arr = np.asarray(im.convert("RGB").resize((32, 32), Image.BILINEAR), np.float32)
            out[domain].append((path.name, arr / 127.5 - 1.0))
    return out


def _which(x, files):
    """(domain, file name, max abs difference) of the file (or its mirror) nearest to image x."""
    best = None
    for domain, items in files.items():
        for name, img in items:
            d = min(np.abs(x - img).max(), np.abs(x - img[:, ::-1]).max())
            if best is None or d < best[2]:
                best = (domain, name, d)
    return best


@pytest.mark.slow
def test_stargan_v2_trains_on_real_afhq_images(afhq_samples, afhq_dir, tmp_path, capsys):
    cfg = tiny_config(
        afhq_dir,
        total_steps=STEPS,
        log_every=1,
        sample_every=STEPS,
        **{
            "data.source": "tfds",
            "data.name": "afhq",
            "data.config": "v1",
            "data.train_split": "ref",
            "data.eval_split": "src",
            "model.num_domains": 3,
            # No random crops, so that every training image must be one file exactly (resized, maybe mirrored).
            "data.randcrop_prob": 0.0,
        },
    )
    work = tmp_path / "run"
    state = trainer.train(cfg, str(work))
    out = capsys.readouterr().out

    # Steps and finite losses (the console line of every step).
    assert int(jax.device_get(state.step)) == STEPS
    lines = [ln for ln in out.splitlines() if re.match(rf"step \d+/{STEPS} \|", ln)]
    assert [int(ln.split()[1].split("/")[0]) for ln in lines] == list(range(1, STEPS + 1)), out
    for ln in lines:
        values = dict(kv.split("=") for kv in ln.split("|")[1].split())
        assert {"D/latent_real", "D/ref_real", "G/latent_adv", "G/ref_sty", "G/ref_cyc"} <= set(values)
        assert all(math.isfinite(float(v)) for v in values.values()), ln
    assert all(np.isfinite(np.asarray(x)).all() for x in jax.tree.leaves(jax.device_get(state.params)))

    # A checkpoint of the last step, with the stream position after the 3 consumed batches.
    ckpt = work / "checkpoints" / str(STEPS)
    assert (ckpt / "state").is_dir() and (ckpt / "config").is_dir()
    position = json.loads((ckpt / "data" / "process_0-of-1" / "position.json").read_text())
    assert position == {"next_batch": STEPS, "next_example": STEPS * cfg.batch_size, "batch_size": cfg.batch_size}

    # The sample grids, built from the eval split's (src) images.
    for name in ("latent", "reference"):
        path = work / "samples" / f"{STEPS:06d}_{name}.png"
        assert path.is_file(), out
        with Image.open(path) as im:
            grid = np.asarray(im)
        assert grid.shape[2] == 3 and grid.std() > 10  # pictures, not a blank
    n = cfg.num_sample_images
    assert grid.shape[:2] == ((n + 1) * 34 + 2, (n + 1) * 34 + 2)  # reference grid: (1 + n) x (1 + n) tiles
    family = registry.create(cfg)
    src_files = _files(afhq_samples, "src")
    for x, y in zip(*(family.sample_inputs(n)[k] for k in ("x", "y"))):
        domain, _, d = _which(x, src_files)
        assert d <= 1.0 / 127.5 + 1e-6 and domain == ("cat", "dog", "wild")[y]

    # The batches the run trained on are the AFHQ ref images of the labelled folders: the stream is a pure
    # function of its position, so the run's first batch is train_dataset's first batch.
    ref_files = _files(afhq_samples, "ref")
    batch = {k: v.numpy() for k, v in next(iter(family.train_dataset(cfg.batch_size, 0, 1))).items()}
    domains = ("cat", "dog", "wild")
    seen = set()
    for key, labels in (("x_src", "y_src"), ("x_ref", "y_ref"), ("x_ref2", "y_ref")):
        for x, y in zip(batch[key], batch[labels]):
            domain, name, d = _which(x, ref_files)
            assert d <= 1.0 / 127.5 + 1e-6, (key, name, d)  # PIL's decode and bilinear resize, within a level
            assert domain == domains[y], (key, name, domain, y)
            seen.add(name)
    assert len(seen) >= 4
