"""`facejax demo`: a local web page for a run (facejax.api Model) of any family with `TranslatesArrays`.

One self-contained HTML page (no external CSS, scripts or fonts) asks for the family's inputs as its
`translate_inputs()` declares them (facejax/families/base.py TranslateInput), sends them as JSON to
POST /api/translate and shows the result with a download link. The server is the standard library's
ThreadingHTTPServer on 127.0.0.1; translations run one at a time (the model is shared).

Endpoints:
  GET  /                 the page
  GET  /api/inputs       {"family", "description", "step", "workdir", "inputs": [TranslateInput as a dict]}
  POST /api/translate    JSON {input name: value}: pictures as data URLs ("data:image/png;base64,...") or plain
                         base64, numbers as numbers or strings, numbers lists as "a,b,c,d", choices and mask names
                         as strings. 200: {"image": PNG data URL, "width", "height", "shape": the family's result
                         shape}; 400: {"error": one line} for a bad input (not a picture, a missing required
                         input, a number out of range); 500: {"error": ...} for a failure of the model.
The picture is every image of the family's result side by side (one image for one source and one reference).
"""

from __future__ import annotations

import base64
import binascii
import http.server
import io
import json
import math
import os
import re
import shutil
import sys
import tempfile
import threading
import traceback

import numpy as np
from PIL import Image

from facejax.errors import FacejaxError
from facejax.families import base

MAX_BODY = 32 * 1024 * 1024  # bytes of one request
_FILE_KINDS = ("image", "mask", "labels")


