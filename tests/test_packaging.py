"""setup.cfg lists its packages explicitly (data/ installs as facejax.datasets): keep it complete."""

import configparser
import pathlib

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


def test_torch_is_pinned_to_the_cpu_build():
    # An open range would let pip pull a multi-GB CUDA build of torch.
    text = (REPO / "setup.cfg").read_text()
    assert "torch==2.13.0" in text
