"""The `drlkit` command line (click): thin wrappers over the library; long jobs show progress bars."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
import numpy as np

from drlkit import __version__
from drlkit.checkpoint import CheckpointError
from drlkit.config import PRESETS
from drlkit.data import DataError


def _parse_ts(value: str | None) -> float | list[float] | None:
    if value is None:
        return None
    try:
        ts = [float(v) for v in value.split(",") if v.strip()]
    except ValueError:
        raise click.BadParameter(f"expected a number or comma-separated numbers, got {value!r}",
                                 param_hint="--t") from None
    if not ts or any(not 0.0 <= t <= 1.0 for t in ts):
        raise click.BadParameter(f"times must lie in [0, 1], got {value!r}", param_hint="--t")
    return ts[0] if len(ts) == 1 else ts


def _load(name: str, device: str | None):
    from drlkit.registry import load

    try:
        return load(name, device=device)
    except CheckpointError as e:
        raise click.ClickException(str(e)) from None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="drlkit")
def cli() -> None:
    """drlkit: diffusion-based representation learning (train, ship and use DRL encoders)."""


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the table as JSON.")
def models(as_json: bool) -> None:
    """List the registry's shipped models."""
    from drlkit.registry import list_models

    rows = list_models()
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    click.echo(f"{'name':<16}{'params':>10}{'dim':>6}{'t':>6}  {'probe acc':>9}  description")
    for r in rows:
        if "error" in r:
            click.echo(f"{r['name']:<16}  ERROR: {r['error']}")
            continue
        acc = r["metrics"].get("linear_probe", {}).get("accuracy")
        acc_s = f"{acc:.4f}" if acc is not None else "-"
        click.echo(f"{r['name']:<16}{r['num_params']:>10,}{r['latent_dim']:>6}"
                   f"{r['recommended_t']:>6}  {acc_s:>9}  {r['description']}")


@cli.command()
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print the whole card as JSON.")
def info(name: str, as_json: bool) -> None:
    """Show a model's card: config, training data and budget, metrics, sha256."""
    from drlkit.registry import resolve, sha256sum

    model = _load(name, "cpu")  # for registry names this verifies the sha256
    path, entry = resolve(name)
    card = {"name": name, "file": str(path), "sha256": sha256sum(path),
            "sha256_verified": entry is not None, "config": model.config.to_dict(), **model.card}
    if as_json:
        click.echo(json.dumps(card, indent=2))
        return
    for key, value in card.items():
        if isinstance(value, dict):
            click.echo(f"{key}:")
            for k, v in value.items():
                click.echo(f"  {k}: {json.dumps(v) if isinstance(v, (dict, list)) else v}")
        else:
            click.echo(f"{key}: {value}")


@cli.command()
def verify() -> None:
    """Re-hash every shipped checkpoint against the registry (exit 1 on any mismatch)."""
    from drlkit.registry import REGISTRY, verify_file

    bad = 0
    for name in REGISTRY:
        try:
            path = verify_file(name)
            click.echo(f"ok    {name:<16}{path}")
        except CheckpointError as e:
            bad += 1
            click.echo(f"FAIL  {name:<16}{e}")
    if bad:
        raise click.ClickException(f"{bad} of {len(REGISTRY)} checkpoints failed verification")


@cli.command()
@click.option("--dataset", required=True,
              help="mnist, fashion-mnist, cifar10, or a path to an image folder.")
@click.option("--method", type=click.Choice(["drl", "vdrl", "ae", "vae", "simclr"]), default="drl",
              show_default=True,
              help="drl: deterministic code; vdrl: probabilistic code with KL. Baselines with the "
                   "same encoder: ae (decoder, L2), vae (decoder, KL), simclr (NT-Xent on "
                   "augmented views).")
@click.option("--t-conditioned/--static", default=None,
              help="Encoder E(x0, t) (paper eq. 8) or the static E(x0) [default: t-conditioned "
                   "for drl/vdrl; baselines are always static].")
