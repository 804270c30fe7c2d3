"""Loading configs/<family>.py presets from Python (tests, sweeps, notebooks).

    cfg = configs.load("stargan_v2:synthetic", batch_size=16, **{"model.w_hpf": 0.0})

The CLI loads the same files through ml_collections' config flags (`--config=configs/x.py:preset`).
"""

import importlib.util
import pathlib

from facejax.errors import FacejaxError

CONFIG_DIR = pathlib.Path(__file__).resolve().parents[1] / "configs"

# Top-level fields every config may carry without its preset file declaring them (field -> where it is read).
# An override adds them; readers use config.get(field, default).
OPTIONAL_FIELDS = {"kernels": "facejax/nn/kernels.py"}


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
        if parents or leaf not in OPTIONAL_FIELDS:
            raise FacejaxError(f"unknown config field {key!r}")
        with node.unlocked():
            node[leaf] = value
        return
    node[leaf] = value


def load(spec: str, **overrides):
    """`family:preset` -> the ConfigDict of configs/<family>.py get_config(preset), overridden."""
    family, _, preset = spec.partition(":")
    module_spec = importlib.util.spec_from_file_location(f"facejax_config_{family}", config_path(family))
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    try:
        cfg = module.get_config(preset) if preset else module.get_config()
    except ValueError as e:
        raise FacejaxError(str(e)) from None
    for key, value in overrides.items():
        override(cfg, key, value)
    return cfg
