"""setup.cfg lists its packages explicitly (data/ installs as facejax.datasets): keep it complete."""

import configparser
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


def test_every_package_is_listed_in_setup_cfg():
    cfg = configparser.ConfigParser()
    cfg.read(REPO / "setup.cfg")
    listed = {p.strip() for p in cfg["options"]["packages"].split() if p.strip()}
    missing = _on_disk() - listed
    assert not missing, f"add to setup.cfg [options] packages: {sorted(missing)}"


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
