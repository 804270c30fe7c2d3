"""Flags several commands share. Command-specific flags live in the command's own module."""

from absl import flags
from ml_collections import config_flags

from facejax.errors import FacejaxError

CONFIG = config_flags.DEFINE_config_file(
    "config", None, "<family>:<preset> (facejax presets) or <file.py>:<preset>", lock_config=True
)
WORKDIR = flags.DEFINE_string("workdir", None, "run directory: checkpoints, logs, samples")
OUT = flags.DEFINE_string("out", None, "output directory")
JSON = flags.DEFINE_bool("json", False, "print machine-readable JSON (last line of stdout)")


def require(flag, name: str):
    if not flag.value:
        raise FacejaxError(f"--{name} is required for this command")
    return flag.value


class _Existing:
    """A flag another command module already defined with the same meaning: read it, don't redefine it."""

    def __init__(self, name):
        self.name = name

    @property
    def value(self):
        return flags.FLAGS[self.name].value


def flag(define, name, default, help_, **kw):
    """Defines --name unless another command module (imported first, e.g. by `facejax --help`) already
    has: commands share generic names (--step, --weights, --a) with one meaning."""
    return _Existing(name) if name in flags.FLAGS else define(name, default, help=help_, **kw)