class Demo:
    """The model behind the page: the family's declared inputs, their checks, and translation into one picture."""

    def __init__(self, model):
        self.model = model
        family = base.require(model.family, base.TranslatesArrays, hint="`facejax sample` writes its grids")
        self.inputs = tuple(family.translate_inputs())
        names = [i.name for i in self.inputs]
        if not names or names[0] != "src" or len(set(names)) != len(names):
            raise FacejaxError(
                f"family {family.name!r}: translate_inputs() must list 'src' first and each name once (got {names})"
            )
        self.lock = threading.Lock()
        self.tmp = tempfile.mkdtemp(prefix="facejax-demo-")

    def close(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def describe(self) -> dict:
        family = self.model.family
        return {
            "family": family.name,
            "description": getattr(family, "description", ""),
            "step": int(self.model.step),
            "workdir": self.model.workdir,
            "inputs": [i.as_dict() for i in self.inputs],
        }

    # ------------------------------------------------------------------------------------------ inputs

    def arguments(self, fields: dict, files: list) -> dict:
        """{name: value as translate takes it} of the request's fields; FacejaxError (one line) for a bad one.
        Mask pictures are written to files (appended to `files`, removed by the caller)."""
        if not isinstance(fields, dict):
            raise FacejaxError("the request must be a JSON object {input name: value}")
        known = {i.name: i for i in self.inputs}
        unknown = sorted(set(fields) - set(known))
        if unknown:
            raise FacejaxError(f"unknown input(s) {', '.join(unknown)}; this model takes {', '.join(known)}")
        out = {}
        for inp in self.inputs:
            value = fields.get(inp.name)
            if value is None or (isinstance(value, str) and not value.strip()):
                if inp.required:
                    what = "choose a picture" if inp.kind in _FILE_KINDS else "give a value"
                    raise FacejaxError(f"{inp.name} is missing ({inp.label}): {what}")
                continue
            out[inp.name] = _parse(inp, value, files, self.tmp)
        return out

    def translate(self, fields: dict) -> tuple[np.ndarray, tuple]:
        """(uint8 picture (H, W, 3): the result's images side by side, the family's result shape)."""
        files = []
        try:
            kwargs = self.arguments(fields, files)
            with self.lock:
                out = self.run(kwargs)
        finally:
            for path in files:
                os.remove(path)
        return side_by_side(out), tuple(out.shape)

    def run(self, kwargs: dict) -> np.ndarray:
        kwargs = dict(kwargs)
        src, ref, mask = kwargs.pop("src"), kwargs.pop("ref", None), kwargs.pop("mask", None)
        return np.asarray(self.model.translate(src, ref=ref, mask=mask, **kwargs))

    def warm_up(self, size: int = 64) -> str | None:
        """Translates placeholder inputs (grey pictures, defaults) once, so that the first request does not wait for
        compilation. Returns None, or the one line why it could not (the first request then compiles)."""
        kwargs = {}
        for inp in self.inputs:
            if inp.kind == "image":
                kwargs[inp.name] = [np.full((size, size, 3), 128, np.uint8)]
            elif inp.kind == "labels":
                kwargs[inp.name] = np.zeros((1, size, size), np.uint8)
            elif inp.default is not None:
                kwargs[inp.name] = _parse(inp, inp.default, [], self.tmp)
            elif inp.required and inp.kind == "number":
                kwargs[inp.name] = _parse(inp, inp.minimum if inp.minimum is not None else 0, [], self.tmp)
            elif inp.required:
                return f"no placeholder for the required {inp.kind} {inp.name!r}"
        try:
            with self.lock:
                self.run(kwargs)
        except FacejaxError as e:
            return str(e)
        return None


def side_by_side(out: np.ndarray) -> np.ndarray:
    """The images of a translate result ((..., H, W, 3) uint8) in one row."""
    out = np.asarray(out)
    if out.dtype != np.uint8 or out.ndim < 3 or out.shape[-1] != 3:
        raise FacejaxError(f"the family returned {out.dtype} {out.shape}; expected uint8 images (..., H, W, 3)")
    tiles = out.reshape((-1,) + out.shape[-3:])
    return np.concatenate(list(tiles), axis=1)


def _picture(inp, value) -> Image.Image:
    if not isinstance(value, str):
        raise FacejaxError(f"{inp.name}: expected a picture as a data URL or base64 text ({inp.label})")
    data = value.split(",", 1)[1] if value.startswith("data:") and "," in value else value
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise FacejaxError(f"{inp.name}: not base64 data; expected a PNG or JPEG picture ({inp.label})") from None
    try:
        im = Image.open(io.BytesIO(raw))
        im.load()
    except Exception as e:
        raise FacejaxError(
            f"{inp.name}: not an image ({type(e).__name__}); expected a PNG or JPEG picture ({inp.label})"
        ) from None
    return im


def _number(inp, text) -> float:
    try:
        x = float(text)
    except (TypeError, ValueError):
        raise FacejaxError(f"{inp.name}={text!r}: expected a number ({inp.label})") from None
    if not math.isfinite(x):
        raise FacejaxError(f"{inp.name}={text!r}: expected a finite number ({inp.label})")
    if inp.integer and x != int(x):
        raise FacejaxError(f"{inp.name}={text!r}: expected a whole number ({inp.label})")
    lo, hi = inp.minimum, inp.maximum
    if (lo is not None and x < lo) or (hi is not None and x > hi):
        bounds = f"{'-inf' if lo is None else f'{lo:g}'}..{'inf' if hi is None else f'{hi:g}'}"
        raise FacejaxError(f"{inp.name}={text}: out of range {bounds} ({inp.label})")
    return x


def _parse(inp, value, files: list, tmp: str):
    """The value of one declared input as translate takes it (base.TranslateInput's kinds)."""
    if inp.kind == "image":
        return [np.asarray(_picture(inp, value).convert("RGB"))]
    if inp.kind == "mask":
        if isinstance(value, str) and value in inp.choices:
            return value
        if isinstance(value, str) and not value.startswith("data:") and len(value) < 64 and inp.choices:
            raise FacejaxError(f"{inp.name}={value!r}: expected one of {', '.join(inp.choices)} or a picture")
        fd, path = tempfile.mkstemp(suffix=".png", dir=tmp)
        os.close(fd)
        files.append(path)
        _picture(inp, value).convert("L").save(path)
        return path
    if inp.kind == "labels":
        labels = np.asarray(_picture(inp, value))
        if labels.ndim != 2:
            raise FacejaxError(
                f"{inp.name}: a picture with {labels.shape[-1]} channels; expected one channel of labels ({inp.label})"
            )
        if inp.maximum is not None and labels.size and labels.max() > inp.maximum:
            raise FacejaxError(
                f"{inp.name}: labels up to {int(labels.max())}; expected 0..{inp.maximum:g} ({inp.label})"
            )
        return labels[None]
    if inp.kind == "number":
        x = _number(inp, value)
        return int(x) if inp.integer else x
    if inp.kind == "numbers":
        items = value if isinstance(value, (list, tuple)) else [t for t in re.split(r"[,\s]+", str(value)) if t]
        xs = [_number(inp, t) for t in items]
        count = int(np.prod(inp.shape)) if inp.shape else len(xs)
        if len(xs) != count:
            raise FacejaxError(f"{inp.name}: {len(xs)} numbers; expected {count} ({inp.label})")
        return np.asarray(xs, np.float32).reshape((1,) + tuple(inp.shape or (count,)))
    if inp.kind == "choice":
        if value not in inp.choices:
            raise FacejaxError(f"{inp.name}={value!r}: expected one of {', '.join(inp.choices)}")
        return value
    raise FacejaxError(f"{inp.name}: unknown input kind {inp.kind!r}")


def png_data_url(image: np.ndarray) -> str:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


# ------------------------------------------------------------------------------------------------ server


class _Handler(http.server.BaseHTTPRequestHandler):
    server_version = "facejax-demo"
    demo: Demo  # set on the subclass serve() makes

    def log_message(self, format, *args):  # noqa: A002 (the standard library's name)
        pass  # quiet: the command prints its own lines

    def _send(self, status: int, body: bytes, content_type: str):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, obj):
        self._send(status, json.dumps(obj).encode("utf-8"), "application/json")

    def do_GET(self):  # noqa: N802 (the standard library's name)
        path = self.path.split("?", 1)[0]
        if path in ("/", "/index.html"):
            self._send(200, PAGE.encode("utf-8"), "text/html; charset=utf-8")
        elif path == "/api/inputs":
            self._json(200, self.demo.describe())
        else:
            self._json(404, {"error": f"no page {path}; open /"})

    def do_POST(self):  # noqa: N802
        if self.path.split("?", 1)[0] != "/api/translate":
            self._json(404, {"error": f"no endpoint {self.path}; POST /api/translate"})
            return
        try:
            length = self.headers.get("Content-Length") or "0"
            if not length.isdigit():
                raise FacejaxError(f"Content-Length {length!r}: expected the body's size in bytes")
            length = int(length)
            if length > MAX_BODY:
                raise FacejaxError(f"the request has {length} bytes; at most {MAX_BODY} (smaller pictures, please)")
            try:
                fields = json.loads(self.rfile.read(length) or b"{}")
            except ValueError:
                raise FacejaxError("the request is not JSON: expected {input name: value}") from None
            image, shape = self.demo.translate(fields)
        except FacejaxError as e:
            self._json(400, {"error": str(e)})
            return
        except Exception as e:
            traceback.print_exc(file=sys.stderr)
            self._json(500, {"error": f"the model failed: {type(e).__name__}: {e}"})
            return
        h, w = image.shape[:2]
        self._json(200, {"image": png_data_url(image), "width": w, "height": h, "shape": list(shape)})


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/"


