"""`facejax demo` (issue 22 item 6): every family's declared translate inputs, the page's JSON endpoint in process
(the toy family and a tiny StarGAN v2 run: results equal Model.translate, bad inputs are a 400 with one line), and
the page in a real headless Chromium driven by selenium against the `facejax demo` command.

The browser test needs /usr/bin/chromium and /usr/bin/chromedriver (Debian's chromium, chromium-driver) and the
selenium package of the test extra; without them it skips, unless FACEJAX_REQUIRE_BROWSER is set (.ci/run sets it
after installing them), when it fails. FACEJAX_DEMO_SCREENSHOT=PATH saves the page after the translation as a PNG
(docs/img/demo.png is made so: README, "Demo page")."""

import base64
import inspect
import io
import json
import os
import pathlib
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import jax
import numpy as np
import pytest
from PIL import Image
from tests.train.helpers import tiny_config

from facejax import api, configs, demo, registry
from facejax.families import base
from facejax.train import trainer
from facejax.train.state import root_key_data

REPO = pathlib.Path(__file__).resolve().parents[1]
TOY_CONFIG = REPO / "tests" / "toyfamily" / "config.py"
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
FAMILIES = ("stargan_v2", "ipmnet", "beautygan", "gfc", "aesgan", "beholder")


def _png(array) -> str:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _decode(data_url: str) -> np.ndarray:
    with Image.open(io.BytesIO(base64.b64decode(data_url.split(",", 1)[1]))) as im:
        return np.asarray(im.convert("RGB"))


def _picture(size, seed) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 255, (size, size, 3), dtype=np.uint8)


@pytest.mark.parametrize("name", FAMILIES + ("toy",))
def test_every_family_declares_its_translate_inputs(name, monkeypatch):
    """src first and required; every name an argument of translate_arrays; ranges, choices and defaults that the
    demo's own parser accepts; JSON-ready."""
    monkeypatch.setenv("FACEJAX_FAMILIES", "toy=tests.toyfamily.family:Toy")
    cfg = configs.load_file(str(TOY_CONFIG), "small") if name == "toy" else configs.load(f"{name}:synthetic")
    family = registry.create(cfg)
    assert isinstance(family, base.TranslatesArrays)
    inputs = family.translate_inputs()
    assert inputs[0].name == "src" and inputs[0].kind == "image" and inputs[0].required
    params = inspect.signature(family.translate_arrays).parameters
    names = [i.name for i in inputs]
    assert len(set(names)) == len(names) and set(names) <= set(params), names
    for inp in inputs:
        assert isinstance(inp, base.TranslateInput) and inp.label
        json.dumps(inp.as_dict())
        if inp.kind in ("number", "numbers") and inp.minimum is not None and inp.maximum is not None:
            assert inp.minimum <= inp.maximum
        if inp.kind == "choice":
            assert inp.choices and (inp.default is None or inp.default in inp.choices)
        if inp.default is not None:
            demo._parse(inp, inp.default, [], "")  # a default the page shows is one the server accepts
    # what each family needs besides the source, as the page asks for it
    expected = {
        "stargan_v2": ["src", "ref", "ref_domains"],
        "ipmnet": ["src", "parsing", "ref", "alpha"],
        "beautygan": ["src", "ref", "direction"],
        "gfc": ["src", "mask"],
        "aesgan": ["src", "ref", "eyes", "ref_eyes"],
        "beholder": ["src", "delta"],
        "toy": ["src", "label"],
    }
    assert names == expected[name]


def test_a_model_without_translation_has_no_page():
    class Bare:
        name = "bare"

    with pytest.raises(Exception, match=r"family 'bare' has no translation of images in memory"):
        demo.Demo(api.Model(None, Bare(), None, 0))


@pytest.fixture(scope="module")
def stargan(tmp_path_factory):
    """(config, workdir, Model) of a 2-step tiny StarGAN v2 run (2 domains, 32 px), as test_api.py trains it."""
    root = tmp_path_factory.mktemp("demo_sg")
    cfg = tiny_config(root / "tfds", total_steps=2, checkpoint_every=1, num_sample_images=2)  # as test_api: one compile
    trainer.train(cfg, str(root / "run"))
    return cfg, str(root / "run"), api.load(cfg, str(root / "run"))


