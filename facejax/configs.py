"""Loading configs/<family>.py presets from Python (tests, sweeps, notebooks).

    cfg = configs.load("stargan_v2:synthetic", batch_size=16, **{"model.w_hpf": 0.0})
    cfg = configs.load_file("path/to/config.py", "synthetic")

The CLI loads the same files through ml_collections' config flags (`--config=configs/x.py:preset`).
"""

import importlib.util
import pathlib

from facejax.errors import FacejaxError

CONFIG_DIR = pathlib.Path(__file__).resolve().parents[1] / "configs"


def config_path(family: str) -> pathlib.Path:
    path = CONFIG_DIR / f"{family}.py"
    if not path.is_file():
        known = sorted(p.stem for p in CONFIG_DIR.glob("*.py"))
        raise FacejaxError(f"no config file {path}; known families: {', '.join(known)}")
    return path


def override(cfg, key: str, value):
    """Sets a dotted field, with the same 'unknown field' error the command line gives."""
    node = cfg
    *parents, leaf = key.split(".")
    for p in parents:
        if p not in node:
            raise FacejaxError(f"unknown config field {key!r}")
        node = node[p]
    if leaf not in node:
        raise FacejaxError(f"unknown config field {key!r}")
    node[leaf] = value


def load(spec: str, **overrides):
    """`family:preset` -> the ConfigDict of configs/<family>.py get_config(preset), overridden."""
    family, _, preset = spec.partition(":")
    return load_file(config_path(family), preset, **overrides)


def load_file(path, preset: str = "", **overrides):
    """The ConfigDict of any config file's get_config(preset) (`--config=PATH:PRESET`), overridden; its
    `family` field names the family (launch/sweep.py finds the family this way)."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise FacejaxError(f"no config file {path}")
    module_spec = importlib.util.spec_from_file_location(f"facejax_config_{path.stem}", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    try:
        cfg = module.get_config(preset) if preset else module.get_config()
    except ValueError as e:
        raise FacejaxError(str(e)) from None
    for key, value in overrides.items():
        override(cfg, key, value)
    return cfg
