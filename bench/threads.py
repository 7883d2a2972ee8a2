"""Encode throughput by PyTorch thread count, on a free machine and beside other work (issue 40).

PyTorch starts one intra-op thread per core. When another process keeps a core busy, a thread
that waits for it holds up every parallel region, so all threads wait. This measures
`model.encode` images/s (in-memory uint8 test images, the default batch) with 1, 2, ... threads,
first with the cores free, then beside `--load` busy processes (each a Python loop that keeps one
core busy), which is what a shared machine looks like.

    python bench/threads.py --model cifar10 --json bench/results/threads.json
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os

import torch
from common import environment, rate, write_json

import drlkit
from drlkit.data import load_dataset, stratified_subset


def busy() -> None:
    while True:
        pass


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="cifar10")
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--n", type=int, default=512)
    ap.add_argument("--threads", default=None, help="Default: 1 to the number of cores.")
    ap.add_argument("--load", type=int, default=1, help="Busy processes beside the loaded runs.")
    ap.add_argument("--min-time", type=float, default=3.0)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    cores = os.cpu_count() or 1
    counts = [int(v) for v in args.threads.split(",")] if args.threads else list(
        range(1, cores + 1))
    model = drlkit.load(args.model, device="cpu")
    name = model.card["training"]["dataset"]
    x = stratified_subset(load_dataset(name, "test", args.data_root), args.n, 0, "test").images
    env = environment()
    print(f"# encode by threads: {env['hardware']}; {cores} cores; {args.n} images of {name}")
    rows = []
    for loaded in (False, True):
        procs = []
        if loaded:
            ctx = mp.get_context("spawn")
            procs = [ctx.Process(target=busy, daemon=True) for _ in range(args.load)]
            for p in procs:
                p.start()
        try:
            for n in counts:
                torch.set_num_threads(n)
                ips = rate(lambda: model.encode(x), args.n, args.min_time)
                rows.append({"threads": n, "busy_processes": args.load if loaded else 0,
                             "images_per_s": round(ips, 1)})
                print(f"threads {n}  {'beside ' + str(args.load) + ' busy' if loaded else 'free':14}"
                      f" {ips:8.1f} img/s")
        finally:
            for p in procs:
                p.terminate()
    write_json(args.json, {"model": args.model, "n": args.n, "cores": cores, "environment": env,
                           "rows": rows})


if __name__ == "__main__":
    main()
