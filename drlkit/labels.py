"""Labels for few-label learning: scikit-learn's semi-supervised convention (-1 marks an unlabelled
image; int labels, or strings in an object array) checked and turned into class codes, and the
few-label protocol's label draws (docs/evaluation.md)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def draw_labels(labels: np.ndarray, n: int, draw: int = 0) -> np.ndarray:
    """The few-label protocol's labels: `labels` with all but n class-balanced ones set to -1,
    drawn outside the validation split of docs/evaluation.md. Draw d is the one that
    `drlkit.metrics.few_label` and `semi_supervised` (seed 0) use in their d-th run, so the
    frozen rows and a fine-tuning see the same labels."""
    from drlkit.metrics import balanced_subset, val_split

    labels = np.asarray(labels)
    pool, _ = val_split(labels)
    picked = balanced_subset(labels, pool, n, np.random.default_rng([0, n, draw]))
    y = np.full(len(labels), -1, dtype=np.int64)
    y[picked] = labels[picked]
    return y


def encode_labels(y: Any) -> tuple[np.ndarray, np.ndarray]:
    """(classes, codes): the labelled classes (sorted ints, or strings as an object array) and
    each image's class code, -1 where unlabelled. ValueError for anything else."""
    if y is None:
        raise ValueError("DRLClassifier requires y to be passed, but the target y is None "
                         "(use -1 for unlabelled images)")
    y = np.asarray(y, dtype=object if _has_str(y) else None)
    if y.dtype.kind == "c":
        raise ValueError("Complex data not supported: y must hold integer or string labels")
    if y.ndim != 1:
        raise ValueError(f"y: expected a 1-D array of labels, got shape {y.shape}")
    if y.dtype.kind in "US":
        raise ValueError("y has a string dtype: pass string labels as an object array, with the "
                         "integer -1 for unlabelled images (as LabelSpreading takes them)")
    if y.dtype.kind == "O":
        unlabelled = np.array([_is_minus_one(v) for v in y], dtype=bool)
        values = y[~unlabelled]
        kinds = {("str" if isinstance(v, str) else "int" if _is_int(v) else "other")
                 for v in values}
        if "other" in kinds or len(kinds) > 1:
            bad = next(v for v in values if not isinstance(v, str))
            raise ValueError(f"y: labels must be integers or strings (-1 for unlabelled), and of "
                             f"one kind; got {bad!r}")
        if kinds == {"int"}:
            y = np.array([int(v) for v in y], dtype=np.int64)
    elif y.dtype.kind == "f":
        if not np.isfinite(y).all() or not np.all(y == np.round(y)):
            bad = next(v for v in y if not (np.isfinite(v) and v == round(v)))
            raise ValueError(f"Unknown label type: continuous. y: labels must be integers or "
                             f"strings (-1 for unlabelled), got {bad}")
        y = y.astype(np.int64)
    elif y.dtype.kind not in "iub":
        raise ValueError(f"y: labels must be integers or strings, got dtype {y.dtype}")
    if y.dtype.kind != "O":
        y = y.astype(np.int64)
        unlabelled = y == -1
    labelled = y[~unlabelled]
    if len(labelled) == 0:
        raise ValueError("y: every image is unlabelled (-1); fit needs labelled images")
    classes = np.array(sorted(set(labelled.tolist())), dtype=y.dtype)
    if len(classes) < 2:
        raise ValueError(f"y: the labelled images are all of one class ({classes[0]!r}); fit "
                         "needs at least two")
    codes = np.full(len(y), -1, dtype=np.int64)
    lookup = {c: i for i, c in enumerate(classes.tolist())}
    codes[~unlabelled] = [lookup[v] for v in labelled.tolist()]
    return classes, codes


def encode_known(y_true: Any, classes: np.ndarray, n: int) -> np.ndarray:
    """True labels -> class codes for monitoring; -1 where unknown or of an unseen class."""
    y_true = np.asarray(y_true, dtype=object)
    if y_true.shape != (n,):
        raise ValueError(f"y_true: expected {n} labels, got shape {y_true.shape}")
    lookup = {c: i for i, c in enumerate(classes.tolist())}
    return np.array([lookup.get(v.item() if hasattr(v, "item") else v, -1) for v in y_true],
                    dtype=np.int64)


def _has_str(y: Any) -> bool:
    return isinstance(y, Sequence) and not isinstance(y, str) and any(isinstance(v, str) for v in y)


def _is_int(v: Any) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def _is_minus_one(v: Any) -> bool:
    return _is_int(v) and int(v) == -1
