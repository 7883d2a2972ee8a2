"""The tables of docs/benchmarks/finetune.md (issue 41), from the fine-tuning reports
(scripts/finetune_study.sh: `drlkit finetune --report`), the frozen rows
(scripts/finetune_frozen.py) in docs/benchmarks/finetune/, and the throughput benchmark
(bench/finetune.py -> bench/results/finetune-cifar10.json). A row not run yet reads "not run".

    python scripts/finetune_tables.py     # -> docs/benchmarks/finetune/{results,throughput,targets}.md
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
STUDY = REPO / "docs" / "benchmarks" / "finetune"
BENCH = REPO / "bench" / "results" / "finetune-cifar10.json"
# the paper's Table (DRL, arXiv 2105.14257): LaplaceNet on WRN-28-2, CIFAR-10 test accuracy
PAPER = {100: {"random": 73.68, "drl": 74.31, "vdrl": 81.63},
         4000: {"random": 94.73, "drl": 94.75, "vdrl": 95.00}}
INITS = {"drl": "DRL (`cifar10`)", "vdrl": "VDRL (`cifar10-vdrl`)",
         "simclr": "SimCLR (`cifar10-simclr`)", "random": "random init"}
METHODS = {"lap": "laplacenet", "sup": "supervised"}
BACKBONES = {"enc": "encoder", "den": "denoiser"}
# the fine-tuned rows of each label set, in the order of the table (scripts/finetune_study.sh)
ROWS = ("drl-lap-enc", "drl-lap-den", "random-lap-enc", "random-lap-den", "vdrl-lap-enc",
        "simclr-lap-enc", "drl-sup-enc", "drl-sup-den", "random-sup-enc", "random-sup-den")
# the frozen rows: report name -> label
FROZEN = {"cifar10-z": "DRL (`cifar10`) z", "cifar10-best": "DRL (`cifar10`) best read",
          "cifar10-vdrl-z": "VDRL (`cifar10-vdrl`) z", "cifar10-simclr-z": "SimCLR (`cifar10-simclr`) z"}
FROZEN_KINDS = {"few_label": "SVC", "semi_supervised": "label spreading"}
DRAWS_100 = ("c100-d0", "c100-d1", "c100-d2")


def load(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.is_file() else None


def run(name: str) -> dict | None:
    return load(STUDY / f"{name}.json")


def test_acc(name: str) -> float | None:
    rep = run(name)
    return None if rep is None else 100 * rep["metrics"]["test_accuracy"]


def draws_100(row: str) -> list[float]:
    """Test accuracies of a 100-label row over the label draws that have been run."""
    return [v for v in (test_acc(f"{d}-{row}") for d in DRAWS_100) if v is not None]


def mean_spread(values: list[float]) -> str:
    if not values:
        return "not run"
    if len(values) == 1:
        return f"{values[0]:.2f}% (1 draw)"
    return (f"{statistics.mean(values):.2f}% ± {statistics.stdev(values):.2f} "
            f"({len(values)} draws)")


def frozen_draws(name: str, kind: str, n: int, draws: int) -> list[float]:
    """A frozen row's test accuracies on the first `draws` label draws (those fine-tuned too)."""
    rep = run(f"frozen-{name}")
    return [] if rep is None else [100 * v for v in rep[kind][f"accuracies_{n}"][:draws]]


def label(row: str) -> tuple[str, str, str]:
    init, method, backbone = row.split("-")
    return INITS[init], METHODS[method], BACKBONES[backbone]


def minutes(rep: dict | None) -> str:
    """The run's wall time, and the share of its epochs spent on the feature pass + graph step."""
    if rep is None:
        return "-"
    hist = rep.get("history", [])
    graph = sum(h.get("graph_s", 0.0) for h in hist)
    share = f" ({100 * graph / sum(h['seconds'] for h in hist):.0f}% graph)" if graph else ""
    return f"{rep['wall_time_s'] / 60:.0f} min{share}"


def pseudo(rep: dict | None) -> str:
    """Pseudo-label accuracy on the unlabelled images, first and last epoch, and the last
    epoch's mean certainty (1 - H / log C)."""
    hist = [h for h in (rep or {}).get("history", []) if "pseudo_label_accuracy" in h]
    if not hist:
        return "-"
    return (f"{100 * hist[0]['pseudo_label_accuracy']:.1f}% → "
            f"{100 * hist[-1]['pseudo_label_accuracy']:.1f}% (certainty {hist[-1]['certainty']:.3f})")


