"""Runs a family needs trained before its own (base.HasPrerequisites): frozen networks read from other runs.

    config = prerequisites.resolve(config, workdir, train=True)    # facejax train
    config = prerequisites.resolve(config, workdir, train=False)   # facejax eval / sample / export

Each prerequisite a family declares (name, preset, config, field) whose `field` is empty is looked for in
<workdir>/prereq/<name>. `facejax train` with config.prerequisites.train (the synthetic presets) trains what is
missing there first, one part after another, each resuming from its newest checkpoint like any run and skipped once
it reached its total_steps; without it, a missing part stops the run with one line naming the commands that train it
(into the folders where the run then finds them). A found or trained part fills `field`, so the family reads it as
if the user had passed --config.<field>=<workdir>/prereq/<name>. Nothing here names a family.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex

from facejax import registry
from facejax.errors import FacejaxError
from facejax.families import base

FOLDER = "prereq"


def folder(workdir, name: str, config=None, part_cfg=None) -> str:
    """Where the part `name` of the run in `workdir` is trained: <workdir>/prereq/<name>, or with
    config.prerequisites.dir (runs sharing their prerequisites: launch/sweep.py) <dir>/<name>-<digest of the part's
    config>, so that only runs needing the same part share it."""
    shared = config.get("prerequisites", {}).get("dir", "") if config is not None else ""
    if not shared:
        return os.path.join(str(workdir), FOLDER, name)
    text = json.dumps(part_cfg.to_dict(), sort_keys=True, default=str)
    return os.path.join(shared, f"{name}-{hashlib.sha1(text.encode()).hexdigest()[:10]}")


def declared(config) -> tuple[base.Prerequisite, ...]:
    """The family's prerequisites for `config` (() for a family without the capability)."""
    cls = registry.family_class(config.family)
    return tuple(cls.prerequisites(config)) if base.has(cls, base.HasPrerequisites) else ()


def _get(config, dotted: str):
    node = config
    for k in dotted.split("."):
        node = node[k]
    return node


def _set(config, dotted: str, value) -> None:
    *parents, leaf = dotted.split(".")
    node = config
    for k in parents:
        node = node[k]
    node[leaf] = value


def part_config(config, part: base.Prerequisite):
    """The part's config as it is trained: the family's, with this config's data.data_dir and
    config.prerequisites.total_steps (when > 0)."""
    c = part.config.copy_and_resolve_references()
    if "data" in c and "data" in config and "data_dir" in c.data:
        c.data.data_dir = config.data.data_dir
    steps = config.get("prerequisites", {}).get("total_steps", 0)
    if steps:
        c.total_steps = int(steps)
        for name in ("checkpoint_every", "sample_every", "log_every", "eval_every"):
            if c.get(name, 0) > steps:
                c[name] = int(steps)
    return c


def trained_step(workdir: str) -> int | None:
    """The newest checkpoint step of the run in `workdir`, or None (no run there)."""
    if not os.path.isdir(os.path.join(workdir, "checkpoints")):
        return None
    from facejax.train.checkpoint import Checkpointer

    ck = Checkpointer(workdir)
    try:
        return ck.latest_step()
    finally:
        ck.close()


def command(part: base.Prerequisite, config, workdir: str) -> str:
    """The `facejax train` command of a part: its preset plus every field where the part's config differs from the
    preset's (a size or sub-config the family shares with it)."""
    from facejax import configs
    from facejax.train.checkpoint import flatten_dict

    want = flatten_dict(part_config(config, part).to_dict())
    have = flatten_dict(configs.load(part.preset).to_dict())
    extra = [f"--config.{k}={v}" for k, v in sorted(want.items()) if k != "preset" and have.get(k, v) != v]
    words = ["facejax", "train", f"--config={part.preset}", f"--workdir={workdir}", *extra]
    return " ".join(shlex.quote(w) for w in words)


def _say(msg: str) -> None:
    import jax

    if jax.process_index() == 0:
        print(msg, flush=True)


def resolve(config, workdir, *, train: bool):
    """`config` with each empty prerequisite field set to its part's run (trained first with `train` and
    config.prerequisites.train); the config itself when nothing is missing. FacejaxError (one line) when `train`
    and a part is missing without config.prerequisites.train."""
    parts = [p for p in declared(config) if not _get(config, p.field)]
    if not parts:
        return config
    auto = train and bool(config.get("prerequisites", {}).get("train", False))
    out = config.copy_and_resolve_references()
    missing = []
    for i, part in enumerate(parts):
        pconfig = part_config(config, part)
        where = folder(workdir, part.name, config, pconfig)
        done = trained_step(where)
        total = int(pconfig.total_steps)
        label = f"[prerequisite {i + 1}/{len(parts)}] {part.name} ({part.preset}"
        label += f": {part.what})" if part.what else ")"
        if auto:
            if done is not None and done >= total:
                _say(f"{label}: done, step {done} in {where}")
            else:
                state = "from scratch" if done is None else f"resuming at step {done}"
                _say(f"{label}: training to step {total} in {where}, {state}")
                from facejax.train import trainer

                trainer.train(pconfig, where)
                done = trained_step(where)
                if done is None or done < total:  # preempted (SIGTERM): saved; the family must not start on it
                    _say(f"{label}: stopped at step {done} of {total}; run the same command again to continue")
                    raise SystemExit(0)
                _say(f"{label}: done, step {done}")
        elif done is None or (train and done < total):
            if train:  # eval, sample, export: the family says what it misses, if it needs the part at all
                missing.append((part, where))
            continue
        _set(out, part.field, where)
    if missing:
        fields = ", ".join(f"config.{p.field}" for p, _ in missing)
        cmds = "; ".join(command(p, config, w) for p, w in missing)
        given = " ".join(f"--config.{p.field}=RUN" for p, _ in missing)
        raise FacejaxError(
            f"{fields} {'is' if len(missing) == 1 else 'are'} empty: train first: {cmds} (this run then finds "
            f"them there); or give runs of your own ({given}), or add --config.prerequisites.train=True to train "
            f"them now"
        )
    if not train:
        return out
    from facejax.train import config as trainer_config

    trainer_config.check(out)
    return out
