"""Throughput and peak memory of each read of a model against z's, in one run (issue 39).

For each read ("z" at one t, "pooled", "denoiser" at its default options and on the down path
only, "best"), images/s of `model.encode` on real test images at the default batch (64 on CPU),
fp32 and bf16 autocast, and the ratio to z's images/s in the same precision; then the peak memory
each read adds while it encodes 512 images (the process's peak resident set, measured in a fresh
process per read after loading the model and the images, sampled every millisecond while it
encodes, minus its size before: the activations of a batch, the output, allocator growth).

    python bench/reads.py --model cifar10 --json bench/results/reads-cifar10.json
"""

from __future__ import annotations

import argparse
import gc
import multiprocessing as mp
import os
import threading
import time

import numpy as np
from common import environment, rate, write_json

import drlkit
from drlkit.data import load_dataset, stratified_subset

READS = {"z": {"features": "z"}, "pooled": {"features": "pooled"},
         "denoiser": {"features": "denoiser"},
         "denoiser, down path": {"features": "denoiser", "layers": "down"},
         "best": {"features": "best"}}


def images(model, data_root, n: int) -> np.ndarray:
    name = model.card["training"]["dataset"]
    return stratified_subset(load_dataset(name, "test", data_root), n, 0, "test").images


def rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_memory(model_name: str, data_root: str | None, read: str, n: int, queue) -> None:
    model = drlkit.load(model_name, device="cpu")
    x = images(model, data_root, n)
    gc.collect()
    before, peak, done = rss_mib(), [0.0], threading.Event()

    def sample() -> None:  # the resident set every millisecond while encode runs
        while not done.is_set():
            peak[0] = max(peak[0], rss_mib())
            time.sleep(0.001)

    thread = threading.Thread(target=sample)
    thread.start()
    model.encode(x, **READS[read])
    done.set()
    thread.join()
    queue.put(max(peak[0], rss_mib()) - before)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="cifar10")
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--n", type=int, default=512, help="Images per measurement.")
    ap.add_argument("--min-time", type=float, default=3.0, help="Seconds per measurement.")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    env = environment()
    model = drlkit.load(args.model, device="cpu")
    x = images(model, args.data_root, args.n)
    print(f"# reads of {args.model}: {env['hardware']}; torch threads {env['torch_threads']}; "
          f"{args.n} test images, default batch")
    rows = []
    for precision in ("fp32", "bf16"):
        base = None
        for read, kw in READS.items():
            ips = rate(lambda kw=kw, p=precision: model.encode(x, precision=p, **kw), args.n,
                       args.min_time)
            base = base or ips
            row = {"read": read, "precision": precision, "width": model.feature_dim(
                kw["features"], layers=kw.get("layers")), "images_per_s": round(ips, 1),
                "ratio_to_z": round(ips / base, 3)}
            rows.append(row)
            print(f"{precision:5} {read:20} width {row['width']:5d}  {ips:8.1f} img/s  "
                  f"x{row['ratio_to_z']:.2f} of z")
    ctx = mp.get_context("spawn")
    memory = {}
    for read in READS:
        queue = ctx.Queue()
        proc = ctx.Process(target=peak_memory, args=(args.model, args.data_root, read, args.n,
                                                     queue))
        proc.start()
        memory[read] = round(queue.get(), 1)
        proc.join()
        print(f"peak memory added by {read:20} {memory[read]:7.1f} MiB ({args.n} images, fp32)")
    if args.json:
        write_json(args.json, {"model": args.model, "n": args.n, "environment": env,
                               "throughput": rows, "peak_memory_mib": memory})


if __name__ == "__main__":
    main()
