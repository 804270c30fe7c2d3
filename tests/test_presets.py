"""Presets as a user finds them (issue 22 item 2): `--config=FAMILY:PRESET` beside the file form, `facejax presets`
(every family with a config file, each preset with a line), `facejax config` (the resolved config, overrides
applied), and the PRESETS table of every config file naming exactly the presets it builds."""

import json
import pathlib

import pytest
import yaml
from ml_collections import ConfigDict
from tests import xla_env
from tests.test_cli import facejax

from facejax import configs, registry
from facejax.commands import show_config
from facejax.errors import FacejaxError
from facejax.train import config as trainer_config

REPO = pathlib.Path(__file__).resolve().parents[1]
TOY = "toy=tests.toyfamily.family:Toy"


def last_json(res):
    assert res.returncode == 0, res.stderr[-3000:]
    return json.loads(res.stdout.strip().splitlines()[-1])


def expected(spec, **overrides):
    return json.loads(configs.load(spec, **overrides).to_json())


def test_every_preset_of_every_config_file_builds_a_registered_family():
    built = set()
    for family, path in configs.families().items():
        table = configs.presets(path)
        assert table, f"{path} has no PRESETS table"
        for preset, line in table.items():
            assert line.strip() and "\n" not in line and len(line) <= 120, (family, preset)
            cfg = configs.load(f"{family}:{preset}")
            assert cfg.family in registry.FAMILIES
            assert yaml.safe_load(show_config.yaml_text(cfg)) == show_config.plain(cfg)  # `facejax config` reads back
            built.add(cfg.family)
    # every built-in family is reached through some config file's preset
    assert built == set(registry.FAMILIES)


def test_select_refuses_a_presets_table_that_misses_a_preset():
    def base():
        return ConfigDict({"family": "x", "preset": ""})

    presets = {"a": lambda c: c, "b": lambda c: c}
    assert trainer_config.select("a", presets, base=base, file="x.py", descriptions={"a": "1", "b": "2"}).preset == "a"
    with pytest.raises(ValueError, match=r"x.py: PRESETS describes \['c'\].*misses \['b'\]"):
        trainer_config.select("a", presets, base=base, file="x.py", descriptions={"a": "1", "c": "2"})


def test_family_form_equals_file_form():
    assert configs.find("stargan_v2") == configs.config_path("stargan_v2")
    assert (
        configs.load("stargan_v2:C,synthetic").to_dict()
        == configs.load_file(REPO / "configs" / "stargan_v2.py", "C,synthetic").to_dict()
    )
    with pytest.raises(FacejaxError, match="no config file for family 'nosuch'; known: aesgan, "):
        configs.load("nosuch:synthetic")
    with pytest.raises(FacejaxError, match="config file 'elsewhere/nosuch.py' not found"):
        configs.find("elsewhere/nosuch.py")


def test_out_of_tree_family_config_beside_its_module(monkeypatch):
    monkeypatch.setenv("FACEJAX_FAMILIES", TOY)
    assert configs.config_path("toy") == REPO / "tests" / "toyfamily" / "config.py"
    assert configs.families()["toy"] == REPO / "tests" / "toyfamily" / "config.py"
    assert configs.load("toy:wide").model.ch == 16
    monkeypatch.setenv("FACEJAX_FAMILIES", "solo=some_top_level_module:Solo")
    assert "solo" not in configs.families()  # no package to hold a config.py: not listed


def test_presets_command_lists_every_family_with_a_config(tmp_path):
    env = dict(xla_env.env(1), FACEJAX_FAMILIES=TOY, PYTHONPATH=str(REPO))
    listed = last_json(facejax("presets", "--json", env=env, cwd=tmp_path))
    assert list(listed) == [*(p.stem for p in sorted((REPO / "configs").glob("[!_]*.py"))), "toy"]
    for family, entry in listed.items():
        path = pathlib.Path(entry["file"])
        assert {p: e["description"] for p, e in entry["presets"].items()} == configs.presets(path)
        for preset, e in entry["presets"].items():
            assert e["family"] == configs.load_file(path, preset).family
    # every registered family appears: as a file of its own or as what a preset builds
    families = {e["family"] for entry in listed.values() for e in entry["presets"].values()}
    assert families == set(registry.FAMILIES) | {"toy"}
    assert listed["aesgan"]["presets"]["aesthetic"]["family"] == "aesgan_aesthetic"

    text = facejax("presets", env=env, cwd=tmp_path)
    assert text.returncode == 0, text.stderr
    for family, entry in listed.items():
        assert f"{family}  (--config={family}:PRESET; " in text.stdout
        for preset, e in entry["presets"].items():
            assert any(
                ln.split() and ln.split()[0] == preset and e["description"] in ln for ln in text.stdout.splitlines()
            )
    assert "[family aesgan_aesthetic]" in text.stdout and "[family stargan_v2]" not in text.stdout


@pytest.mark.parametrize(
    "spec", ["stargan_v2:C,synthetic", "configs/stargan_v2.py:C,synthetic", "{repo}/configs/stargan_v2.py:C,synthetic"]
)
def test_config_command_prints_the_resolved_config(spec, tmp_path):
    """From a directory without configs/: the family form, the file form found among the installed presets, and an
    absolute path all print configs.load(...) with the overrides applied, as JSON and as YAML."""
    args = [f"--config={spec.format(repo=REPO)}", "--config.batch_size=3", "--config.model.w_hpf=0.5"]
    want = expected("stargan_v2:C,synthetic", batch_size=3, **{"model.w_hpf": 0.5})
    assert want["batch_size"] == 3 and want["model"]["w_hpf"] == 0.5 and want["preset"] == "C,synthetic"
    env = dict(xla_env.env(1), PYTHONPATH=str(REPO))
    assert last_json(facejax("config", *args, "--json", env=env, cwd=tmp_path)) == want
    res = facejax("config", *args, env=env, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert yaml.safe_load(res.stdout) == want


def test_config_command_errors_are_one_line(tmp_path):
    env = dict(xla_env.env(1), PYTHONPATH=str(REPO))
    for args, message in [
        (["--config=nosuch:synthetic"], "no config file for family 'nosuch'; known: aesgan, beautygan"),
        (["--config=stargan_v2:nope"], "unknown preset 'nope'"),
        (["--config=stargan_v2:synthetic", "--config.no_such_field=1"], "no_such_field"),
        ([], "--config is required, e.g. --config=stargan_v2:synthetic"),
    ]:
        res = facejax("config", *args, env=env, cwd=tmp_path)
        assert res.returncode == 2 and message in res.stderr and "Traceback" not in res.stderr, res.stderr
        assert len(res.stderr.strip().splitlines()) == 1, res.stderr
