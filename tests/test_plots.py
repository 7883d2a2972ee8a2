"""Plots: files are written, bad input and a missing matplotlib give clear errors."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from test_evaluation import METRICS_FAST, sweep_data

from drlkit.evaluation import t_sweep
from drlkit.plots import embed_2d, plot_embedding, plot_t_curves

PNG = b"\x89PNG\r\n\x1a\n"


def test_t_curves_and_embedding_are_written(tmp_path):
    z, y, zt, yt = sweep_data(1, 1)
    sweep = t_sweep(z, y, zt, yt, [0.1, 0.5, 0.9], metrics=METRICS_FAST)
    plot_t_curves(sweep, tmp_path / "c.png")
    plot_embedding(zt[:, 1], yt, tmp_path / "e.png", class_names=["a", "b", "c"])
    plot_embedding(zt[:, 1], yt, tmp_path / "t.png", method="tsne", max_points=60)
    for name in ("c.png", "e.png", "t.png"):
        assert (tmp_path / name).read_bytes()[:8] == PNG


def test_embed_2d_separates_separable_classes():
    z, y, _, _ = sweep_data(1, 1)
    xy = embed_2d(z[:, 1], "pca")
    assert xy.shape == (len(z), 2)
    centres = np.array([xy[y == c].mean(0) for c in range(3)])
    assert np.linalg.norm(centres[0] - centres[2]) > 5  # class 2 sits 12 units from class 0
    with pytest.raises(ValueError, match="pca"):
        embed_2d(z[:, 1], "umap")


def test_plot_errors(tmp_path, monkeypatch):
    z, y, zt, yt = sweep_data(1, 1)
    with pytest.raises(ValueError, match="labels"):
        plot_embedding(z[:, 0], y[:-1], tmp_path / "e.png")
    with pytest.raises(ValueError, match="swept"):
        plot_t_curves({"representations": {"pixels": {"scores": {}, "best": {}}}}, tmp_path / "c.png")
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if not installed
    with pytest.raises(ImportError, match=r"drlkit\[plot\]"):
        plot_embedding(z[:, 0], y, tmp_path / "e.png")
