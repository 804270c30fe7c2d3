"""IPM-Net's evaluation (its Table 2 protocol, facejax/metrics/makeup_protocol.py): `facejax eval
--config=configs/ipmnet.py:synthetic --workdir=RUN` on a freshly initialised run, with random Inception (pytorch-fid's
file) and AlexNet weight files: every non-makeup eval face transferred with a random makeup reference per run, FID and
LPIPS, the mean of the runs; the per-face mask and texture reach the generator."""

import json
import os

import jax
import numpy as np
import pytest
from PIL import Image
from tests.families.beautygan.test_sample_eval import command
from tests.families.ipmnet.conftest import TINY

from facejax import configs, images
from facejax.train import trainer

RUNS, SOURCES, REFERENCES = 3, 6, 5


@pytest.fixture(scope="module")
def fresh_run(synthetic_tfds, tmp_path_factory):
    """A run whose only checkpoint (step 0) is the freshly initialised state: no train step to compile."""
    cfg = configs.load("ipmnet:synthetic", **{**TINY, "data.data_dir": synthetic_tfds})
    work = str(tmp_path_factory.mktemp("ipm_eval") / "run")
    run = trainer.Run(cfg, work)
    run.checkpointer.save(0, run.restore_or_init(), None, cfg.to_dict(), force=True)
    run.checkpointer.close()
    return cfg, work


def test_eval_command_transfers_every_source_with_random_references(fresh_run, fid_inception, lpips_alex):
    cfg, work = fresh_run
    cfg = configs.load(
        "ipmnet:synthetic",
        **{
            **TINY,
            "data.data_dir": cfg.data.data_dir,
            "eval.inception_weights": fid_inception[0],
            "eval.alexnet_weights": lpips_alex[0],
            "eval.runs": RUNS,
            "eval.max_sources": SOURCES,
            "eval.max_references": REFERENCES,
            "eval.batch_size": 4,
            "eval.fid_method": "eigh",
            "eval.grid_sources": 2,
            "eval.save_images": True,
        },
    )
    stdout = command("eval", cfg, workdir=work, json=True)
    report = json.loads(stdout.strip().splitlines()[-1])
    out = os.path.join(work, "eval", "000000")
    with open(os.path.join(out, "metrics.json")) as f:
        saved = json.load(f)
    assert saved["metrics"] == report["metrics"] and saved["runs"] == report["runs"]
    m, runs = report["metrics"], report["runs"]
    assert report["step"] == 0 and report["model"] == "IPM-Net (facejax)" and report["inception"] == "fid"
    assert report["num_sources"] == SOURCES and report["num_references"] == REFERENCES
    assert len(runs["FID"]) == len(runs["LPIPS"]) == RUNS
    assert all(np.isfinite(v) for v in m.values()) and all(v > 0 for v in runs["FID"] + runs["LPIPS"])
    assert m["FID/mean"] == pytest.approx(np.mean(runs["FID"])) and m["FID/std"] == pytest.approx(np.std(runs["FID"]))
    assert m["LPIPS/mean"] == pytest.approx(np.mean(runs["LPIPS"]))
    assert len(set(runs["FID"])) == RUNS  # the runs draw different references
    assert "| IPM-Net (facejax) |" in stdout and os.path.isfile(os.path.join(out, "transfers.png"))

    # the sweep report (launch/sweep.py) reads this evaluation: the family's headline columns, filled
    from facejax.families.ipmnet.family import IPMNet
    from facejax.train import report

    table = report.markdown_table([report.collect("run", work, "synthetic")], IPMNet.headline_metrics)
    assert table.splitlines()[0] == "| run | configuration | FID | LPIPS | evaluated at step |"
    assert table.splitlines()[2] == f"| run | synthetic | {m['FID/mean']:.2f} | {m['LPIPS/mean']:.3f} | 0 |"

    # every source transferred once per run, with the reference np.random.default_rng([seed, 7, run]) draws
    fam = trainer.Run(cfg, work).family
    plain, made = fam.eval_faces(SOURCES)
    x, extra, refs = plain["x"], plain["extra"], made["x"][:REFERENCES]
    params = jax.device_get(trainer.Run(cfg, work).restore_state().params)
    transfer = jax.jit(fam.transfer)
    for r in range(RUNS):
        names = sorted(os.listdir(os.path.join(out, f"run{r:02d}")))
        want = np.random.default_rng([cfg.seed, 7, r]).integers(0, REFERENCES, SOURCES)
        assert names == [f"{i:05d}_ref{j:05d}.png" for i, j in enumerate(want)]
        if r != 1:
            continue
        y = images.to_uint8(refs[want]).astype(np.float32) / 127.5 - 1  # the protocol feeds uint8 references
        xs = images.to_uint8(x).astype(np.float32) / 127.5 - 1
        files = np.stack([np.asarray(Image.open(os.path.join(out, "run01", n))) for n in names])
        np.testing.assert_allclose(files, images.to_uint8(transfer(params, xs, y, extra)), atol=1)
        # the mask and texture matter: without them (or another face's) the outputs are not the files
        for other in (np.zeros_like(extra), np.roll(extra, 1, axis=0)):
            diff = np.abs(files.astype(int) - images.to_uint8(transfer(params, xs, y, other)).astype(int))
            assert diff.mean() > 2, diff.mean()
