"""Quickstart: embed images with a shipped model and get a downstream number.

scikit-learn's bundled 8x8 handwritten digits (1,797 images, no download) are images the `mnist`
model never saw, at another resolution: encode them (upscaled to 28x28 by `encode`'s conversion),
then compare a 5-fold cross-validated linear probe on the 128-d codes with one on raw pixels.

    python examples/quickstart.py            # under a minute on 2 CPU cores
    python examples/quickstart.py --fast     # 300 images, 3 folds (what the tests run)
    python examples/quickstart.py --json docs/benchmarks/quickstart.json  # README's figures
"""

import argparse
import json
import platform
import time

import numpy as np
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import drlkit


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="mnist", help="registry name or .safetensors path")
    parser.add_argument("--fast", action="store_true", help="a small subset (for tests)")
    parser.add_argument("--json", help="also write the accuracies here (README's figures)")
    args = parser.parse_args()
    start = time.perf_counter()

    digits = load_digits()
    images = (digits.images / 16 * 255).astype(np.uint8)  # (N, 8, 8) greyscale, 0-255
    labels = digits.target
    n, folds = (300, 3) if args.fast else (len(images), 5)
    images, labels = images[:n], labels[:n]

    model = drlkit.load(args.model)  # sha256-verified
    z = model.encode(images)  # (N, 128) at the model's recommended t
    print(f"codes: {z.shape} at t = {model.recommended_t}")

    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    accuracy = {}
    for name, x in [("DRL code", z), ("raw pixels", images.reshape(n, -1))]:
        accuracy[name] = float(cross_val_score(probe, x, labels, cv=folds).mean())
        print(f"{name:<10} linear probe, {folds}-fold CV accuracy: {accuracy[name]:.4f}")
    if args.json:
        from drlkit.precision import hardware

        result = {"command": "python examples/quickstart.py", "model": args.model, "n": n,
                  "folds": folds, "t": model.recommended_t, "accuracy": accuracy,
                  "wall_time_s": round(time.perf_counter() - start, 1),
                  "hardware": hardware().split(" + ")[-1], "python": platform.python_version()}
        with open(args.json, "w") as f:
            f.write(json.dumps(result, indent=1) + "\n")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
