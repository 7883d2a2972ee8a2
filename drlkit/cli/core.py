"""`drlkit models | info | verify | train | encode`."""

from __future__ import annotations

import json
from pathlib import Path

import click

from drlkit.checkpoint import CheckpointError
from drlkit.cli.common import (
    cli,
    data_root_option,
    device_option,
    features_option,
    layers_option,
    load_named,
    parse_ts,
    pool_option,
    read_request,
    set_threads,
    threads_option,
    warnings_as_messages,
)
from drlkit.config import PRESETS
from drlkit.data import DataError
from drlkit.methods import METHODS, methods_help


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
        t_s = r["recommended_t"] if r["t_conditioned"] else "-"  # a static code ignores t
        default = "  [default: drlkit.load() and `drlkit encode` without --model]" \
            if r["default"] else ""
        click.echo(f"{r['name']:<16}{r['num_params']:>10,}{r['latent_dim']:>6}"
                   f"{t_s:>6}  {acc_s:>9}  {r['description']}{default}")


@cli.command()
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print the whole card as JSON (raw numbers).")
def info(name: str, as_json: bool) -> None:
    """Show a model's card: config, training data and budget, metrics, sha256 (numbers rounded
    to 4 significant digits; --json for the raw card)."""
    from drlkit.registry import resolve, sha256sum

    model = load_named(name, "cpu")  # for registry names this verifies the sha256
    path, entry = resolve(name)
    card = {"name": name, "file": str(path), "sha256": sha256sum(path),
            "sha256_verified": entry is not None, "config": model.config.to_dict(), **model.card}
    if as_json:
        click.echo(json.dumps(card, indent=2))
        return
    if card["sha256_verified"]:
        card["sha256"] += " (matches the registry)"
    del card["sha256_verified"]
    for line in _card_lines(card):
        click.echo(line)


def _card_value(value) -> str:
    """One value of a card as text: floats to 4 significant digits, lists comma-separated."""
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, int) and abs(value) >= 10_000:
        return f"{value:,}"
    if isinstance(value, list):
        return ", ".join(_card_value(v) for v in value)
    return str(value)


def _card_lines(card: dict, indent: str = "") -> list[str]:
    """A card as an indented outline with the keys of each level aligned; a table of scalars
    that fits a line (a metric with its t and scores) is written on one."""
    width = max((len(str(k)) for k in card), default=0) + 1
    lines = []
    for key, value in card.items():
        label = f"{indent}{str(key) + ':':<{width}}"
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            lines.append(label.rstrip())
            for i, item in enumerate(value):
                lines.append(f"{indent}  [{i}]")
                lines.extend(_card_lines(item, indent + "    "))
        elif isinstance(value, dict) and value:
            flat = all(not isinstance(v, (dict, list)) for v in value.values())
            one_line = ", ".join(f"{k} {_card_value(v)}" for k, v in value.items())
            if flat and len(label) + len(one_line) <= 100 and len(value) <= 6:
                lines.append(f"{label} {one_line}")
            else:
                lines.append(label.rstrip())
                lines.extend(_card_lines(value, indent + "  "))
        else:
            lines.append(f"{label} {_card_value(value)}")
    return lines


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
@click.option("--method", type=click.Choice(list(METHODS)), default="drl", show_default=True,
              help=methods_help())
@click.option("--t-conditioned/--static", default=None,
              help="Encoder E(x0, t) (paper eq. 8) or the static E(x0) [default: t-conditioned "
                   "for drl/vdrl; baselines are always static].")
@click.option("--t-sampler", default="uniform-t", show_default=True,
              help="Training-t distribution: uniform-t, uniform-sigma, range:a,b or "
                   "lognormal:P_mean,P_std (EDM's is lognormal:-1.2,1.2).")
@click.option("--views", type=click.Choice(["none", "same", "novel"]), default="none",
              show_default=True,
              help="drl/vdrl: none (encode and denoise the image itself, the paper's recipe), "
                   "same (both on one augmented view) or novel (encode one augmented view, "
                   "denoise another of the same image).")
@click.option("--view-crop", default="0.2,1", show_default=True,
              help="Views: the random resized crop's area range, as min,max fractions.")
