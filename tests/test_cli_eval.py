"""`drlkit eval` (a model on a labelled dataset) and `drlkit probe` (saved features + labels)."""

from __future__ import annotations

import json

import numpy as np
from click.testing import CliRunner
from conftest import tiny_model
from PIL import Image
from test_cli import CARD

from drlkit.checkpoint import read_header, save_model, update_card
from drlkit.cli import cli

PNG = b"\x89PNG\r\n\x1a\n"


def run(*args: str):
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_eval_writes_report_table_plots_and_card(tmp_path, data_root):
    model_path = tmp_path / "tiny.safetensors"
    save_model(tiny_model(), model_path, CARD)
    out = {k: tmp_path / f"{k}" for k in ("r.json", "t.md", "c.png", "e.png")}
    r = run("eval", model_path, "--dataset", "mnist", "--data-root", data_root, "--t", "0.2,0.8",
            "--metrics", "linear_probe,cluster,few_label", "--max-train", 400, "--max-test", 200,
            "--report", out["r.json"], "--table", out["t.md"], "--plot", out["c.png"],
            "--plot-embedding", out["e.png"], "--quiet")
    assert r.exit_code == 0, r.output
    report = json.loads(out["r.json"].read_text())
    assert "400 of 60000, stratified" in report["train"] and "200 of 10000" in report["test"]
    reps = report["representations"]
    assert set(reps) == {"model", "random_encoder", "pixels"}
    assert set(reps["model"]["by_t"]) == {"0.2", "0.8"}
    assert set(reps["model"]["best"]) == {"linear", "nmi", "ari", "cluster_acc", "few_label_100"}
    few = reps["model"]["by_t"]["0.2"]["metrics"]["few_label"]
    assert "skipped_1000" in few and "fewer than" in few["skipped_1000"]  # 360 train points
    assert 0.5 < reps["pixels"]["scores"]["linear"]["test"] <= 1.0
    assert report["recommended_t"] in (0.2, 0.8)
    assert out["t.md"].read_text().startswith("| representation | linear |")
    assert "| raw pixels |" in r.output and "total wall time" in r.output
    assert f"recommended t={report['recommended_t']}: test linear-probe accuracy" in r.output
    for k in ("c.png", "e.png"):
        assert out[k].read_bytes()[:8] == PNG and out[k].stat().st_size > 10_000

    r = run("eval", model_path, "--dataset", "mnist", "--data-root", data_root, "--t", "0.2,0.8",
            "--metrics", "linear_probe", "--baselines", "none", "--write-card", "--quiet")
    assert r.exit_code == 0, r.output
    card = read_header(model_path)
    assert card["metrics"]["linear_probe"]["dataset"].startswith("mnist")
    assert card["recommended_t"] == card["metrics"]["linear_probe"]["t"]
    assert set(card["metrics"]["linear_probe_by_t"]) == {"0.2", "0.8"}


def test_eval_of_a_static_code_names_no_t(tmp_path, data_root):
    model_path = tmp_path / "static.safetensors"
    save_model(tiny_model(t_conditioned=False), model_path, CARD)
    r = run("eval", model_path, "--dataset", "mnist", "--data-root", data_root, "--metrics",
            "linear_probe", "--baselines", "none", "--max-train", 200, "--max-test", 100,
            "--report", tmp_path / "r.json", "--quiet")
    assert r.exit_code == 0, r.output
    assert "static code (t is ignored): test linear-probe accuracy" in r.output
    assert "recommended t=" not in r.output
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["t"] is None and "by_t" not in report["representations"]["model"]


def test_eval_refuses_bad_arguments(tmp_path, data_root):
    model_path = tmp_path / "tiny.safetensors"
    save_model(tiny_model(), model_path, CARD)
    base = ["eval", model_path, "--dataset", "mnist", "--data-root", data_root]
    r = run(*base, "--metrics", "accuracy")
    assert r.exit_code == 2 and "unknown metric" in r.output
    r = run(*base, "--baselines", "vae", "--max-train", 100, "--max-test", 50, "--quiet")
    assert r.exit_code == 1 and "unknown baseline" in r.output
    r = run(*base, "--write-card", "--max-train", 100)
    assert r.exit_code == 2 and "full-data" in r.output
    r = run("eval", "mnist", "--dataset", "mnist", "--write-card")
    assert r.exit_code == 2 and "registry name" in r.output


