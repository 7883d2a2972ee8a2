"""The tables and the block x t picture of docs/benchmarks/denoiser.md (issue 39), from the committed
sweep JSON (scripts/denoiser_sweep.py) and full-protocol reports (scripts/denoiser_study.sh) in
docs/benchmarks/denoiser/, with the z, multi-t and SimCLR rows from the earlier reports.

    python scripts/denoiser_tables.py     # -> docs/benchmarks/denoiser/*.md, block_t.png
"""

from __future__ import annotations

import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
STUDY = REPO / "docs" / "benchmarks" / "denoiser"
BENCH = REPO / "docs" / "benchmarks"
# earlier reports of the same models on the same protocol: z, multi-t z, pooled
EARLIER = {"cifar10": BENCH / "cifar10-gpu-long" / "drl.json",
           "cifar10-cpu": BENCH / "cifar10" / "drl.json",
           "cifar10-simclr": BENCH / "cifar10" / "simclr.json",
           "cifar10-ae": BENCH / "cifar10" / "ae.json",
           "fashion-mnist": BENCH / "fashion-mnist" / "drl.json",
           "fashion-mnist-ae": BENCH / "fashion-mnist" / "ae.json"}
MODELS = ("cifar10", "cifar10-cpu", "cifar10-coarse", "cifar10-vdrl", "fashion-mnist", "mnist")
SCORES = ("linear", "knn", "nmi", "few_label_100", "few_label_1000", "semi_supervised_100")


