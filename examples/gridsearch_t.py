"""t is a hyperparameter: a scikit-learn Pipeline with `DRLTransformer`, tuned by GridSearchCV.

The pipeline maps images to DRL codes at time t, standardises them and fits a logistic
regression; GridSearchCV picks t (and C) by cross-validation on the training split, and the test
split is scored once. Data: scikit-learn's 8x8 digits (no download).

    python examples/gridsearch_t.py
    python examples/gridsearch_t.py --fast   # fewer images and candidates (what the tests run)
"""

import argparse

import numpy as np
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import drlkit


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="mnist", help="registry name or .safetensors path")
    parser.add_argument("--fast", action="store_true", help="a small subset (for tests)")
    args = parser.parse_args()

    digits = load_digits()
    images = (digits.images / 16 * 255).astype(np.uint8)
    n = 400 if args.fast else len(images)
    x_train, x_test, y_train, y_test = train_test_split(
        images[:n], digits.target[:n], test_size=0.25, stratify=digits.target[:n], random_state=0)

    pipe = make_pipeline(drlkit.DRLTransformer(model=args.model), StandardScaler(),
                         LogisticRegression(max_iter=2000))
    grid = {"drltransformer__t": [0.3, 0.9] if args.fast else [0.1, 0.3, 0.5, 0.7, 0.9],
            "logisticregression__C": [0.1, 1.0] if args.fast else [0.01, 0.1, 1.0, 10.0]}
    search = GridSearchCV(pipe, grid, cv=3).fit(x_train, y_train)

    results = search.cv_results_
    for params, score in zip(results["params"], results["mean_test_score"], strict=True):
        print(f"t = {params['drltransformer__t']:.1f}  C = {params['logisticregression__C']:<5}"
              f"  CV accuracy {score:.4f}")
    best = search.best_params_
    print(f"best: t = {best['drltransformer__t']}, C = {best['logisticregression__C']}; "
          f"test accuracy {search.score(x_test, y_test):.4f}")


if __name__ == "__main__":
    main()
