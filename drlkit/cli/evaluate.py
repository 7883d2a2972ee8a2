"""`drlkit eval | probe | compare`: the evaluation protocol from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import click
import numpy as np

from drlkit.cli.common import (
    cli,
    data_root_option,
    device_option,
    features_option,
    json_default,
    layers_option,
    load_named,
    parse_list,
    parse_ts,
    pool_option,
    read_request,
    set_threads,
    threads_option,
    warnings_as_messages,
    write_text,
)
from drlkit.data import DataError


def _write_outputs(report: dict, report_path, table_path, plot_path, title: str) -> None:
    from drlkit.reports import markdown_tables

    table = markdown_tables(report)
    click.echo(table)
    if report_path:
        write_text(report_path, json.dumps(report, indent=2, default=json_default) + "\n")
        click.echo(f"wrote {report_path}")
    if table_path:
        write_text(table_path, table + "\n")
        click.echo(f"wrote {table_path}")
    if plot_path:
        from drlkit.plots import plot_t_curves

        try:
            plot_t_curves(report, plot_path, title=title)
        except (ImportError, ValueError) as e:
            raise click.ClickException(f"--plot: {e}") from None
        click.echo(f"wrote {plot_path}")


METRICS_HELP = ("Comma-separated: linear_probe, knn_probe, cluster, few_label, semi_supervised "
                "[default: all].")


@cli.command(name="eval")
@click.argument("model_name", metavar="MODEL")
@click.option("--dataset", type=click.Choice(["mnist", "fashion-mnist", "cifar10"]), required=True,
              help="Labelled dataset: metrics fit on its train split, scored on its test split.")
@click.option("--t", "t_value", default=None, multiple=True,
              help="Times to sweep (t-conditioned models, and the denoiser read); for each metric "
                   "the best on validation is reported, plus the concatenated multi-t code "
                   "[default: 0.1,0.3,0.5,0.7,0.9; the card's t for --features denoiser; none "
                   "for best].")
@click.option("--metrics", default=None, help=METRICS_HELP)
@click.option("--baselines", default="pixels,random", show_default=True,
              help="Comma-separated: pixels (raw pixels), random (a randomly initialised encoder "
                   "of the same architecture), or none.")
@click.option("--pixels-from", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Take the raw-pixel baseline from this earlier report (same dataset, splits, "
                   "seed and metrics) instead of recomputing it: pixels do not depend on the "
                   "model.")
@click.option("--reuse", "reuse_from", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Take what this earlier report of the same data, seed and metrics already "
                   "holds instead of recomputing it: the model's and the random encoder's scores "
                   "where the encoder weights and t grid match, raw pixels always. Adds a "
                   "baseline to a report without re-running the model.")
@features_option
@layers_option
@pool_option
@click.option("--report", type=click.Path(dir_okay=False), default=None, help="Write JSON here.")
@click.option("--table", type=click.Path(dir_okay=False), default=None,
              help="Write the markdown tables here.")
@click.option("--plot", type=click.Path(dir_okay=False), default=None,
              help="Write the metric-vs-t curves here (PNG; needs matplotlib).")
@click.option("--plot-embedding", type=click.Path(dir_okay=False), default=None,
              help="Write a 2-D view of the test codes at the recommended t, coloured by class.")
@click.option("--embedding", type=click.Choice(["pca", "tsne"]), default="pca", show_default=True,
              help="Projection for --plot-embedding (t-SNE on at most 5,000 points).")
@click.option("--max-train", type=click.IntRange(20), default=None,
              help="Use a stratified subset of this many train images (quick looks; the report "
                   "says so).")
@click.option("--max-test", type=click.IntRange(10), default=None,
              help="Use a stratified subset of this many test images.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of validation splits, label draws, k-means and the random encoder.")
@click.option("--label", default=None,
              help="The model's name in reports and `drlkit compare` tables [default: MODEL].")
@click.option("--write-card", is_flag=True,
              help="Store the metrics and recommended t in MODEL's file (a path, not a registry "
                   "name: shipped files are hash-pinned).")
@data_root_option
@click.option("--batch-size", type=click.IntRange(1), default=None,
              help="Images per encoder forward pass [default: 64 on CPU, 512 on CUDA].")
@threads_option
@device_option
@click.option("--quiet", is_flag=True, help="No progress bars.")
def evaluate(model_name, dataset, t_value, metrics, baselines, pixels_from, reuse_from, features,
             layers, pool, report, table, plot, plot_embedding, embedding, max_train, max_test, seed, label,
             write_card, data_root, batch_size, threads, device, quiet) -> None:
    """Evaluate MODEL's codes downstream: every metric over a t grid, with baselines.

    The protocol is in docs/evaluation.md: t and every hyperparameter are chosen on a validation
    split of train; the test split is only scored.
    """
    from drlkit.data import load_dataset, stratified_subset
    from drlkit.evaluation import ReportMismatch, evaluate_model
    from drlkit.metrics import parse_metrics
    from drlkit.registry import REGISTRY
    from drlkit.reports import card_metrics

    if write_card and model_name in REGISTRY:
        raise click.BadParameter("pass the file path of a model you trained, not a registry name",
                                 param_hint="--write-card")
    if write_card and (max_train or max_test):
        raise click.BadParameter("cards hold full-data metrics only", param_hint="--write-card")
    if write_card and features != "z":
        raise click.BadParameter("cards hold the metrics of the code z", param_hint="--write-card")
    names = parse_list(metrics, parse_metrics, "--metrics")
    base = [] if baselines.strip() == "none" else [b.strip() for b in baselines.split(",")
                                                   if b.strip()]
    read = read_request(features, layers, pool)
    set_threads(threads)
    model = load_named(model_name, device)
    ts = parse_ts(t_value)
    if features == "best" and ts is not None:
        raise click.BadParameter("the best read has its own times (its card's); leave out --t",
                                 param_hint="--t")
    if ts is None:
        from drlkit.reads import Z_TIMES, denoiser_read, has_denoiser

        ts = list(Z_TIMES)
        if features == "denoiser" and has_denoiser(model):
            ts = [denoiser_read(model).t]
    ts = [ts] if isinstance(ts, float) else ts
    try:
        train_ds = stratified_subset(load_dataset(dataset, "train", data_root), max_train, seed,
                                      "train")
        test_ds = stratified_subset(load_dataset(dataset, "test", data_root), max_test, seed,
                                     "test")
    except DataError as e:
        raise click.ClickException(str(e)) from None
    try:
        with warnings_as_messages():
            out = evaluate_model(model, train_ds, test_ds, ts, names, base, seed=seed,
                                 batch_size=batch_size, progress=not quiet, reuse=reuse_from,
                                 features=features, read=read or None, name=label or model_name,
                                 file=model_name, dataset=dataset, pixels_from=pixels_from)
    except ReportMismatch as e:
        raise click.BadParameter(str(e), param_hint="--" + e.option.replace("_", "-")) from None
    except ValueError as e:
        raise click.ClickException(str(e)) from None
    if reuse_from:
        click.echo(f"reused from {reuse_from}: {', '.join(out['reused']) or 'nothing'}"
                   " (the rest was computed)", err=True)
    _write_outputs(out, report, table, plot, f"{model_name} on {dataset}")
    rec = out["recommended_t"]
    which = f"recommended t={rec}" if model.config.t_conditioned else "static code (t is ignored)"
    if features == "best":
        which = "best read (at its card's times)"
    elif features == "denoiser":
        which = f"denoiser read, t={rec}"
    if plot_embedding:
        from drlkit.plots import plot_embedding as plot_emb

        z = model.encode(test_ds.images, t=None if features == "best" else rec,
                         batch_size=batch_size, progress=not quiet, features=features, **read)
        try:
            plot_emb(z, test_ds.labels, plot_embedding, embedding, test_ds.classes, seed=seed,
                     title=f"{model_name}: {dataset} test codes ({which}, {embedding.upper()})")
        except ImportError as e:
            raise click.ClickException(f"--plot-embedding: {e}") from None
        click.echo(f"wrote {plot_embedding}")
    lin = out["representations"]["model"]["best"].get("linear")
    if lin:
        click.echo(f"{which}: test linear-probe accuracy {lin['test']:.4f}")
    click.echo(f"total wall time {out['total_wall_time_s']} s")
    if write_card:
        from drlkit.checkpoint import update_card

        update_card(model_name, recommended_t=rec, metrics=card_metrics(out))
        click.echo(f"updated the card of {model_name}")


@cli.command()
@click.argument("reports", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--out", type=click.Path(dir_okay=False), default=None,
              help="Write the markdown table here too.")
def compare(reports, out) -> None:
    """One table from several `drlkit eval --report` files of the same dataset (with budgets).

    Each model's budget columns (images seen, training time, hardware) come from the model card its
    report recorded; a report written before reports recorded cards, of a shipped model, takes them
    from that model's card in the registry."""
    from drlkit.reports import markdown_comparison

    loaded = []
    for path in reports:
        try:
            report = json.loads(Path(path).read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise click.ClickException(f"{path}: not a JSON report ({e})") from None
        if not isinstance(report, dict) or "representations" not in report or "model" not in report:
            raise click.ClickException(f"{path}: not a `drlkit eval --report` file")
        if "model_card" not in report:
            report = {**report, "model_card": _shipped_card(report, path)}
        loaded.append(report)
    try:
        table = markdown_comparison(loaded)
    except ValueError as e:
        raise click.ClickException(str(e)) from None
    click.echo(table)
    if out:
        write_text(out, table + "\n")
        click.echo(f"wrote {out}")


def _shipped_card(report: dict, path: str) -> dict | None:
    """Reports written before `drlkit eval` recorded the model's card have no budget; when such a
    report is of a registry model, its budget is that shipped file's card (hash-verified)."""
    from drlkit.checkpoint import read_header, report_card
    from drlkit.registry import REGISTRY, verify_file

    name = report.get("file", report["model"])
    if name not in REGISTRY:
        return None
    meta = read_header(verify_file(name))
    click.echo(f"{path}: no model_card in the report; budget from the shipped {name!r} card",
               err=True)
    return report_card(meta)


def _load_array(path: str) -> np.ndarray:
    from drlkit.files import read_features

    try:
        return read_features(path)
    except (ValueError, OSError, KeyError) as e:  # object arrays, not a .npy/.npz, truncated
        raise click.ClickException(f"{path}: cannot read as a .npy array or an `encode` .npz: "
                                   f"{e}") from None


def _read_labels(path: str) -> np.ndarray:
    p = Path(path)
    if p.suffix == ".npy":
        return _load_array(p)
    lines = [ln.strip() for ln in p.read_text().splitlines()]
    labels = [ln for ln in lines if ln]
    try:
        return np.array([int(v) for v in labels])
    except ValueError:
        return np.array(labels)


def _folder_labels(feats: str) -> np.ndarray:
    from drlkit.files import read_files_list, sidecar

    files = Path(feats) if Path(feats).suffix == ".npz" else sidecar(Path(feats), "files")
    if not files.is_file():
        raise click.ClickException(f"{files}: not found (written by `drlkit encode` beside its "
                                   "--out); pass --labels instead")
    return np.array([p.parent.name for p in read_files_list(feats)])


@cli.command()
@click.argument("features", type=click.Path(exists=True, dir_okay=False))
@click.option("--labels", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Labels of FEATURES' rows: .npy, or a text file with one label per line.")
@click.option("--labels-from-folders", is_flag=True,
              help="Label each row by its image's parent folder (from FEATURES' .files.txt, "
                   "or a .npz's files array).")
@click.option("--test", "test_features", type=click.Path(exists=True, dir_okay=False),
              default=None, help="Test features (.npy or .npz); without them a stratified --test-fraction "
                                 "of FEATURES is held out.")
@click.option("--test-labels", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Labels of --test's rows (.npy or text, like --labels).")
@click.option("--test-fraction", type=click.FloatRange(0, 1, min_open=True, max_open=True),
              default=0.2, show_default=True,
              help="Without --test: the stratified share of FEATURES held out for testing.")
@click.option("--t", "t_value", default=None, multiple=True,
              help="The times of (N, T, D) features, in order (as given to `drlkit encode`) "
                   "[default: the t stored in an `encode` .npz].")
@click.option("--metrics", default=None, help=METRICS_HELP)
@click.option("--report", type=click.Path(dir_okay=False), default=None, help="Write JSON here.")
@click.option("--table", type=click.Path(dir_okay=False), default=None,
              help="Write the markdown tables here.")
@click.option("--plot", type=click.Path(dir_okay=False), default=None,
              help="Metric-vs-t curves (PNG) for (N, T, D) features.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of the test split, validation splits and label draws.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def probe(features, labels, labels_from_folders, test_features, test_labels, test_fraction,
          t_value, metrics, report, table, plot, seed, quiet) -> None:
    """Evaluate saved features (from `drlkit encode`) against labels, with the eval protocol."""
    from drlkit.evaluation import evaluate_code, t_sweep
    from drlkit.metrics import parse_metrics

    if (labels is None) == (not labels_from_folders):
        raise click.UsageError("give exactly one of --labels and --labels-from-folders")
    names = parse_list(metrics, parse_metrics, "--metrics")
    x = _load_array(features)
    from drlkit.outputs import read_npz_meta

    meta = read_npz_meta(features)
    y = _folder_labels(features) if labels_from_folders else _read_labels(labels)
    if len(y) != len(x):
        raise click.ClickException(f"{len(x)} feature rows but {len(y)} labels")
    if test_features:
        xt = _load_array(test_features)
        test_meta = read_npz_meta(test_features)
        for key in ("t", "model", "features"):
            if meta.get(key) is not None and test_meta.get(key) is not None \
                    and meta[key] != test_meta[key]:
                raise click.ClickException(f"{features} and {test_features} were encoded with "
                                           f"different {key} ({meta[key]} and {test_meta[key]})")
        if test_labels:
            yt = _read_labels(test_labels)
        elif labels_from_folders:
            yt = _folder_labels(test_features)
        else:
            raise click.UsageError("--test needs --test-labels (or --labels-from-folders)")
        if len(yt) != len(xt):
            raise click.ClickException(f"{len(xt)} test feature rows but {len(yt)} test labels")
        split = f"given test set {test_features}"
    else:
        from sklearn.model_selection import train_test_split

        try:
            tr, te = train_test_split(np.arange(len(x)), test_size=test_fraction, stratify=y,
                                      random_state=seed)
        except ValueError as e:
            raise click.ClickException(f"cannot hold out a stratified test split: {e}") from None
        x, xt, y, yt = x[tr], x[te], y[tr], y[te]
        split = f"stratified {test_fraction:g} of {features} held out (seed {seed})"
    if x.ndim not in (2, 3) or xt.shape[1:] != x.shape[1:]:
        raise click.ClickException(f"features must be (N, D) or (N, T, D) with equal trailing "
                                   f"shapes, got {x.shape} and {xt.shape}")
    out = {"features": features, "split": split, "n_train": len(x), "n_test": len(xt),
           "metrics": names, "protocol": "docs/evaluation.md"}
    for key, name in (("model", "model"), ("features", "read")):  # what encoded them, if stored
        if meta.get(key):
            out[name] = meta[key]
    try:
        if x.ndim == 3:
            ts = parse_ts(t_value)
            ts = meta.get("t") if ts is None else ts
            ts = [ts] if isinstance(ts, float) else ts
            if ts is None or len(ts) != x.shape[1]:
                raise click.BadParameter(f"features hold {x.shape[1]} times: pass them in order, "
                                         "e.g. --t 0.1,0.5,0.9", param_hint="--t")
            out["t"] = ts
            rep = t_sweep(x, y, xt, yt, ts, names, seed=seed, progress=not quiet,
                          desc="features")
        else:
            rep = evaluate_code(x, y, xt, yt, names, seed, progress=not quiet, desc="features")
    except ValueError as e:
        raise click.ClickException(str(e)) from None
    out["representations"] = {"features": rep}
    _write_outputs(out, report, table, plot if x.ndim == 3 else None, Path(features).name)
    if plot and x.ndim != 3:
        click.echo("note: --plot draws metric-vs-t curves, which need (N, T, D) features",
                   err=True)
