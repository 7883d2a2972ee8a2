"""The t-sweep, the baselines and the report of `drlkit eval` (DESIGN §3; protocol in
docs/evaluation.md).

`t_sweep` runs every metric of `drlkit.metrics` on the code at each t of a grid and on the
concatenated multi-t code, and chooses the best t per metric on validation scores only.
`evaluate_model` adds the baselines under the same protocol: raw pixels, and a randomly
initialised encoder of the model's architecture, and returns the complete report (its tables:
drlkit.reports).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from drlkit.metrics import METRICS, parse_metrics, scores

if TYPE_CHECKING:
    from drlkit.data import ImageDataset
    from drlkit.model import DRLModel


def evaluate_features(x_train, y_train, x_test, y_test, metrics: Sequence[str] | None = None,
                      seed: int = 0, metric_kwargs: dict[str, dict] | None = None,
                      bar=None) -> dict:
    """Run `metrics` (default: all) on one representation.

    Returns {"metrics": {metric: result dict}, "scores": {name: {"test", "val"}}}.
    """
    results, flat = {}, {}
    for m in parse_metrics(metrics):
        if bar is not None:
            bar.set_postfix_str(m)
        results[m] = METRICS[m](x_train, y_train, x_test, y_test, seed=seed,
                                **(metric_kwargs or {}).get(m, {}))
        flat.update({k: {"test": te, "val": va} for k, (te, va) in scores(m, results[m]).items()})
        if bar is not None:
            bar.update(1)
    return {"metrics": results, "scores": flat}


def t_sweep(z_train, y_train, z_test, y_test, ts: Sequence[float],
            metrics: Sequence[str] | None = None, multi_t: bool = True, seed: int = 0,
            metric_kwargs: dict[str, dict] | None = None, progress: bool = False,
            desc: str = "t-sweep") -> dict:
    """Every metric at every t, and on the concatenated multi-t code; best t chosen on validation.

    Args:
        z_train: train codes (N, T, D), e.g. `model.encode(images, t=ts)`.
        y_train: train labels (N,).
        z_test: test codes (M, T, D).
        y_test: test labels (M,).
        ts: the T times, in the order of axis 1.
        multi_t: also evaluate the concatenation over all T times, (N, T*D).

    Returns:
        {"t": ts, "by_t": {t: evaluate_features result}, "multi_t": result (if multi_t and
        T > 1), "best": {score: {"t": chosen by val, "test": test at that t, "val": ...}}}.
        Test scores are reported at every t, but only validation scores choose t.
    """
    z_train, z_test = np.asarray(z_train), np.asarray(z_test)
    ts = [float(t) for t in ts]
    if z_train.ndim != 3 or z_test.ndim != 3 or z_train.shape[1] != len(ts) \
            or z_test.shape[1] != len(ts):
        raise ValueError(f"expected codes (N, {len(ts)}, D) for {len(ts)} times, got "
                         f"{z_train.shape} and {z_test.shape}")
    if len(set(ts)) != len(ts):
        raise ValueError(f"times must be distinct, got {ts}")
    names = parse_metrics(metrics)
    do_multi = multi_t and len(ts) > 1
    from drlkit.progress import tqdm

    with tqdm(total=len(names) * (len(ts) + do_multi), desc=desc, unit="metric",
              disable=not progress) as bar:
        by_t = {}
        for j, t in enumerate(ts):
            bar.set_description(f"{desc} t={t:g}")
            by_t[t] = evaluate_features(z_train[:, j], y_train, z_test[:, j], y_test, names, seed,
                                        metric_kwargs, bar)
        out: dict[str, Any] = {"t": ts, "by_t": by_t}
        if do_multi:
            bar.set_description(f"{desc} multi-t")
            out["multi_t"] = evaluate_features(z_train.reshape(len(z_train), -1), y_train,
                                               z_test.reshape(len(z_test), -1), y_test, names,
                                               seed, metric_kwargs, bar)
    out["best"] = select_best_t(by_t)
    return out


def select_best_t(by_t: dict[float, dict]) -> dict[str, dict[str, float]]:
    """For each score, the t with the highest validation value (ties: the earlier t in the grid)."""
    best = {}
    for name in next(iter(by_t.values()))["scores"]:
        t = max(by_t, key=lambda t_: by_t[t_]["scores"][name]["val"])
        best[name] = {"t": t, **by_t[t]["scores"][name]}
    return best


# --------------------------------------------------------------------------- models and baselines


def random_encoder(model: DRLModel, seed: int = 0) -> DRLModel:
    """A freshly initialised model of the same architecture (the random-features baseline)."""
    import torch

    from drlkit.model import DRLModel

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        # read as the trained model is: the same recommended t, denoiser read and best parts
        card = {k: model.card[k] for k in ("recommended_t", "reads") if k in model.card}
        rnd = DRLModel(model.config, card={"recommended_t": model.recommended_t, **card})
    return rnd.to(model.device).eval()


def pixel_features(images: np.ndarray) -> np.ndarray:
    """Raw pixels scaled to [0, 1] and flattened: the pixel baseline's features."""
    return images.reshape(len(images), -1).astype(np.float32) / 255.0


