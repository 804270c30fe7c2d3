"""One module per `facejax <command>`. A command module defines its own absl flags (shared ones live in
`common`), a one-line `HELP`, `NEEDS_CONFIG` (whether --config is required) and
`main(config, args)`, where `args` are the positional words after the command (e.g. `eval fid`).
User mistakes raise facejax.errors.FacejaxError; the CLI prints them as one line and exits 2.
"""