@click.option("--t-sampler", default="uniform-t", show_default=True,
              help="Training-t distribution: uniform-t, uniform-sigma or range:a,b.")
@click.option("--latent-dim", type=click.IntRange(1), default=128, show_default=True)
@click.option("--preset", "preset_name", type=click.Choice(sorted(PRESETS)), default="small",
              show_default=True, help="Network size preset.")
@click.option("--sde", type=click.Choice(["ve", "vp"]), default="ve", show_default=True)
@click.option("--loss", "parameterization", type=click.Choice(["edm", "paper"]), default="edm",
              show_default=True, help="EDM preconditioning/weighting, or the paper's lambda=sigma^2.")
@click.option("--steps", type=click.IntRange(1), default=10_000, show_default=True)
@click.option("--batch-size", type=click.IntRange(1), default=64, show_default=True)
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=1e-3, show_default=True)
@click.option("--l1-weight", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="L1 penalty on z (drl).")
@click.option("--kl-weight", type=click.FloatRange(min=0), default=None,
              help="KL weight [default: 1e-5 for vdrl, as the authors; 1 for vae].")
@click.option("--precision", type=click.Choice(["auto", "bf16", "fp32"]), default="auto",
              show_default=True, help="auto: bf16 autocast where the hardware supports it.")
@click.option("--hflip/--no-hflip", default=None,
              help="Random horizontal flips [default: on for cifar10 and folders, off for digits].")
@click.option("--cifar-copy", type=click.Choice(["png", "jpeg", "python"]), default="png",
              show_default=True, help="Which CIFAR-10 copy to read (jpeg is lossy).")
@click.option("--image-size", type=click.IntRange(4), default=32, show_default=True,
              help="Resolution for image-folder datasets.")
@click.option("--channels", type=click.Choice(["1", "3"]), default="3", show_default=True,
              help="Channels for image-folder datasets.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--checkpoint-every", type=click.IntRange(1), default=500, show_default=True)
@click.option("--diagnostics-every", type=click.IntRange(0), default=1000, show_default=True,
              help="Steps between z-usage / probe diagnostics (0: never).")
@click.option("--data-root", type=click.Path(file_okay=False), default=None,
              help="Dataset folder [default: $DRLKIT_DATA, else ./data].")
@click.option("--device", default=None, help="cpu, cuda, cuda:1 ... [default: cuda if available].")
@click.option("--out", type=click.Path(file_okay=False), required=True,
              help="Run folder: state.safetensors, log.jsonl, model.safetensors.")
@click.option("--resume", is_flag=True, help="Continue the run in --out exactly where it stopped.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def train(dataset, method, t_conditioned, t_sampler, latent_dim, preset_name, sde, parameterization,
          steps, batch_size, lr, l1_weight, kl_weight, precision, hflip, cifar_copy, image_size,
          channels, seed, checkpoint_every, diagnostics_every, data_root, device, out, resume,
          quiet) -> None:
    """Train a DRL model and export out/model.safetensors (EMA weights, full metadata)."""
    from drlkit.diffusion import parse_t_sampler
    from drlkit.train import TrainConfig
    from drlkit.train import train as run_training

    try:
        parse_t_sampler(t_sampler)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--t-sampler") from None
    if hflip is None:
        hflip = dataset not in ("mnist", "fashion-mnist")
    baseline = method in ("ae", "vae", "simclr")
    if baseline and t_conditioned:
        raise click.BadParameter(f"{method} trains a static encoder", param_hint="--t-conditioned")
    t_conditioned = not baseline if t_conditioned is None else t_conditioned
    if kl_weight is None:
        kl_weight = 1.0 if method == "vae" else 1e-5
    tc = TrainConfig(dataset=dataset, method=method, t_sampler=t_sampler, steps=steps,
                     batch_size=batch_size, lr=lr, l1_weight=l1_weight, kl_weight=kl_weight,
                     seed=seed, precision=precision, hflip=hflip, cifar_copy=cifar_copy,
                     checkpoint_every=checkpoint_every, diagnostics_every=diagnostics_every)
    try:
        path = run_training(train_config=tc, out=out, resume=resume, data_root=data_root,
                            device=device, progress=not quiet, preset_name=preset_name,
                            latent_dim=latent_dim, t_conditioned=t_conditioned, sde=sde,
                            parameterization=parameterization, image_size=image_size,
                            channels=int(channels))
    except (DataError, FileExistsError, FileNotFoundError, ValueError) as e:
        raise click.ClickException(str(e)) from None
    click.echo(f"exported {path}")