@click.option("--view-jitter", type=click.FloatRange(0, 1), default=0.8, show_default=True,
              help="Views: probability of colour jitter (RGB only).")
@click.option("--view-grey", type=click.FloatRange(0, 1), default=0.2, show_default=True,
              help="Views: probability of greyscale (RGB only).")
@click.option("--invariance-weight", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="drl with --views novel: add this weight x NT-Xent (SimCLR's loss, temperature "
                   "0.5) between the two views' codes, read at one t per batch: a DRL + "
                   "contrastive hybrid (0: pure DRL).")
@click.option("--z-conditioning", type=click.Choice(["add", "film"]), default="add",
              show_default=True,
              help="drl/vdrl: add z to the score net's time embedding (the paper's recipe), or "
                   "give z its own scale-and-shift in every score-net block (film).")
@click.option("--latent-dim", type=click.IntRange(1), default=128, show_default=True,
              help="Size D of the code z.")
@click.option("--preset", "preset_name", type=click.Choice(sorted(PRESETS)), default="small",
              show_default=True, help="Network size preset.")
@click.option("--sde", type=click.Choice(["ve", "vp"]), default="ve", show_default=True,
              help="Variance exploding (the paper's default) or variance preserving SDE.")
@click.option("--loss", "parameterization", type=click.Choice(["edm", "paper"]), default="edm",
              show_default=True, help="EDM preconditioning/weighting, or the paper's lambda=sigma^2.")
@click.option("--steps", type=click.IntRange(1), default=10_000, show_default=True,
              help="Optimiser steps; images seen = steps x --batch-size.")
@click.option("--batch-size", type=click.IntRange(1), default=64, show_default=True,
              help="Images per step (the global batch under torchrun).")
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=1e-3, show_default=True,
              help="Adam's learning rate after the linear warm-up.")
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
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of the initial weights, the batch order and the noise.")
@click.option("--checkpoint-every", type=click.IntRange(1), default=500, show_default=True,
              help="Steps between resumable states (out/state.safetensors).")
@click.option("--diagnostics-every", type=click.IntRange(0), default=1000, show_default=True,
              help="Steps between z-usage / probe diagnostics (0: never).")
@data_root_option
@threads_option
@device_option
@click.option("--out", type=click.Path(file_okay=False), required=True,
              help="Run folder: state.safetensors, log.jsonl, model.safetensors.")
