"""The t-sweep, the baselines and the report of `drlkit eval` (DESIGN §3; protocol in
docs/evaluation.md).

`t_sweep` runs every metric of `drlkit.metrics` on the code at each t of a grid and on the
concatenated multi-t code, and chooses the best t per metric on validation scores only.
`evaluate_model` adds the baselines under the same protocol: raw pixels, and a randomly
initialised encoder of the model's architecture.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from drlkit.metrics import METRICS, parse_metrics, scores


def evaluate_features(x_train, y_train, x_test, y_test, metrics: Sequence[str] | None = None,
                      seed: int = 0, metric_kwargs: dict[str, dict] | None = None,
                      bar=None) -> dict:
    """Run `metrics` (default: all) on one representation.

    Returns {"metrics": {metric: result dict}, "scores": {name: {"test", "val"}}}.
    """
    results, flat = {}, {}
    for m in parse_metrics(metrics):
        if bar is not None:
            bar.set_postfix_str(m)
        results[m] = METRICS[m](x_train, y_train, x_test, y_test, seed=seed,
                                **(metric_kwargs or {}).get(m, {}))
        flat.update({k: {"test": te, "val": va} for k, (te, va) in scores(m, results[m]).items()})
        if bar is not None:
            bar.update(1)
    return {"metrics": results, "scores": flat}


def t_sweep(z_train, y_train, z_test, y_test, ts: Sequence[float],
            metrics: Sequence[str] | None = None, multi_t: bool = True, seed: int = 0,
            metric_kwargs: dict[str, dict] | None = None, progress: bool = False,
            desc: str = "t-sweep") -> dict:
    """Every metric at every t, and on the concatenated multi-t code; best t chosen on validation.

    Args:
        z_train: train codes (N, T, D), e.g. `model.encode(images, t=ts)`.
        y_train: train labels (N,).
        z_test: test codes (M, T, D).
        y_test: test labels (M,).
        ts: the T times, in the order of axis 1.
        multi_t: also evaluate the concatenation over all T times, (N, T*D).

    Returns:
        {"t": ts, "by_t": {t: evaluate_features result}, "multi_t": result (if multi_t and
        T > 1), "best": {score: {"t": chosen by val, "test": test at that t, "val": ...}}}.
        Test scores are reported at every t, but only validation scores choose t.
    """
    z_train, z_test = np.asarray(z_train), np.asarray(z_test)
    ts = [float(t) for t in ts]
    if z_train.ndim != 3 or z_test.ndim != 3 or z_train.shape[1] != len(ts) \
            or z_test.shape[1] != len(ts):
        raise ValueError(f"expected codes (N, {len(ts)}, D) for {len(ts)} times, got "
                         f"{z_train.shape} and {z_test.shape}")
    if len(set(ts)) != len(ts):
        raise ValueError(f"times must be distinct, got {ts}")
    names = parse_metrics(metrics)
    do_multi = multi_t and len(ts) > 1
    from drlkit.progress import tqdm

    with tqdm(total=len(names) * (len(ts) + do_multi), desc=desc, unit="metric",
              disable=not progress) as bar:
        by_t = {}
        for j, t in enumerate(ts):
            bar.set_description(f"{desc} t={t:g}")
            by_t[t] = evaluate_features(z_train[:, j], y_train, z_test[:, j], y_test, names, seed,
                                        metric_kwargs, bar)
        out: dict[str, Any] = {"t": ts, "by_t": by_t}
        if do_multi:
            bar.set_description(f"{desc} multi-t")
            out["multi_t"] = evaluate_features(z_train.reshape(len(z_train), -1), y_train,
                                               z_test.reshape(len(z_test), -1), y_test, names,
                                               seed, metric_kwargs, bar)
    out["best"] = select_best_t(by_t)
    return out


def select_best_t(by_t: dict[float, dict]) -> dict[str, dict[str, float]]:
    """For each score, the t with the highest validation value (ties: the earlier t in the grid)."""
    best = {}
    for name in next(iter(by_t.values()))["scores"]:
        t = max(by_t, key=lambda t_: by_t[t_]["scores"][name]["val"])
        best[name] = {"t": t, **by_t[t]["scores"][name]}
    return best


# --------------------------------------------------------------------------- models and baselines


def random_encoder(model, seed: int = 0):
    """A freshly initialised model of the same architecture (the random-features baseline)."""
    import torch

    from drlkit.model import DRLModel

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        rnd = DRLModel(model.config, card={"recommended_t": model.recommended_t})
    return rnd.to(model.device).eval()


def pixel_features(images: np.ndarray) -> np.ndarray:
    """Raw pixels scaled to [0, 1] and flattened: the pixel baseline's features."""
    return images.reshape(len(images), -1).astype(np.float32) / 255.0


