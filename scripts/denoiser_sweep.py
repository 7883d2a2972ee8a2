"""The denoiser read's block x t sweep (issue 39): which score-net blocks, at which noise level, with
which pooling, noise and conditioning, read best -- chosen on validation, never on test.

On a stratified subset of the train split (default 10,000 images, of which a stratified 10% is
the validation split that every choice uses) and of the test split (2,000, only reported), for a
trained model and the random-init control of the same architecture (seed 0):

1. every residual block's average-pooled activations at every t of the grid, one linear probe each
   (standardise + logistic regression at C = 1, fitted on the 90%): the block x t picture;
2. the paths (all, down, mid, up, down+up) at every t, the same probe;
3. at the best t of "all" (by validation): one noise draw against the image read as it is, the
   image's own z given to the score net against withheld, a 2 x 2 pooling grid against the
   global average;
4. the chosen read with C chosen on validation from the protocol's grid (drlkit.metrics).

    python scripts/denoiser_sweep.py --model cifar10 --dataset cifar10 \
        --json docs/benchmarks/denoiser/sweep-cifar10.json

Writes the JSON (every probe's val and test accuracy, the choices, hardware, wall time); the
figure and tables are drawn from it by scripts/denoiser_tables.py.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

import drlkit
from drlkit.data import load_dataset, stratified_subset
from drlkit.evaluation import random_encoder
from drlkit.metrics import fit_quietly, linear_probe, standardised_logistic, val_split
from drlkit.precision import hardware
from drlkit.preprocess import to_model_input, to_value_range
from drlkit.reads import denoiser_features, denoiser_read

PATHS = {"all": "all", "down": "down", "mid": "mid", "up": "up", "down+up": "down,up"}


def quick_probe(x, y, fit, val, x_test, y_test) -> dict:
    clf = fit_quietly(standardised_logistic(1.0, 1000), x[fit], y[fit])
    return {"val": float(clf.score(x[val], y[val])), "test": float(clf.score(x_test, y_test))}


def columns(model, layers: str) -> np.ndarray:
    """The columns of the all-blocks average-pooled read that `layers` keeps."""
    read = denoiser_read(model, layers="all", pool="avg")
    keep = set(denoiser_read(model, layers=layers).layers)
    widths = model.score_net.block_widths
    starts = np.cumsum([0] + widths)
    return np.concatenate([np.arange(starts[i], starts[i + 1]) for i in read.layers if i in keep])


def noised_read(model, images, t: float, seed: int, batch: int = 64) -> np.ndarray:
    """The all-blocks read of x_t = x0 + std(t) n, one noise draw per image from `seed`."""
    gen = torch.Generator().manual_seed(seed)
    x_all = to_model_input(images, model.config.channels, model.config.image_size)
    noise = torch.randn(x_all.shape, generator=gen)
    read = denoiser_read(model, layers="all", pool="avg", give_z=False)
    out = []
    with torch.inference_mode():
        for s in range(0, len(x_all), batch):
            x = to_value_range(x_all[s:s + batch], model.value_range)
            tb = torch.full((len(x),), t)
            out.append(denoiser_features(model, x, tb, read, noise[s:s + batch]).numpy())
    return np.concatenate(out)


def sweep_model(model, train, test, ts, fit, val, progress) -> dict:
    y, yt = train.labels, test.labels
    kw = dict(features="denoiser", layers="all", pool="avg", give_z=False, progress=progress)
    f_train = model.encode(train.images, t=ts, **kw)  # (N, T, 928)
    f_test = model.encode(test.images, t=ts, **kw)
    widths = model.score_net.block_widths
    starts = np.cumsum([0] + widths)
    blocks, paths = {}, {}
    for j, t in enumerate(ts):
        blocks[t] = [quick_probe(f_train[:, j, starts[i]:starts[i + 1]], y, fit, val,
                                 f_test[:, j, starts[i]:starts[i + 1]], yt)
                     for i in range(len(widths))]
        paths[t] = {name: quick_probe(f_train[:, j][:, columns(model, spec)], y, fit, val,
                                      f_test[:, j][:, columns(model, spec)], yt)
                    for name, spec in PATHS.items()}
        print(f"t={t:g}: all {paths[t]['all']}", flush=True)
    return {"blocks": blocks, "paths": paths, "f_train": f_train, "f_test": f_test}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="cifar10")
    ap.add_argument("--dataset", default="cifar10")
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--train", type=int, default=10000)
    ap.add_argument("--test", type=int, default=2000)
    ap.add_argument("--t", default="0,0.02,0.05,0.1,0.2,0.35,0.5")
    ap.add_argument("--no-control", action="store_true", help="skip the random-init control")
    ap.add_argument("--json", required=True)
    args = ap.parse_args()
    start = time.perf_counter()
    ts = [float(v) for v in args.t.split(",")]
    train = stratified_subset(load_dataset(args.dataset, "train", args.data_root), args.train)
    test = stratified_subset(load_dataset(args.dataset, "test", args.data_root), args.test)
    fit, val = val_split(train.labels)
    model = drlkit.load(args.model)
    y, yt = train.labels, test.labels
    out = {"model": args.model, "dataset": args.dataset, "train": train.source,
           "test": test.source, "t": ts, "groups": model.score_net.block_groups,
           "widths": model.score_net.block_widths, "probe": "standardise + logistic regression, "
           "C = 1, fitted on 90% of the train subset; val = the other 10%"}
    runs = [("trained", model)] + ([] if args.no_control else [("random", random_encoder(model))])
    for name, m in runs:
        res = sweep_model(m, train, test, ts, fit, val, progress=True)
        f_train, f_test = res.pop("f_train"), res.pop("f_test")
        best_j = max(range(len(ts)), key=lambda j: res["paths"][ts[j]]["all"]["val"])
        t_best = ts[best_j]
        best_path = max(PATHS, key=lambda p: res["paths"][t_best][p]["val"])
        res["best_t"], res["best_path"] = t_best, best_path
        options = {"image as it is": res["paths"][t_best]["all"]}
        if name == "trained":
            for seed in (0, 1):
                fn = noised_read(m, train.images, t_best, seed)
                fnt = noised_read(m, test.images, t_best, seed + 100)
                options[f"one noise draw (seed {seed})"] = quick_probe(fn, y, fit, val, fnt, yt)
            kw = dict(t=t_best, features="denoiser", layers="all")
            options["z given to the score net"] = quick_probe(
                m.encode(train.images, give_z=True, **kw), y, fit, val,
                m.encode(test.images, give_z=True, **kw), yt)
            grid_train = m.encode(train.images, pool="grid2", **kw)
            grid_test = m.encode(test.images, pool="grid2", **kw)
            options["2 x 2 grid pooling"] = quick_probe(grid_train, y, fit, val, grid_test, yt)
            print(options, flush=True)
        res["options"] = options
        cols = columns(m, PATHS[best_path])
        res["chosen"] = {"t": t_best, "layers": PATHS[best_path], "pool": "avg",
                         "linear_probe": linear_probe(f_train[:, best_j][:, cols], y,
                                                      f_test[:, best_j][:, cols], yt)}
        out[name] = res
    out["hardware"], out["torch"] = hardware().split(" + ")[-1], torch.__version__
    out["wall_time_s"] = round(time.perf_counter() - start, 1)
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(out, indent=1))
    print(f"wrote {args.json} in {out['wall_time_s']:.0f} s")


if __name__ == "__main__":
    main()
