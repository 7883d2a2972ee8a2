"""Downstream metrics on (features, labels), each returning a plain dict (DESIGN §3).

Every metric takes train features/labels and test features/labels and returns a plain dict. Each
headline score `k` comes with `val_k`, the same score on a stratified 10% validation split of
train (never used for fitting where that matters: it is held out of the probe fits and label draws):
this is what `t_sweep` uses to choose t, so test labels never influence a choice of t or of a
hyperparameter. The protocol, precisely (docs/evaluation.md):

- `linear_probe`: standardise, LogisticRegression (lbfgs); C from `C_GRID` by accuracy on a 10%
  stratified validation split of train; refit on all of train with that C; scored once on test.
- `knn_probe`: k = 20 nearest train points by cosine similarity, majority vote.
- `cluster`: k-means (k = number of classes, 10 restarts) fitted on the train features; the test
  points' clusters against their labels: NMI, ARI and accuracy under the best one-to-one
  (Hungarian) matching of clusters to classes.
- `few_label`: the paper's protocol: sklearn `SVC()` with default hyperparameters trained on 100 and
  on 1000 class-balanced labelled train images (drawn outside the validation split); mean and std
  of test accuracy over 5 draws.
- `semi_supervised`: label spreading (sklearn `LabelSpreading`, alpha 0.2, 30 iterations) over the
  symmetrised 10-nearest-neighbour graph (cosine) of all train features, from 100 / 1000
  class-balanced labels; each test point takes the class with the most spread mass among its 10
  nearest train points; 5 draws.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.cluster import KMeans
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
from sklearn.metrics.cluster import contingency_matrix
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler, normalize
from sklearn.semi_supervised import LabelSpreading
from sklearn.svm import SVC

from drlkit.graph import KnnGraphKernel, spread_predictions

C_GRID = (0.01, 0.1, 1.0, 10.0)
VAL_FRACTION = 0.1


# --------------------------------------------------------------------------- input checks, splits


def _features(x: Any, name: str) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    if x.ndim < 1 or len(x) == 0:
        raise ValueError(f"{name}: expected a non-empty array (N, D), got shape {x.shape}")
    x = x.reshape(len(x), -1)
    if not np.isfinite(x).all():
        raise ValueError(f"{name}: features must be finite (found NaN or inf)")
    return x


def _labels(y: Any, n: int, name: str) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1 or len(y) != n:
        raise ValueError(f"{name}: expected {n} labels (N,), got shape {y.shape}")
    return y


def _check(x_train, y_train, x_test, y_test) -> tuple[np.ndarray, ...]:
    x_train, x_test = _features(x_train, "x_train"), _features(x_test, "x_test")
    if x_train.shape[1] != x_test.shape[1]:
        raise ValueError(f"x_train has {x_train.shape[1]} features but x_test has {x_test.shape[1]}")
    y_train = _labels(y_train, len(x_train), "y_train")
    y_test = _labels(y_test, len(x_test), "y_test")
    if len(np.unique(y_train)) < 2:
        raise ValueError("y_train: need at least two classes")
    return x_train, y_train, x_test, y_test


def val_split(y: np.ndarray, val_fraction: float = VAL_FRACTION, seed: int = 0
              ) -> tuple[np.ndarray, np.ndarray]:
    """Indices (fit, val) of a stratified split of the train labels `y`."""
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must lie in (0, 1), got {val_fraction}")
    idx = np.arange(len(y))
    _, counts = np.unique(y, return_counts=True)
    stratify = y if counts.min() >= 2 else None
    fit, val = train_test_split(idx, test_size=val_fraction, stratify=stratify, random_state=seed)
    return fit, val


def balanced_subset(y: np.ndarray, pool: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """`n` indices from `pool`, as equal a share per class as n allows (the first classes get the
    remainder); raises ValueError if a class has too few examples in the pool."""
    classes = np.unique(y)
    if n < len(classes):
        raise ValueError(f"{n} labels cannot cover {len(classes)} classes")
    share = np.full(len(classes), n // len(classes))
    share[: n % len(classes)] += 1
    picked = []
    for c, m in zip(classes, share, strict=True):
        members = pool[y[pool] == c]
        if len(members) < m:
            raise ValueError(f"class {np.asarray(c).item()!r} has {len(members)} examples outside "
                             f"the validation split, fewer than the {m} that {n} balanced labels "
                             "need")
        picked.append(rng.choice(members, size=m, replace=False))
    return np.sort(np.concatenate(picked))


def _feasible(n_labels: Sequence[int], y: np.ndarray, pool: np.ndarray, out: dict) -> list[int]:
    """The label counts that `balanced_subset` can draw from `pool`; the others are recorded in
    `out` as "skipped_n" with the reason (small datasets), and none feasible is an error."""
    ok = []
    for n in n_labels:
        try:
            balanced_subset(y, pool, n, np.random.default_rng(0))
            ok.append(n)
        except ValueError as e:
            out[f"skipped_{n}"] = str(e)
    if not ok:
        raise ValueError(f"no label count in {list(n_labels)} fits this data: "
                         + "; ".join(out[f"skipped_{n}"] for n in n_labels))
    return ok


def _accuracy(pred: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(pred == y))


def _mean_std(prefix: str, n: int, test: list[float], val: list[float]) -> dict[str, Any]:
    return {f"{prefix}_{n}": float(np.mean(test)), f"std_{n}": float(np.std(test)),
            f"val_{prefix}_{n}": float(np.mean(val)), f"accuracies_{n}": [float(a) for a in test]}


# --------------------------------------------------------------------------- linear probe


def standardised_logistic(c: float, max_iter: int) -> Pipeline:
    return make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=max_iter))


def fit_quietly(model, x: np.ndarray, y: np.ndarray):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(x, y)


def select_c(x: np.ndarray, y: np.ndarray, c_grid: Sequence[float] = C_GRID,
             val_fraction: float = VAL_FRACTION, seed: int = 0, max_iter: int = 1000) -> dict:
    """Validation accuracy of each C on a stratified split of the train features."""
    fit, val = val_split(y, val_fraction, seed)
    scores = {}
    for c in c_grid:
        clf = fit_quietly(standardised_logistic(c, max_iter), x[fit], y[fit])
        scores[float(c)] = float(clf.score(x[val], y[val]))
    best = max(scores, key=lambda c: (scores[c], -c))  # ties: the stronger regularisation
    return {"val_accuracy_by_C": scores, "C": best, "val_accuracy": scores[best]}


def linear_probe(x_train, y_train, x_test, y_test, c_grid: Sequence[float] = C_GRID,
                 val_fraction: float = VAL_FRACTION, seed: int = 0, max_iter: int = 1000) -> dict:
    """Standardise + LogisticRegression with C chosen on a validation split of train.

    Args:
        x_train: train features (N, D) (flattened if more dims).
        y_train: train labels (N,).
        x_test: test features (M, D).
        y_test: test labels (M,).

    Returns:
        {"accuracy": test accuracy, "val_accuracy": at the chosen C, "C", "val_accuracy_by_C"}
    """
    x_train, y_train, x_test, y_test = _check(x_train, y_train, x_test, y_test)
    sel = select_c(x_train, y_train, c_grid, val_fraction, seed, max_iter)
    final = fit_quietly(standardised_logistic(sel["C"], max_iter), x_train, y_train)
    return {"accuracy": float(final.score(x_test, y_test)), **sel}


# --------------------------------------------------------------------------- kNN probe


def knn_probe(x_train, y_train, x_test, y_test, k: int = 20, val_fraction: float = VAL_FRACTION,
              seed: int = 0) -> dict:
    """k-nearest-neighbour classifier (cosine similarity, majority vote) on the train features.

    Returns {"accuracy", "val_accuracy" (fit on the rest of train), "k", "metric"}.
    """
    x_train, y_train, x_test, y_test = _check(x_train, y_train, x_test, y_test)
    fit, val = val_split(y_train, val_fraction, seed)
    if k > len(fit):
        raise ValueError(f"k={k} neighbours but only {len(fit)} train points outside validation")

    def knn() -> KNeighborsClassifier:
        return KNeighborsClassifier(n_neighbors=k, metric="cosine", algorithm="brute")

    val_acc = knn().fit(x_train[fit], y_train[fit]).score(x_train[val], y_train[val])
    acc = knn().fit(x_train, y_train).score(x_test, y_test)
    return {"accuracy": float(acc), "val_accuracy": float(val_acc), "k": k, "metric": "cosine"}


# --------------------------------------------------------------------------- clustering


def hungarian_accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Accuracy under the best one-to-one matching of predicted clusters to true classes."""
    c = contingency_matrix(y_true, y_pred)
    rows, cols = linear_sum_assignment(-c)
    return float(c[rows, cols].sum() / len(y_true))


