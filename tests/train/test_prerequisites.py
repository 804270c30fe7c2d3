"""One command trains a whole family (issue 25 item 8): runs a family declares as prerequisites
(base.HasPrerequisites) are trained by `facejax train` into <workdir>/prereq/<name> first, skipped once finished,
resumed like any run; a config that does not train them names the commands in one line.

The whole path runs on the toy family's `distilled` preset (a frozen teacher G trained by a `toy:small` run); GFC's
and AesGAN's declarations and their real-data errors are checked without training."""

import os
import pathlib

import jax
import numpy as np
import pytest

from facejax import configs
from facejax.errors import FacejaxError
from facejax.train import prerequisites, trainer

TOY = pathlib.Path(__file__).resolve().parents[1] / "toyfamily" / "config.py"


@pytest.fixture(scope="module")
def toy_data(tmp_path_factory):
    import tensorflow_datasets as tfds

    import facejax.datasets  # noqa: F401

    data_dir = str(tmp_path_factory.mktemp("tfds"))
    tfds.builder("synthetic_faces", config="gender_32", data_dir=data_dir).download_and_prepare()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FACEJAX_FAMILIES", "toy=tests.toyfamily.family:Toy")
        yield data_dir


def _cfg(data_dir, preset="distilled", **overrides):
    return configs.load_file(TOY, preset, **{"data.data_dir": data_dir, **overrides})


def _mtimes(folder):
    return {p: os.path.getmtime(p) for p in sorted(str(x) for x in pathlib.Path(folder).rglob("*"))}


@pytest.mark.slow
def test_train_trains_the_prerequisite_then_the_family_and_resumes_after_an_interruption(
    toy_data, tmp_path, monkeypatch, capsys
):
    work = tmp_path / "run"
    teacher = work / "prereq" / "teacher"
    real_train = trainer._train

    def interrupted(run, skip):  # the main run is killed before its first step; the prerequisite trains
        if pathlib.Path(str(run.workdir)) == work:
            raise KeyboardInterrupt
        return real_train(run, skip)

    monkeypatch.setattr(trainer, "_train", interrupted)
    with pytest.raises(KeyboardInterrupt):
        trainer.train(_cfg(toy_data, **{"prerequisites.total_steps": 1}), str(work))
    out = capsys.readouterr().out
    assert f"[prerequisite 1/1] teacher (toy:small: the frozen teacher G): training to step 1 in {teacher}" in out
    assert "from scratch" in out and "teacher (toy:small: the frozen teacher G): done, step 1" in out
    assert prerequisites.trained_step(str(teacher)) == 1 and prerequisites.trained_step(str(work)) is None

    # a longer prerequisite: the part resumes at its step 1 (not from scratch) and the main run is killed again
    with pytest.raises(KeyboardInterrupt):
        trainer.train(_cfg(toy_data, **{"prerequisites.total_steps": 2}), str(work))
    out = capsys.readouterr().out
    assert "training to step 2" in out and "resuming at step 1" in out and "from scratch" not in out
    assert prerequisites.trained_step(str(teacher)) == 2
    before = _mtimes(teacher)

    monkeypatch.setattr(trainer, "_train", real_train)
    state = trainer.train(_cfg(toy_data, **{"prerequisites.total_steps": 2}), str(work))
    out = capsys.readouterr().out
    assert f"teacher (toy:small: the frozen teacher G): done, step 2 in {teacher}" in out
    assert "training to step" not in out
    assert _mtimes(teacher) == before  # the finished part was not touched
    assert int(state.step) == 2 and prerequisites.trained_step(str(work)) == 2
    # the family read the teacher from its run: the frozen G is the prerequisite's trained G
    t_run = trainer.Run(configs.load_file(TOY, "small", **{"data.data_dir": toy_data}), str(teacher))
    t_state = t_run.restore_state()
    jax.tree.map(np.testing.assert_array_equal, jax.device_get(state.frozen["T"]), jax.device_get(t_state.params["G"]))
    # eval / sample / export find it without a flag
    run = trainer.Run(_cfg(toy_data), str(work))
    assert run.config.teacher.checkpoint == str(teacher)


