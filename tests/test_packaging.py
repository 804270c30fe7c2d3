"""setup.py finds every package (data/ installs as facejax.datasets, configs/ as facejax.presets), so a new family
folder needs no listing; a built wheel holds the presets, and a non-editable install loads them from any directory."""

import configparser
import importlib.util
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import zipfile

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]


def _on_disk():
    pkgs = set()
    for root, prefix in (
        (REPO / "facejax", "facejax"),
        (REPO / "data", "facejax.datasets"),
        (REPO / "configs", "facejax.presets"),
    ):
        for init in root.rglob("__init__.py"):
            rel = init.parent.relative_to(root)
            pkgs.add(".".join([prefix, *rel.parts]) if rel.parts else prefix)
    return pkgs


def test_every_package_is_found():
    spec = importlib.util.spec_from_file_location("facejax_setup", REPO / "setup.py")
    setup = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(setup)  # guarded by __main__: defines packages() only
    found = setup.packages()
    assert len(found) == len(set(found)) and set(found) == _on_disk()
    assert "facejax.families.stargan_v2" in found and "facejax.datasets.synthetic_faces" in found
    assert "facejax.presets" in found
    cfg = configparser.ConfigParser()
    cfg.read(REPO / "setup.cfg")
    assert "packages" not in cfg["options"]  # one place decides (setup.py)
    assert cfg["options"]["package_dir"].split() == [
        *("facejax", "=", "facejax"),
        *("facejax.datasets", "=", "data"),
        *("facejax.presets", "=", "configs"),
    ]


def test_torch_requirements_are_closed():
    # An open range would let pip pull a newer multi-GB CUDA build of torch: every torch or
    # torchvision requirement is pinned (==) or capped at what the local cache holds.
    cfg = configparser.ConfigParser()
    cfg.read(REPO / "setup.cfg")
    reqs = []
    for section in ("install_requires",):
        reqs += cfg["options"].get(section, "").split("\n")
    for extra in cfg["options.extras_require"].values():
        reqs += extra.split("\n")
    torch_reqs = [r.strip() for r in reqs if r.strip().startswith(("torch", "torchvision"))]
    assert torch_reqs, "no torch requirement found in setup.cfg extras"
    for req in torch_reqs:
        assert "==" in req or "<=" in req or "<" in req, f"open torch range in setup.cfg: {req!r}"
        assert "==" in req or re.search(r"<=?\s*2\.14\.1", req), f"cap torch at 2.14.1: {req!r}"


def test_accelerator_extras_pin_the_projects_jax():
    cfg = configparser.ConfigParser()
    cfg.read(REPO / "setup.cfg")
    pinned = next(r.strip() for r in cfg["options"]["install_requires"].split("\n") if r.strip().startswith("jax=="))
    version = pinned.split("==")[1]
    extras = cfg["options.extras_require"]
    assert extras["cuda12"].split() == [f"jax[cuda12]=={version}"]
    assert extras["tpu"].split() == [f"jax[tpu]=={version}"]


SOURCES = ("facejax", "data", "configs", "setup.py", "setup.cfg", "pyproject.toml", "README.md")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    """A wheel built from a copy of the sources (the build writes build/ and *.egg-info beside them)."""
    src, out = tmp_path_factory.mktemp("src"), tmp_path_factory.mktemp("wheel")
    for name in SOURCES:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(REPO / name, src / name)
    res = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", ".", "--no-deps", "--no-build-isolation", "-q", "-w", str(out)],
        cwd=src,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    (path,) = out.glob("facejax-*.whl")
    return path


def test_wheel_holds_the_presets(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    families = sorted(p.name for p in (REPO / "configs").glob("*.py") if not p.name.startswith("_"))
    assert families and "facejax/presets/__init__.py" in names
    assert {f"facejax/presets/{f}" for f in families} <= names
    assert not any(n.startswith("configs/") for n in names)  # installed under facejax/, not as a top-level package


def test_non_editable_install_loads_presets_from_any_directory(wheel, tmp_path):
    """The wheel unpacked (what `pip install .` puts in site-packages) first on the path, run from a directory
    without configs/: `stargan_v2:synthetic`, the file form and `facejax presets` come from the installed copy."""
    site, work = tmp_path / "site", tmp_path / "elsewhere"
    zipfile.ZipFile(wheel).extractall(site)
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "FACEJAX_FAMILIES")}
    env["PYTHONPATH"] = str(site)
    script = (
        "import json, facejax, facejax.configs as c; "
        "cfg = c.load('stargan_v2:synthetic', batch_size=3); "
        "print(json.dumps([facejax.__file__, str(c.CONFIG_DIR), cfg.family, cfg.preset, cfg.batch_size]))"
    )
    res = subprocess.run([sys.executable, "-c", script], cwd=work, env=env, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-3000:]
    module, config_dir, family, preset, batch = json.loads(res.stdout.strip().splitlines()[-1])
    assert module.startswith(str(site)) and config_dir == str(site / "facejax" / "presets")
    assert (family, preset, batch) == ("stargan_v2", "synthetic", 3)

    def cli(*args):
        res = subprocess.run(
            [sys.executable, "-m", "facejax.cli", *args], cwd=work, env=env, capture_output=True, text=True
        )
        assert res.returncode == 0, res.stderr[-3000:]
        return json.loads(res.stdout.strip().splitlines()[-1])

    by_family = cli("config", "--config=stargan_v2:synthetic", "--config.batch_size=3", "--json")
    by_file = cli("config", "--config=configs/stargan_v2.py:synthetic", "--config.batch_size=3", "--json")
    assert by_family == by_file and by_family["batch_size"] == 3 and by_family["img_size"] == 32
    listed = cli("presets", "--json")
    assert set(listed) == {p.stem for p in (REPO / "configs").glob("*.py") if not p.name.startswith("_")}
    assert all(e["file"].startswith(str(site)) for e in listed.values())
