"""Finding and loading the config files (configs/<family>.py presets) from Python (tests, sweeps, notebooks).

    cfg = configs.load("stargan_v2:synthetic", batch_size=16, **{"model.w_hpf": 0.0})
    cfg = configs.load("path/to/config.py:synthetic")          # any config file
    configs.families()                                           # {family: config file}
    configs.presets(configs.config_path("aesgan"))               # {preset: one line}

configs/ (at the top of the repository) installs as the package `facejax.presets`, so `FAMILY:PRESET` works from
any directory and after a non-editable `pip install .`. A family registered out of this tree (FACEJAX_FAMILIES,
facejax/registry.py) has its config file as `config.py` beside its module: `name=package.module:Class` -> the file
of `package.config`. Each config file's `PRESETS` table gives each preset's one-line description
(`facejax presets`).

The CLI resolves `--config=FAMILY:PRESET` to that file before ml_collections' config flag reads it
(`--config=configs/x.py:preset` is the same config).
"""

import importlib.util
import os
import pathlib

from facejax.errors import FacejaxError

PACKAGE = "facejax.presets"


def _config_dir() -> pathlib.Path:
    """A checkout's own configs/ (facejax/ run from the checkout: an editable install, PYTHONPATH), else the
    installed `facejax.presets` package (site-packages after `pip install .`)."""
    checkout = pathlib.Path(__file__).resolve().parents[1]
    if (checkout / "setup.cfg").is_file() and (checkout / "configs").is_dir():
        return checkout / "configs"
    try:
        spec = importlib.util.find_spec(PACKAGE)
    except ImportError:
        spec = None
    if spec is not None and spec.submodule_search_locations:
        return pathlib.Path(list(spec.submodule_search_locations)[0])
    return checkout / "configs"


CONFIG_DIR = _config_dir()


def _out_of_tree_config(family: str) -> pathlib.Path | None:
    """config.py beside the module of a FACEJAX_FAMILIES entry (`package.module:Class` -> `package.config`)."""
    from facejax import registry

    target = registry.entries().get(family)
    if target is None or family in registry.FAMILIES:
        return None
    package = target.split(":")[0].rpartition(".")[0]
    if not package:
        return None
    try:
        spec = importlib.util.find_spec(f"{package}.config")
    except ImportError:
        return None
    if spec is None or not spec.origin or not os.path.isfile(spec.origin):
        return None
    return pathlib.Path(spec.origin)


def families() -> dict[str, pathlib.Path]:
    """{family: config file}: every configs/<family>.py, then the out-of-tree families (FACEJAX_FAMILIES) that have
    a config.py beside their module. Families built only by another file's presets (aesgan_parsing, ...) have none."""
    from facejax import registry

    out = {p.stem: p for p in sorted(CONFIG_DIR.glob("*.py")) if not p.name.startswith("_")}
    for name in sorted(registry.entries()):
        if name not in out:
            path = _out_of_tree_config(name)
            if path is not None:
                out[name] = path
    return out


def config_path(family: str) -> pathlib.Path:
    """The config file of `family` (configs/<family>.py, or an out-of-tree family's config.py)."""
    path = CONFIG_DIR / f"{family}.py"
    if path.is_file():
        return path
    path = _out_of_tree_config(family)
    if path is not None:
        return path
    raise FacejaxError(f"no config file for family {family!r}; known: {', '.join(families())}")


def find(name: str) -> pathlib.Path:
    """A config file from what --config names before its ':': a file (relative to the working directory), a family
    (`stargan_v2`), or a path whose file name is one of configs/ (`configs/stargan_v2.py` from any directory)."""
    if os.path.isfile(name):
        return pathlib.Path(name)
    if name and not name.endswith(".py") and "/" not in name and os.sep not in name:
        return config_path(name)
    fallback = CONFIG_DIR / os.path.basename(name)
    if name.endswith(".py") and fallback.is_file():
        return fallback
    raise FacejaxError(
        f"config file {name!r} not found (give a file, or a family: {', '.join(families())}; `facejax presets`)"
    )


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
    """`family:preset` (or `path/to/file.py:preset`) -> that file's get_config(preset), overridden."""
    name, _, preset = spec.partition(":")
    return load_file(find(name), preset, **overrides)


def module(path):
    """The config file at `path`, executed as a module (its get_config, PRESETS, ...)."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise FacejaxError(f"no config file {path}")
    module_spec = importlib.util.spec_from_file_location(f"facejax_config_{path.stem}", path)
    mod = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(mod)
    return mod


def presets(path) -> dict[str, str]:
    """{preset: one-line description} of a config file (its PRESETS table; {} for a file without one)."""
    table = getattr(module(path), "PRESETS", None)
    return dict(table) if isinstance(table, dict) else {}


def load_file(path, preset: str = "", **overrides):
    """The ConfigDict of any config file's get_config(preset) (`--config=PATH:PRESET`), overridden; its
    `family` field names the family (launch/sweep.py finds the family this way)."""
    mod = module(path)
    try:
        cfg = mod.get_config(preset) if preset else mod.get_config()
    except ValueError as e:
        raise FacejaxError(str(e)) from None
    for key, value in overrides.items():
        override(cfg, key, value)
    return cfg
