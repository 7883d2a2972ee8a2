"""How much of the test set label spreading reaches from n labels, for a model's code at one t.

The `semi_supervised` metric counts test points that no spread label reaches as wrong. On very
low-dimensional codes (mnist-2d), the kNN graph on the unit sphere is close to a chain, and most
points stay unreached: this prints the fraction, and the accuracy among the reached points.

    python scripts/spreading_reach.py mnist-2d --dataset mnist --t 0.7 --data-root ../shared/data
"""

import argparse
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import normalize
from sklearn.semi_supervised import LabelSpreading

import drlkit
from drlkit.data import load_dataset
from drlkit.graph import KnnGraphKernel, spread_predictions
from drlkit.metrics import VAL_FRACTION, balanced_subset, val_split


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--data-root", default=None)
    parser.add_argument("--t", type=float, default=0.7)
    parser.add_argument("--labels", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0, help="label draw, as in semi_supervised")
    args = parser.parse_args()

    train = load_dataset(args.dataset, "train", args.data_root)
    test = load_dataset(args.dataset, "test", args.data_root)
    model = drlkit.load(args.model)
    z_train = normalize(model.encode(train.images, t=args.t))  # as semi_supervised does (cosine)
    z_test = normalize(model.encode(test.images, t=args.t))
    kernel = KnnGraphKernel(z_train, 10)
    pool, _ = val_split(train.labels, VAL_FRACTION, 0)
    partial = np.full(len(train.labels), -1)
    rng = np.random.default_rng([0, args.labels, args.seed])  # semi_supervised's first draw
    idx = balanced_subset(train.labels, pool, args.labels, rng)
    partial[idx] = train.labels[idx]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        spread = LabelSpreading(kernel=kernel, alpha=0.2, max_iter=30).fit(z_train, partial)
    pred = spread_predictions(kernel(z_train, z_test).T.tocsr() @ spread.label_distributions_)
    reached = pred >= 0
    print(f"unreached test points: {1 - reached.mean():.1%}; accuracy among the reached: "
          f"{(pred[reached] == test.labels[reached]).mean():.1%}; "
          f"accuracy as the metric counts it: {(pred == test.labels).mean():.1%}")


if __name__ == "__main__":
    main()