def evaluate_code(x_train, y_train, x_test, y_test, metrics: Sequence[str] | None = None,
                  seed: int = 0, metric_kwargs: dict[str, dict] | None = None,
                  progress: bool = False, desc: str = "evaluate") -> dict:
    """Every metric on one t-free representation (pixels, a static code, saved features), with
    a progress bar; "best" mirrors `t_sweep`'s with t = None, so reports read the same."""
    from drlkit.progress import tqdm

    names = parse_metrics(metrics)
    with tqdm(total=len(names), desc=desc, unit="metric", disable=not progress) as bar:
        res = evaluate_features(x_train, y_train, x_test, y_test, names, seed, metric_kwargs, bar)
    return {**res, "best": {k: {"t": None, **v} for k, v in res["scores"].items()}}


def _model_rep(model: DRLModel, train: ImageDataset, test: ImageDataset, ts, names, seed,
               metric_kwargs, batch_size, progress, desc, features="z", read=None):
    options = read if features == "denoiser" else None  # "best" reads its card's options
    kw = dict(batch_size=batch_size, progress=progress, features=features, **(options or {}))
    if not swept(model, features):  # one code, no t to choose (static encoder, or "best")
        z_train = model.encode(train.images, **kw)
        z_test = model.encode(test.images, **kw)
        return evaluate_code(z_train, train.labels, z_test, test.labels, names, seed,
                             metric_kwargs, progress, desc)
    z_train = model.encode(train.images, t=ts, **kw)
    z_test = model.encode(test.images, t=ts, **kw)
    return t_sweep(z_train, train.labels, z_test, test.labels, ts, names, seed=seed,
                   metric_kwargs=metric_kwargs, progress=progress, desc=desc)


def swept(model: DRLModel, features: str) -> bool:
    """Whether a read of `features` depends on t, so that evaluation sweeps a t grid: the
    t-conditioned encoders' z and pooled features, and every denoiser read (the noise level it
    reads at); not static codes, nor "best" (whose parts have their own t)."""
    return features == "denoiser" or (features != "best" and model.config.t_conditioned)


BASELINES = ("pixels", "random")


def _earlier_rep(earlier: dict | None, name: str, digest: str | None, grid) -> dict | None:
    """`name`'s representation in an earlier report, if it was computed from the same encoder
    (`digest`; None for raw pixels) over the same t grid; else None."""
    if earlier is None or name not in earlier.get("representations", {}):
        return None
    if digest is not None and (earlier.get("encoder_sha256", {}).get(name) != digest
                               or earlier.get("t") != grid):
        return None
    rep = earlier["representations"][name]
    if "by_t" in rep:  # JSON made the t keys strings; a fresh sweep has floats
        rep = {**rep, "by_t": {float(t): r for t, r in rep["by_t"].items()}}
    return rep


