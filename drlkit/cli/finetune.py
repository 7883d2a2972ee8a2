"""`drlkit finetune` (a DRLClassifier from few labels) and `drlkit predict` (its classes for image
files)."""

from __future__ import annotations

import csv
import io
import shutil
from pathlib import Path

import click
import numpy as np

from drlkit.cli.common import (
    cli,
    data_root_option,
    device_option,
    set_threads,
    threads_option,
    write_text,
)
from drlkit.preprocess import display_path


@cli.command()
@click.option("--data", "dataset", default=None,
              help="A dataset name (mnist, fashion-mnist, cifar10): its train split, with "
                   "--labels class-balanced labels drawn outside the validation split; the "
                   "classifier is then scored on its validation split and test split.")
@click.option("--labels", "n_labels", type=click.IntRange(1), default=None,
              help="With --data: how many labelled images (the rest are unlabelled).")
@click.option("--label-draw", type=click.IntRange(0), default=0, show_default=True,
              help="With --data: which draw of labelled images; draw d is the d-th draw of "
                   "`drlkit eval`'s few_label and semi_supervised metrics (same images).")
@click.option("--labelled", type=click.Path(exists=True, file_okay=False), default=None,
              help="Instead of --data: a folder of class sub-folders (folder/<class>/img.png).")
@click.option("--unlabelled", type=click.Path(exists=True, file_okay=False), default=None,
              help="With --labelled: a folder of unlabelled images (searched recursively).")
@click.option("--model", "model_name", default="cifar10", show_default=True,
              help="The init: a registry name or .safetensors path.")
@click.option("--random-init", is_flag=True,
              help="Start from random weights of --model's architecture (the control).")
@click.option("--method", type=click.Choice(["laplacenet", "supervised"]), default="laplacenet",
              show_default=True,
              help="laplacenet: pseudo-labels propagated over the kNN graph of the network's "
                   "features each epoch; supervised: the labelled images only.")
@click.option("--backbone", type=click.Choice(["encoder", "denoiser"]), default="encoder",
              show_default=True,
              help="Fine-tune the encoder (the paper's choice) or the score net's denoiser read.")
@click.option("--t", "t_value", type=click.FloatRange(0, 1), default=None,
              help="Noise level the backbone reads at [default: the card's].")
@click.option("--epochs", type=click.IntRange(1), default=10, show_default=True,
              help="Passes over all images.")
@click.option("--supervised-epochs", type=click.IntRange(0), default=1, show_default=True,
              help="laplacenet: the first N of --epochs train on the labelled images only "
                   "(LaplaceNet's supervised initialisation), before labels are propagated; "
                   "0: propagate from the first epoch.")
@click.option("--batch-size", type=click.IntRange(2), default=64, show_default=True,
              help="Images per step.")
@click.option("--lr", type=click.FloatRange(0, min_open=True), default=0.03, show_default=True,
              help="SGD's peak learning rate (cosine decay).")
@click.option("--mixup", type=click.FloatRange(0), default=0.0, show_default=True,
              help="mixup's Beta(a, a) parameter; 0: off.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seeds the head, a random init, the augmentation and the batches.")
@click.option("--precision", type=click.Choice(["auto", "bf16", "fp16", "fp32"]), default="auto",
              show_default=True, help="Training's autocast dtype (auto: bf16 where native).")
@click.option("-o", "--out", type=click.Path(dir_okay=False), required=True,
              help="The classifier file (.safetensors); its state after each epoch is kept in "
                   "<out>.state/ until the end, for --resume.")
@click.option("--resume", is_flag=True,
              help="Continue an interrupted run (same data, labels and options).")
@click.option("--report", type=click.Path(dir_okay=False), default=None,
              help="Also write a JSON report: options, init, scores, per-epoch history (loss, "
                   "images/s, graph seconds, pseudo-label accuracy), hardware, wall time.")
