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
           "fashion-mnist-ae": BENCH / "fashion-mnist" / "ae.json",
           "cifar10-coarse": BENCH / "cifar10-gpu" / "coarse.json",
           "cifar10-vdrl": BENCH / "cifar10-gpu" / "vdrl.json",
           "mnist": REPO / "docs" / "evaluation" / "mnist.json"}
# earlier reports of the encoder's pooled features (before its last layer), same protocol
POOLED = {"cifar10": BENCH / "cifar10-gpu-long" / "drl-pooled.json",
          "cifar10-cpu": BENCH / "cifar10" / "drl-pooled.json",
          "fashion-mnist": BENCH / "fashion-mnist" / "drl-pooled.json"}
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


def row(label: str, width, rep: dict | None, where: str = "best", t_note: bool = True) -> str:
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


def card_best(model: str) -> str | None:
    """The read the model's card names best (scripts/card_reads.py), e.g. "multi-t z"."""
    from drlkit.checkpoint import read_header
    from drlkit.registry import REGISTRY, checkpoint_dir

    path = checkpoint_dir() / REGISTRY[model].file
    return read_header(path).get("reads", {}).get("best", {}).get("read")


def mark(read: str, best_read: str | None) -> str:
    """The label suffix of the read the card names best."""
    return " = **best read**" if read == best_read else ""


