"""Evaluation metrics on data with known answers, the t-sweep, and test-label isolation."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import synthetic_dataset, tiny_model

from drlkit.data import ImageDataset
from drlkit.evaluation import evaluate_model, random_encoder, t_sweep
from drlkit.metrics import (
    balanced_subset,
    cluster,
    few_label,
    hungarian_accuracy,
    knn_probe,
    linear_probe,
    parse_metrics,
    scores,
    semi_supervised,
    val_split,
)
from drlkit.reports import card_metrics, markdown_tables, summary_rows


def blobs(n_per_class: int = 60, n_classes: int = 4, dim: int = 8, spread: float = 0.1,
          seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Well-separated Gaussian clusters: every metric should be perfect on them."""
    rng = np.random.default_rng(seed)
    centres = np.eye(n_classes, dim) * 10
    y = np.repeat(np.arange(n_classes), n_per_class)
    x = centres[y] + spread * rng.standard_normal((len(y), dim))
    perm = rng.permutation(len(y))
    return x[perm].astype(np.float32), y[perm]


SMALL = {"n_labels": (8, 40), "n_seeds": 3}


def test_separable_clusters_give_perfect_scores():
    x, y = blobs(seed=0)
    xt, yt = blobs(seed=1)
    assert linear_probe(x, y, xt, yt)["accuracy"] == 1.0
    assert knn_probe(x, y, xt, yt, k=5)["accuracy"] == 1.0
    c = cluster(x, y, xt, yt)
    assert (c["nmi"], c["ari"], c["accuracy"]) == pytest.approx((1.0, 1.0, 1.0))
    assert c["val_nmi"] == pytest.approx(1.0) and c["n_clusters"] == 4
    fl = few_label(x, y, xt, yt, **SMALL)
    assert fl["accuracy_8"] == 1.0 and fl["accuracy_40"] == 1.0 and fl["std_8"] == 0.0
    assert len(fl["accuracies_8"]) == 3
    ss = semi_supervised(x, y, xt, yt, k=5, **SMALL)
    assert ss["accuracy_8"] == 1.0 and ss["val_accuracy_40"] == 1.0


def test_random_labels_give_chance():
    rng = np.random.default_rng(0)
    x, xt = rng.standard_normal((600, 16)), rng.standard_normal((600, 16))
    y, yt = rng.integers(0, 4, 600), rng.integers(0, 4, 600)
    assert abs(linear_probe(x, y, xt, yt)["accuracy"] - 0.25) < 0.07
    assert abs(knn_probe(x, y, xt, yt)["accuracy"] - 0.25) < 0.07
    c = cluster(x, y, xt, yt)
    assert c["nmi"] < 0.02 and abs(c["ari"]) < 0.02
    assert abs(few_label(x, y, xt, yt, **SMALL)["accuracy_40"] - 0.25) < 0.08
    assert abs(semi_supervised(x, y, xt, yt, **SMALL)["accuracy_40"] - 0.25) < 0.08


def test_cluster_without_test_set_scores_train_and_handles_string_labels():
    x, y = blobs()
    names = np.array(["cat", "dog", "eel", "fox"])[y]
    c = cluster(x, names)
    assert c["nmi"] == pytest.approx(1.0) and c["accuracy"] == 1.0
    with pytest.raises(ValueError, match="both"):
        cluster(x, y, x_test=x)


def test_hungarian_accuracy_ignores_cluster_names():
    y = np.array([0, 0, 1, 1, 2, 2])
    assert hungarian_accuracy(y, np.array([2, 2, 0, 0, 1, 1])) == 1.0
    assert hungarian_accuracy(y, np.array([0, 0, 0, 0, 1, 1])) == pytest.approx(4 / 6)


def test_balanced_subset_is_balanced_and_stays_in_pool():
    y = np.repeat(np.arange(5), 40)
    fit, val = val_split(y, 0.1, seed=0)
    assert len(set(fit) & set(val)) == 0 and len(fit) + len(val) == len(y)
    idx = balanced_subset(y, fit, 23, np.random.default_rng(0))
    assert len(idx) == 23 and set(idx) <= set(fit)
    assert sorted(np.bincount(y[idx])) == [4, 4, 5, 5, 5]
    with pytest.raises(ValueError, match="classes"):
        balanced_subset(y, fit, 3, np.random.default_rng(0))
    with pytest.raises(ValueError, match="fewer than"):
        balanced_subset(y, fit, 500, np.random.default_rng(0))


