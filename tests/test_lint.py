"""ruff (configured in pyproject.toml) runs clean on the code, linter and formatter, so CI holds the style."""

import pathlib
import shutil
import subprocess

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]


PATHS = ["facejax", "configs", "data", "launch", "tests"]


@pytest.mark.parametrize("command", [["check"], ["format", "--check"]], ids=["check", "format"])
def test_ruff_is_clean(command):
    ruff = shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff is not installed (pip install -e .[test])")
    res = subprocess.run(
        [ruff, *command, *PATHS],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stdout[-6000:] + res.stderr[-2000:]
