"""End-to-end `drlkit encode FOLDER` on a generated folder of PNG and JPEG images of mixed sizes
and modes: images/s, its ratio to `model.encode` on the same number of in-memory images, and the
peak memory (resident set of the encode process and its decode workers, sampled every 50 ms) at
each folder size; memory should stay flat in the number of images (the output is streamed into
a .npy memory map).

    python bench/encode_folder.py --sizes 20000,100000 --folder /tmp/drlkit-bench
    python bench/encode_folder.py --sizes 2000 --workers 0,1       # a quick look

Linux only (reads /proc for the memory of the process tree).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from common import environment, rate, write_json
from PIL import Image

import drlkit


def make_folder(root: Path, n: int, seed: int = 0) -> None:
    """n images in 100 sub-folders: PNG and JPEG, 16 to 96 pixels a side, RGB, L and RGBA; reuses
    what a previous run generated."""
    rng = np.random.default_rng(seed)
    have = sum(1 for _ in root.rglob("*.*")) if root.exists() else 0
    if have >= n:
        return
    for i in range(n):
        w, h = rng.integers(16, 97, size=2)
        mode = ("RGB", "L", "RGBA")[i % 3]
        fmt = "png" if i % 2 else "jpg"
        path = root / f"{i % 100:02d}" / f"img{i:06d}.{fmt}"
        if i < have and path.exists():
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        # smooth blobs plus noise: compresses like a photo, not like random bytes
        yy, xx = np.mgrid[0:h, 0:w]
        base = np.sin(xx / rng.uniform(3, 12)) + np.cos(yy / rng.uniform(3, 12))
        pixels = (base[..., None] * 60 + 128 + rng.normal(0, 12, (h, w, 3))).clip(0, 255)
        img = Image.fromarray(pixels.astype(np.uint8), "RGB").convert(mode)
        if fmt == "jpg" and mode == "RGBA":
            img = img.convert("RGB")
        img.save(path, quality=90) if fmt == "jpg" else img.save(path)


def tree_rss(pid: int) -> int:
    """Resident bytes of pid and all its descendants (from /proc)."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
            for tid in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{tid}/children") as f:
                    todo.extend(int(c) for c in f.read().split())
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


def run_encode(folder: Path, out: Path, model: str, batch: int, workers: int,
               precision: str) -> tuple[float, int, int]:
    """(seconds, peak resident bytes of the process tree, rows) of one `drlkit encode` run."""
    cmd = [sys.executable, "-m", "drlkit", "encode", str(folder), "--model", model, "--out",
           str(out), "--batch-size", str(batch), "--workers", str(workers), "--quiet",
           "--precision", precision]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = 0
    while proc.poll() is None:
        peak = max(peak, tree_rss(proc.pid))
        time.sleep(0.05)
    seconds = time.perf_counter() - start
    stdout, stderr = proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(f"drlkit encode failed ({proc.returncode}):\n{stderr}")
    rows = np.load(out, mmap_mode="r").shape[0]
    return seconds, peak, rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="20000,100000", help="Folder sizes to run.")
    ap.add_argument("--folder", default="/tmp/drlkit-bench-folder",
                    help="Where the images are generated (kept for the next run).")
    ap.add_argument("--model", default="mnist")
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--workers", default=None,
                    help="Comma-separated --workers values to compare [default: drlkit's].")
    ap.add_argument("--precision", default="fp32")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    env = environment()
    print(f"# encode a folder end to end: {env['hardware']}")

    model = drlkit.load(args.model)
    c, s = model.config.channels, model.config.image_size
    x = torch.rand(2048, c, s, s)
    in_memory = rate(lambda: model.encode(x, batch_size=args.batch_size,
                                          precision=args.precision), len(x), min_time=3.0)
    print(f"in memory: model.encode of {len(x)} images, batch {args.batch_size}, "
          f"{args.precision}: {in_memory:.0f} img/s")
    from drlkit.files import default_workers

    worker_counts = ([int(w) for w in args.workers.split(",")] if args.workers
                     else [default_workers()])
    result = {"environment": env, "model": args.model, "batch_size": args.batch_size,
              "precision": args.precision, "in_memory_img_s": in_memory, "runs": []}
    print(f"{'images':>8}{'workers':>8}{'seconds':>9}{'img/s':>8}{'of in-memory':>14}"
          f"{'peak RSS MiB':>14}")
    for n in sizes:
        folder = Path(args.folder) / f"n{n}"
        t0 = time.perf_counter()
        make_folder(folder, n)
        gen_s = time.perf_counter() - t0
        if gen_s > 1:
            print(f"(generated {n} images in {gen_s:.0f} s)")
        for w in worker_counts:
            out = Path(args.folder) / f"feats-{n}-{w}.npy"
            seconds, peak, rows = run_encode(folder, out, args.model, args.batch_size, w,
                                             args.precision)
            assert rows == n, f"{rows} rows for {n} images"
            r = n / seconds
            result["runs"].append({"images": n, "workers": w, "seconds": seconds, "img_s": r,
                                   "ratio_in_memory": r / in_memory, "peak_rss_bytes": peak})
            print(f"{n:>8}{w:>8}{seconds:>9.1f}{r:>8.0f}{r / in_memory:>14.1%}"
                  f"{peak / 2**20:>14.0f}")
    runs = result["runs"]
    if len(sizes) > 1:
        for w in worker_counts:
            mine = [r for r in runs if r["workers"] == w]
            ratio = mine[-1]["peak_rss_bytes"] / mine[0]["peak_rss_bytes"]
            print(f"workers {w}: peak memory at {mine[-1]['images']} images is {ratio:.2f}x "
                  f"that at {mine[0]['images']}")
    write_json(args.json, result)


if __name__ == "__main__":
    main()
