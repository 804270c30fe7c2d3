"""setup.py finds every package (data/ installs as facejax.datasets), so a new family folder needs no listing."""

import configparser
import importlib.util
import pathlib
import re

REPO = pathlib.Path(__file__).resolve().parents[1]


def _on_disk():
    pkgs = set()
    for root, prefix in ((REPO / "facejax", "facejax"), (REPO / "data", "facejax.datasets")):
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
    cfg = configparser.ConfigParser()
    cfg.read(REPO / "setup.cfg")
    assert "packages" not in cfg["options"]  # one place decides (setup.py)
    assert cfg["options"]["package_dir"].split() == ["facejax", "=", "facejax", "facejax.datasets", "=", "data"]


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
