"""ruff (configured in pyproject.toml) runs clean on the code, so CI holds the style."""

import pathlib
import shutil
import subprocess

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]


def test_ruff_check_is_clean():
    ruff = shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff is not installed (pip install -e .[test])")
    res = subprocess.run([ruff, "check", "facejax", "configs", "data", "launch", "tests"], cwd=REPO,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout[-6000:] + res.stderr[-2000:]
