"""Reports as tables: the summary and sweep tables of one `drlkit eval` report, the comparison
table of several (`drlkit compare`), and the metrics a card stores (`--write-card`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


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