def test_few_label_draws_are_seeded_and_differ_between_seeds():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((400, 6)), rng.integers(0, 4, 400)
    x[:, 0] += y  # weak signal: draws give different accuracies
    a = few_label(x, y, x, y, **SMALL)
    assert a == few_label(x, y, x, y, **SMALL)
    assert len(set(a["accuracies_8"])) > 1
    assert a != few_label(x, y, x, y, seed=1, **SMALL)


def test_metric_inputs_are_checked():
    x, y = blobs()
    with pytest.raises(ValueError, match="finite"):
        linear_probe(np.full_like(x, np.nan), y, x, y)
    with pytest.raises(ValueError, match="labels"):
        knn_probe(x, y[:-1], x, y)
    with pytest.raises(ValueError, match="features"):
        cluster(x, y, x[:, :3], y)
    with pytest.raises(ValueError, match="unknown metric"):
        parse_metrics("linear_probe,accuracy")
    assert parse_metrics("knn-probe, cluster") == ["knn_probe", "cluster"]


def test_scores_pair_every_headline_with_its_validation_value():
    x, y = blobs()
    s = scores("few_label", few_label(x, y, x, y, **SMALL))
    assert set(s) == {"few_label_8", "few_label_40"}
    assert set(scores("cluster", cluster(x, y))) == {"nmi", "ari", "cluster_acc"}
    assert set(scores("linear_probe", linear_probe(x, y, x, y))) == {"linear"}


def sweep_data(informative_train: int, informative_test: int, n: int = 300, seed: int = 0):
    """Codes at 3 times; only time `informative_*` carries the class in train / in test."""
    rng = np.random.default_rng(seed)
    y, yt = rng.integers(0, 3, n), rng.integers(0, 3, n)
    z, zt = rng.standard_normal((n, 3, 4)), rng.standard_normal((n, 3, 4))
    z[:, informative_train, 0] += 6 * y
    zt[:, informative_test, 0] += 6 * yt
    return z.astype(np.float32), y, zt.astype(np.float32), yt


METRICS_FAST = ["linear_probe", "knn_probe", "cluster"]


def test_t_sweep_picks_the_informative_time_and_adds_multi_t():
    z, y, zt, yt = sweep_data(1, 1)
    out = t_sweep(z, y, zt, yt, [0.1, 0.5, 0.9], metrics=METRICS_FAST)
    assert set(out["by_t"]) == {0.1, 0.5, 0.9}
    assert {b["t"] for b in out["best"].values()} == {0.5}
    assert out["best"]["linear"]["test"] > 0.95
    assert out["by_t"][0.1]["scores"]["linear"]["test"] < 0.6
    assert out["multi_t"]["scores"]["linear"]["test"] > 0.9
    with pytest.raises(ValueError, match="3 times"):
        t_sweep(z[:, :2], y, zt[:, :2], yt, [0.1, 0.5, 0.9])
    with pytest.raises(ValueError, match="distinct"):
        t_sweep(z, y, zt, yt, [0.1, 0.5, 0.5])


def test_test_labels_never_choose_t_or_c():
    # Train says t=0.1 is informative, test says t=0.9: a selection that peeked at test would pick
    # 0.9. The choice must follow validation (train) only.
    z, y, zt, yt = sweep_data(0, 2)
    out = t_sweep(z, y, zt, yt, [0.1, 0.5, 0.9], metrics=METRICS_FAST, multi_t=False)
    assert {b["t"] for b in out["best"].values()} == {0.1}
    assert out["by_t"][0.9]["scores"]["linear"]["test"] > out["best"]["linear"]["test"]
    # and shuffling the test labels changes test numbers only: every choice and val score stays
    shuffled = t_sweep(z, y, zt, np.random.default_rng(1).permutation(yt), [0.1, 0.5, 0.9],
                       metrics=METRICS_FAST, multi_t=False)
    assert {k: v["t"] for k, v in out["best"].items()} == \
        {k: v["t"] for k, v in shuffled["best"].items()}
    for t in out["by_t"]:
        a, b = out["by_t"][t], shuffled["by_t"][t]
        assert a["metrics"]["linear_probe"]["C"] == b["metrics"]["linear_probe"]["C"]
        assert {k: v["val"] for k, v in a["scores"].items()} == \
            {k: v["val"] for k, v in b["scores"].items()}


def image_split(seed: int, n: int = 48) -> ImageDataset:
    ds = synthetic_dataset(n=n, seed=seed)
    return ImageDataset(ds.images, ds.labels, ds.classes, f"synthetic seed {seed}")


