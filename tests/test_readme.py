"""README.md and docs/*.md stay honest: no link leaves the repository, every relative link, image and anchor
resolves, every `--config=...` preset they name exists, every `facejax <command>` is a real command, and each
family has its picture. Text only: nothing is trained or compiled (well under a second)."""

import importlib.util
import pathlib
import re

import pytest

from facejax import cli, configs

ROOT = pathlib.Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md"] + sorted((ROOT / "docs").glob("*.md"))
FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.S | re.M)
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
HTML_SRC = re.compile(r"""<(?:img|a)\b[^>]*\b(?:src|href)=["']([^"']+)["']""")
# a path on someone's machine: /home/..., /work/..., C:\...; gs:// and the SLURM example's /shared/... are fine
MACHINE_PATH = re.compile(r"(?<![\w.:/~-])(/(?:work|home|root|tmp|Users|mnt|scratch)/|[A-Z]:\\)")
MAX_PICTURE_BYTES = 200 * 1024


def _families() -> list[str]:
    """The families whose presets live in this repository's configs/."""
    return sorted(f for f, path in configs.families().items() if pathlib.Path(path).parent == ROOT / "configs")


def _text(page: pathlib.Path) -> str:
    return page.read_text(encoding="utf-8")


def _code(text: str) -> list[str]:
    """Fenced blocks and inline code spans: where commands are written."""
    without_fences = FENCE.sub("", text)
    return FENCE.findall(text) + re.findall(r"`([^`\n]+)`", without_fences)


def _slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    s = re.sub(r"[`*]", "", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", s).replace(" ", "-")


def _anchors(text: str) -> set[str]:
    return {_slug(h) for h in re.findall(r"^#{1,6} (.+)$", FENCE.sub("", text), re.M)}


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_no_link_leaves_the_repository(page):
    text = _text(page)
    assert "../" not in text, f"{page.name}: '../' points outside the repository"
    bad = MACHINE_PATH.findall(text)
    assert not bad, f"{page.name}: absolute machine paths {bad}"
    urls = re.findall(r"\b[a-z]+://[^\s)`'\"]+", text)
    local = ("gs://", "http://127.0.0.1", "http://localhost")  # a user's bucket; the demo page's own address
    assert all(u.startswith(local) for u in urls), f"{page.name}: links out of the repository {urls}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_relative_link_image_and_anchor_resolves(page):
    text = FENCE.sub("", _text(page))
    targets = LINK.findall(text) + HTML_SRC.findall(text)
    missing = []
    for target in targets:
        path, _, anchor = target.partition("#")
        if path:
            dest = (page.parent / path).resolve()
            if not dest.exists() or ROOT not in dest.parents:
                missing.append(target)
            elif anchor and dest.suffix == ".md" and anchor not in _anchors(_text(dest)):
                missing.append(target)
        elif anchor not in _anchors(_text(page)):
            missing.append(target)
    assert not missing, f"{page.name}: links that do not resolve: {missing}"


def _config_specs(text: str) -> set[str]:
    families = "|".join(sorted(_families()))
    specs = set()
    for code in _code(text):
        specs.update(re.findall(r"--config=(configs/\w+\.py:[\w,]+|\w+:[\w,]+)", code))
        specs.update(m for m in re.findall(rf"(?<![\w/.])((?:{families}):[\w,]+)", code))
    # placeholders (FAMILY:PRESET, :PRESET) are upper case
    return {s for s in specs if not re.search(r":[A-Z_]+$", s) and not s.split(":")[0].isupper()}


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_named_preset_exists(page):
    specs = _config_specs(_text(page))
    bad = []
    for spec in sorted(specs):
        try:
            configs.load(spec)
        except Exception as e:  # noqa: BLE001 - the message says which one and why
            bad.append(f"{spec}: {e}")
    assert not bad, f"{page.name}: presets that do not load: {bad}"


def test_presets_are_found_in_the_readme():
    """The scanner itself: the README names presets of every family (so the test above checks something)."""
    specs = _config_specs(_text(ROOT / "README.md"))
    assert {s.split(":")[0].replace("configs/", "").replace(".py", "") for s in specs} >= set(_families())


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_facejax_command_is_real(page):
    verbs = set()
    for code in _code(_text(page)):
        verbs.update(re.findall(r"(?:^|[;&|($]\s*|\.sh \d+ |\.sbatch |\.sh run )facejax ([a-z_]+)", code, re.M))
    unknown = sorted(verbs - set(cli.COMMANDS))
    assert not unknown, f"{page.name}: `facejax {unknown[0]}` is not a command (known: {', '.join(cli.COMMANDS)})"


def test_readme_starts_with_the_two_setup_commands():
    """A tool runs the README's first two fenced blocks: they must stay the set-up commands."""
    blocks = FENCE.findall(_text(ROOT / "README.md"))
    assert blocks[0].startswith("python3 -m venv .venv") and "facejax train" in blocks[0]
    assert blocks[1].startswith("python3 -m venv .venv") and "pytest" in blocks[1]


def test_every_family_has_its_picture():
    text = _text(ROOT / "README.md")
    for family in _families():
        picture = ROOT / "docs" / "img" / f"{family}.png"
        assert picture.exists(), f"{picture.name} missing: python docs/make_pictures.py --families={family}"
        assert picture.stat().st_size < MAX_PICTURE_BYTES, f"{picture.name}: {picture.stat().st_size} bytes"
        assert f"docs/img/{family}.png" in text, f"README.md does not show docs/img/{family}.png"


def test_make_pictures_runs_every_family_with_its_presets_and_real_fields():
    """docs/make_pictures.py (the README's pictures) trains every family, from presets and fields that exist."""
    spec = importlib.util.spec_from_file_location("make_pictures", ROOT / "docs" / "make_pictures.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    assert set(script.RUNS) == set(_families())
    assert {k.split("/")[0] for k in script.OVERRIDES} <= set(script.RUNS)
    for family, runs in script.RUNS.items():
        for name, preset, extra in runs:
            cfg = configs.load(f"{family}:{preset}")
            for flag in extra + script.OVERRIDES.get(f"{family}/{name}", []):
                key, value = flag.removeprefix("--config.").split("=", 1)
                node = cfg
                for part in key.split("."):
                    node = node[part]  # KeyError: a field the preset does not have
                configs.override(cfg, key, type(node)(value))
