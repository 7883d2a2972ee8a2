"""The frozen rows of the fine-tuning study (issue 41, docs/finetune.md): a model's features kept
as they are, scored by the few-label SVC and by label spreading from the same labelled images
that `drlkit finetune --label-draw d` uses (draw d of `drlkit.metrics.few_label` and
`semi_supervised`, seed 0), on the full train split and the lossless test split.

    python scripts/finetune_frozen.py --model cifar10 --features z --labels 100,4000 --draws 3 \
        --json docs/benchmarks/finetune/frozen-cifar10-z.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a source checkout

import drlkit  # noqa: E402
from drlkit.data import load_dataset  # noqa: E402
from drlkit.metrics import few_label, semi_supervised  # noqa: E402
from drlkit.precision import hardware  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--dataset", default=None, help="[default: the model's training dataset]")
    ap.add_argument("--features", default="z", choices=["z", "pooled", "denoiser", "best"])
    ap.add_argument("--labels", default="100,4000", help="comma-separated label counts")
    ap.add_argument("--draws", type=int, default=3)
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--json", required=True)
    args = ap.parse_args()
    start = time.perf_counter()
    model = drlkit.load(args.model)
    dataset = args.dataset or model.card["training"]["dataset"]
    train = load_dataset(dataset, "train", args.data_root)
    test = load_dataset(dataset, "test", args.data_root)
    x_train = model.encode(train.images, features=args.features, progress=True)
    x_test = model.encode(test.images, features=args.features, progress=True)
    x_train, x_test = x_train.reshape(len(x_train), -1), x_test.reshape(len(x_test), -1)
    n_labels = [int(v) for v in args.labels.split(",")]
    out = {"model": args.model, "dataset": dataset, "features": args.features,
           "dim": int(x_train.shape[1]), "n_labels": n_labels, "draws": args.draws}
    out["few_label"] = few_label(x_train, train.labels, x_test, test.labels, n_labels,
                                 n_seeds=args.draws)
    print("few_label", {k: v for k, v in out["few_label"].items() if k.startswith("accuracy_")})
    out["semi_supervised"] = semi_supervised(x_train, train.labels, x_test, test.labels,
                                             n_labels, n_seeds=args.draws)
    print("semi_supervised", {k: v for k, v in out["semi_supervised"].items()
                              if k.startswith("accuracy_")})
    out.update(hardware=hardware(), wall_time_s=round(time.perf_counter() - start, 1))
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