def test_evaluate_model_reports_model_and_both_baselines():
    model = tiny_model()
    kw = {"metric_kwargs": {"knn_probe": {"k": 5}}, "metrics": ["linear_probe", "knn_probe"]}
    report = evaluate_model(model, image_split(0), image_split(1), [0.2, 0.8], **kw)
    reps = report["representations"]
    assert set(reps) == {"model", "random_encoder", "pixels"}
    assert set(reps["model"]["by_t"]) == {0.2, 0.8} and "multi_t" in reps["model"]
    assert reps["pixels"]["best"]["linear"]["t"] is None
    assert report["recommended_t"] == reps["model"]["best"]["linear"]["t"]
    assert reps["pixels"]["scores"]["linear"]["test"] == 1.0  # the blobs are linearly separable
    json.dumps(report)  # JSON-safe as returned
    rows = summary_rows(report)
    assert [r["representation"] for r in rows] == [
        "model (best t on val)", "model (multi-t)", "random encoder (best t on val)",
        "random encoder (multi-t)", "raw pixels"]
    table = markdown_tables(report)
    assert "| raw pixels | 1.0000 |" in table and "| multi-t |" in table
    only = evaluate_model(model, image_split(0), image_split(1), [0.5], baselines=[], **kw)
    assert set(only["representations"]) == {"model"}
    with pytest.raises(ValueError, match="baseline"):
        evaluate_model(model, image_split(0), image_split(1), [0.5], baselines=["vae"])


def test_random_encoder_is_a_fresh_model_of_the_same_architecture():
    model = tiny_model(seed=3)
    rnd = random_encoder(model, seed=0)
    assert rnd.config == model.config
    x = synthetic_dataset(8).images
    assert not np.allclose(rnd.encode(x, t=0.5), model.encode(x, t=0.5))
    assert np.array_equal(random_encoder(model, seed=0).encode(x, t=0.5), rnd.encode(x, t=0.5))


def test_a_report_reused_from_json_reads_like_a_fresh_one():
    # `eval --reuse` reads the earlier report from JSON, whose t keys are strings; the card
    # (card_metrics indexes by_t by the chosen float t) must come out as from a fresh sweep
    model = tiny_model(seed=1)
    kw = {"metric_kwargs": {"knn_probe": {"k": 5}}, "metrics": ["linear_probe", "knn_probe"]}
    fresh = evaluate_model(model, image_split(0), image_split(1), [0.2, 0.8], baselines=["pixels"],
                           **kw)
    earlier = json.loads(json.dumps(fresh))
    again = evaluate_model(model, image_split(0), image_split(1), [0.2, 0.8], reuse=earlier, **kw)
    assert again["reused"] == ["model", "pixels"] and "random_encoder" in again["representations"]

    def card(report: dict) -> dict:  # as stored in a file's header: JSON
        return json.loads(json.dumps(card_metrics({**report, "test": "synthetic"})))

    assert card(again)["linear_probe"] == card(fresh)["linear_probe"]
    assert card(again)["linear_probe_by_t"] == card(fresh)["linear_probe_by_t"]
    assert "random_encoder_linear_probe" in card(again)


def test_a_python_report_is_complete_and_compare_reads_it(tmp_path):
    from drlkit.evaluation import ReportMismatch
    from drlkit.reports import markdown_comparison

    model = tiny_model(seed=2)
    kw = {"metric_kwargs": {"knn_probe": {"k": 5}}, "metrics": ["linear_probe"]}
    report = evaluate_model(model, image_split(0), image_split(1), [0.5], name="tiny",
                            dataset="synthetic", **kw)
    for key in ("model", "file", "dataset", "train", "test", "protocol", "seed",
                "total_wall_time_s", "hardware", "model_card", "model_config"):
        assert key in report, key
    assert report["model"] == "tiny" and report["model_config"] == model.config.to_dict()
    assert "| tiny (best t on val) |" in markdown_comparison([report])
    path = tmp_path / "r.json"
    path.write_text(json.dumps(report))
    again = evaluate_model(model, image_split(0), image_split(1), [0.5], name="tiny",
                           dataset="synthetic", reuse=path, baselines=["pixels"],
                           pixels_from=path, **kw)
    assert again["reused"] == ["model"] and again["reused_from"] == str(path)
    assert again["pixels_from"] == str(path)
    assert again["representations"]["pixels"] == json.loads(path.read_text())[
        "representations"]["pixels"]
    with pytest.raises(ReportMismatch, match="seed 0"):
        evaluate_model(model, image_split(0), image_split(1), [0.5], seed=1, reuse=path,
                       dataset="synthetic", **kw)