def load(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.is_file() else None


def pct(v) -> str:
    return "-" if v is None else f"{100 * v:.2f}%"


def score(name: str, v) -> str:
    return "-" if v is None else (f"{v:.3f}" if name == "nmi" else pct(v))


def best(rep: dict, name: str, where: str = "best") -> dict | None:
    """The {t, test, val} of score `name` in a representation: at its val-chosen t ("best"),
    or of its concatenated multi-t code ("multi_t")."""
    if where == "multi_t":
        return (rep.get("multi_t") or {}).get("scores", {}).get(name)
    return rep.get("best", {}).get(name)


def row(label: str, rep: dict | None, width, where: str = "best", t_note: bool = True) -> str:
    if rep is None:
        return ""
    cells = []
    for name in SCORES:
        s = best(rep, name, where)
        text = score(name, s["test"] if s else None)
        if name == "linear" and s:
            text = f"**{text}** (val {pct(s['val'])}"
            text += f", t = {s['t']:g})" if t_note and s.get("t") is not None else ")"
        cells.append(text)
    return f"| {label} | {width} | " + " | ".join(cells) + " |"


def full_protocol() -> str:
    lines = ["| model and read | width | linear probe, test | kNN | NMI | 100 labels (SVC) | "
             "1000 labels (SVC) | label spreading, 100 |", "|---" * 8 + "|"]
    for model in MODELS:
        earlier = load(EARLIER[model]) if model in EARLIER else None
        best_rep = load(STUDY / f"{model}-best.json")
        den_rep = load(STUDY / f"{model}-denoiser.json")
        if earlier:
            z = earlier["representations"]["model"]
            lines.append(row(f"`{model}` z (the paper's code)", 128, z))
            lines.append(row(f"`{model}` multi-t z", 640, z, "multi_t"))
        if den_rep:
            dim = sum_width(den_rep)
            lines.append(row(f"`{model}` denoiser read", dim, den_rep["representations"]["model"]))
        if best_rep:
            lines.append(row(f"`{model}` **best read** ({parts(best_rep)})", "", 
                             best_rep["representations"]["model"], t_note=False))
        for rep, what in ((den_rep, "denoiser read"), (best_rep, "best read")):
            if rep and "random_encoder" in rep["representations"]:
                lines.append(row(f"random init, same architecture: {what}", "",
                                 rep["representations"]["random_encoder"],
                                 t_note=what != "best read"))
    for name, label in (("cifar10-simclr", "`cifar10-simclr` z (SimCLR, 640k images)"),
                        ("cifar10-ae", "`cifar10-ae` z (autoencoder, 640k images)"),
                        ("fashion-mnist-ae", "`fashion-mnist` autoencoder z (128k images)")):
        rep = load(EARLIER[name])
        if rep:
            lines.append(row(label, 128, rep["representations"]["model"], t_note=False))
    return "\n".join(x for x in lines if x)


def sum_width(report: dict) -> str:
    read = report.get("read") or {}
    return f"{len(read.get('layers', []))} blocks, {read.get('pool', 'avg')}"


def parts(report: dict) -> str:
    read = report.get("read") or {}
    return " + ".join(f"{p['features']} at t = {', '.join(f'{v:g}' for v in p['t'])}"
                      for p in read.get("parts", []))


def sweep_tables(sweep: dict) -> str:
    ts = sweep["t"]
    out = [f"Subset: {sweep['train']}; test: {sweep['test']}. {sweep['probe']}. "
           f"{sweep['hardware']}, {sweep['wall_time_s'] / 60:.0f} min.", ""]
    for name in ("trained", "random"):
        if name not in sweep:
            continue
        res = sweep[name]
        out += [f"**{'`' + sweep['model'] + '`' if name == 'trained' else 'random init'}**: "
                "validation accuracy (test in brackets) of each path, by t", "",
                "| path | " + " | ".join(f"t = {t:g}" for t in ts) + " |",
                "|---" * (len(ts) + 1) + "|"]
        for path in res["paths"][str(ts[0])] if str(ts[0]) in res["paths"] else res["paths"][ts[0]]:
            cells = []
            for t in ts:
                p = res["paths"].get(str(t), res["paths"].get(t))[path]
                cells.append(f"{pct(p['val'])} ({pct(p['test'])})")
            out.append(f"| {path} | " + " | ".join(cells) + " |")
        out.append("")
        chosen = res["chosen"]
        lp = chosen["linear_probe"]
        out.append(f"Chosen on validation: t = {chosen['t']:g}, layers {chosen['layers']}; with C "
                   f"from the protocol's grid (C = {lp['C']:g}): val {pct(lp['val_accuracy'])}, "
                   f"test {pct(lp['accuracy'])}.")
        out.append("")
        if len(res.get("options", {})) > 1:
            out += [f"Options at t = {chosen['t']:g}, all blocks, C = 1:", "",
                    "| read | val | test |", "|---|---|---|"]
            out += [f"| {k} | {pct(v['val'])} | {pct(v['test'])} |"
                    for k, v in res["options"].items()]
            out.append("")
    return "\n".join(out)


def picture(sweep: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    names = [n for n in ("trained", "random") if n in sweep]
    fig, axes = plt.subplots(1, len(names), figsize=(5.2 * len(names), 4.6), squeeze=False)
    groups = sweep["groups"]
    for ax, name in zip(axes[0], names, strict=True):
        blocks = sweep[name]["blocks"]
        ts = sweep["t"]
        grid = np.array([[b["val"] for b in blocks.get(str(t), blocks.get(t))] for t in ts]).T
        im = ax.imshow(100 * grid, aspect="auto", cmap="viridis", vmin=20, vmax=60)
        ax.set_xticks(range(len(ts)), [f"{t:g}" for t in ts])
        ax.set_yticks(range(len(groups)), [f"{i} {g}" for i, g in enumerate(groups)], fontsize=7)
        ax.set_xlabel("t (noise level read at)")
        ax.set_title(f"{sweep['model'] if name == 'trained' else 'random init'}: "
                     "block probe, val %", fontsize=10)
        for (i, j), v in np.ndenumerate(grid):
            ax.text(j, i, f"{100 * v:.0f}", ha="center", va="center", fontsize=6, color="w")
    fig.colorbar(im, ax=axes[0].tolist(), shrink=0.8)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


def main() -> None:
    sweep = load(STUDY / "sweep-cifar10.json")
    if sweep:
        (STUDY / "sweep.md").write_text(sweep_tables(sweep) + "\n")
        picture(sweep, STUDY / "block_t.png")
        print(f"wrote {STUDY / 'sweep.md'}, {STUDY / 'block_t.png'}")
    table = full_protocol()
    (STUDY / "full.md").write_text(table + "\n")
    print(table)


if __name__ == "__main__":
    main()
