"""Downstream evaluation on (features, labels): the linear probe of the model cards.

Protocol: standardise features, LogisticRegression (lbfgs, multinomial); C chosen from a grid on a
stratified validation split of the *train* features only, then refit on all train features with
that C and scored once on test. Test labels never influence any choice.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

C_GRID = (0.01, 0.1, 1.0, 10.0)


def standardised_logistic(c: float, max_iter: int) -> Pipeline:
    return make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=max_iter))


def fit_quietly(model: Pipeline, x: np.ndarray, y: np.ndarray) -> Pipeline:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(x, y)


def select_c(x: np.ndarray, y: np.ndarray, c_grid: Sequence[float] = C_GRID,
             val_fraction: float = 0.1, seed: int = 0, max_iter: int = 1000) -> dict:
    """Validation accuracy of each C on a stratified split of the train features."""
    x_fit, x_val, y_fit, y_val = train_test_split(
        x, y, test_size=val_fraction, stratify=y, random_state=seed)
    scores = {}
    for c in c_grid:
        clf = fit_quietly(standardised_logistic(c, max_iter), x_fit, y_fit)
        scores[float(c)] = float(clf.score(x_val, y_val))
    best = max(scores, key=lambda c: (scores[c], -c))  # ties: the stronger regularisation
    return {"val_accuracy_by_C": scores, "C": best, "val_accuracy": scores[best]}


def linear_probe(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray,
                 c_grid: Sequence[float] = C_GRID, val_fraction: float = 0.1, seed: int = 0,
                 max_iter: int = 1000) -> dict:
    """Standardise + LogisticRegression with C chosen on a validation split of train.

    Args:
        x_train, x_test: features (N, D) (flattened if more dims).
        y_train, y_test: integer labels (N,).

    Returns:
        {"accuracy": test accuracy, "C": chosen C, "val_accuracy": ..., "val_accuracy_by_C": ...}
    """
    x_train = np.asarray(x_train, dtype=np.float32).reshape(len(x_train), -1)
    x_test = np.asarray(x_test, dtype=np.float32).reshape(len(x_test), -1)
    sel = select_c(x_train, y_train, c_grid, val_fraction, seed, max_iter)
    final = fit_quietly(standardised_logistic(sel["C"], max_iter), x_train, y_train)
    return {"accuracy": float(final.score(x_test, y_test)), **sel}


def probe_model(model, train_images: np.ndarray, y_train: np.ndarray, test_images: np.ndarray,
                y_test: np.ndarray, ts: Sequence[float], batch_size: int = 500, seed: int = 0,
                progress: bool = False) -> dict:
    """Linear probe of a model's code at each t; the recommended t is the best on validation.

    Returns {"by_t": {t: probe dict}, "recommended_t": t, "linear_probe": probe dict at that t}.
    Test accuracy is reported for every t, but only validation accuracy picks t (and C).
    """
    ts = list(ts) if model.config.t_conditioned else [model.recommended_t]
    z_train = model.encode(train_images, t=ts, batch_size=batch_size, progress=progress)
    z_test = model.encode(test_images, t=ts, batch_size=batch_size, progress=progress)
    by_t = {}
    for j, t in enumerate(ts):
        by_t[float(t)] = linear_probe(z_train[:, j], y_train, z_test[:, j], y_test, seed=seed)
    best_t = max(by_t, key=lambda t: by_t[t]["val_accuracy"])
    return {"by_t": by_t, "recommended_t": best_t, "linear_probe": by_t[best_t]}


def pixel_probe(train_images: np.ndarray, y_train: np.ndarray, test_images: np.ndarray,
                y_test: np.ndarray, seed: int = 0) -> dict:
    """The raw-pixel baseline under the same protocol (pixels scaled to [0, 1], flattened)."""
    return linear_probe(train_images.reshape(len(train_images), -1) / 255.0, y_train,
                        test_images.reshape(len(test_images), -1) / 255.0, y_test, seed=seed)