def full_protocol() -> str:
    lines = ["| model and read | width | linear probe, test | kNN | NMI | 100 labels (SVC) | "
             "1000 labels (SVC) | label spreading, 100 |", "|---" * 8 + "|"]
    for model in MODELS:
        earlier = load(EARLIER[model]) if model in EARLIER else None
        best_rep = load(STUDY / f"{model}-best.json")
        den_rep = load(STUDY / f"{model}-denoiser.json")
        chosen = card_best(model)
        if earlier:
            z = earlier["representations"]["model"]
            lines.append(row(f"`{model}` z (the paper's code){mark('z', chosen)}", 128, z))
            lines.append(row(f"`{model}` multi-t z{mark('multi-t z', chosen)}", 640, z, "multi_t"))
        pooled = load(POOLED[model]) if model in POOLED else None
        if pooled:
            width = 4 * pooled["model_config"]["encoder_width"]
            lines.append(row(f"`{model}` pooled (encoder, before its last layer){mark('pooled', chosen)}",
                             width, pooled["representations"]["model"]))
        if den_rep:
            dim = sum_width(den_rep)
            lines.append(row(f"`{model}` denoiser read{mark('denoiser', chosen)}", dim,
                             den_rep["representations"]["model"]))
        if best_rep:
            lines.append(row(f"`{model}` denoiser + multi-t z ({parts(best_rep)})"
                             f"{mark('denoiser + multi-t z', chosen)}", "",
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


def budget_curve() -> str:
    """Best read (and denoiser read) against the images each CIFAR-10 DRL model has seen."""
    import drlkit

    rows = ["| model | images seen | how it was trained | denoiser read, test (val) | "
            "best read, test (val) |", "|---|---|---|---|---|"]
    for model in ("cifar10-coarse", "cifar10-vdrl", "cifar10-cpu", "cifar10"):
        best_rep = load(STUDY / f"{model}-best.json")
        den_rep = load(STUDY / f"{model}-denoiser.json")
        if not best_rep and not den_rep:
            continue
        card = drlkit.load(model, device="cpu").card
        tr = card["training"]
        how = (f"{tr['method']}, {tr['t_sampler']}, batch {tr['batch_size']} x "
               f"{tr['steps']:,} steps, {card['data']}")
        cells = []
        for rep in (den_rep, best_rep):
            s = rep["representations"]["model"]["best"]["linear"] if rep else None
            cells.append(f"{pct(s['test'])} ({pct(s['val'])})" if s else "-")
        rows.append(f"| `{model}` | {card['budget']['images_seen']:,} | {how} | "
                    + " | ".join(cells) + " |")
    return "\n".join(rows)


def copies_table(copies: dict) -> str:
    """scripts/denoiser_copies.py: each model's denoiser read on the lossless and the JPEG copy."""
    rows = [f"Subset: {copies['train']:,} train / {copies['test']:,} test images (stratified, "
            f"seed 0), the same images in both copies; {copies['protocol']}. "
            f"{copies['hardware']}, {copies['wall_time_s'] / 60:.0f} min.", "",
            "| model (trained on) | read on the lossless copy, test (val) | read on the JPEG copy, "
            "test (val) | JPEG - lossless, test |", "|---|---|---|---|"]
    for name, r in copies["results"].items():
        png, jpeg = r["png"], r["jpeg"]
        rows.append(f"| `{name}` ({r['data']}) | {pct(png['test'])} ({pct(png['val'])}) | "
                    f"{pct(jpeg['test'])} ({pct(jpeg['val'])}) | "
                    f"{100 * (jpeg['test'] - png['test']):+.2f} points |")
    return "\n".join(rows)


def sum_width(report: dict) -> str:
    """The denoiser read's width, e.g. "928 (17 blocks, avg)"."""
    import drlkit

    read = report.get("read") or {}
    model = drlkit.load(report["file"], device="cpu")
    width = model.feature_dim("denoiser", layers=read.get("layers"), pool=read.get("pool"))
    return f"{width} ({len(read.get('layers', []))} blocks, {read.get('pool', 'avg')})"


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


def linear_test(report: dict | None, rep: str = "model") -> float | None:
    if not report or rep not in report["representations"]:
        return None
    return report["representations"][rep]["best"]["linear"]["test"]


def findings() -> str:
    """The issue's targets against what the reports and the bench say (no number typed by hand)."""
    c_best, c_den = load(STUDY / "cifar10-best.json"), load(STUDY / "cifar10-denoiser.json")
    cpu_best = load(STUDY / "cifar10-cpu-best.json")
    fm_best = load(STUDY / "fashion-mnist-best.json")
    bench = load(REPO / "bench" / "results" / "reads-cifar10.json")
    simclr = linear_test(load(EARLIER["cifar10-simclr"]))
    rows = ["| target (issue 39) | measured | |", "|---|---|---|"]

    def status(v, goal, unit="%"):
        if v is None:
            return "not measured yet (queued in scripts/denoiser_study.sh)", "open"
        text = f"{100 * v:.2f}{unit}" if unit == "%" else f"{v:.2f}x"
        if v >= goal:
            return text, "met"
        gap = f"{100 * (goal - v):.2f} points" if unit == "%" else f"{goal - v:.2f}x"
        return text, f"not met, {gap} short"

    top = linear_test(c_best) or linear_test(c_den)
    text, verdict = status(top, 0.75)
    rows.append(f"| shipped `cifar10`, best read, >= 75% | {text} | {verdict} |")
    text, verdict = status(linear_test(cpu_best), 0.72)
    rows.append(f"| equal budget (`cifar10-cpu`, 640k images), best read, >= 72% (SimCLR "
                f"{pct(simclr)}) | {text} | {verdict} |")
    gaps, verdict = [], "not measured yet"
    for rep, what in ((c_den, "denoiser read"), (c_best, "best read")):
        trained, control = linear_test(rep), linear_test(rep, "random_encoder")
        if trained is not None and control is not None:
            gap = 100 * (trained - control)
            gaps.append(f"{what} {gap:+.2f} points ({pct(trained)} against {pct(control)})")
            if rep is c_den:  # the target names the denoiser read; the best read's gap is reported
                verdict = "met" if gap >= 25 else "not met"
    rows.append(f"| trained denoiser read >= 25 points above the random-init control (read the "
                f"same way) | {'; '.join(gaps) or 'not measured yet'} | {verdict} |")
    fm = linear_test(fm_best)
    fm_text = "not measured yet (queued)" if fm is None else pct(fm)
    fm_ok = "open" if fm is None else ("met" if fm > 0.8636 else "not met")
    rows.append(f"| Fashion-MNIST best read above raw pixels (84.75%) and the AE (86.36%) | "
                f"{fm_text} | {fm_ok} |")
    if bench:
        by = {(r["read"], r["precision"]): r for r in bench["throughput"]}
        f, b = by[("denoiser", "fp32")], by[("denoiser", "bf16")]
        verdict = ("met in fp32 (encode's default precision)" if f["ratio_to_z"] >= 1 / 3
                   else "not met in fp32")
        verdict += "; " + ("met" if b["ratio_to_z"] >= 1 / 3 else "not met") + " in bf16"
        rows.append(f"| denoiser read >= 1/3 of z's throughput on CPU | "
                    f"{f['images_per_s']:.0f} against {by[('z', 'fp32')]['images_per_s']:.0f} "
                    f"img/s, {f['ratio_to_z']:.2f}x (fp32); {b['ratio_to_z']:.2f}x (bf16) | "
                    f"{verdict} |")
    return "\n".join(rows)


def throughput(bench: dict) -> str:
    rows = ["| read | width | fp32 img/s | x z | bf16 img/s | x z | peak memory added |",
            "|---" * 7 + "|"]
    by = {(r["read"], r["precision"]): r for r in bench["throughput"]}
    for read in dict.fromkeys(r["read"] for r in bench["throughput"]):
        f, b = by[(read, "fp32")], by[(read, "bf16")]
        rows.append(f"| {read} | {f['width']} | {f['images_per_s']:.0f} | {f['ratio_to_z']:.2f} "
                    f"| {b['images_per_s']:.0f} | {b['ratio_to_z']:.2f} | "
                    f"{bench['peak_memory_mib'][read]:.0f} MiB |")
    return "\n".join(rows)


def render() -> dict[str, str]:
    """Every generated table file's name and text (the picture is drawn by main)."""
    files = {}
    sweep = load(STUDY / "sweep-cifar10.json")
    if sweep:
        files["sweep.md"] = sweep_tables(sweep) + "\n"
    files["full.md"] = full_protocol() + "\n"
    files["budget.md"] = budget_curve() + "\n"
    copies = load(STUDY / "copies.json")
    if copies:
        files["copies.md"] = copies_table(copies) + "\n"
    bench = load(REPO / "bench" / "results" / "reads-cifar10.json")
    if bench:
        files["throughput.md"] = throughput(bench) + "\n"
    files["targets.md"] = findings() + "\n"
    return files


def main() -> None:
    for name, text in render().items():
        (STUDY / name).write_text(text)
        print(f"--- {STUDY / name}\n{text}")
    sweep = load(STUDY / "sweep-cifar10.json")
    if sweep:
        picture(sweep, STUDY / "block_t.png")
        print(f"wrote {STUDY / 'block_t.png'}")


if __name__ == "__main__":
    main()