def evaluate_code(x_train, y_train, x_test, y_test, metrics: Sequence[str] | None = None,
                  seed: int = 0, metric_kwargs: dict[str, dict] | None = None,
                  progress: bool = False, desc: str = "evaluate") -> dict:
    """Every metric on one t-free representation (pixels, a static code, saved features), with
    a progress bar; "best" mirrors `t_sweep`'s with t = None, so reports read the same."""
    from drlkit.progress import tqdm

    names = parse_metrics(metrics)
    with tqdm(total=len(names), desc=desc, unit="metric", disable=not progress) as bar:
        res = evaluate_features(x_train, y_train, x_test, y_test, names, seed, metric_kwargs, bar)
    return {**res, "best": {k: {"t": None, **v} for k, v in res["scores"].items()}}


def _model_rep(model, train, test, ts, names, seed, metric_kwargs, batch_size, progress, desc,
               features="z"):
    kw = dict(batch_size=batch_size, progress=progress, features=features)
    if not model.config.t_conditioned:  # static encoder: one code, no t to choose
        z_train = model.encode(train.images, **kw)
        z_test = model.encode(test.images, **kw)
        return evaluate_code(z_train, train.labels, z_test, test.labels, names, seed,
                             metric_kwargs, progress, desc)
    z_train = model.encode(train.images, t=ts, **kw)
    z_test = model.encode(test.images, t=ts, **kw)
    return t_sweep(z_train, train.labels, z_test, test.labels, ts, names, seed=seed,
                   metric_kwargs=metric_kwargs, progress=progress, desc=desc)


BASELINES = ("pixels", "random")


def _earlier_rep(earlier: dict | None, name: str, digest: str | None, grid) -> dict | None:
    """`name`'s representation in an earlier report, if it was computed from the same encoder
    (`digest`; None for raw pixels) over the same t grid; else None."""
    if earlier is None or name not in earlier.get("representations", {}):
        return None
    if digest is not None and (earlier.get("encoder_sha256", {}).get(name) != digest
                               or earlier.get("t") != grid):
        return None
    rep = earlier["representations"][name]
    if "by_t" in rep:  # JSON made the t keys strings; a fresh sweep has floats
        rep = {**rep, "by_t": {float(t): r for t, r in rep["by_t"].items()}}
    return rep