def cifar10_table() -> str:
    n_draws = max([len(draws_100(r)) for r in ROWS] + [1])
    lines = ["| init | method | backbone | 4000 labels: test | val | pseudo-labels, first → last "
             "propagation | wall (graph share) | 100 labels: test |",
             "|---" * 8 + "|"]
    for row in ROWS:
        rep = run(f"c4000-{row}")
        test = "not run" if rep is None else f"{100 * rep['metrics']['test_accuracy']:.2f}%"
        val = "-" if rep is None else f"{100 * rep['metrics']['val_accuracy']:.2f}%"
        lines.append(f"| {' | '.join(label(row))} | {test} | {val} | {pseudo(rep)} | "
                     f"{minutes(rep)} | {mean_spread(draws_100(row))} |")
    for name, what in FROZEN.items():
        rep = run(f"frozen-{name}")
        for kind, clf in FROZEN_KINDS.items():
            if rep is None:
                t4000, v4000 = "not run", "-"
            else:
                t4000 = f"{100 * rep[kind]['accuracy_4000']:.2f}%"
                v4000 = f"{100 * rep[kind]['val_accuracy_4000']:.2f}%"
            lines.append(f"| {what}, frozen | {clf} | - | {t4000} | {v4000} | - | - | "
                         f"{mean_spread(frozen_draws(name, kind, 100, n_draws))} |")
    return "\n".join(lines)


def mnist_table() -> str:
    lines = ["| init | method | backbone | 100 labels: test | val | pseudo-labels, first → last "
             "propagation | wall (graph share) |", "|---" * 7 + "|"]
    for row in ("drl-lap-enc", "random-lap-enc"):
        rep = run(f"m100-{row}")
        init, method, backbone = label(row)
        init = init.replace("`cifar10`", "`mnist`")
        test = "not run" if rep is None else f"{100 * rep['metrics']['test_accuracy']:.2f}%"
        val = "-" if rep is None else f"{100 * rep['metrics']['val_accuracy']:.2f}%"
        lines.append(f"| {init} | {method} | {backbone} | {test} | {val} | {pseudo(rep)} | "
                     f"{minutes(rep)} |")
    return "\n".join(lines)


def ablations() -> str:
    """One line per run in ablations/: a run of an earlier version or of another option, kept
    for comparison (its `note` says which)."""
    lines = []
    for path in sorted((STUDY / "ablations").glob("*.json")):
        rep = load(path)
        acc = rep["metrics"]
        graphs = [h for h in rep["history"] if "certainty" in h]  # the propagating epochs
        pl = "".join(f", {what} of the pseudo-labels {graphs[0][key]:{f}} → {graphs[-1][key]:{f}}"
                     for what, key, f in (("accuracy", "pseudo_label_accuracy", ".1%"),
                                          ("mean certainty", "certainty", ".3f"))
                     if graphs and key in graphs[0])
        lines.append(f"- `{path.name}`: {rep['note']}: test {100 * acc['test_accuracy']:.2f}%, "
                     f"val {100 * acc['val_accuracy']:.2f}%{pl}.")
    return "\n".join(lines)


def results() -> str:
    epochs = {rep["options"]["epochs"] for rep in map(load, STUDY.glob("[cm]*.json")) if rep}
    hardware = sorted({rep["hardware"] for rep in map(load, STUDY.glob("*.json")) if rep})
    head = (f"Epochs per run: {', '.join(map(str, sorted(epochs))) or 'none run yet'}. "
            f"Hardware: {'; '.join(hardware) or 'none run yet'}.")
    extra = ablations()
    if extra:
        extra = ("\n\n**Other options and earlier versions**, against the laplacenet encoder rows "
                 f"of the same init above (docs/benchmarks/finetune/ablations/):\n\n{extra}")
    return (f"{head}\n\n**CIFAR-10** (lossless test set, 10,000 images)\n\n{cifar10_table()}\n\n"
            f"**MNIST**\n\n{mnist_table()}{extra}")


def throughput(bench: dict) -> str:
    lines = ["| backbone | width | precision | train img/s | feature pass img/s | graph step | "
             "laplacenet epoch | graph share |", "|---" * 8 + "|"]
    for r in bench["rows"]:
        extra = (f"{r['graph_s']:.0f} s | {r['epoch_s'] / 60:.1f} min | {100 * r['graph_share']:.0f}%"
                 if "graph_s" in r else "- | - | -")
        lines.append(f"| {r['backbone']} | {r['dim']} | {r['precision']} | "
                     f"{r['train_images_per_s']:.0f} | {r['feature_pass_images_per_s']:.0f} | "
                     f"{extra} |")
    env = bench["environment"]
    hw = env.get("hardware") or env.get("cpu") or ""
    return "\n".join(lines) + f"\n\nMeasured on {hw}, {bench['graph_n']:,} images per epoch."