def features(n: int = 200, times: int = 0, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 4
    shape = (n, times, 6) if times else (n, 6)
    x = rng.standard_normal(shape).astype(np.float32)
    centres = 8 * np.eye(4, 6, dtype=np.float32)[y]  # one direction per class (cosine-friendly)
    if times:
        x[:, -1] += centres  # only the last time is informative
    else:
        x += centres
    return x, y


SMALL = ("--metrics", "linear_probe,knn_probe,cluster")


def test_probe_holds_out_a_test_split_or_uses_a_given_one(tmp_path):
    x, y = features()
    np.save(tmp_path / "f.npy", x)
    np.save(tmp_path / "y.npy", y)
    r = run("probe", tmp_path / "f.npy", "--labels", tmp_path / "y.npy", *SMALL,
            "--report", tmp_path / "r.json", "--quiet")
    assert r.exit_code == 0, r.output
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["n_train"] == 160 and report["n_test"] == 40
    assert report["representations"]["features"]["scores"]["linear"]["test"] > 0.9
    xt, yt = features(seed=1)
    np.save(tmp_path / "ft.npy", xt)
    (tmp_path / "yt.txt").write_text("".join(f"{v}\n" for v in yt))
    r = run("probe", tmp_path / "f.npy", "--labels", tmp_path / "y.npy", "--test",
            tmp_path / "ft.npy", "--test-labels", tmp_path / "yt.txt", *SMALL, "--quiet")
    assert r.exit_code == 0, r.output
    assert "| features | 1.0000 |" in r.output


def test_probe_sweeps_multi_t_features(tmp_path):
    x, y = features(times=3)
    np.save(tmp_path / "f.npy", x)
    names = np.array(["ant", "bee", "cat", "dog"])[y]
    (tmp_path / "y.txt").write_text("\n".join(names) + "\n")
    r = run("probe", tmp_path / "f.npy", "--labels", tmp_path / "y.txt", "--t", "0.1,0.5,0.9",
            *SMALL, "--report", tmp_path / "r.json", "--plot", tmp_path / "c.png", "--quiet")
    assert r.exit_code == 0, r.output
    rep = json.loads((tmp_path / "r.json").read_text())["representations"]["features"]
    assert {b["t"] for b in rep["best"].values()} == {0.9}
    assert "multi_t" in rep and (tmp_path / "c.png").read_bytes()[:8] == PNG
    r = run("probe", tmp_path / "f.npy", "--labels", tmp_path / "y.txt", "--quiet")
    assert r.exit_code == 2 and "3 times" in r.output


def test_probe_labels_from_encoded_folders(tmp_path):
    model_path = tmp_path / "tiny.safetensors"
    save_model(tiny_model(), model_path, CARD)
    rng = np.random.default_rng(0)
    for cls, lo in (("dark", 0), ("light", 180)):
        (tmp_path / "imgs" / cls).mkdir(parents=True)
        for i in range(15):
            img = rng.integers(lo, lo + 70, (16, 16), dtype=np.uint8)
            Image.fromarray(img).save(tmp_path / "imgs" / cls / f"{i}.png")
    r = run("encode", tmp_path / "imgs", "--model", model_path, "--t", "0.3",
            "--out", tmp_path / "f.npy", "--quiet")
    assert r.exit_code == 0, r.output
    r = run("probe", tmp_path / "f.npy", "--labels-from-folders", "--metrics",
            "linear_probe,cluster", "--report", tmp_path / "r.json", "--quiet")
    assert r.exit_code == 0, r.output
    scores = json.loads((tmp_path / "r.json").read_text())["representations"]["features"]["scores"]
    assert scores["linear"]["test"] == 1.0 and scores["nmi"]["test"] == 1.0
    r = run("probe", tmp_path / "f.npy", "--labels", tmp_path / "f.npy", "--labels-from-folders")
    assert r.exit_code == 2 and "exactly one" in r.output
    (tmp_path / "bad.npy").write_text("not an array")
    r = run("probe", tmp_path / "bad.npy", "--labels", tmp_path / "f.npy")
    assert r.exit_code == 1 and "cannot read as a .npy array" in r.output
    np.save(tmp_path / "short.npy", np.zeros(3))
    r = run("probe", tmp_path / "f.npy", "--labels", tmp_path / "short.npy")
    assert r.exit_code == 1 and "30 feature rows but 3 labels" in r.output


def test_compare_joins_reports_with_budgets(tmp_path, data_root):
    from drlkit.checkpoint import update_card

    paths = []
    for seed in (0, 1):
        model_path = tmp_path / f"tiny{seed}.safetensors"
        save_model(tiny_model(seed=seed), model_path, CARD)
        update_card(model_path, budget={"images_seen": 640 * (seed + 1), "wall_time_s": 120.0,
                                        "hardware": "test cpu"})
        paths.append(tmp_path / f"r{seed}.json")
        r = run("eval", model_path, "--dataset", "mnist", "--data-root", data_root, "--t",
                "0.2,0.8", "--metrics", "linear_probe", "--max-train", 200, "--max-test", 100,
                "--report", paths[-1], "--quiet", *(["--label", "second"] if seed else []))
        assert r.exit_code == 0, r.output
    r = run("compare", *paths, "--out", tmp_path / "c.md")
    assert r.exit_code == 0, r.output
    lines = (tmp_path / "c.md").read_text().splitlines()
    names = [ln.split(" | ")[0].lstrip("| ") for ln in lines[2:]]
    assert names == [f"{tmp_path}/tiny0.safetensors (best t on val)",
                     f"{tmp_path}/tiny0.safetensors (multi-t)",
                     "second (best t on val)", "second (multi-t)",
                     "random encoder (best t on val)", "random encoder (multi-t)", "raw pixels"]
    assert "| 1,280 | 2 min | test cpu |" in lines[4] and lines[-1].endswith("| - | - | - |")
    (tmp_path / "x.json").write_text("[]")
    r = run("compare", tmp_path / "x.json")
    assert r.exit_code == 1 and "not a `drlkit eval --report` file" in r.output


def test_compare_takes_an_old_reports_budget_from_the_shipped_card(tmp_path, data_root):
    from drlkit.registry import verify_file

    model_path = tmp_path / "tiny.safetensors"
    save_model(tiny_model(), model_path, CARD)
    report = tmp_path / "r.json"
    r = run("eval", model_path, "--dataset", "mnist", "--data-root", data_root, "--t", "0.5",
            "--metrics", "linear_probe", "--max-train", 200, "--max-test", 100, "--report",
            report, "--quiet")
    assert r.exit_code == 0, r.output
    old = json.loads(report.read_text())
    del old["model_card"]  # as written before eval recorded the card
    for model, expect in (("mnist", read_header(verify_file("mnist"))["budget"]), ("other", None)):
        (tmp_path / "old.json").write_text(json.dumps({**old, "model": model, "file": model}))
        r = run("compare", tmp_path / "old.json")
        assert r.exit_code == 0, r.output
        row = next(ln for ln in r.output.splitlines() if ln.startswith(f"| {model} (best t"))
        if expect:
            assert "budget from the shipped 'mnist' card" in r.output
            assert row.endswith(f"| {expect['images_seen']:,} | "
                                f"{expect['wall_time_s'] / 60:.0f} min | {expect['hardware']} |")
        else:
            assert row.endswith("| - | - | - |") and "shipped" not in r.output


def test_eval_reuses_the_pixel_baseline_of_a_comparable_report(tmp_path, data_root):
    model_path = tmp_path / "tiny.safetensors"
    save_model(tiny_model(), model_path, CARD)
    base = ["eval", model_path, "--dataset", "mnist", "--data-root", data_root, "--t", "0.5",
            "--metrics", "linear_probe", "--max-train", 200, "--max-test", 100, "--quiet"]
    first, second = tmp_path / "first.json", tmp_path / "second.json"
    assert run(*base, "--baselines", "pixels", "--report", first).exit_code == 0
    earlier = json.loads(first.read_text())
    r = run(*base, "--baselines", "pixels", "--pixels-from", first, "--report", second)
    assert r.exit_code == 0, r.output
    report = json.loads(second.read_text())
    assert report["representations"]["pixels"] == earlier["representations"]["pixels"]
    assert report["pixels_from"] == str(first)
    assert "| raw pixels |" in r.output

    # not comparable: another seed (other validation split and draws), other metrics, no pixels
    r = run(*base, "--seed", "1", "--pixels-from", first)
    assert r.exit_code == 2 and "seed 0" in r.output
    r = run(*base[:6], "--t", "0.5", "--metrics", "knn_probe", "--max-train", 200, "--max-test",
            100, "--quiet", "--pixels-from", first)
    assert r.exit_code == 2 and "has metrics" in r.output
    r = run(*base, "--baselines", "random", "--pixels-from", first)
    assert r.exit_code == 2 and "add pixels to the baselines (--baselines)" in r.output
    no_pixels = tmp_path / "none.json"
    assert run(*base, "--baselines", "none", "--report", no_pixels).exit_code == 0
    r = run(*base, "--pixels-from", no_pixels)
    assert r.exit_code == 2 and "raw-pixel baseline" in r.output


def test_eval_reuse_adds_a_baseline_without_recomputing_the_model(tmp_path, data_root):
    model_path, other_path = tmp_path / "tiny.safetensors", tmp_path / "other.safetensors"
    save_model(tiny_model(seed=1), model_path, CARD)  # seed 0 would be the random encoder itself
    save_model(tiny_model(seed=2), other_path, CARD)
    base = ["--dataset", "mnist", "--data-root", data_root, "--metrics", "linear_probe",
            "--max-train", 200, "--max-test", 100, "--quiet"]
    first, second = tmp_path / "first.json", tmp_path / "second.json"
    assert run("eval", model_path, *base, "--t", "0.5", "--baselines", "pixels",
               "--report", first).exit_code == 0
    earlier = json.loads(first.read_text())
    assert set(earlier["encoder_sha256"]) == {"model"} and earlier["reused"] == []

    # a new card changes no code: the model's scores are still taken from the earlier report
    update_card(model_path, description="a new card", recommended_t=0.5)
    r = run("eval", model_path, *base, "--t", "0.5", "--reuse", first, "--report", second)
    assert r.exit_code == 0, r.output
    assert f"reused from {first}: model, pixels" in r.output
    report = json.loads(second.read_text())
    assert report["reused"] == ["model", "pixels"] and report["reused_from"] == str(first)
    for name in ("model", "pixels"):
        assert report["representations"][name] == earlier["representations"][name]
        assert report["wall_time_s"][name] == earlier["wall_time_s"][name]
    assert "random_encoder" in report["representations"]  # computed now
    assert report["encoder_sha256"]["model"] == earlier["encoder_sha256"]["model"]
    assert report["encoder_sha256"]["random_encoder"] != report["encoder_sha256"]["model"]

    # the random encoder depends on the architecture and seed only: another model reuses it
    r = run("eval", other_path, *base, "--t", "0.5", "--reuse", second, "--report", first)
    assert r.exit_code == 0, r.output
    report = json.loads(first.read_text())
    assert report["reused"] == ["random_encoder", "pixels"]
    assert report["encoder_sha256"]["model"] != earlier["encoder_sha256"]["model"]
    # another t grid: the model is recomputed
    r = run("eval", model_path, *base, "--t", "0.3", "--baselines", "pixels", "--reuse", second)
    assert r.exit_code == 0 and f"reused from {second}: pixels" in r.output

    r = run("eval", model_path, *base, "--t", "0.5", "--seed", "1", "--reuse", second)
    assert r.exit_code == 2 and "--reuse" in r.output and "seed 0" in r.output
    (tmp_path / "x.json").write_text("{}")
    r = run("eval", model_path, *base, "--reuse", tmp_path / "x.json")
    assert r.exit_code == 2 and "is not a `drlkit eval` report" in r.output