@click.option("--resume", is_flag=True, help="Continue the run in --out exactly where it stopped.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def train(dataset, method, t_conditioned, t_sampler, views, view_crop, view_jitter, view_grey,
          invariance_weight, z_conditioning, latent_dim, preset_name, sde, parameterization, steps,
          batch_size, lr, l1_weight, kl_weight, precision, hflip, cifar_copy, image_size, channels, seed,
          checkpoint_every, diagnostics_every, data_root, threads, device, out, resume,
          quiet) -> None:
    """Train a DRL model (or a baseline) and export out/model.safetensors (EMA weights, metadata).

    On several processes: `torchrun --nproc-per-node N -m drlkit train ...` (DDP; --batch-size is
    the global batch; rank 0 logs, checkpoints and exports; resume with the same N).
    """
    from drlkit.diffusion import parse_t_sampler
    from drlkit.distributed import world_from_env
    from drlkit.train import TrainConfig
    from drlkit.train import train as run_training

    set_threads(threads, auto=False)  # bitwise resume needs the same threads every time
    try:
        parse_t_sampler(t_sampler)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--t-sampler") from None
    if hflip is None:
        hflip = dataset not in ("mnist", "fashion-mnist")
    row = METHODS[method]
    baseline = not row.diffusion
    if baseline and t_conditioned:
        raise click.BadParameter(f"{method} trains a static encoder", param_hint="--t-conditioned")
    if baseline and views != "none":
        raise click.BadParameter(f"views are an option of drl / vdrl, not of {method}",
                                 param_hint="--views")
    if baseline and z_conditioning != "add":
        raise click.BadParameter(f"{method} has no score net", param_hint="--z-conditioning")
    try:
        crop = tuple(float(v) for v in view_crop.split(","))
    except ValueError:
        crop = ()
    if len(crop) != 2 or not 0 < crop[0] <= crop[1] <= 1:
        raise click.BadParameter(f"expected min,max with 0 < min <= max <= 1, got {view_crop!r}",
                                 param_hint="--view-crop")
    if invariance_weight and (baseline or row.probabilistic or views != "novel"):
        raise click.BadParameter("needs --method drl --views novel (two views of each image to "
                                 "compare)", param_hint="--invariance-weight")
    t_conditioned = not baseline if t_conditioned is None else t_conditioned
    if kl_weight is None:
        kl_weight = row.kl_weight
    tc = TrainConfig(dataset=dataset, method=method, t_sampler=t_sampler, steps=steps,
                     batch_size=batch_size, lr=lr, l1_weight=l1_weight, kl_weight=kl_weight,
                     seed=seed, precision=precision, hflip=hflip, cifar_copy=cifar_copy,
                     checkpoint_every=checkpoint_every, diagnostics_every=diagnostics_every,
                     views=views, view_crop=crop, view_jitter=view_jitter, view_grey=view_grey,
                     invariance_weight=invariance_weight)
    try:
        path = run_training(train_config=tc, out=out, resume=resume, data_root=data_root,
                            device=device, progress=not quiet, preset_name=preset_name,
                            latent_dim=latent_dim, t_conditioned=t_conditioned, sde=sde,
                            parameterization=parameterization, z_conditioning=z_conditioning,
                            image_size=image_size,
                            channels=int(channels))
    except (DataError, FileExistsError, FileNotFoundError, ValueError) as e:
        raise click.ClickException(str(e)) from None
    if world_from_env().is_main:
        click.echo(f"exported {path}")


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path(exists=True))
@click.option("--files-from", type=click.Path(dir_okay=False, allow_dash=True), default=None,
              help="Also encode the paths listed in this file, one a line ('-': standard "
                   "input); a listed path that does not exist is skipped and reported.")
@click.option("--include-hidden", is_flag=True,
              help="Also encode hidden files and folders (names starting with '.') found in "
                   "folders.")
@click.option("--model", "model_name", default=None,
              help="Registry name or .safetensors path [default: the default model].")
@click.option("--t", "t_value", default=None, multiple=True,
              help="Diffusion time(s) in [0, 1], e.g. 0.5 or 0.1,0.5,0.9 -> (N, T, D); once "
                   "[default: the read's recommended t; none for --features best].")
@click.option("-o", "--out", type=click.Path(dir_okay=False), required=True,
              help="Output .npy, with sidecars <out>.files.txt (the image of each row) and "
                   "<out>.skipped.txt (path TAB reason) beside it; or a .npz holding all of it "
                   "(arrays codes, files, t, skipped, skipped_reasons, model, features).")
@click.option("--batch-size", type=click.IntRange(1), default=256, show_default=True,
              help="Files decoded and written per batch (the unit of --resume); the encoder runs "
                   "its own fast batch.")
@click.option("--workers", type=click.IntRange(0), default=None,
              help="Decoding processes (0: decode in the main process) [default: CPUs - 1, "
                   "at most 8].")
@click.option("--resume", is_flag=True,
              help="Continue an interrupted run into the same --out (same files, model, t and "
                   "batch size); the result equals an uninterrupted run (bitwise at the same "
                   "--threads).")
@click.option("--strict", is_flag=True,
              help="Exit with status 1 if any file was skipped (the result is still written).")
@click.option("--allow-empty", is_flag=True,
              help="Write an empty result (0 rows) when no file could be encoded, and exit 0; "
                   "without it that is an error and nothing is written.")
@click.option("--precision", type=click.Choice(["auto", "bf16", "fp16", "fp32"]), default="fp32",
              show_default=True,
              help="Autocast dtype of the encoder; bf16 is faster on CPUs with AVX512-BF16/AMX "
                   "(see docs/performance.md for speed and deviation); fp16 needs CUDA.")