@cli.command()
@click.argument("path", type=click.Path(exists=True))
@click.option("--model", "model_name", default=None,
              help="Registry name or .safetensors path [default: the default model].")
@click.option("--t", "t_value", default=None,
              help="Diffusion time(s) in [0, 1], e.g. 0.5 or 0.1,0.5,0.9 -> (N, T, D) "
                   "[default: the model's recommended t].")
@click.option("--out", type=click.Path(dir_okay=False), required=True,
              help="Output .npy; sidecars <out>.files.txt and <out>.skipped.txt are written beside it.")
@click.option("--batch-size", type=click.IntRange(1), default=256, show_default=True)
@click.option("--device", default=None, help="cpu, cuda, ... [default: cuda if available].")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def encode(path, model_name, t_value, out, batch_size, device, quiet) -> None:
    """Embed an image file or every image under a folder (recursively, sorted by path)."""
    from drlkit.files import collect, encode_files, sidecar, write_result
    from drlkit.registry import DEFAULT_MODEL

    ts = _parse_ts(t_value)
    paths = collect(path)
    if not paths:
        raise click.ClickException(f"{path}: no image files found")
    model = _load(model_name or DEFAULT_MODEL, device)
    result = encode_files(model, paths, ts, batch_size, progress=not quiet)
    out = write_result(result, out)
    click.echo(f"wrote {out} {tuple(result.features.shape)}; row order in {sidecar(out, 'files')}")
    if result.skipped:
        click.echo(f"warning: skipped {len(result.skipped)} unreadable file(s), listed in "
                   f"{sidecar(out, 'skipped')}", err=True)


def _parse_list(value: str, parse, param_hint: str):
    try:
        return parse(value)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint=param_hint) from None


def _write_outputs(report: dict, report_path, table_path, plot_path, title: str) -> None:
    from drlkit.evaluation import markdown_tables

    table = markdown_tables(report)
    click.echo(table)
    if report_path:
        _write_text(report_path, json.dumps(report, indent=2, default=_json_default) + "\n")
        click.echo(f"wrote {report_path}")
    if table_path:
        _write_text(table_path, table + "\n")
        click.echo(f"wrote {table_path}")
    if plot_path:
        from drlkit.plots import plot_t_curves

        try:
            plot_t_curves(report, plot_path, title=title)
        except (ImportError, ValueError) as e:
            raise click.ClickException(f"--plot: {e}") from None
        click.echo(f"wrote {plot_path}")


def _json_default(v):
    if isinstance(v, np.generic):
        return v.item()
    raise TypeError(f"not JSON serialisable: {type(v).__name__}")


def _write_text(path, text: str) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    tmp.replace(path)


METRICS_HELP = ("Comma-separated: linear_probe, knn_probe, cluster, few_label, semi_supervised "
                "[default: all].")


@cli.command(name="eval")
@click.argument("model_name", metavar="MODEL")
@click.option("--dataset", type=click.Choice(["mnist", "fashion-mnist", "cifar10"]), required=True,
              help="Labelled dataset: metrics fit on its train split, scored on its test split.")
@click.option("--t", "t_value", default="0.1,0.3,0.5,0.7,0.9", show_default=True,
              help="Times to sweep (t-conditioned models); for each metric the best on "
                   "validation is reported, plus the concatenated multi-t code.")
