"""The command line as a user meets it: parameter tables, training then sampling, clear errors."""

import json
import os
import pathlib
import subprocess
import sys

import pytest
from PIL import Image
from tests import xla_env

ENV = xla_env.env(1)


def facejax(*args, timeout=600, env=None, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "facejax.cli", *args],
        capture_output=True,
        text=True,
        env=env or ENV,
        timeout=timeout,
        cwd=cwd,
    )


def test_params_match_the_original_counts(repo_root):
    res = facejax("params", f"--config={repo_root}/configs/stargan_v2.py:celeba_hq", "--json")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout.strip().splitlines()[-1]) == {
        "generator": 43_467_395,
        "mapping_network": 2_438_272,
        "style_encoder": 20_916_928,
        "discriminator": 20_852_290,
    }
    res = facejax("params", f"--config={repo_root}/configs/stargan_v2.py:afhq", "--json")
    counts = json.loads(res.stdout.strip().splitlines()[-1])
    assert counts["generator"] == 33_892_995 and counts["discriminator"] == 20_852_803
    table = facejax("params", f"--config={repo_root}/configs/stargan_v2.py:celeba_hq").stdout
    assert "43,467,395" in table and "total" in table


@pytest.mark.parametrize(
    "args, expected",
    [
        (["--config={cfg}:nope"], "unknown preset 'nope'"),
        (["--config={cfg}:synthetic", "--config.no_such_field=1"], "no_such_field"),
        (["--config={cfg}:synthetic", "--config.img_size=48"], "config.img_size=48"),
        (["--config={cfg}:synthetic", "--config.dtype=float8"], "config.dtype"),
    ],
)
def test_bad_config_gets_one_clear_error(repo_root, args, expected):
    args = [a.format(cfg=f"{repo_root}/configs/stargan_v2.py") for a in args]
    res = facejax("params", *args)
    assert res.returncode == 2
    assert expected in res.stderr
    assert "Traceback" not in res.stderr


@pytest.fixture(scope="module")
def trained(tmp_path_factory, afhq_samples, repo_root):
    work = tmp_path_factory.mktemp("cli") / "run"
    common = [
        f"--config={repo_root}/configs/stargan_v2.py:synthetic",
        f"--workdir={work}",
        "--config.img_size=32",
        "--config.batch_size=4",
        "--config.model.dim_in=16",
        "--config.model.max_conv_dim=32",
        "--config.model.hidden_dim=32",
        "--config.data.source=folder",
        f"--config.data.train_dir={afhq_samples / 'ref'}",
        f"--config.data.eval_dir={afhq_samples / 'src'}",
        "--config.model.num_domains=3",
        "--config.num_sample_images=3",
    ]
    res = facejax("train", *common, "--config.total_steps=2", "--config.log_every=1", "--config.sample_every=2")
    assert res.returncode == 0, res.stdout + res.stderr
    return work, common, res.stdout


def test_train_reports_progress_and_writes_grids(trained):
    work, _, out = trained
    assert "step 2/2" in out and "img/s" in out and "ETA" in out and "D/latent_real=" in out
    grid = Image.open(work / "samples" / "000002_reference.png")
    # 3 sources + header row, 3 references + source column, 32 px tiles with 2 px padding.
    assert grid.size == (4 * 34 + 2, 4 * 34 + 2)
    assert any(f.startswith("events.out.tfevents") for f in os.listdir(work))


def test_sample_translates_every_source_with_every_reference(trained, afhq_samples, tmp_path):
    work, common, _ = trained
    out = tmp_path / "out"
    res = facejax(
        "sample",
        *common,
        f"--out={out}",
        f"--src={afhq_samples / 'src'}",
        f"--ref={afhq_samples / 'ref'}",
        "--json",
        "--grids",  # the dataset's grids as well (with --src they are written only when asked)
    )
    assert res.returncode == 0, res.stdout + res.stderr
    written = json.loads(res.stdout.strip().splitlines()[-1])
    srcs = [f for d in os.listdir(afhq_samples / "src") for f in os.listdir(afhq_samples / "src" / d)]
    refs = [f for d in os.listdir(afhq_samples / "ref") for f in os.listdir(afhq_samples / "ref" / d)]
    assert written["pairs"] == len(srcs) * len(refs) == 15 * 28
    one = out / f"{os.path.splitext(srcs[0])[0]}__{os.path.splitext(refs[0])[0]}.png"
    assert Image.open(one).size == (32, 32)
    assert os.path.exists(written["latent"]) and os.path.exists(written["pairs_grid"])


def test_sample_errors(trained, tmp_path, afhq_samples):
    work, common, _ = trained
    flat = tmp_path / "flat"
    flat.mkdir()
    Image.new("RGB", (8, 8)).save(flat / "a.png")
    res = facejax("sample", *common, f"--out={tmp_path / 'o'}", f"--src={flat}", f"--ref={afhq_samples / 'ref'}")
    assert res.returncode == 2 and "has no domain sub-folders" in res.stderr and str(flat) in res.stderr
    res = facejax("sample", *common, f"--out={tmp_path / 'o'}", f"--workdir={tmp_path / 'empty'}")
    assert res.returncode == 2 and "has no checkpoint" in res.stderr


@pytest.mark.parametrize(
    "command, flag",
    [("train", "--workdir"), ("export", "--with_optim"), ("eval", "--eval_checkpoint"), ("prepare", "--manual_dir")],
)
def test_each_command_has_help(command, flag):
    res = facejax(command, "--help")
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith(f"facejax {command}") and f"  {flag}: " in res.stdout


def test_config_kernels_is_a_declared_field_checked_by_every_command():
    """Every config declares `kernels` (facejax/train/config.py defaults) and registry.create checks the trainer's
    fields (facejax/train/config.py check), so `facejax params` refuses a bad value in one line."""
    env = dict(ENV, FACEJAX_FAMILIES="toy=tests.toyfamily.family:Toy")
    toy = f"--config={pathlib.Path(__file__).parent / 'toyfamily' / 'config.py'}:small"
    res = facejax("params", toy, "--config.kernels=native", "--json", env=env)
    assert res.returncode == 0, res.stderr
    assert set(json.loads(res.stdout.strip().splitlines()[-1])) == {"G", "D"}
    res = facejax("params", toy, "--config.kernels=fast", "--config.batch_size=0", env=env)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert res.stderr.strip() == "facejax params: error: config.batch_size=0: expected an integer >= 1"
    res = facejax("sample", toy, "--help", env=env)
    assert res.returncode == 0 and "Family 'toy' takes:\n  --src: images to draw beside" in res.stdout