class _Serving:
    """demo.make_server on a free port, served by a thread, for `with`."""

    def __init__(self, model):
        self.page = demo.Demo(model)

    def __enter__(self):
        self.server = demo.make_server(self.page)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        self.page.close()

    def get(self, path):
        with urllib.request.urlopen(self.server.url + path, timeout=60) as r:
            return r.status, r.headers.get("Content-Type"), r.read()

    def post(self, fields, raw=None):
        data = raw if raw is not None else json.dumps(fields).encode()
        req = urllib.request.Request(
            self.server.url + "api/translate", data=data, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(req, timeout=120) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())


def test_the_endpoint_translates_stargan_v2_as_the_api_does_and_refuses_bad_input(stargan):
    _, work, model = stargan
    src, ref = _picture(40, 0), _picture(48, 1)
    with _Serving(model) as s:
        status, kind, page = s.get("")
        assert status == 200 and kind.startswith("text/html")
        # self-contained: no stylesheet, script or font from elsewhere
        assert not re.search(rb"(src|href)=[\"']?(https?:)?//", page) and b"@import" not in page
        info = json.loads(s.get("api/inputs")[2])
        assert info["family"] == "stargan_v2" and info["step"] == 2 and info["workdir"] == work
        assert [i["name"] for i in info["inputs"]] == ["src", "ref", "ref_domains"]
        assert info["inputs"][2]["maximum"] == 1 and info["inputs"][2]["integer"]

        status, out = s.post({"src": _png(src), "ref": _png(ref), "ref_domains": "1"})
        assert status == 200, out
        assert (out["width"], out["height"], out["shape"]) == (32, 32, [1, 1, 32, 32, 3])
        np.testing.assert_array_equal(_decode(out["image"]), model.translate(src, ref=ref, ref_domains=1)[0, 0])

        bad = {
            "src: not an image": {"src": "data:image/png;base64," + base64.b64encode(b"no picture").decode()},
            "ref is missing": {"src": _png(src), "ref_domains": 0},
            r"ref_domains=2: out of range 0\.\.1": {"src": _png(src), "ref": _png(ref), "ref_domains": 2},
            "ref_domains='x': expected a number": {"src": _png(src), "ref": _png(ref), "ref_domains": "x"},
            "ref_domains='0.5': expected a whole number": {"src": _png(src), "ref": _png(ref), "ref_domains": "0.5"},
            "unknown input.* mask": {"src": _png(src), "ref": _png(ref), "ref_domains": 0, "mask": "eyes"},
        }
        for message, fields in bad.items():
            status, out = s.post(fields)
            assert status == 400 and re.search(message, out["error"]), (message, out)
            assert "Traceback" not in out["error"] and "\n" not in out["error"]
        status, out = s.post(None, raw=b"{not json")
        assert status == 400 and "not JSON" in out["error"]
        with pytest.raises(urllib.error.HTTPError, match="404"):
            s.get("nothing-here")


def test_the_endpoint_serves_the_toy_family(monkeypatch):
    """A family outside the tree, from a fresh state: its own inputs (label), its result shape (S, 2 S)."""
    monkeypatch.setenv("FACEJAX_FAMILIES", "toy=tests.toyfamily.family:Toy")
    cfg = configs.load_file(str(TOY_CONFIG), "small")
    family = registry.create(cfg)
    model = api.Model(cfg, family, jax.jit(family.init)(root_key_data(0)), step=0)
    src = _picture(24, 2)
    with _Serving(model) as s:
        assert s.page.warm_up() is None
        status, out = s.post({"src": _png(src), "label": "1"})
        assert status == 200, out
        assert (out["height"], out["width"]) == (16, 32)
        np.testing.assert_array_equal(_decode(out["image"]), model.translate(src, label=1)[0])
        status, out = s.post({"label": "1"})
        assert status == 400 and out["error"].startswith("src is missing")


# ------------------------------------------------------------------------------------------------ the browser


def _browser_or_skip():
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not os.path.exists(p)]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("the selenium package (pip install -e .[test])")
    if missing:
        why = f"no headless browser: {', '.join(missing)} missing (apt-get install chromium chromium-driver)"
        if os.environ.get("FACEJAX_REQUIRE_BROWSER"):
            pytest.fail(why + "; FACEJAX_REQUIRE_BROWSER is set")
        pytest.skip(why)


