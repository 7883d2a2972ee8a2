"""The release artefacts: `python -m build` gives an sdist and a wheel (built from the sdist), and
the wheel, installed into a fresh target directory, works outside the source tree with every
shipped checkpoint."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

import drlkit
from drlkit.registry import REGISTRY

ROOT = Path(__file__).resolve().parent.parent

# Run in a fresh interpreter from a scratch folder, with only the installed wheel on the path
# ahead of site-packages: every registry model loads (sha256-verified), encodes, and is found
# inside the wheel's own package directory.
CHECK = """
import json, sys
import numpy as np
import drlkit
from drlkit.registry import REGISTRY, checkpoint_dir
out = {"file": drlkit.__file__, "version": drlkit.__version__, "checkpoints": str(checkpoint_dir()),
       "models": {}}
for name in REGISTRY:
    model = drlkit.load(name, device="cpu")
    c = model.config
    x = np.random.default_rng(0).integers(0, 256, (3, c.image_size, c.image_size, c.channels),
                                          dtype=np.uint8)
    z = model.encode(x)
    out["models"][name] = {"shape": list(z.shape), "finite": bool(np.isfinite(z).all()),
                           "same_again": bool((model.encode(x) == z).all())}
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    # --no-isolation: build with the installed setuptools (no download); sdist first, then the
    # wheel from the unpacked sdist, so a file missing from the sdist breaks the wheel too
    proc = subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out),
                           str(ROOT)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out


def test_sdist_is_a_complete_source_release(dist):
    (sdist,) = dist.glob("drlkit-*.tar.gz")
    with tarfile.open(sdist) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    for name in REGISTRY:
        assert f"checkpoints/{REGISTRY[name].file}" in names
    for needed in ("LICENSE", "README.md", "pyproject.toml", "mkdocs.yml", "drlkit/py.typed",
                   "tests/conftest.py", "examples/quickstart.py", "docs/index.md",
                   "scripts/docs_hooks.py"):
        assert needed in names, needed


def test_wheel_carries_package_checkpoints_and_metadata(dist):
    (wheel,) = dist.glob("drlkit-*-py3-none-any.whl")
    assert wheel.name == f"drlkit-{drlkit.__version__}-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        meta = zf.read(f"drlkit-{drlkit.__version__}.dist-info/METADATA").decode()
        entry_points = zf.read(f"drlkit-{drlkit.__version__}.dist-info/entry_points.txt").decode()
    for name in REGISTRY:
        assert f"drlkit/checkpoints/{REGISTRY[name].file}" in names
    assert "drlkit/py.typed" in names and "drlkit/__main__.py" in names
    assert not any(n.startswith(("tests/", "runs/", "examples/")) for n in names)
    assert "License-Expression: MIT" in meta and "Classifier: Typing :: Typed" in meta
    assert "Requires-Dist: torch" in meta
    assert "drlkit = drlkit.cli:main" in entry_points


def test_installed_wheel_loads_and_encodes_every_model_outside_the_source_tree(dist, tmp_path):
    (wheel,) = dist.glob("drlkit-*.whl")
    target = tmp_path / "site"
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                           "--no-index", "--target", str(target), str(wheel)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {**os.environ, "PYTHONPATH": str(target)}
    proc = subprocess.run([sys.executable, "-c", CHECK], cwd=work, env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert Path(out["file"]).is_relative_to(target), out["file"]  # not the source checkout
    assert Path(out["checkpoints"]) == target / "drlkit" / "checkpoints"
    assert out["version"] == drlkit.__version__
    assert set(out["models"]) == set(REGISTRY)
    for name, m in out["models"].items():
        assert m["shape"][0] == 3 and m["finite"] and m["same_again"], name

    # the entry points: `python -m drlkit` and the `drlkit` script pip wrote
    for cmd in ([sys.executable, "-m", "drlkit", "--version"], [str(target / "bin" / "drlkit"), "--version"]):
        proc = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0 and proc.stdout.strip() == f"drlkit, version {drlkit.__version__}"
    proc = subprocess.run([sys.executable, "-m", "drlkit", "verify"], cwd=work, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert all(name in proc.stdout for name in REGISTRY)
