"""Fine-tuning throughput on this machine (issue 41): training images/s of DRLClassifier's step
for each backbone, fp32 and bf16 autocast, the feature pass over all images before each
laplacenet epoch, and the graph step (kNN + propagation) at the dataset's size, so that the share
of an epoch spent on the graph follows.

The training step is the real one (`drlkit.finetune.Finetuner._step`: augmentation, forward,
weighted cross-entropy, backward, SGD) on real images at batch 64. The graph step is timed on
standardised Gaussian features of the backbone's width: brute-force kNN and 20 conjugate-gradient
iterations per class cost the same whatever the feature values.

    python bench/finetune.py --model cifar10 --json bench/results/finetune-cifar10.json
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import torch
from common import environment, write_json

import drlkit
from drlkit.data import load_dataset
from drlkit.finetune import LABELLED_SHARE, FinetuneNet, Finetuner, FitOptions
from drlkit.graph import propagate
from drlkit.reads import denoiser_read


def measure(model_name: str, backbone: str, precision: str, x: torch.Tensor, steps: int,
            n_all: int, with_graph: bool) -> dict:
    model = drlkit.load(model_name, device="cpu")
    t = denoiser_read(model).t if backbone == "denoiser" else model.recommended_t
    net = FinetuneNet(model, backbone, t, 10)
    codes = np.where(np.arange(len(x)) < len(x) // 10, np.arange(len(x)) % 10, -1)
    opts = FitOptions("laplacenet", 1, 64, 0.03, 5e-4, 0.0, 50, 0)
    amp = torch.bfloat16 if precision == "bf16" else None
    tuner = Finetuner(net, x, codes, 10, opts, torch.device("cpu"), amp, progress=False)
    targets = torch.from_numpy(np.abs(codes) % 10)
    weights = torch.ones(len(x))
    gen = torch.Generator().manual_seed(0)
    net.train()
    idx = [torch.randint(len(x), (64,), generator=gen) for _ in range(steps + 2)]
    for i in idx[:2]:  # warm-up
        tuner._step(i, targets, weights, gen, 1.0, 0)
    start = time.perf_counter()
    for i in idx[2:]:
        tuner._step(i, targets, weights, gen, 1.0, 0)
    train_rate = 64 * steps / (time.perf_counter() - start)
    start = time.perf_counter()
    feats = tuner.extract()
    extract_rate = len(x) / (time.perf_counter() - start)
    out = {"backbone": backbone, "precision": precision, "t": t, "dim": int(feats.shape[1]),
           "train_images_per_s": round(train_rate, 1),
           "feature_pass_images_per_s": round(extract_rate, 1)}
    if with_graph:
        rng = np.random.default_rng(0)
        f = rng.standard_normal((n_all, feats.shape[1]), dtype=np.float32)
        c = np.full(n_all, -1)
        c[:4000] = np.arange(4000) % 10
        start = time.perf_counter()
        propagate(f, c, 10)
        graph_s = time.perf_counter() - start
        out.update(graph_s=round(graph_s, 1), **epoch_estimate(n_all, train_rate, extract_rate,
                                                                graph_s))
    return out


def epoch_estimate(n_all: int, train_rate: float, extract_rate: float, graph_s: float) -> dict:
    """One laplacenet epoch over n_all images at batch 64: ceil(n_all / 48) steps of 64 images
    (a quarter of each batch is labelled images on top of the pass over all images), the feature
    pass over all images and the graph step; the graph share counts the feature pass."""
    train_s = math.ceil(n_all / (64 - 64 // LABELLED_SHARE)) * 64 / train_rate
    feature_s = n_all / extract_rate
    return {"epoch_train_s": round(train_s, 1), "epoch_feature_pass_s": round(feature_s, 1),
            "epoch_s": round(train_s + feature_s + graph_s, 1),
            "graph_share": round((graph_s + feature_s) / (graph_s + feature_s + train_s), 3)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="cifar10")
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--steps", type=int, default=20, help="timed training steps per setting")
    ap.add_argument("--images", type=int, default=2048, help="images of the feature pass")
    ap.add_argument("--graph-n", type=int, default=None,
                    help="points of the timed graph step [default: the train split's size]")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    torch.manual_seed(0)
    model = drlkit.load(args.model, device="cpu")
    train = load_dataset(model.card["training"]["dataset"], "train", args.data_root)
    x = torch.from_numpy(train.images[: args.images]).permute(0, 3, 1, 2).float() / 255
    rows = []
    for backbone in ("encoder", "denoiser"):
        for precision in ("fp32", "bf16"):
            row = measure(args.model, backbone, precision, x, args.steps,
                          args.graph_n or len(train),
                          with_graph=precision == "bf16")
            rows.append(row)
            print(row, flush=True)
    print(f"\n{'backbone':9} {'precision':9} {'train img/s':>11} {'features img/s':>14} "
          f"{'graph s':>8} {'epoch s':>8} {'graph share':>11}")
    for r in rows:
        print(f"{r['backbone']:9} {r['precision']:9} {r['train_images_per_s']:11.1f} "
              f"{r['feature_pass_images_per_s']:14.1f} {r.get('graph_s', float('nan')):8.1f} "
              f"{r.get('epoch_s', float('nan')):8.1f} "
              f"{r.get('graph_share', float('nan')):11.3f}")
    if args.json:
        write_json(args.json, {"model": args.model, "graph_n": args.graph_n or len(train),
                               "steps": args.steps, "rows": rows,
                               "environment": environment()})


if __name__ == "__main__":
    main()
