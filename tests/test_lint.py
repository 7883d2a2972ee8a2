"""The code base stays ruff-clean (configured in pyproject.toml) and free of import cycles."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def test_ruff_clean():
    if shutil.which("ruff") is None:
        pytest.fail("ruff is not installed: pip install -e '.[test]'")
    result = subprocess.run(["ruff", "check", "drlkit", "tests", "bench", "examples", "scripts"],
                            cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_python_dash_m_drlkit():
    out = subprocess.run([sys.executable, "-m", "drlkit", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "encode" in out.stdout


def test_no_import_cycle_inside_drlkit():
    out = subprocess.run([sys.executable, "scripts/import_cycles.py"], cwd=REPO,
                         capture_output=True, text=True)
    assert out.returncode == 0 and ", 0 cycles" in out.stdout, out.stdout + out.stderr