@features_option
@layers_option
@pool_option
@threads_option
@device_option
@click.option("--quiet", is_flag=True, help="No progress bar.")
def encode(paths, files_from, include_hidden, model_name, t_value, out, batch_size, workers,
           resume, strict, allow_empty, precision, features, layers, pool, threads, device,
           quiet) -> None:
    """Embed image files and every image under folders (recursively, sorted by path).

    Rows follow the PATHS in the order given, then the --files-from list; a folder's images in
    sorted path order; a file met twice is encoded once, at its first place. Each image is
    resized as docs/index.md ("Size and channels") says: shorter side to the model's
    resolution, then a centre crop.

    Files that cannot be used (not images, truncated, empty, decompression bombs, ...) are
    skipped and listed with the reason in <out>.skipped.txt. Finished batches are kept in
    <out>.partial/ until the end, so an interrupted run continues with --resume.

    On several processes: `torchrun --nproc-per-node N -m drlkit encode ...`; each encodes its
    share of the batches and the output is the same as from one process.
    """
    from drlkit.distributed import default_device, process_group, world_from_env
    from drlkit.files import (
        ResumeError,
        collect_all,
        encode_to_file,
        partial_dir,
        read_file_list,
        sidecar,
    )
    from drlkit.preprocess import display_path
    from drlkit.registry import DEFAULT_MODEL

    ts = parse_ts(t_value)
    read = read_request(features, layers, pool)
    set_threads(threads)
    if not paths and files_from is None:
        raise click.UsageError("give the images: PATH... (files or folders), or --files-from")
    try:
        listed = read_file_list(files_from) if files_from is not None else []
    except OSError as e:
        raise click.BadParameter(f"{files_from}: {e.strerror or e}",
                                 param_hint="--files-from") from None
    found = collect_all(paths, include_hidden) + collect_all(listed, include_hidden,
                                                             missing_ok=True)
    found = list(dict.fromkeys(found))
    if not found:
        where = ", ".join(display_path(p) for p in paths) or f"the list {files_from}"
        raise click.ClickException(f"{where}: no image files found"
                                   + ("" if include_hidden else " (hidden ones are left out: "
                                      "--include-hidden)"))
    if resume and not (partial_dir(Path(out)) / "manifest.json").is_file() \
            and world_from_env().is_main:
        click.echo(f"--resume: nothing to resume for {display_path(out)} (no "
                   f"{display_path(partial_dir(Path(out)))}); encoding from the start", err=True)
    try:
        with process_group(device) as world, warnings_as_messages():
            model = load_named(model_name or DEFAULT_MODEL, default_device(world, device))
            summary = encode_to_file(model, found, out, ts, batch_size, workers, resume,
                                     progress=not quiet, world=world, precision=precision,
                                     features=features, read=read, allow_empty=allow_empty)
    except (ResumeError, ValueError) as e:  # NothingEncoded too: the reasons, exit 1
        raise click.ClickException(str(e)) from None
    except KeyboardInterrupt:
        click.echo(f"\ninterrupted: {display_path(out)} was not written; the finished batches are "
                   f"in {display_path(partial_dir(Path(out)))}. Run the same command with "
                   "--resume to continue.", err=True)
        raise SystemExit(130) from None
    if not world.is_main:
        return
    resumed = f", {summary.resumed_batches} batches reused" if summary.resumed_batches else ""
    rows = ("its 'files' array" if summary.out.suffix == ".npz"
            else display_path(sidecar(summary.out, 'files')))
    click.echo(f"wrote {display_path(summary.out)} {summary.shape}{resumed}; row order in {rows}")
    if summary.skipped:
        kinds: dict[str, int] = {}
        for _, why in summary.skipped:
            kind = why.split(":")[0].split(" (")[0]
            kinds[kind] = kinds.get(kind, 0) + 1
        detail = "; ".join(f"{n} {k}" for k, n in sorted(kinds.items(), key=lambda kv: -kv[1]))
        where = ("its 'skipped' and 'skipped_reasons' arrays" if summary.out.suffix == ".npz"
                 else display_path(sidecar(summary.out, 'skipped')))
        click.echo(f"warning: skipped {len(summary.skipped)} of {summary.n_files} files "
                   f"({detail}); reasons in {where}", err=True)
        if strict:
            raise SystemExit(1)