@click.option("--metrics", default=None, help=METRICS_HELP)
@click.option("--baselines", default="pixels,random", show_default=True,
              help="Comma-separated: pixels (raw pixels), random (a randomly initialised encoder "
                   "of the same architecture), or none.")
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
@click.option("--data-root", type=click.Path(file_okay=False), default=None,
              help="Dataset folder [default: $DRLKIT_DATA, else ./data].")
@click.option("--batch-size", type=click.IntRange(1), default=500, show_default=True)
@click.option("--device", default=None, help="cpu, cuda, ... [default: cuda if available].")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def evaluate(model_name, dataset, t_value, metrics, baselines, report, table, plot,
             plot_embedding, embedding, max_train, max_test, seed, label, write_card, data_root,
             batch_size, device, quiet) -> None:
    """Evaluate MODEL's codes downstream: every metric over a t grid, with baselines.

    The protocol is in docs/evaluation.md: t and every hyperparameter are chosen on a validation
    split of train; the test split is only scored.
    """
    import time

    from drlkit.data import load_dataset, stratified_subset
    from drlkit.evaluation import card_metrics, evaluate_model
    from drlkit.metrics import parse_metrics
    from drlkit.registry import REGISTRY

    if write_card and model_name in REGISTRY:
        raise click.BadParameter("pass the file path of a model you trained, not a registry name",
                                 param_hint="--write-card")
    if write_card and (max_train or max_test):
        raise click.BadParameter("cards hold full-data metrics only", param_hint="--write-card")
    names = _parse_list(metrics, parse_metrics, "--metrics")
    base = [] if baselines.strip() == "none" else [b.strip() for b in baselines.split(",")
                                                   if b.strip()]
    ts = _parse_ts(t_value)
    ts = [ts] if isinstance(ts, float) else ts
    model = _load(model_name, device)
    try:
        train_ds = stratified_subset(load_dataset(dataset, "train", data_root), max_train, seed,
                                      "train")
        test_ds = stratified_subset(load_dataset(dataset, "test", data_root), max_test, seed,
                                     "test")
    except DataError as e:
        raise click.ClickException(str(e)) from None
    start = time.perf_counter()
    try:
        result = evaluate_model(model, train_ds, test_ds, ts, names, base, seed=seed,
                                batch_size=batch_size, progress=not quiet)
    except ValueError as e:
        raise click.ClickException(str(e)) from None
    out = {"model": label or model_name, "file": model_name, "dataset": dataset, "train": train_ds.source,
           "test": test_ds.source, "protocol": "docs/evaluation.md", "seed": seed, **result,
           "total_wall_time_s": round(time.perf_counter() - start, 1),
           "hardware": _hardware(model),
           "model_card": {k: model.card.get(k) for k in ("description", "data", "budget")}}
    _write_outputs(out, report, table, plot, f"{model_name} on {dataset}")
    rec = out["recommended_t"]
    if plot_embedding:
        from drlkit.plots import plot_embedding as plot_emb

        z = model.encode(test_ds.images, t=rec, batch_size=batch_size, progress=not quiet)
        try:
            plot_emb(z, test_ds.labels, plot_embedding, embedding, test_ds.classes, seed=seed,
                     title=f"{model_name}: {dataset} test codes at t={rec} ({embedding.upper()})")
        except ImportError as e:
            raise click.ClickException(f"--plot-embedding: {e}") from None
        click.echo(f"wrote {plot_embedding}")
    lin = out["representations"]["model"]["best"].get("linear")
    if lin:
        click.echo(f"recommended t={rec}: test linear-probe accuracy {lin['test']:.4f}")
    click.echo(f"total wall time {out['total_wall_time_s']} s")
    if write_card:
        from drlkit.checkpoint import update_card

        update_card(model_name, recommended_t=rec, metrics=card_metrics(out))
        click.echo(f"updated the card of {model_name}")