def evaluate_model(model, train, test, ts: Sequence[float], metrics: Sequence[str] | None = None,
                   baselines: Sequence[str] = BASELINES, seed: int = 0,
                   metric_kwargs: dict[str, dict] | None = None, batch_size: int | None = None,
                   progress: bool = False, reuse: dict | None = None,
                   features: str = "z") -> dict:
    """The full report: the model's t-sweep (or its single code if static), and the baselines
    under the same protocol: raw pixels, and a random encoder of the same architecture.

    Args:
        model: the `DRLModel` to evaluate.
        train: a labelled `drlkit.data.ImageDataset`; every metric is fit on it.
        test: a labelled `drlkit.data.ImageDataset`; only scored.
        reuse: an earlier report on the same data, splits, seed and metrics (the caller checks
            those). Its representations are taken instead of recomputed where they match: the
            model and the random encoder when their `encoder_sha256`, t grid and features are
            this evaluation's, raw pixels always. Their names are listed under "reused".
        features: what the model and the random encoder are scored on: "z" (the code) or
            "pooled" (the encoder's pooled features before its last layer).

    Returns:
        {"representations": {"model": ..., "random_encoder": ..., "pixels": ...},
        "recommended_t": the t with the best validation linear-probe accuracy (if swept),
        "wall_time_s": {representation: seconds}, "encoder_sha256": {"model": ...,
        "random_encoder": ...}: `drlkit.checkpoint.encoder_digest` of each encoder, so a later
        evaluation can tell whether it may reuse a representation}.
    """
    from drlkit.checkpoint import encoder_digest

    names = parse_metrics(metrics)
    bad = [b for b in baselines if b not in BASELINES]
    if bad:
        raise ValueError(f"unknown baseline(s) {bad}; choose from {', '.join(BASELINES)}")
    if train.labels is None or test.labels is None:
        raise ValueError("evaluation needs labelled train and test data")
    ts = [float(t) for t in ts]
    grid = ts if model.config.t_conditioned else None
    reps, times, digests, reused = {}, {}, {}, []
    jobs = [("model", model)] + ([("random_encoder", None)] if "random" in baselines else [])
    for name, m in jobs:
        start = time.perf_counter()
        m = m if m is not None else random_encoder(model, seed)
        digests[name] = encoder_digest(m)
        same_features = reuse is not None and reuse.get("features", "z") == features
        earlier = _earlier_rep(reuse, name, digests[name], grid) if same_features else None
        if earlier is not None:
            reps[name], times[name] = earlier, reuse["wall_time_s"].get(name)
            reused.append(name)
            continue
        reps[name] = _model_rep(m, train, test, ts, names, seed, metric_kwargs, batch_size,
                                progress, desc=name, features=features)
        times[name] = round(time.perf_counter() - start, 1)
    earlier = _earlier_rep(reuse, "pixels", None, grid) if "pixels" in baselines else None
    if earlier is not None:
        reps["pixels"], times["pixels"] = earlier, reuse["wall_time_s"].get("pixels")
        reused.append("pixels")
    elif "pixels" in baselines:
        start = time.perf_counter()
        reps["pixels"] = evaluate_code(pixel_features(train.images), train.labels,
                                       pixel_features(test.images), test.labels, names, seed,
                                       metric_kwargs, progress, "pixels")
        times["pixels"] = round(time.perf_counter() - start, 1)
    out: dict[str, Any] = {"t": grid, "metrics": names, "features": features,
                           "representations": reps, "wall_time_s": times,
                           "encoder_sha256": digests, "reused": reused}
    lin = reps["model"]["best"].get("linear")
    out["recommended_t"] = lin["t"] if lin and lin["t"] is not None else model.recommended_t
    return out


def summary_rows(report: dict) -> list[dict[str, Any]]:
    """The headline table: one row per representation variant, one column per score.

    Rows: each representation at its validation-chosen t (per score), and its multi-t code.
    """
    rows = []
    labels = {"model": "model", "random_encoder": "random encoder", "pixels": "raw pixels"}
    for key, rep in report["representations"].items():
        name = labels.get(key, key)
        best = rep["best"]
        t_note = "" if "by_t" not in rep else " (best t on val)"
        rows.append({"representation": name + t_note,
                     **{k: v["test"] for k, v in best.items()},
                     "t": {k: v["t"] for k, v in best.items()} if "by_t" in rep else None})
        if "multi_t" in rep:
            rows.append({"representation": f"{name} (multi-t)",
                         **{k: v["test"] for k, v in rep["multi_t"]["scores"].items()},
                         "t": None})
    return rows