def make_server(demo: Demo, host: str = "127.0.0.1", port: int = 0) -> Server:
    """A server of the page for `demo`, bound but not yet serving (serve_forever(), or a thread of it); port 0 picks
    a free port (server.url says which)."""
    handler = type("Handler", (_Handler,), {"demo": demo})
    try:
        return Server((host, port), handler)
    except OSError as e:
        raise FacejaxError(f"--port={port}: cannot listen on {host}:{port} ({e.strerror or e}); pick another port")


# ------------------------------------------------------------------------------------------------ the page

PAGE = r"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>facejax demo</title>
<style>
  body { font-family: system-ui, sans-serif; margin: 0; background: #f4f4f6; color: #222; }
  header { background: #23272f; color: #fff; padding: 14px 24px; }
  header h1 { margin: 0; font-size: 20px; }
  header p { margin: 4px 0 0; color: #c8ccd4; font-size: 13px; }
  main { display: flex; flex-wrap: wrap; gap: 24px; padding: 24px; }
  section { background: #fff; border-radius: 8px; padding: 16px 20px; box-shadow: 0 1px 3px rgba(0,0,0,.12); }
  #form { min-width: 320px; max-width: 460px; }
  .field { margin-bottom: 14px; }
  .field label { display: block; font-weight: 600; margin-bottom: 2px; }
  .field .help { font-size: 12px; color: #666; margin-bottom: 4px; }
  .field img { display: block; max-width: 96px; max-height: 96px; margin-top: 4px; image-rendering: pixelated; }
  .field input[type=number], .field input[type=text], .field select { width: 100%; box-sizing: border-box;
    padding: 4px 6px; }
  button { background: #2d6cdf; color: #fff; border: 0; border-radius: 6px; padding: 8px 18px; font-size: 15px;
    cursor: pointer; }
  button:disabled { background: #9aa7bf; cursor: default; }
  #error { color: #b00020; white-space: pre-wrap; margin-top: 12px; }
  #status { color: #555; margin-top: 8px; font-size: 13px; }
  #result { display: block; max-width: 100%; min-width: 256px; image-rendering: pixelated; margin-bottom: 8px; }
  #download { font-size: 14px; }
  .hidden { display: none; }
</style>
</head>
<body>
<header><h1 id="title">facejax demo</h1><p id="subtitle">loading...</p></header>
<main>
  <section id="form">
    <div id="fields"></div>
    <button id="go" type="button" disabled>Translate</button>
    <div id="status"></div>
    <div id="error" role="alert"></div>
  </section>
  <section id="out" class="hidden">
    <img id="result" alt="result">
    <a id="download" href="#" download="result.png">Download PNG</a>
  </section>
</main>
<script>
"use strict";
const $ = (id) => document.getElementById(id);
let INPUTS = [], FAMILY = "facejax";

function fileField(inp, box) {
  const file = document.createElement("input");
  file.type = "file"; file.accept = "image/*"; file.id = "in-" + inp.name;
  const preview = document.createElement("img");
  preview.className = "hidden"; preview.alt = inp.name;
  file.addEventListener("change", () => {
    if (file.files.length) { preview.src = URL.createObjectURL(file.files[0]); preview.classList.remove("hidden"); }
    else preview.classList.add("hidden");
  });
  if (inp.kind === "mask" && inp.choices.length) {
    const select = document.createElement("select");
    select.id = "choice-" + inp.name;
    for (const c of inp.choices) select.add(new Option(c, c, c === inp.default, c === inp.default));
    box.appendChild(select);
    const or = document.createElement("div"); or.className = "help"; or.textContent = "or a picture (it wins):";
    box.appendChild(or);
  }
  box.appendChild(file); box.appendChild(preview);
}

function valueField(inp, box) {
  let el;
  if (inp.kind === "choice") {
    el = document.createElement("select");
    for (const c of inp.choices) el.add(new Option(c, c, c === inp.default, c === inp.default));
  } else {
    el = document.createElement("input");
    el.type = inp.kind === "number" ? "number" : "text";
    if (inp.kind === "number") {
      if (inp.minimum !== null) el.min = inp.minimum;
      if (inp.maximum !== null) el.max = inp.maximum;
      el.step = inp.integer ? "1" : "any";
    }
    if (inp.default !== null) el.value = inp.default;
  }
  el.id = "in-" + inp.name;
  box.appendChild(el);
}

function build(inp) {
  const box = document.createElement("div");
  box.className = "field";
  const label = document.createElement("label");
  label.textContent = inp.name + (inp.required ? " *" : "");
  label.htmlFor = "in-" + inp.name;
  const help = document.createElement("div");
  help.className = "help";
  let range = "";
  if (inp.kind === "number" || inp.kind === "numbers")
    range = " [" + (inp.minimum ?? "") + ".." + (inp.maximum ?? "") + "]";
  help.textContent = inp.label + range;
  box.appendChild(label); box.appendChild(help);
  if (["image", "mask", "labels"].includes(inp.kind)) fileField(inp, box); else valueField(inp, box);
  $("fields").appendChild(box);
}

function dataURL(file) {
  return new Promise((ok, bad) => {
    const r = new FileReader();
    r.onload = () => ok(r.result); r.onerror = () => bad(r.error);
    r.readAsDataURL(file);
  });
}

async function translate() {
  $("error").textContent = ""; $("status").textContent = "translating..."; $("go").disabled = true;
  try {
    const body = {};
    for (const inp of INPUTS) {
      const el = $("in-" + inp.name);
      if (el.type === "file") {
        if (el.files.length) body[inp.name] = await dataURL(el.files[0]);
        else if ($("choice-" + inp.name)) body[inp.name] = $("choice-" + inp.name).value;
      } else if (String(el.value).trim() !== "") body[inp.name] = el.value;
    }
    const r = await fetch("api/translate", {method: "POST", headers: {"Content-Type": "application/json"},
                                            body: JSON.stringify(body)});
    let d;
    try { d = await r.json(); } catch (e) { d = {error: "the server answered " + r.status}; }
    if (!r.ok) { $("error").textContent = d.error; $("status").textContent = "error " + r.status; return; }
    $("result").src = d.image;
    $("download").href = d.image;
    $("download").download = FAMILY + "_result.png";
    $("out").classList.remove("hidden");
    $("status").textContent = "done: " + d.width + " x " + d.height + " px";
  } catch (e) {
    $("error").textContent = "request failed: " + e; $("status").textContent = "";
  } finally {
    $("go").disabled = false;
  }
}

async function start() {
  try {
    const d = await (await fetch("api/inputs")).json();
    INPUTS = d.inputs; FAMILY = d.family;
    $("title").textContent = "facejax demo: " + d.family;
    $("subtitle").textContent = (d.description ? d.description + " | " : "") + "step " + d.step +
      (d.workdir ? " of " + d.workdir : "");
    document.title = "facejax demo: " + d.family;
    for (const inp of INPUTS) build(inp);
    $("go").disabled = false;
    $("go").addEventListener("click", translate);
  } catch (e) {
    $("error").textContent = "could not read the model's inputs: " + e;
  }
}
start();
</script>
</body>
</html>
"""