def test_a_config_that_does_not_train_prerequisites_names_the_commands(toy_data, tmp_path):
    work = tmp_path / "run"
    cfg = _cfg(toy_data, **{"prerequisites.train": False, "model.ch": 4})
    with pytest.raises(FacejaxError) as e:
        trainer.train(cfg, str(work))
    msg = str(e.value)
    assert "\n" not in msg
    assert msg.startswith("config.teacher.checkpoint is empty: train first: facejax train --config=toy:small ")
    # the part's config differs from the preset in what the family shares with it (model.ch) and the data folder
    assert f"--workdir={work}/prereq/teacher" in msg and "--config.model.ch=4" in msg
    assert f"--config.data.data_dir={toy_data}" in msg
    assert "--config.teacher.checkpoint=RUN" in msg and "--config.prerequisites.train=True" in msg
    assert not (work / "checkpoints").exists()


def test_gfc_and_aesgan_declare_their_frozen_network_runs():
    from facejax.families.aesgan.family import AesGAN
    from facejax.families.gfc.family import GFC

    (p,) = GFC.prerequisites(configs.load("gfc:synthetic"))
    assert (p.name, p.preset, p.field, p.config.family) == (
        "parsing",
        "gfc:parsing_synthetic",
        "parsing_checkpoint",
        "gfc_parsing",
    )
    assert configs.load("gfc:synthetic").prerequisites.train and not configs.load("gfc:celeba").prerequisites.train
    (p,) = GFC.prerequisites(configs.load("gfc:celeba"))
    assert p.preset == "gfc:parsing" and p.config.img_size == 128
    # reconstruction only, without the parsing score: no parsing run needed
    assert GFC.prerequisites(configs.load("gfc:synthetic", total_steps=300, **{"eval.parsing_score": False})) == ()

    parts = AesGAN.prerequisites(configs.load("aesgan:synthetic"))
    assert [(p.name, p.preset, p.field) for p in parts] == [
        ("aesthetic", "aesgan:aesthetic_synthetic", "aesthetic.checkpoint"),
        ("parsing", "aesgan:parsing_synthetic", "parsing.checkpoint"),
    ]
    assert [p.config.family for p in parts] == ["aesgan_aesthetic", "aesgan_parsing"]
    assert [p.name for p in AesGAN.prerequisites(configs.load("aesgan:celeb_id", lambda_parsing=0.0))] == ["aesthetic"]


def test_real_data_presets_name_the_runs_to_train_first(tmp_path):
    with pytest.raises(FacejaxError) as e:
        trainer.train(configs.load("aesgan:celeb_id", **{"aesthetic.dim": 32}), str(tmp_path / "a"))
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith("config.aesthetic.checkpoint, config.parsing.checkpoint are empty")
    assert (
        f"facejax train --config=aesgan:aesthetic --workdir={tmp_path}/a/prereq/aesthetic --config.aesthetic.dim=32; "
        f"facejax train --config=aesgan:parsing --workdir={tmp_path}/a/prereq/parsing (" in msg
    )
    with pytest.raises(FacejaxError, match=r"^config.parsing_checkpoint is empty: train first: facejax train "):
        trainer.train(configs.load("gfc:celeba"), str(tmp_path / "g"))


def test_runs_with_a_shared_prerequisites_dir_share_equal_parts(monkeypatch, tmp_path, capsys):
    """config.prerequisites.dir (launch/sweep.py sets it): runs whose parts have the same config share one folder
    (seeds of the main run do not change the part), a different part (another width) gets its own."""
    import sys

    monkeypatch.setenv("FACEJAX_FAMILIES", "toy=tests.toyfamily.family:Toy")
    shared = str(tmp_path / "prereq")

    def where(**overrides):
        c = configs.load_file(TOY, "distilled", **{"prerequisites.dir": shared, **overrides})
        (part,) = prerequisites.declared(c)
        return prerequisites.folder("unused", part.name, c, prerequisites.part_config(c, part))

    assert where(seed=0) == where(seed=1) and where(seed=0).startswith(os.path.join(shared, "teacher-"))
    assert where(**{"model.ch": 4}) != where()
    assert prerequisites.folder(str(tmp_path / "run"), "teacher") == str(tmp_path / "run" / "prereq" / "teacher")

    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "launch"))
    import sweep

    assert sweep.main([f"--config={TOY}", f"--workdir={tmp_path / 'w'}", "--presets=distilled", "--dry_run"]) == 0
    cmds = [ln for ln in capsys.readouterr().out.splitlines() if ln.strip().startswith("$")]
    assert len(cmds) == 2 and all(f"--config.prerequisites.dir={tmp_path / 'w' / 'prereq'}" in c for c in cmds)
