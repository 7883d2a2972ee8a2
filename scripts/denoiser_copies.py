"""Why does `cifar10-cpu` (640k images, lossless PNG copy, batch 64) read better than the shipped
`cifar10` (1.66M images, lossy JPEG copy, batch 256)? One cause the two cards allow: the GPU run's
denoiser learned JPEG images and is read on lossless ones. This reads both models' denoiser
(at each card's t) on the same stratified subset of both copies of CIFAR-10, train and test
alike, and probes each (docs/evaluation.md's linear probe: C chosen on a 10% validation split of
the train subset). If the JPEG-trained model gains on JPEG input while the PNG-trained one does
not, the mismatch costs the shipped model part of its read.

    python scripts/denoiser_copies.py --json docs/benchmarks/denoiser/copies.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a source checkout

import drlkit  # noqa: E402
from drlkit.data import load_cifar10, stratified_subset  # noqa: E402
from drlkit.metrics import linear_probe  # noqa: E402
from drlkit.precision import hardware  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="cifar10,cifar10-cpu")
    ap.add_argument("--train", type=int, default=10000)
    ap.add_argument("--test", type=int, default=2000)
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--json", required=True)
    args = ap.parse_args()
    start = time.perf_counter()
    data = {}
    for copy in ("png", "jpeg"):
        data[copy] = (stratified_subset(load_cifar10("train", args.data_root, copy), args.train,
                                        0, "train"),
                      stratified_subset(load_cifar10("test", args.data_root, copy), args.test,
                                        0, "test"))
    out = {"train": args.train, "test": args.test, "protocol": "docs/evaluation.md linear probe",
           "results": {}}
    for name in args.models.split(","):
        model = drlkit.load(name)
        out["results"][name] = {"data": model.card["data"]}
        for copy, (train, test) in data.items():
            x_train = model.encode(train.images, features="denoiser", progress=True)
            x_test = model.encode(test.images, features="denoiser", progress=True)
            lp = linear_probe(x_train, train.labels, x_test, test.labels)
            out["results"][name][copy] = {"test": lp["accuracy"], "val": lp["val_accuracy"],
                                          "C": lp["C"]}
            print(name, copy, out["results"][name][copy], flush=True)
    out.update(hardware=hardware(), wall_time_s=round(time.perf_counter() - start, 1))
    Path(args.json).write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