def best_of(rows: list[str], prefix: str) -> tuple[str, float] | None:
    got = [(r, test_acc(f"{prefix}-{r}")) for r in rows]
    got = [(r, v) for r, v in got if v is not None]
    return max(got, key=lambda rv: rv[1]) if got else None


def targets() -> str:
    out = []
    top = best_of(list(ROWS), "c4000")
    if top is None:
        out.append("- 4000 labels, best init >= 80% (moonshot 85%): not run yet.")
    else:
        status = "met" if top[1] >= 80 else f"not met ({80 - top[1]:.2f} points short)"
        out.append(f"- 4000 labels, best init >= 80% (moonshot 85%): {status}: "
                   f"{top[1]:.2f}%, {', '.join(label(top[0]))} "
                   f"(the paper, WRN-28-2 on a GPU: {PAPER[4000]['drl']}%).")
    tuned = {r: draws_100(r) for r in ROWS}
    tuned = {r: v for r, v in tuned.items() if v}
    if not tuned:
        out.append("- 100 labels, above every frozen row on the same labels: not run yet.")
    else:
        row, vals = max(tuned.items(), key=lambda rv: statistics.mean(rv[1]))
        frozen = {f"{FROZEN[n]}, {FROZEN_KINDS[k]}": frozen_draws(n, k, 100, len(vals))
                  for n in FROZEN for k in FROZEN_KINDS}
        frozen = {k: statistics.mean(v) for k, v in frozen.items() if v}
        if not frozen:
            out.append(f"- 100 labels: best fine-tuned {statistics.mean(vals):.2f}% "
                       f"({', '.join(label(row))}); the frozen rows are not run yet.")
        else:
            name, f = max(frozen.items(), key=lambda kv: kv[1])
            status = "met" if statistics.mean(vals) > f else "not met"
            out.append(f"- 100 labels, above every frozen row on the same {len(vals)} draw(s): "
                       f"{status}: best fine-tuned {statistics.mean(vals):.2f}% "
                       f"({', '.join(label(row))}) against the best frozen row {f:.2f}% ({name}).")
    pairs = []
    for method in ("lap", "sup"):
        for backbone in ("enc", "den"):
            drl, rnd = f"drl-{method}-{backbone}", f"random-{method}-{backbone}"
            a, b = test_acc(f"c4000-{drl}"), test_acc(f"c4000-{rnd}")
            if a is not None and b is not None:
                pairs.append(f"4000 labels, {METHODS[method]}, {BACKBONES[backbone]}: "
                             f"{a - b:+.2f} points ({a:.2f}% against {b:.2f}%)")
            a, b = draws_100(drl), draws_100(rnd)
            n = min(len(a), len(b))
            if n:
                diffs = [x - y for x, y in zip(a[:n], b[:n], strict=True)]
                spread = f", range {min(diffs):+.2f} to {max(diffs):+.2f}" if n > 1 else ""
                pairs.append(f"100 labels, {METHODS[method]}, {BACKBONES[backbone]}: "
                             f"{statistics.mean(diffs):+.2f} points over {n} draw(s){spread}")
    a, b = test_acc("m100-drl-lap-enc"), test_acc("m100-random-lap-enc")
    if a is not None and b is not None:
        pairs.append(f"MNIST, 100 labels, laplacenet, encoder: {a - b:+.2f} points "
                     f"({a:.2f}% against {b:.2f}%)")
    out.append("- DRL init against random init: " + ("; ".join(pairs) if pairs else "not run yet")
               + ".")
    bench = load(BENCH)
    if bench:
        by = {(r["backbone"], r["precision"]): r for r in bench["rows"]}
        parts = [f"{b} {by[(b, 'fp32')]['train_images_per_s']:.0f} img/s fp32, "
                 f"{by[(b, 'bf16')]['train_images_per_s']:.0f} img/s bf16, graph step + feature "
                 f"pass {100 * by[(b, 'bf16')]['graph_share']:.0f}% of an epoch"
                 for b in ("encoder", "denoiser")]
        out.append("- Throughput reported: " + "; ".join(parts) + ".")
    return "\n".join(out)


def render() -> dict[str, str]:
    """Every generated file's name and text."""
    files = {"results.md": results() + "\n", "targets.md": targets() + "\n"}
    bench = load(BENCH)
    if bench:
        files["throughput.md"] = throughput(bench) + "\n"
    return files


def main() -> None:
    STUDY.mkdir(parents=True, exist_ok=True)
    for name, text in render().items():
        (STUDY / name).write_text(text)
        print(f"--- {STUDY / name}\n{text}")


if __name__ == "__main__":
    main()
