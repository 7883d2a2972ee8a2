"""The recipe study's table (docs/benchmarks.md, "Recipe study"; issue 31) from the committed
reports and diagnostics that scripts/recipe_study.sh writes into docs/benchmarks/cifar10-recipe/.

    python scripts/recipe_table.py        # -> docs/benchmarks/cifar10-recipe.md (and stdout)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
STUDY = REPO / "docs" / "benchmarks" / "cifar10-recipe"
OUT = REPO / "docs" / "benchmarks" / "cifar10-recipe.md"
# the paper's recipe first, then one factor at a time; SimCLR, the reference, last
ORDER = ("none", "none-sigma", "none-film", "same", "novel", "novel-lognormal", "novel-sigma",
         "novel-film", "novel-inv-per-sample-t", "novel-inv", "simclr")
Z_T = ("0.1", "0.3", "0.5", "0.7", "0.9")


def pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.2f}%"


def last_diagnostics(name: str) -> dict:
    """The run's last z-usage / quick-probe record (step 2,000), or {} when none was kept."""
    path = STUDY / f"{name}.diagnostics.jsonl"
    if not path.is_file():
        return {}
    records = [json.loads(ln) for ln in path.read_text().splitlines() if ln.strip()]
    return max(records, key=lambda r: r["step"]) if records else {}


def recipe(report: dict) -> dict[str, str]:
    training = (report.get("model_card") or {}).get("training") or {}
    config = report.get("model_config") or {}
    if training.get("method") == "simclr":
        return {"method": "SimCLR", "views": "two views (NT-Xent)", "sampler": "-", "z": "-"}
    views = training.get("views", "none")
    if training.get("invariance_weight"):
        views += f" + {training['invariance_weight']:g} x NT-Xent"
    return {"method": "DRL" + (" t-cond." if config.get("t_conditioned") else " static"),
            "views": views, "sampler": training.get("t_sampler", "?"),
            "z": config.get("z_conditioning", "add")}


def cpu_name(hardware: str) -> str:
    """The training machine in one word: the CPU kinds of docs/benchmarks.md."""
    for word, short in (("Xeon", "Xeon"), ("EPYC", "EPYC"), ("NVIDIA", "GPU")):
        if word in hardware:
            return short
    return "?"


def rows() -> list[list[str]]:
    out, seen = [], set()
    def order(path: Path) -> tuple[int, bool, str]:
        run = path.stem.removesuffix("-pooled")
        return (ORDER.index(run) if run in ORDER else len(ORDER), path.stem != run, path.stem)

    reports = sorted(STUDY.glob("*.json"), key=order)
    for path in reports:
        report = json.loads(path.read_text())
        name = path.stem
        run = name.removesuffix("-pooled")
        features = report.get("features", "z")
        r = recipe(report)
        diag = last_diagnostics(run)
        zu = diag.get("z_usage") or {}
        probe = diag.get("probe") or {}
        budget = (report.get("model_card") or {}).get("budget") or {}
        for rep_name, rep in report["representations"].items():
            best = rep["best"]["linear"]
            multi = rep.get("multi_t", {}).get("scores", {}).get("linear", {}).get("test")
            if rep_name == "model":
                label = run if features == "z" else f"{run} ({features})"
                cols = [r["method"], r["views"], r["sampler"], r["z"], features]
                usage = [f"{100 * zu[t]:+.1f}%" if t in zu else "-" for t in Z_T]
                qp = " / ".join(f"{v:.3f}" for v in probe.values()) or "-"
                minutes = (f"{budget['wall_time_s'] / 60:.0f}" if budget.get("wall_time_s")
                           else "-")
                minutes += f" ({cpu_name(budget.get('hardware', ''))})"
            else:
                label = {"random_encoder": "random encoder", "pixels": "raw pixels"}[rep_name]
                label += f" ({features})" if rep_name == "random_encoder" and features != "z" else ""
                if label in seen:  # the same baseline, scored again beside another run
                    continue
                seen.add(label)
                cols = ["-", "-", "-", "-", features if rep_name == "random_encoder" else "-"]
                usage, qp, minutes = ["-"] * len(Z_T), "-", "-"
            t = "-" if best["t"] is None else f"{best['t']:g}"
            out.append([label, *cols, pct(best["test"]), t, pct(multi), *usage, qp, minutes])
    return out


def main() -> int:
    if not STUDY.is_dir():
        print(f"no reports in {STUDY}: run scripts/recipe_study.sh first", file=sys.stderr)
        return 1
    head = ["run", "method", "views", "t sampler", "z conditioning", "features",
            "linear probe (best t)", "t", "multi-t", *[f"z usage t={t}" for t in Z_T],
            "quick probe t=0.3 / 0.7", "train min (CPU)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(row) + " |" for row in rows()]
    text = "\n".join(lines) + "\n"
    OUT.write_text(text)
    print(text, end="")
    print(f"wrote {OUT.relative_to(REPO)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
