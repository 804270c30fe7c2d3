"""facejax command line: `facejax <command> [words] --config=<family>:<preset> [flags]`.

Each command is a module in facejax/commands (its flags, HELP, NEEDS_CONFIG, main(config, args)).
--config names a family's presets (`stargan_v2:synthetic`, `facejax presets` lists them) or a config file
(`configs/stargan_v2.py:synthetic`). Config fields are overridden as --config.FIELD=VALUE (e.g.
--config.batch_size=16); `facejax config` prints the resolved config.
User mistakes print one line naming the file or field and exit 2; nothing written is lost.
"""

import importlib
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import flags  # noqa: E402

from facejax.errors import FacejaxError  # noqa: E402

# command -> module under facejax.commands; the one place that lists commands.
COMMANDS = {
    "train": "train",
    "sample": "sample",
    "params": "params",
    "prepare": "prepare",
    "eval": "eval",
    "bench": "bench",
    "export": "export",
    "import": "import_",
    "presets": "presets",
    "config": "show_config",
    "demo": "demo",
}


def usage() -> str:
    lines = [__doc__, "Commands:"]
    for name, module in COMMANDS.items():
        help_ = getattr(importlib.import_module(f"facejax.commands.{module}"), "HELP", "")
        lines.append(f"  {name:<8} {help_}")
    return "\n".join(lines)


def _config_value():
    from facejax.commands import common

    try:
        return common.CONFIG.value
    except OSError as e:  # config_flags reports a missing or broken config file lazily
        raise FacejaxError(" ".join(ln.strip() for ln in str(e).splitlines() if ln.strip())) from None


def _help_config(argv):
    """The config of --config=FILE:PRESET among `argv` (for a command's family-specific help), or None."""
    spec = next((a[len("--config=") :] for a in argv if a.startswith("--config=")), None)
    if spec is None:
        return None
    from facejax import configs

    path, _, preset = _resolve_config_arg(f"--config={spec}")[len("--config=") :].partition(":")
    return configs.load_file(path, preset)


def command_help(command: str, module, config=None) -> str:
    """The command module's docstring, then its own flags and the shared ones with their defaults; with a config,
    what the command takes of that config's family (the module's `family_help(config)`, where it has one)."""
    from facejax.commands import common

    lines = [(module.__doc__ or "").strip(), "", "Flags:"]
    names = set()
    for mod in (module, common):
        for value in vars(mod).values():
            name = getattr(value, "name", None)
            if isinstance(name, str) and name in flags.FLAGS and name not in names:
                names.add(name)
                f = flags.FLAGS[name]
                default = "" if f.default is None else f" (default: {f.default})"
                lines.append(f"  --{name}: {f.help}{default}")
    lines.append("  --config.FIELD=VALUE: override any field of the config")
    family_help = getattr(module, "family_help", None)  # a command module's hook, not a family's
    if config is not None and family_help is not None:
        lines += ["", family_help(config)]
    elif config is None and getattr(module, "family_help_all", None) is not None:
        lines += ["", module.family_help_all()]
    return "\n".join(lines)


def _resolve_config_arg(arg: str) -> str:
    """--config=FAMILY:PRESET or --config=configs/x.py:preset -> --config=FILE:PRESET, the file found relative to
    the working directory or among the installed presets (facejax/configs.py find); a missing one is one error."""
    if not arg.startswith("--config="):
        return arg
    from facejax import configs

    name, sep, preset = arg[len("--config=") :].partition(":")
    if os.path.isfile(name):
        return arg
    return f"--config={configs.find(name)}{sep}{preset}"


def _flag_error_message(e: Exception, argv) -> str:
    chain = [e]
    while chain[-1].__cause__ or chain[-1].__context__:
        chain.append(chain[-1].__cause__ or chain[-1].__context__)
    if any(isinstance(x, KeyError) for x in chain):  # an override of a field the config lacks
        overrides = [a.split("=")[0][len("--config.") :] for a in argv if a.startswith("--config.")]
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
        print(usage())
        sys.exit(0 if len(argv) >= 2 else 2)
    command = argv[1]
    if command not in COMMANDS:
        print(f"facejax: unknown command {command!r}; expected one of {', '.join(COMMANDS)}", file=sys.stderr)
        sys.exit(2)
    module = importlib.import_module(f"facejax.commands.{COMMANDS[command]}")  # defines its flags
    if any(a in ("-h", "--help", "--helpfull") for a in argv[2:]):
        try:
            print(command_help(command, module, _help_config(argv[2:])))
        except FacejaxError as e:
            print(f"facejax {command}: error: {e}", file=sys.stderr)
            sys.exit(2)
        sys.exit(0)
    try:
        rest = [argv[0]] + [_resolve_config_arg(a) for a in argv[2:]]
    except FacejaxError as e:
        print(f"facejax {command}: error: {e}", file=sys.stderr)
        sys.exit(2)
    saved_argv, sys.argv = sys.argv, rest  # config_flags reads its --config.FIELD overrides from sys.argv
    try:
        args = flags.FLAGS(rest)[1:]
    except (flags.Error, KeyError, ValueError, AttributeError, TypeError, OSError) as e:
        print(f"facejax {command}: error: {_flag_error_message(e, rest)}", file=sys.stderr)
        sys.exit(2)
    finally:
        sys.argv = saved_argv
    try:
        config = _config_value()
        if config is None and getattr(module, "NEEDS_CONFIG", True):
            raise FacejaxError(
                "--config is required, e.g. --config=stargan_v2:synthetic (`facejax presets` lists them)"
            )
        module.main(config, args)
    except FacejaxError as e:
        print(f"facejax {command}: error: {e}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    run()