@data_root_option
@threads_option
@device_option
@click.option("--quiet", is_flag=True, help="No progress bars.")
def finetune(dataset, n_labels, label_draw, labelled, unlabelled, model_name, random_init, method,
             backbone, t_value, epochs, supervised_epochs, batch_size, lr, mixup, seed, precision,
             out, resume, report, data_root, threads, device, quiet) -> None:
    """Fine-tune a pretrained model into a classifier from few labels and many unlabelled images.

    \b
    drlkit finetune --data cifar10 --labels 4000 --model cifar10 -o clf.safetensors
    drlkit finetune --labelled labelled/ --unlabelled more/ -o clf.safetensors
    drlkit predict photos/ --model clf.safetensors --out preds.csv
    """
    import json
    import time

    from drlkit.checkpoint import CheckpointError
    from drlkit.classifier import DRLClassifier
    from drlkit.data import DataError, load_dataset
    from drlkit.labels import draw_labels
    from drlkit.precision import hardware

    start = time.perf_counter()
    out = Path(out)
    if out.suffix != ".safetensors":
        raise click.BadParameter(f"{display_path(out)}: expected a .safetensors file name",
                                 param_hint="--out")
    if (dataset is None) == (labelled is None):
        raise click.UsageError("give the labels: --data NAME --labels N, or --labelled FOLDER")
    if dataset is not None and (n_labels is None or unlabelled is not None):
        raise click.UsageError("--data takes --labels N (and no --unlabelled folder)")
    if labelled is not None and n_labels is not None:
        raise click.UsageError("--labels goes with --data; a --labelled folder's images are "
                               "all labelled")
    if method == "laplacenet" and supervised_epochs >= epochs:
        raise click.BadParameter(f"{supervised_epochs} is not below --epochs ({epochs}): "
                                 "laplacenet propagates labels in the epochs after them; add "
                                 "--supervised-epochs 0 to propagate from the first epoch, or "
                                 "use --method supervised for the labelled images only",
                                 param_hint="--supervised-epochs")
    set_threads(threads)
    state = out.with_name(out.name + ".state")
    if resume and not state.is_dir():
        click.echo(f"--resume: nothing to resume ({display_path(state)} does not exist); "
                   "fine-tuning from the start", err=True)
    elif not resume and state.is_dir():
        raise click.ClickException(f"{display_path(state)} holds an interrupted run of this "
                                   "--out: add --resume to continue it, or delete it")
    try:
        if random_init:
            from drlkit.cli.common import load_named

            config, init = load_named(model_name, "cpu").config, None
        else:
            config, init = None, model_name
        clf = DRLClassifier(model=init, config=config, t=t_value, method=method,
                            backbone=backbone, epochs=epochs,
                            supervised_epochs=supervised_epochs, batch_size=batch_size, lr=lr,
                            mixup=mixup, device=device, precision=precision, random_state=seed,
                            progress=not quiet, checkpoint_dir=state, resume=resume)
        if dataset is not None:
            train = load_dataset(dataset, "train", data_root)
            y = draw_labels(train.labels, n_labels, draw=label_draw)
            x, y_true = train.images, train.labels
            click.echo(f"{dataset}: {n_labels} labelled of {len(y)} train images "
                       f"(draw {label_draw})", err=True)
        else:
            x, y, y_true = _folder_data(Path(labelled), unlabelled, clf, device)
        state.mkdir(parents=True, exist_ok=True)
        clf.fit(x, y, y_true=y_true)
        metrics = {}
        if dataset is not None:
            from drlkit.metrics import val_split

            _, val = val_split(train.labels)
            test = load_dataset(dataset, "test", data_root)
            metrics = {"dataset": dataset, "n_labels": n_labels, "label_draw": label_draw,
                       "val_accuracy": float(clf.score(train.images[val], train.labels[val])),
                       "test_accuracy": float(clf.score(test.images, test.labels))}
        clf.save(out, metrics=metrics)
    except KeyboardInterrupt:
        click.echo(f"\ninterrupted: {display_path(out)} was not written; the finished epochs are "
                   f"in {display_path(state)}. Run the same command with --resume to continue.",
                   err=True)
        raise SystemExit(130) from None
    except (CheckpointError, DataError, ValueError, TypeError) as e:
        raise click.ClickException(str(e)) from None
    shutil.rmtree(state, ignore_errors=True)
    if report:
        record = {"out": str(out), "data": dataset or str(labelled), "metrics": metrics,
                  "init": clf.init_, "method": method, "backbone": backbone, "t": clf.t_,
                  "options": {"epochs": epochs, "supervised_epochs": supervised_epochs,
                              "batch_size": batch_size, "lr": lr,
                              "mixup": mixup, "seed": seed, "precision": precision},
                  "history": clf.history_, "resumed_from_epoch": clf.resumed_from_,
                  "hardware": hardware(), "wall_time_s": round(time.perf_counter() - start, 1)}
        write_text(report, json.dumps(record, indent=2) + "\n")
    done = "; ".join(f"{k.replace('_', ' ')} {v:.4f}" for k, v in metrics.items()
                     if k.endswith("accuracy"))
    click.echo(f"wrote {display_path(out)}" + (f" ({done})" if done else ""))