def markdown_tables(report: dict) -> str:
    """The report as markdown: the summary table, then the model's sweep (test, val-chosen t in bold)."""
    rows = summary_rows(report)
    cols = [k for k in rows[0] if k not in ("representation", "t")]
    lines = ["| representation | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for r in rows:
        lines.append(f"| {r['representation']} | " + " | ".join(_fmt(r.get(c)) for c in cols) + " |")
    for key, rep in report["representations"].items():
        if "by_t" not in rep:
            continue
        lines += ["", f"{key}: test scores by t (the validation-chosen t in bold)", "",
                  "| t | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
        for t, res in rep["by_t"].items():  # t: a float, or its string once read from JSON
            cells = []
            for c in cols:
                v = _fmt(res["scores"].get(c, {}).get("test"))
                chosen = rep["best"].get(c, {}).get("t")
                cells.append(f"**{v}**" if chosen is not None and float(chosen) == float(t) else v)
            lines.append(f"| {float(t):g} | " + " | ".join(cells) + " |")
        if "multi_t" in rep:
            lines.append("| multi-t | " + " | ".join(
                _fmt(rep["multi_t"]["scores"].get(c, {}).get("test")) for c in cols) + " |")
    return "\n".join(lines)


def comparison_rows(reports: Sequence[dict]) -> list[dict[str, Any]]:
    """One table from several `drlkit eval` reports of the same dataset: each model at its
    validation-chosen t and as its multi-t code, with its training budget; the baselines (random
    encoder, raw pixels) once, from the first report that has them."""
    datasets = {r.get("dataset") for r in reports}
    if len(datasets) > 1:
        raise ValueError(f"reports of different datasets cannot share a table: {sorted(datasets)}")
    models, baselines, seen = [], [], set()
    for report in reports:
        budget = (report.get("model_card") or {}).get("budget") or {}
        for row in summary_rows(report):
            if not row["representation"].startswith("model"):
                if row["representation"] not in seen:
                    seen.add(row["representation"])
                    baselines.append({**row, "images_seen": None, "wall_time_s": None,
                                      "hardware": None})
                continue
            name = row["representation"].replace("model", str(report["model"]), 1)
            models.append({**row, "representation": name,
                           "images_seen": budget.get("images_seen"),
                           "wall_time_s": budget.get("wall_time_s"),
                           "hardware": budget.get("hardware")})
    return models + baselines


def markdown_comparison(reports: Sequence[dict]) -> str:
    """`comparison_rows` as a markdown table (scores on test; budget columns last)."""
    rows = comparison_rows(reports)
    skip = ("representation", "t", "images_seen", "wall_time_s", "hardware")
    cols = list(dict.fromkeys(k for r in rows for k in r if k not in skip))
    lines = ["| representation | " + " | ".join(cols) + " | images seen | train time | hardware |",
             "|---" * (len(cols) + 4) + "|"]
    for r in rows:
        seen = "-" if r["images_seen"] is None else f"{r['images_seen']:,}"
        wall = "-" if r["wall_time_s"] is None else f"{r['wall_time_s'] / 60:.0f} min"
        lines.append(f"| {r['representation']} | " + " | ".join(_fmt(r.get(c)) for c in cols)
                     + f" | {seen} | {wall} | {r['hardware'] or '-'} |")
    return "\n".join(lines)


def _fmt(v) -> str:
    return "-" if v is None else f"{v:.4f}"


def card_metrics(report: dict) -> dict:
    """The card's `metrics`: headline scores of the model and baselines at validation-chosen t."""
    reps = report["representations"]
    model = reps["model"]
    metrics: dict = {"dataset": report["test"], "protocol": "docs/evaluation.md",
                     "best": model["best"]}
    if "linear_probe" in report["metrics"]:
        t = model["best"]["linear"]["t"]
        res = model["by_t"][t] if "by_t" in model else model
        metrics["linear_probe"] = {"dataset": report["test"], "t": t,
                                   **res["metrics"]["linear_probe"]}
        if "by_t" in model:
            metrics["linear_probe_by_t"] = {str(k): r["scores"]["linear"]["test"]
                                            for k, r in model["by_t"].items()}
    if "multi_t" in model:
        metrics["multi_t"] = {k: v["test"] for k, v in model["multi_t"]["scores"].items()}
    for key in ("pixels", "random_encoder"):
        if key in reps:
            metrics[key] = {k: v["test"] for k, v in reps[key]["best"].items()}
            if "linear_probe" in report["metrics"]:
                lin = reps[key]["best"]["linear"]
                metrics[f"{key}_linear_probe"] = {"accuracy": lin["test"], "t": lin["t"]}
    return metrics