def _cluster_scores(y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    return {"nmi": float(normalized_mutual_info_score(y, pred)),
            "ari": float(adjusted_rand_score(y, pred)),
            "accuracy": hungarian_accuracy(y, pred)}


def cluster(x_train, y_train, x_test=None, y_test=None, n_clusters: int | None = None,
            n_init: int = 10, val_fraction: float = VAL_FRACTION, seed: int = 0) -> dict:
    """k-means on the train features (labels unused for fitting), scored against class labels.

    With x_test/y_test the test points' nearest clusters are scored; without them the train
    points' own clusters are. k defaults to the number of classes in y_train.

    Returns {"nmi", "ari", "accuracy" (Hungarian-matched), the same with "val_" (the validation
    split of train), "n_clusters"}.
    """
    if (x_test is None) != (y_test is None):
        raise ValueError("pass both x_test and y_test, or neither")
    x_train, y_train, x_test, y_test = _check(x_train, y_train,
                                              x_train if x_test is None else x_test,
                                              y_train if y_test is None else y_test)
    k = int(n_clusters or len(np.unique(y_train)))
    if not 2 <= k <= len(x_train):
        raise ValueError(f"n_clusters={k}: need 2 <= k <= {len(x_train)} train points")
    km = KMeans(n_clusters=k, n_init=n_init, random_state=seed).fit(x_train)
    _, val = val_split(y_train, val_fraction, seed)
    out = _cluster_scores(y_test, km.predict(x_test))
    out.update({f"val_{k_}": v for k_, v in _cluster_scores(y_train[val], km.labels_[val]).items()})
    return {**out, "n_clusters": k}


# --------------------------------------------------------------------------- few labels


def few_label(x_train, y_train, x_test, y_test, n_labels: Sequence[int] = (100, 1000),
              n_seeds: int = 5, val_fraction: float = VAL_FRACTION, seed: int = 0) -> dict:
    """The paper's few-label protocol: `SVC()` (default hyperparameters) on n class-balanced
    labelled train points, for each n in `n_labels`, over `n_seeds` draws.

    Returns, for each n: "accuracy_n" (mean test accuracy), "std_n", "accuracies_n" (each draw),
    "val_accuracy_n" (mean accuracy on the validation split of train, which no draw uses).
    """
    x_train, y_train, x_test, y_test = _check(x_train, y_train, x_test, y_test)
    pool, val = val_split(y_train, val_fraction, seed)
    out: dict[str, Any] = {"classifier": "SVC()", "n_seeds": n_seeds}
    for n in _feasible(n_labels, y_train, pool, out):
        test, val_acc = [], []
        for s in range(n_seeds):
            idx = balanced_subset(y_train, pool, n, np.random.default_rng([seed, n, s]))
            clf = SVC().fit(x_train[idx], y_train[idx])
            test.append(_accuracy(clf.predict(x_test), y_test))
            val_acc.append(_accuracy(clf.predict(x_train[val]), y_train[val]))
        out.update(_mean_std("accuracy", n, test, val_acc))
    return out


# --------------------------------------------------------------------------- label spreading


def semi_supervised(x_train, y_train, x_test, y_test, n_labels: Sequence[int] = (100, 1000),
                    n_seeds: int = 5, k: int = 10, alpha: float = 0.2,
                    val_fraction: float = VAL_FRACTION, seed: int = 0) -> dict:
    """Label spreading over the kNN graph (cosine) of all train features from n class-balanced
    labels, for each n in `n_labels`, over `n_seeds` draws; each test point takes the class with
    the most spread mass among its k nearest train points.

    Returns, for each n: "accuracy_n" (mean test accuracy), "std_n", "accuracies_n", and
    "val_accuracy_n" (the spread labels of the validation split of train, left unlabelled).
    """
    x_train, y_train, x_test, y_test = _check(x_train, y_train, x_test, y_test)
    x_train, x_test = normalize(x_train), normalize(x_test)  # Euclidean on the sphere = cosine
    classes, codes = np.unique(y_train, return_inverse=True)
    pos = np.clip(np.searchsorted(classes, y_test), 0, len(classes) - 1)
    test_codes = np.where(classes[pos] == y_test, pos, -2)  # -2: a class train never had
    pool, val = val_split(y_train, val_fraction, seed)
    kernel = KnnGraphKernel(x_train, k)
    to_test = kernel(x_train, x_test).T.tocsr()  # (n_test, n_train): each test point's neighbours
    out: dict[str, Any] = {"k": k, "alpha": alpha, "n_seeds": n_seeds}
    for n in _feasible(n_labels, y_train, pool, out):
        test, val_acc = [], []
        for s in range(n_seeds):
            partial = np.full(len(y_train), -1, dtype=np.int64)
            idx = balanced_subset(y_train, pool, n, np.random.default_rng([seed, n, s]))
            partial[idx] = codes[idx]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                ls = LabelSpreading(kernel=kernel, alpha=alpha, max_iter=30).fit(x_train, partial)
            dist = ls.label_distributions_
            test.append(_accuracy(spread_predictions(to_test @ dist), test_codes))
            val_acc.append(_accuracy(spread_predictions(dist[val]), codes[val]))
        out.update(_mean_std("accuracy", n, test, val_acc))
    return out


# --------------------------------------------------------------------------- the metric table

METRICS: dict[str, Callable[..., dict]] = {
    "linear_probe": linear_probe,
    "knn_probe": knn_probe,
    "cluster": cluster,
    "few_label": few_label,
    "semi_supervised": semi_supervised,
}

# Short column names for tables: (metric, result key) -> name.
SCORE_NAMES = {("linear_probe", "accuracy"): "linear", ("knn_probe", "accuracy"): "knn",
               ("cluster", "nmi"): "nmi", ("cluster", "ari"): "ari",
               ("cluster", "accuracy"): "cluster_acc"}


def parse_metrics(names: str | Sequence[str] | None) -> list[str]:
    """'linear_probe,knn_probe' or a list (hyphens allowed) -> validated metric names."""
    if names is None:
        return list(METRICS)
    if isinstance(names, str):
        names = [n for n in names.split(",") if n.strip()]
    out = [n.strip().replace("-", "_") for n in names]
    bad = [n for n in out if n not in METRICS]
    if bad or not out:
        raise ValueError(f"unknown metric(s) {bad}; choose from {', '.join(METRICS)}")
    return out


def scores(metric: str, result: dict) -> dict[str, tuple[float, float]]:
    """The headline scores of one metric result: {name: (test, val)} for every key k with val_k."""
    out = {}
    for key, value in result.items():
        if f"val_{key}" in result and not key.startswith("val_"):
            name = SCORE_NAMES.get((metric, key), f"{metric}_{key.removeprefix('accuracy_')}")
            out[name] = (float(value), float(result[f"val_{key}"]))
    return out
