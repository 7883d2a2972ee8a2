"""Quickstart: embed images with a shipped model and get a downstream number.

scikit-learn's bundled 8x8 handwritten digits (1,797 images, no download) are images the `mnist`
model never saw, at another resolution: encode them (upscaled to 28x28 by `encode`'s conversion),
then compare a 5-fold cross-validated linear probe on the 128-d codes with one on raw pixels.

    python examples/quickstart.py            # under a minute on 2 CPU cores
    python examples/quickstart.py --fast     # 300 images, 3 folds (what the tests run)
"""

import argparse

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
    args = parser.parse_args()

    digits = load_digits()
    images = (digits.images / 16 * 255).astype(np.uint8)  # (N, 8, 8) greyscale, 0-255
    labels = digits.target
    n, folds = (300, 3) if args.fast else (len(images), 5)
    images, labels = images[:n], labels[:n]

    model = drlkit.load(args.model)  # sha256-verified
    z = model.encode(images)  # (N, 128) at the model's recommended t
    print(f"codes: {z.shape} at t = {model.recommended_t}")

    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    for name, x in [("DRL code", z), ("raw pixels", images.reshape(n, -1))]:
        acc = cross_val_score(probe, x, labels, cv=folds).mean()
        print(f"{name:<10} linear probe, {folds}-fold CV accuracy: {acc:.4f}")


if __name__ == "__main__":
    main()
