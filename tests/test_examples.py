"""Every script in examples/ runs in its fast mode and prints what it promises (so none can rot)."""

from __future__ import annotations

import csv
import re
import subprocess
import sys
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


def run_example(name: str, *args: str, cwd: Path) -> str:
    proc = subprocess.run([sys.executable, str(EXAMPLES / name), *args], cwd=cwd,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"{name} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def accuracies(out: str) -> list[float]:
    return [float(v) for v in re.findall(r"accuracy:? (\d\.\d{4})", out)]


def test_every_example_is_tested():
    tested = {"quickstart.py", "gridsearch_t.py", "cluster_folder.py", "few_labels.py",
              "train_folder.py", "reconstructions.py"}
    assert {p.name for p in EXAMPLES.glob("*.py")} == tested


def test_quickstart(tmp_path):
    out = run_example("quickstart.py", "--fast", cwd=tmp_path)
    assert "codes: (300, 128)" in out
    accs = accuracies(out)
    assert len(accs) == 2 and all(0.8 < a <= 1.0 for a in accs)  # code and pixels, 10 classes


def test_gridsearch_over_t(tmp_path):
    out = run_example("gridsearch_t.py", "--fast", cwd=tmp_path)
    assert len(re.findall(r"^t = 0\.[39]  C = ", out, re.M)) == 4  # 2 t x 2 C candidates
    best = re.search(r"best: t = (0\.\d), C = .*test accuracy (\d\.\d{4})", out)
    assert best and float(best.group(2)) > 0.8


def test_cluster_folder(tmp_path):
    folder = tmp_path / "imgs"
    for cls in ("mnist", "cifar10"):
        (folder / cls).mkdir(parents=True)
        for p in sorted((EXAMPLES / "images").glob(f"{cls}-*.png")):
            Image.open(p).save(folder / cls / p.name)
    (folder / "mnist" / "notes.png").write_text("not an image")
    out = run_example("cluster_folder.py", str(folder), "--clusters", "2", "--out",
                      str(tmp_path / "c.csv"), cwd=tmp_path)
    assert "skipped" in out and "notes.png" in out
    rows = list(csv.DictReader(open(tmp_path / "c.csv")))
    assert len(rows) == 7 and {r["cluster"] for r in rows} == {"0", "1"}
    assert re.search(r"NMI \d\.\d{4}  ARI -?\d\.\d{4} against the sub-folders", out)


def test_few_labels(tmp_path, data_root):
    out = run_example("few_labels.py", "--fast", "--data-root", str(data_root), cwd=tmp_path)
    scores = re.findall(r"100 labels: SVC (\d\.\d{4}) .*label spreading (\d\.\d{4})", out)
    assert len(scores) == 2  # code and pixels
    assert all(0.5 < float(v) <= 1.0 for pair in scores for v in pair)


def test_train_on_a_folder(tmp_path):
    out = run_example("train_folder.py", "--fast", "--out", str(tmp_path / "run"), cwd=tmp_path)
    assert (tmp_path / "run" / "model.safetensors").is_file()
    assert "codes of the folder's 120 images: (120, 16)" in out


def test_reconstructions(tmp_path):
    out = run_example("reconstructions.py", "--fast", "--samples", "2", "--out",
                      str(tmp_path / "r.png"), cwd=tmp_path)
    assert "4 images x 3 times x 2 samples" in out
    with Image.open(tmp_path / "r.png") as im:
        assert im.width > im.height > 4 * 28  # 4 rows of 28-pixel digits, 7 columns

