"""facejax config --config=FAMILY:PRESET [--config.FIELD=VALUE ...]: the resolved config (the preset with the
overrides applied) as YAML, or as JSON with --json; a run stores the same config in its checkpoints."""

import json

from facejax.commands import common
from facejax.errors import FacejaxError

HELP = "print the resolved config: preset and overrides (YAML; --json for JSON)"
NEEDS_CONFIG = True


def plain(config) -> dict:
    """The config as plain JSON types (tuples as lists), the same values --json prints."""
    return json.loads(config.to_json())


def yaml_text(config) -> str:
    """The config as plain YAML (field order kept; yaml.safe_load reads back `plain(config)`)."""
    import yaml  # ml_collections' own dependency

    return yaml.safe_dump(plain(config), sort_keys=False, default_flow_style=False, width=120)


def main(config, args):
    if args:
        raise FacejaxError(f"config takes no positional words, got {' '.join(args)}")
    if common.JSON.value:
        print(json.dumps(plain(config)))
    else:
        print(yaml_text(config), end="")