def _hardware(model) -> str:
    from drlkit.train import hardware

    return hardware() if model.device.type == "cuda" else hardware().split(" + ")[-1]


@cli.command()
@click.argument("reports", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--out", type=click.Path(dir_okay=False), default=None,
              help="Write the markdown table here too.")
def compare(reports, out) -> None:
    """One table from several `drlkit eval --report` files of the same dataset (with budgets)."""
    from drlkit.evaluation import markdown_comparison

    loaded = []
    for path in reports:
        try:
            report = json.loads(Path(path).read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise click.ClickException(f"{path}: not a JSON report ({e})") from None
        if not isinstance(report, dict) or "representations" not in report or "model" not in report:
            raise click.ClickException(f"{path}: not a `drlkit eval --report` file")
        loaded.append(report)
    try:
        table = markdown_comparison(loaded)
    except ValueError as e:
        raise click.ClickException(str(e)) from None
    click.echo(table)
    if out:
        _write_text(out, table + "\n")
        click.echo(f"wrote {out}")


def _load_array(path: str) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError) as e:  # object arrays, not a .npy file, truncated
        raise click.ClickException(f"{path}: cannot read as a .npy array: {e}") from None


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
    from drlkit.files import sidecar

    files = sidecar(Path(feats), "files")
    if not files.is_file():
        raise click.ClickException(f"{files}: not found (written by `drlkit encode` beside its "
                                   "--out); pass --labels instead")
    return np.array([Path(line).parent.name for line in files.read_text().splitlines() if line])


@cli.command()
@click.argument("features", type=click.Path(exists=True, dir_okay=False))
@click.option("--labels", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Labels of FEATURES' rows: .npy, or a text file with one label per line.")
@click.option("--labels-from-folders", is_flag=True,
              help="Label each row by its image's parent folder (from FEATURES' .files.txt).")
@click.option("--test", "test_features", type=click.Path(exists=True, dir_okay=False),
              default=None, help="Test features (.npy); without them a stratified --test-fraction "
                                 "of FEATURES is held out.")
@click.option("--test-labels", type=click.Path(exists=True, dir_okay=False), default=None)
@click.option("--test-fraction", type=click.FloatRange(0, 1, min_open=True, max_open=True),
              default=0.2, show_default=True)
@click.option("--t", "t_value", default=None,
              help="The times of (N, T, D) features, in order (as given to `drlkit encode`).")
@click.option("--metrics", default=None, help=METRICS_HELP)
@click.option("--report", type=click.Path(dir_okay=False), default=None, help="Write JSON here.")
@click.option("--table", type=click.Path(dir_okay=False), default=None,
              help="Write the markdown tables here.")
@click.option("--plot", type=click.Path(dir_okay=False), default=None,
              help="Metric-vs-t curves (PNG) for (N, T, D) features.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--quiet", is_flag=True, help="No progress bar.")
def probe(features, labels, labels_from_folders, test_features, test_labels, test_fraction,
          t_value, metrics, report, table, plot, seed, quiet) -> None:
    """Evaluate saved features (from `drlkit encode`) against labels, with the eval protocol."""
    from drlkit.evaluation import evaluate_code, t_sweep
    from drlkit.metrics import parse_metrics

    if (labels is None) == (not labels_from_folders):
        raise click.UsageError("give exactly one of --labels and --labels-from-folders")
    names = _parse_list(metrics, parse_metrics, "--metrics")
    x = _load_array(features)
    y = _folder_labels(features) if labels_from_folders else _read_labels(labels)
    if len(y) != len(x):
        raise click.ClickException(f"{len(x)} feature rows but {len(y)} labels")
    if test_features:
        xt = _load_array(test_features)
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
    try:
        if x.ndim == 3:
            ts = _parse_ts(t_value)
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


def main() -> None:
    cli(prog_name="drlkit")


if __name__ == "__main__":
    sys.exit(main())
