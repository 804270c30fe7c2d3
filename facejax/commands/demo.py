"""facejax demo --config=... --workdir=DIR [--port=N] [--step=N]: a local web page for the run in DIR (trained by
`facejax train` or written by `facejax import`), for any family that translates images (TranslatesArrays): upload
a source (and a reference, a mask, a level, as the family asks), press Translate, see and download the result.
The page is served on 127.0.0.1 only; the model is loaded and compiled once at start-up, then the URL is printed.
Ctrl-C (or SIGTERM) stops it."""

import signal
import threading

from absl import flags

from facejax.commands import common

HELP = "a local web page for --workdir's run: upload images, see and download the translation"
NEEDS_CONFIG = True

PORT = flags.DEFINE_integer("port", 8000, "demo: the port on 127.0.0.1 (0: any free port)")
STEP = common.flag(flags.DEFINE_integer, "step", None, "checkpoint step (default: the newest)")


def family_help(config) -> str:
    """The inputs the page asks for (`facejax demo --config=... --help`)."""
    from facejax import registry
    from facejax.families import base

    family = registry.create(config)
    if not base.has(family, base.TranslatesArrays):
        return f"Family {family.name!r} translates no images: it has no demo page (facejax sample writes its grids)."
    lines = [f"Family {family.name!r}: the page asks for"]
    for inp in family.translate_inputs():
        lines.append(f"  {inp.name} ({inp.kind}{', required' if inp.required else ''}): {inp.label}")
    return "\n".join(lines)


def main(config, args):
    del args
    from facejax import api, demo

    workdir = common.require(common.WORKDIR, "workdir")
    model = api.load(config, workdir, step=STEP.value)
    page = demo.Demo(model)
    try:
        server = demo.make_server(page, "127.0.0.1", PORT.value)
        print(f"facejax demo: {model.family.name} step {model.step} of {workdir}; compiling...", flush=True)
        why = page.warm_up()
        if why:
            print(f"facejax demo: not compiled ahead ({why}); the first request compiles", flush=True)
        serve(server)
    finally:
        page.close()


def serve(server):
    """Serves until Ctrl-C or SIGTERM (main thread), then closes the socket."""
    stop = threading.Event()

    def on_signal(signum, frame):
        del signum, frame
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
    thread.start()
    print(f"facejax demo: open {server.url} (Ctrl-C stops)", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
        for s, handler in previous.items():
            signal.signal(s, handler)
        print("facejax demo: stopped", flush=True)