def evaluate_model(model: DRLModel, train: ImageDataset, test: ImageDataset, ts: Sequence[float],
                   metrics: Sequence[str] | None = None, baselines: Sequence[str] = BASELINES,
                   seed: int = 0, metric_kwargs: dict[str, dict] | None = None,
                   batch_size: int | None = None, progress: bool = False,
                   reuse: dict | str | os.PathLike | None = None, features: str = "z",
                   read: dict | None = None, *,
                   name: str = "model", file: str | None = None, dataset: str | None = None,
                   pixels_from: str | os.PathLike | None = None) -> dict:
    """The full report: the model's t-sweep (or its single code if static), and the baselines
    under the same protocol: raw pixels, and a random encoder of the same architecture.

    Args:
        model: the `DRLModel` to evaluate.
        train: a labelled `drlkit.data.ImageDataset`; every metric is fit on it.
        test: a labelled `drlkit.data.ImageDataset`; only scored.
        reuse: an earlier report (a dict, or the path of its JSON file; a path is checked to
            have the same data, splits, seed and metrics, else `ReportMismatch`). Its
            representations are taken instead of recomputed where they match: the model and the
            random encoder when their `encoder_sha256`, t grid and features are this
            evaluation's, raw pixels always. Their names are listed under "reused".
        features: what the model and the random encoder are scored on: "z" (the code),
            "pooled" (the encoder's pooled features before its last layer), "denoiser" (the
            score net's pooled block activations, swept over t like z) or "best" (the model's
            best read, one code without t); drlkit.reads.
        read: the denoiser read's options for `encode` ({"layers", "pool", "give_z"}); None or
            missing keys: the card's.
        name: the model's name in the report and in `drlkit compare` tables; file: where it was
            loaded from (a registry name or a path); dataset: the dataset's name.
        pixels_from: the path of an earlier report (same data, splits, seed, metrics) whose raw
            pixel scores are taken instead of recomputed (pixels do not depend on the model).

    Returns:
        The complete report that `drlkit eval --report` writes and `drlkit compare` reads: the
        model, file, dataset, splits, protocol and seed, then
        {"representations": {"model": ..., "random_encoder": ..., "pixels": ...},
        "recommended_t": the t with the best validation linear-probe accuracy (if swept),
        "wall_time_s": {representation: seconds}, "encoder_sha256": {"model": ...,
        "random_encoder": ...}: `drlkit.checkpoint.encoder_digest` of each encoder, so a later
        evaluation can tell whether it may reuse a representation}, then the time taken, the
        hardware, the model's card (description, data, budget, training) and config.
    """
    names = parse_metrics(metrics)
    bad = [b for b in baselines if b not in BASELINES]
    if bad:
        raise ValueError(f"unknown baseline(s) {bad}; choose from {', '.join(BASELINES)}")
    if train.labels is None or test.labels is None:
        raise ValueError("evaluation needs labelled train and test data")
    ours = {"dataset": dataset, "train": train.source, "test": test.source, "seed": seed}
    pixels = None
    if pixels_from is not None:
        if "pixels" not in baselines:
            raise ReportMismatch("pixels_from", "is for the raw-pixel baseline: add pixels to "
                                 "the baselines (--baselines)")
        pixels = earlier_report(pixels_from, ours, names, "pixels", option="pixels_from")
        baselines = [b for b in baselines if b != "pixels"]
    reuse_path = None
    if reuse is not None and not isinstance(reuse, dict):
        reuse_path, reuse = reuse, earlier_report(reuse, ours, names, option="reuse")
    start = time.perf_counter()
    result = _representations(model, train, test, ts, names, baselines, seed, metric_kwargs,
                              batch_size, progress, reuse, features, read_options(model, features,
                                                                                 read))
    if pixels is not None:
        result["representations"]["pixels"] = pixels["representations"]["pixels"]
        result["wall_time_s"]["pixels"] = pixels["wall_time_s"].get("pixels")
        result["pixels_from"] = str(pixels_from)
    if reuse_path is not None:
        result["reused_from"] = str(reuse_path)
    from drlkit.checkpoint import report_card
    from drlkit.precision import hardware

    here = hardware() if model.device.type == "cuda" else hardware().split(" + ")[-1]
    return {"model": name, "file": file, "dataset": dataset, "train": train.source,
            "test": test.source, "protocol": "docs/evaluation.md", "seed": seed, **result,
            "total_wall_time_s": round(time.perf_counter() - start, 1), "hardware": here,
            "model_card": report_card(model.card), "model_config": model.config.to_dict()}