def _folder_data(labelled: Path, unlabelled: str | None, clf, device):
    """(images, y, None) from a folder of class sub-folders and an optional unlabelled folder;
    files that cannot be read are left out with a warning."""
    from drlkit.files import collect
    from drlkit.registry import load

    cfg = clf.config if clf.model is None else load(clf.model, device="cpu").config
    paths = [p for p in collect(labelled) if p.is_file()]
    rel = [p.relative_to(labelled).parts for p in paths]
    if not paths or any(len(r) != 2 for r in rel):
        raise click.ClickException(f"{display_path(labelled)}: expected class sub-folders of "
                                   "images (folder/<class>/img.png), one level down")
    names = np.array([r[0] for r in rel], dtype=object)
    extra = [p for p in collect(unlabelled) if p.is_file()] if unlabelled else []
    images, kept = _decode(paths + extra, cfg)
    y = np.array([names[i] if i < len(paths) else -1 for i in kept], dtype=object)
    click.echo(f"{display_path(labelled)}: {int((y != -1).sum())} labelled images in "
               f"{len(set(names))} classes; {int((y == -1).sum())} unlabelled", err=True)
    return images, y, None


def _decode(paths: list[Path], cfg) -> tuple[np.ndarray, list[int]]:
    """uint8 (N, H, W, C) images of the readable paths at the model's geometry, and their indices."""
    import torch

    from drlkit.preprocess import item_batches

    batches, skipped = [], []
    for xb, _, bad in item_batches(paths, cfg.channels, cfg.image_size, 256, skip=True):
        batches.append(xb)
        skipped.extend(bad)
    if skipped:
        click.echo(f"warning: skipped {len(skipped)} files that cannot be read, e.g. "
                   f"{display_path(skipped[0][0])}: {skipped[0][1]}", err=True)
    bad = {Path(p) for p, _ in skipped}
    kept = [i for i, p in enumerate(paths) if p not in bad]
    x = torch.cat(batches) if batches else torch.empty(0)
    return (x * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy(), kept


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--model", "model_path", required=True, type=click.Path(dir_okay=False),
              help="A classifier file written by `drlkit finetune` (or DRLClassifier.save).")
@click.option("-o", "--out", type=click.Path(dir_okay=False), required=True,
              help="Output .csv: path, class, probability (one row per image read); the files "
                   "that could not be read are listed in <out stem>.skipped.txt.")
@click.option("--batch-size", type=click.IntRange(1), default=64, show_default=True,
              help="Images per forward pass.")
@click.option("--include-hidden", is_flag=True, help="Also hidden files and folders.")
@click.option("--strict", is_flag=True, help="Exit with status 1 if any file was skipped.")
@threads_option
@device_option
@click.option("--quiet", is_flag=True, help="No progress bar.")
def predict(paths, model_path, out, batch_size, include_hidden, strict, threads, device,
            quiet) -> None:
    """The class of every image file under PATHS (files or folders, searched recursively)."""
    from drlkit.checkpoint import CheckpointError
    from drlkit.classifier import DRLClassifier
    from drlkit.files import collect_all
    from drlkit.outputs import sidecar

    out = Path(out)
    if out.suffix != ".csv":
        raise click.BadParameter(f"{display_path(out)}: expected a .csv file name",
                                 param_hint="--out")
    set_threads(threads)
    try:
        clf = DRLClassifier.load(model_path, device=device)
    except (CheckpointError, ValueError) as e:
        raise click.ClickException(str(e)) from None
    files = list(dict.fromkeys(collect_all(paths, include_hidden)))
    if not files:
        raise click.ClickException(f"{', '.join(map(str, paths))}: no image files found")
    try:
        proba, skipped = clf.predict_proba(files, batch_size=batch_size, on_error="skip",
                                           progress=not quiet)
    except ValueError as e:
        raise click.ClickException(str(e)) from None
    bad = {Path(p) for p, _ in skipped}
    kept = [p for p in files if p not in bad]
    buf = io.StringIO()
    rows = csv.writer(buf, lineterminator="\n")
    rows.writerow(["path", "class", "probability"])
    best = proba.argmax(axis=1) if len(proba) else np.empty(0, dtype=int)
    for p, j, pr in zip(kept, best, proba, strict=True):
        rows.writerow([str(p), clf.classes_[j], f"{pr[j]:.6f}"])
    write_text(out, buf.getvalue())
    skip_file = sidecar(out, "skipped")
    write_text(skip_file, "".join(f"{p}\t{why}\n" for p, why in skipped))
    click.echo(f"wrote {display_path(out)}: {len(kept)} images")
    if skipped:
        click.echo(f"warning: skipped {len(skipped)} of {len(files)} files; reasons in "
                   f"{display_path(skip_file)}", err=True)
        if strict:
            raise SystemExit(1)