def chromium(tmp_dir):
    """A headless Chromium under selenium with the system driver (nothing downloaded), a fresh profile in tmp_dir,
    and no network of its own (the flags keep it from hanging on a closed network)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=960,760",
        f"--user-data-dir={tmp_dir}",
    ):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


def screenshot(driver, path):
    """The page as it is now, as a PNG at `path` (docs/img/demo.png: FACEJAX_DEMO_SCREENSHOT=docs/img/demo.png)."""
    pathlib.Path(path).parent.mkdir(parents=True, exist_ok=True)
    driver.execute_script("window.scrollTo(0, 0)")
    driver.save_screenshot(str(path))


def _start_demo(cfg, work, log):
    """`facejax demo` on `work` in a subprocess (port 0), and the URL it prints."""
    from facejax.train.checkpoint import flatten_dict

    preset = flatten_dict(configs.load("stargan_v2:synthetic").to_dict())
    overrides = [f"--config.{k}={v}" for k, v in flatten_dict(cfg.to_dict()).items() if preset.get(k) != v]
    cmd = [sys.executable, "-m", "facejax.cli", "demo", "--config=stargan_v2:synthetic", *overrides]
    # run from the workdir's parent: the page shows the workdir as given (no temporary path in the screenshot)
    cmd += [f"--workdir={pathlib.Path(work).name}", "--port=0"]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=pathlib.Path(work).parent
    )
    lines = []

    def read():
        for line in proc.stdout:
            lines.append(line)
            log.write(line)

    threading.Thread(target=read, daemon=True).start()
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        found = [m.group(1) for ln in lines for m in [re.search(r"open (http://127\.0\.0\.1:\d+/)", ln)] if m]
        if found:
            return proc, found[0], lines
        time.sleep(0.2)
    proc.kill()
    pytest.fail("facejax demo printed no URL:\n" + "".join(lines))


@pytest.mark.slow
def test_the_page_in_a_headless_browser(stargan, tmp_path):
    """Load the page, choose a source and a reference, pick the domain, press Translate: the page shows a 32x32
    picture equal to Model.translate's, with a download link of the same PNG; a bad number is a message on the
    page; SIGTERM stops the command cleanly."""
    _browser_or_skip()
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    cfg, work, model = stargan
    src, ref = _picture(40, 3), _picture(56, 4)
    Image.fromarray(src).save(tmp_path / "src.png")
    Image.fromarray(ref).save(tmp_path / "ref.jpg", quality=95)
    with open(tmp_path / "ref.jpg", "rb") as f, Image.open(f) as im:
        ref_read = np.asarray(im.convert("RGB"))  # the JPEG's pixels, as the server decodes them
    with open(tmp_path / "demo.log", "w") as log:
        proc, url, lines = _start_demo(cfg, work, log)
        driver = None
        try:
            driver = chromium(tmp_path / "profile")
            driver.set_page_load_timeout(60)
            driver.get(url)
            wait = WebDriverWait(driver, 120)
            wait.until(lambda d: d.find_element(By.ID, "go").is_enabled())
            assert "stargan_v2" in driver.find_element(By.ID, "title").text
            assert "step 2 of run" in driver.find_element(By.ID, "subtitle").text
            driver.find_element(By.ID, "in-src").send_keys(str(tmp_path / "src.png"))
            driver.find_element(By.ID, "in-ref").send_keys(str(tmp_path / "ref.jpg"))

            domain = driver.find_element(By.ID, "in-ref_domains")
            domain.clear()
            domain.send_keys("7")
            driver.find_element(By.ID, "go").click()
            wait.until(lambda d: d.find_element(By.ID, "error").text)
            assert "ref_domains=7: out of range 0..1" in driver.find_element(By.ID, "error").text
            assert "error 400" in driver.find_element(By.ID, "status").text

            domain.clear()
            domain.send_keys("1")
            driver.find_element(By.ID, "go").click()
            wait.until(lambda d: d.find_element(By.ID, "status").text.startswith("done"))
            assert driver.find_element(By.ID, "error").text == ""
            shown = driver.find_element(By.ID, "result").get_attribute("src")
            link = driver.find_element(By.ID, "download")
            assert link.get_attribute("href") == shown and link.get_attribute("download") == "stargan_v2_result.png"
            got = _decode(shown)
            assert got.shape == (32, 32, 3)
            np.testing.assert_array_equal(got, model.translate(src, ref=ref_read, ref_domains=1)[0, 0])
            if os.environ.get("FACEJAX_DEMO_SCREENSHOT"):
                screenshot(driver, os.environ["FACEJAX_DEMO_SCREENSHOT"])
        finally:
            if driver is not None:
                driver.quit()
            proc.send_signal(signal.SIGTERM)
            try:
                rc = proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                raise
    text = "".join(lines)
    assert rc == 0 and "facejax demo: stopped" in text and "Traceback" not in text, text
