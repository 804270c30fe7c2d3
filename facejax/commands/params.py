"""facejax params --config=...: the parameter table of each network (--json for {"net": count})."""

import json

from facejax.commands import common

HELP = 'the parameter table of each network (--json for {"net": count})'
NEEDS_CONFIG = True


def main(config, args):
    del args
    from facejax import registry

    counts = registry.create(config).param_counts()
    if common.JSON.value:
        print(json.dumps(counts))
        return
    width = max(len(k) for k in counts) + 2
    print(f"{'network':<{width}}{'parameters':>14}")
    for k, v in counts.items():
        print(f"{k:<{width}}{v:>14,}")
    print(f"{'total':<{width}}{sum(counts.values()):>14,}")