def read_options(model: DRLModel, features: str, read: dict | None) -> dict | None:
    """The denoiser read's options in full ({"layers", "pool", "give_z"}: the given ones, the
    card's for the rest), as reports record them; for "best", its parts; None for z and pooled."""
    from drlkit.reads import best_parts, check_model_features, denoiser_read

    check_model_features(model, features)
    if features == "denoiser":
        r = denoiser_read(model, **(read or {}))
        return {"layers": list(r.layers), "pool": r.pool, "give_z": r.give_z}
    if read:
        raise ValueError(f"read options ({', '.join(read)}) are for the denoiser read, not "
                         f"features {features!r}")
    if features == "best":
        parts = [{"features": p.features, "t": list(p.t)} for p in best_parts(model)]
        if any(p["features"] == "denoiser" for p in parts):
            return {"parts": parts, "denoiser": read_options(model, "denoiser", None)}
        return {"parts": parts}
    return None


class ReportMismatch(ValueError):
    """An earlier report that cannot be reused here; `option` names the argument that gave it."""

    def __init__(self, option: str, message: str) -> None:
        super().__init__(message)
        self.option = option


def earlier_report(path: str | os.PathLike, ours: dict, names: list[str],
                   need: str | None = None, option: str = "reuse") -> dict:
    """An earlier `drlkit eval` report, checked to be comparable: same dataset, splits, seed and
    metrics (and holding the `need` representation, if given); else `ReportMismatch`."""
    what = "a `drlkit eval` report" + (" with a raw-pixel baseline" if need == "pixels" else "")
    try:
        earlier = json.loads(Path(path).read_text())
        if not isinstance(earlier["representations"], dict) or (
                need is not None and need not in earlier["representations"]):
            raise KeyError(need)
    except (OSError, ValueError, KeyError, TypeError):
        raise ReportMismatch(option, f"{path} is not {what}") from None
    for key, value in ours.items():
        if earlier.get(key) != value:
            raise ReportMismatch(option, f"{path} has {key} {earlier.get(key)!r}, this "
                                 f"evaluation {value!r}")
    if set(names) != set(earlier.get("metrics", [])):
        raise ReportMismatch(option, f"{path} has metrics {earlier.get('metrics')}, this "
                             f"evaluation {names}")
    return earlier


def _representations(model: DRLModel, train: ImageDataset, test: ImageDataset, ts: Sequence[float],
                     names: list[str], baselines: Sequence[str], seed: int,
                     metric_kwargs: dict[str, dict] | None, batch_size: int | None,
                     progress: bool, reuse: dict | None, features: str,
                     read: dict | None = None) -> dict:
    """The scores of the model and the baselines (`evaluate_model` without the provenance)."""
    from drlkit.checkpoint import encoder_digest

    ts = [float(t) for t in ts]
    grid = ts if swept(model, features) else None
    reps, times, digests, reused = {}, {}, {}, []
    jobs = [("model", model)] + ([("random_encoder", None)] if "random" in baselines else [])
    for name, m in jobs:
        start = time.perf_counter()
        m = m if m is not None else random_encoder(model, seed)
        digests[name] = encoder_digest(m)
        same_features = (reuse is not None and reuse.get("features", "z") == features
                         and reuse.get("read") == read)
        earlier = _earlier_rep(reuse, name, digests[name], grid) if same_features else None
        if earlier is not None:
            reps[name], times[name] = earlier, reuse["wall_time_s"].get(name)
            reused.append(name)
            continue
        reps[name] = _model_rep(m, train, test, ts, names, seed, metric_kwargs, batch_size,
                                progress, desc=name, features=features, read=read)
        times[name] = round(time.perf_counter() - start, 1)
    earlier = _earlier_rep(reuse, "pixels", None, grid) if "pixels" in baselines else None
    if earlier is not None:
        reps["pixels"], times["pixels"] = earlier, reuse["wall_time_s"].get("pixels")
        reused.append("pixels")
    elif "pixels" in baselines:
        start = time.perf_counter()
        reps["pixels"] = evaluate_code(pixel_features(train.images), train.labels,
                                       pixel_features(test.images), test.labels, names, seed,
                                       metric_kwargs, progress, "pixels")
        times["pixels"] = round(time.perf_counter() - start, 1)
    out: dict[str, Any] = {"t": grid, "metrics": names, "features": features, "read": read,
                           "representations": reps, "wall_time_s": times,
                           "encoder_sha256": digests, "reused": reused}
    lin = reps["model"]["best"].get("linear")
    out["recommended_t"] = lin["t"] if lin and lin["t"] is not None else model.recommended_t
    return out
