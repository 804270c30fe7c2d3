"""facejax presets: every family with a config file, its presets and a line on each (--json: the same as JSON).

A family's presets are `--config=FAMILY:PRESET` (or `--config=configs/FAMILY.py:PRESET`); a preset that builds a
config of another family (AesGAN's `aesthetic` trains `aesgan_aesthetic`) says so. Families registered out of this
tree (FACEJAX_FAMILIES) are listed when they have a config.py beside their module (facejax/configs.py).
"""

import json

from facejax.commands import common
from facejax.errors import FacejaxError

HELP = "list the families and their presets, a line each (--json)"
NEEDS_CONFIG = False


def catalogue() -> dict:
    """{family: {"file": path, "presets": {preset: {"description", "family"}}}}; a preset whose config cannot be
    built (an out-of-tree file's mistake) has its error as "family"."""
    from facejax import configs

    out = {}
    for family, path in configs.families().items():
        table = {}
        for preset, description in configs.presets(path).items():
            try:
                builds = configs.load_file(path, preset).family
            except (FacejaxError, AttributeError, KeyError) as e:
                builds = f"error: {e}"
            table[preset] = {"description": description, "family": builds}
        out[family] = {"file": str(path), "presets": table}
    return out


def main(config, args):
    del config
    if args:
        raise FacejaxError(f"presets takes no positional words, got {' '.join(args)}")
    table = catalogue()
    if common.JSON.value:
        print(json.dumps(table))
        return
    for family, entry in table.items():
        print(f"{family}  (--config={family}:PRESET; {entry['file']})")
        if not entry["presets"]:
            print("  (the file has no PRESETS table: see its docstring)")
        width = max((len(p) for p in entry["presets"]), default=0) + 2
        for preset, p in entry["presets"].items():
            other = "" if p["family"] == family else f" [family {p['family']}]"
            print(f"  {preset:<{width}}{p['description']}{other}")
        print()
