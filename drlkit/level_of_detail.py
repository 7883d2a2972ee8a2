"""The level-of-detail study (paper section 4, Figures 2-3): the distribution of training t decides
what a code keeps. Three small MNIST models with a 2-D static code, identical but for the t
sampler (`uniform-t`, `uniform-sigma`, and a low-t `range`), and for each: how well the code keeps
the class (linear probe, silhouette), how well it keeps stroke thickness (correlation of each
axis with the ink mass of the image), and a decoded grid of codes.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

SAMPLERS = ("uniform-t", "uniform-sigma", "range:0,0.3")


def ink(images: np.ndarray) -> np.ndarray:
    """Stroke thickness proxy: the mean pixel intensity of each image, in [0, 1]."""
    return images.reshape(len(images), -1).astype(np.float64).mean(axis=1) / 255


def code_report(z_train: np.ndarray, y_train: np.ndarray, z_test: np.ndarray, y_test: np.ndarray,
                test_images: np.ndarray, seed: int = 0) -> dict[str, Any]:
    """Class and thickness content of 2-D codes: linear-probe accuracy (validation-chosen C),
    silhouette of the test codes by class, and the Pearson r of each axis with ink mass."""
    from sklearn.metrics import silhouette_score

    from drlkit.metrics import linear_probe

    probe = linear_probe(z_train, y_train, z_test, y_test, seed=seed)
    m = ink(test_images)
    r = [float(np.corrcoef(z_test[:, j], m)[0, 1]) for j in range(z_test.shape[1])]
    n = min(len(z_test), 5000)
    return {"linear_probe": probe["accuracy"],
            "silhouette": float(silhouette_score(z_test[:n], y_test[:n], random_state=seed)),
            "ink_r": r, "max_abs_ink_r": float(max(abs(v) for v in r))}


def run_study(out_dir: str | os.PathLike, runs_dir: str | os.PathLike | None = None,
              steps: int = 2000, preset_name: str = "small",
              samplers: Sequence[str] = SAMPLERS, data_root=None, n_train: int | None = None,
              n_test: int | None = None, grid_n: int = 10, grid_steps: int = 100, seed: int = 0,
              progress: bool = True) -> dict[str, Any]:
    """Train one 2-D-code model per sampler (in runs_dir, default out_dir/runs; finished runs are
    reused, interrupted ones resumed), measure each, and draw its latent grid into out_dir.
    Returns the results table, also written to out_dir/level_of_detail.json."""
    from drlkit.checkpoint import load_model
    from drlkit.data import load_dataset, stratified_subset
    from drlkit.diffusion import parse_t_sampler
    from drlkit.grids import save_grid
    from drlkit.sampling import latent_grid
    from drlkit.train import STATE_FILE, TrainConfig, train

    out = Path(out_dir)
    runs = Path(runs_dir) if runs_dir is not None else out / "runs"
    out.mkdir(parents=True, exist_ok=True)
    train_ds = stratified_subset(load_dataset("mnist", "train", data_root), n_train, seed, "train")
    test_ds = stratified_subset(load_dataset("mnist", "test", data_root), n_test, seed, "test")
    rows = {}
    for sampler in samplers:
        name = sampler.replace(":", "-").replace(",", "-")
        run = runs / name
        model_file = run / "model.safetensors"
        if not _done(run, steps):  # train, or continue an interrupted or shorter run
            tc = TrainConfig(dataset="mnist", method="drl", t_sampler=sampler, steps=steps,
                             seed=seed, checkpoint_every=500, diagnostics_every=0)
            train(None, tc, run, resume=(run / STATE_FILE).exists(), dataset=train_ds,
                  progress=progress, preset_name=preset_name, latent_dim=2, t_conditioned=False)
        model = load_model(model_file, device="cpu")
        z_train, z_test = model.encode(train_ds.images), model.encode(test_ds.images)
        row = code_report(z_train, train_ds.labels, z_test, test_ds.labels, test_ds.images, seed)
        lo, hi = np.percentile(z_test, [2, 98])
        # a score net trained only up to t = b < 1 cannot start from pure noise: decode the grid
        # from the first test image noised to t = b instead (what the code changes in it)
        t_top = parse_t_sampler(sampler)[2]
        start = {} if t_top >= 1 else {"x_start": test_ds.images[:1], "t_start": t_top}
        grid, _ = latent_grid(model, n=grid_n, lo=float(lo), hi=float(hi), steps=grid_steps,
                              seed=seed, **start)
        picture = out / f"grid_{name}.png"
        save_grid([list(r) for r in grid], picture, scale=1)
        budget = model.card["budget"]
        rows[sampler] = {**row, "grid": picture.name, "z_range": [float(lo), float(hi)],
                         "grid_start": ("pure noise at t = 1" if not start else
                                        f"test image 0 (a {test_ds.labels[0]}) noised to "
                                        f"t = {t_top}"),
                         "steps": budget["steps"], "wall_time_s": budget["wall_time_s"]}
    result = {"train": train_ds.source, "test": test_ds.source, "preset": preset_name,
              "steps": steps, "rows": rows}
    (out / "level_of_detail.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


def _done(run: Path, steps: int) -> bool:
    from drlkit.checkpoint import read_header

    model_file = run / "model.safetensors"
    return model_file.exists() and read_header(model_file)["budget"]["steps"] >= steps


def markdown_table(result: dict[str, Any]) -> str:
    lines = ["| training t sampler | linear probe (class) | silhouette (class) | "
             "r(z_1, ink) | r(z_2, ink) | train time |", "|---|---|---|---|---|---|"]
    for sampler, r in result["rows"].items():
        lines.append(f"| `{sampler}` | {r['linear_probe']:.3f} | {r['silhouette']:.3f} | "
                     f"{r['ink_r'][0]:+.2f} | {r['ink_r'][1]:+.2f} | "
                     f"{r['wall_time_s'] / 60:.0f} min |")
    return "\n".join(lines)
