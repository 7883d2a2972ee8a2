"""Pictures of an evaluation (matplotlib, the optional `plot` extra): metric vs t, and a 2-D view
of embeddings coloured by class (PCA or t-SNE from scikit-learn)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise ImportError("plots need matplotlib: pip install 'drlkit[plot]'") from None
    matplotlib.use("Agg")  # files only; never opens a window
    import matplotlib.pyplot as plt

    return plt


def _sweeps(report: dict) -> dict[str, dict]:
    """`evaluate_model` reports hold several representations; a bare `t_sweep` result is one."""
    if "representations" in report:
        return report["representations"]
    return {"features": report}


def plot_t_curves(report: dict, path: str | os.PathLike, title: str | None = None) -> None:
    """One panel per score: test score vs t for every swept representation (the validation-chosen
    t starred), with the multi-t code and the t-free baselines (pixels) as horizontal lines."""
    plt = _pyplot()
    reps = _sweeps(report)
    swept = {k: r for k, r in reps.items() if "by_t" in r}
    if not swept:
        raise ValueError("nothing to plot against t: no representation was swept over t")
    names = list(next(iter(swept.values()))["best"])
    cols = min(3, len(names))
    rows = -(-len(names) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), squeeze=False)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, score in zip(axes.flat, names, strict=False):
        for i, (key, rep) in enumerate(reps.items()):
            colour = colours[i % len(colours)]
            label = key.replace("_", " ")
            if "by_t" in rep:
                ts = [float(t) for t in rep["by_t"]]
                ys = [r["scores"][score]["test"] for r in rep["by_t"].values()]
                ax.plot(ts, ys, "o-", color=colour, label=label, ms=4)
                best = rep["best"][score]
                ax.plot([float(best["t"])], [best["test"]], "*", color=colour, ms=13)
                if "multi_t" in rep:
                    ax.axhline(rep["multi_t"]["scores"][score]["test"], color=colour, ls=":",
                               label=f"{label} multi-t")
            elif score in rep.get("scores", {}):
                ax.axhline(rep["scores"][score]["test"], color=colour, ls="--", label=label)
        ax.set_title(score)
        ax.set_xlabel("t")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7, loc="best")
    fig.suptitle(title or "test score vs t (star: t chosen on validation)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def embed_2d(z: np.ndarray, method: str = "pca", seed: int = 0) -> np.ndarray:
    """(N, D) -> (N, 2) with PCA, or t-SNE (initialised from PCA)."""
    z = np.asarray(z, dtype=np.float32).reshape(len(z), -1)
    if method == "pca":
        from sklearn.decomposition import PCA

        return PCA(n_components=2, random_state=seed).fit_transform(z)
    if method == "tsne":
        from sklearn.manifold import TSNE

        perplexity = min(30.0, max(2.0, (len(z) - 1) / 3))
        return TSNE(n_components=2, init="pca", perplexity=perplexity,
                    random_state=seed).fit_transform(z)
    raise ValueError(f"method must be 'pca' or 'tsne', got {method!r}")


def plot_embedding(z: np.ndarray, labels: np.ndarray, path: str | os.PathLike,
                   method: str = "pca", class_names: Sequence[Any] | None = None,
                   max_points: int = 5000, seed: int = 0, title: str | None = None) -> None:
    """Scatter a 2-D view (PCA or t-SNE) of codes, coloured by class; at most `max_points`
    points (a seeded random subset), since t-SNE is quadratic."""
    plt = _pyplot()
    z, labels = np.asarray(z), np.asarray(labels)
    if len(z) != len(labels):
        raise ValueError(f"{len(z)} codes but {len(labels)} labels")
    if len(z) > max_points:
        keep = np.sort(np.random.default_rng(seed).choice(len(z), max_points, replace=False))
        z, labels = z[keep], labels[keep]
    xy = embed_2d(z, method, seed)
    classes = np.unique(labels)
    fig, ax = plt.subplots(figsize=(6, 5.2))
    cmap = plt.get_cmap("tab10" if len(classes) <= 10 else "tab20")
    for i, c in enumerate(classes):
        m = labels == c
        name = class_names[int(c)] if class_names is not None and np.issubdtype(
            classes.dtype, np.integer) and 0 <= int(c) < len(class_names) else c
        ax.scatter(xy[m, 0], xy[m, 1], s=3, color=cmap(i % cmap.N), label=str(name))
    ax.legend(markerscale=4, fontsize=7, loc="best", ncol=2)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title or f"{method.upper()} of {len(z)} codes", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_information(curve: dict, path: str | os.PathLike, title: str | None = None) -> None:
    """Two panels from `diagnostics.information_curve`: the denoising error vs t with the own,
    a shuffled and a zero code (log scale), and the relative gap of the other codes."""
    plt = _pyplot()
    ts = curve["t"]
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.4))
    for name, style in (("own", "o-"), ("shuffled", "s--"), ("zero", "^:")):
        a.plot(ts, curve[name], style, ms=3, label=f"{name} code")
    a.set_yscale("log")
    a.set_xlabel("t")
    a.set_ylabel("MSE of the x0 estimate (per pixel)")
    a.legend(fontsize=8)
    for name, style in (("gap_shuffled", "s--"), ("gap_zero", "^:")):
        b.plot(ts, [100 * g for g in curve[name]], style, ms=3,
               label=name.replace("gap_", "") + " code vs own")
    b.axvline(curve["largest_gap_t"], color="grey", lw=0.8)
    b.set_xlabel("t")
    b.set_ylabel("error increase (%)")
    b.legend(fontsize=8)
    for ax in (a, b):
        ax.grid(alpha=0.3)
    fig.suptitle(title or "what the code tells the denoiser, by noise level", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
