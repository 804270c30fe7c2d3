"""facejax command line: `facejax <command> --config=configs/<family>.py:<preset> [flags]`.

Commands:
  train    train in --workdir (resumes from its newest checkpoint)
  sample   sample grids from --workdir's EMA weights into --out; --src/--ref translate folders
  params   the parameter table of each network (--json for {"net": count})

Config fields are overridden as --config.FIELD=VALUE (e.g. --config.batch_size=16).
User mistakes print one line naming the file or field and exit 2; nothing written is lost.
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import json  # noqa: E402

from absl import flags  # noqa: E402
from ml_collections import config_flags  # noqa: E402

from facejax.errors import FacejaxError  # noqa: E402

COMMANDS = ("train", "sample", "params")
USAGE = __doc__

_CONFIG = config_flags.DEFINE_config_file("config", None, "configs/<family>.py:<preset>", lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "run directory: checkpoints, logs, samples")
_OUT = flags.DEFINE_string("out", None, "output directory (sample)")
_SRC = flags.DEFINE_string("src", None, "sample: folder of source images <domain>/<image>")
_REF = flags.DEFINE_string("ref", None, "sample: folder of reference images <domain>/<image>")
_JSON = flags.DEFINE_bool("json", False, "print machine-readable JSON")


def _require(flag, name):
    if not flag.value:
        raise FacejaxError(f"--{name} is required for this command")
    return flag.value


def cmd_params(config):
    from facejax import registry

    counts = registry.create(config).param_counts()
    if _JSON.value:
        print(json.dumps(counts))
        return
    width = max(len(k) for k in counts) + 2
    print(f"{'network':<{width}}{'parameters':>14}")
    for k, v in counts.items():
        print(f"{k:<{width}}{v:>14,}")
    print(f"{'total':<{width}}{sum(counts.values()):>14,}")


def cmd_train(config):
    from facejax.train import trainer

    workdir = _require(_WORKDIR, "workdir")
    state = trainer.train(config, workdir)
    step = int(state.step)
    samples = sorted(p for p in os.listdir(os.path.join(workdir, "samples"))) if os.path.isdir(
        os.path.join(workdir, "samples")) else []
    print(f"trained to step {step}; checkpoints in {os.path.join(workdir, 'checkpoints')}")
    if samples:
        print(f"latest samples: {os.path.join(workdir, 'samples', samples[-1])}")


def cmd_sample(config):
    from facejax import images
    from facejax.train import trainer

    workdir, out = _require(_WORKDIR, "workdir"), _require(_OUT, "out")
    if bool(_SRC.value) != bool(_REF.value):
        raise FacejaxError("--src and --ref go together: give both folders or neither")
    run = trainer.Run(config, workdir)
    state = run.restore_state()
    if state is None:
        raise FacejaxError(f"{workdir} has no checkpoint (expected {run.checkpointer.directory}/<step>/); "
                           f"train first or point --workdir at a run")
    step = int(state.step)
    written = {}
    for name, grid in run.family.sample_grids(state, run.family.sample_inputs(config.num_sample_images)).items():
        written[name] = images.save_png(os.path.join(out, f"{step:06d}_{name}.png"), grid)
    if _SRC.value:
        from facejax.families.stargan_v2 import sample

        res = sample.translate_folders(run.family, state.ema, _SRC.value, _REF.value, out)
        written["pairs_grid"] = res["grid"]
        written["pairs"] = res["pairs"]
    if _JSON.value:
        print(json.dumps(written))
    else:
        for k, v in written.items():
            print(f"{k}: {v}")


def main(command, argv):
    del argv
    try:
        config = _CONFIG.value
    except OSError as e:  # config_flags reports a missing or broken config file lazily
        raise FacejaxError(" ".join(ln.strip() for ln in str(e).splitlines() if ln.strip())) from None
    if config is None:
        raise FacejaxError("--config is required, e.g. --config=configs/stargan_v2.py:synthetic")
    {"train": cmd_train, "sample": cmd_sample, "params": cmd_params}[command](config)


def _main_or_exit(command):
    def wrapped(argv):
        try:
            main(command, argv)
        except FacejaxError as e:
            print(f"facejax {command}: error: {e}", file=sys.stderr)
            sys.exit(2)

    return wrapped


def _resolve_config_arg(arg: str) -> str:
    """--config=configs/x.py:preset, found relative to the working directory or, failing that, in
    the checkout's configs/ folder; a missing file is one clear error."""
    if not arg.startswith("--config="):
        return arg
    from facejax.configs import CONFIG_DIR

    path, sep, preset = arg[len("--config="):].partition(":")
    if os.path.isfile(path):
        return arg
    fallback = CONFIG_DIR / os.path.basename(path)
    if fallback.is_file():
        return f"--config={fallback}{sep}{preset}"
    known = ", ".join(sorted(f"configs/{p.name}" for p in CONFIG_DIR.glob("*.py")))
    print(f"facejax: error: config file {path!r} not found (known: {known})", file=sys.stderr)
    sys.exit(2)


def _flag_error_message(e: Exception, argv) -> str:
    chain = [e]
    while chain[-1].__cause__ or chain[-1].__context__:
        chain.append(chain[-1].__cause__ or chain[-1].__context__)
    if any(isinstance(x, KeyError) for x in chain):  # an override of a field the config lacks
        overrides = [a.split("=")[0][len("--config."):] for a in argv if a.startswith("--config.")]
        return f"unknown config field among {', '.join(overrides)} ({e})"
    # Errors raised inside a config file's get_config arrive with their traceback: the last line
    # is the message that names the problem.
    lines = [ln for ln in str(e).splitlines() if ln.strip()]
    if any("Traceback" in ln for ln in lines):
        return lines[-1]
    return "\n".join(lines)


def run(argv=None):
    argv = list(sys.argv if argv is None else argv)
    if len(argv) < 2 or argv[1] in ("-h", "--help", "help"):
        print(USAGE)
        sys.exit(0 if len(argv) >= 2 else 2)
    command = argv[1]
    if command not in COMMANDS:
        print(f"facejax: unknown command {command!r}; expected one of {', '.join(COMMANDS)}", file=sys.stderr)
        sys.exit(2)
    rest = [argv[0]] + [_resolve_config_arg(a) for a in argv[2:]]
    try:
        flags.FLAGS(rest)
    except (flags.Error, KeyError, ValueError, AttributeError, TypeError, OSError) as e:
        print(f"facejax {command}: error: {_flag_error_message(e, rest)}", file=sys.stderr)
        sys.exit(2)
    _main_or_exit(command)(rest)


if __name__ == "__main__":
    run()
