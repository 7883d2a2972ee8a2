"""`drlkit reconstruct | latent-grid`: pictures of what the code keeps."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click
import numpy as np

from drlkit.cli.common import cli, data_root_option, device_option, load_named, parse_ts
from drlkit.data import DataError

if TYPE_CHECKING:
    from drlkit.model import DRLModel


@cli.command()
@click.argument("images", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--model", "model_name", default=None,
              help="Registry name or .safetensors path of a DRL model [default: the default model].")
@click.option("--out", type=click.Path(dir_okay=False), required=True, help="Output PNG.")
@click.option("--t", "t_value", default=None,
              help="Encoder time(s) for t-conditioned models, e.g. 0.3,0.6,0.9; 'curve' reads the "
                   "code E(x0, t) at every sampling step [default: the model's recommended t].")
@click.option("--samples", type=click.IntRange(1, 32), default=4, show_default=True,
              help="Samples drawn from each image's code (per t).")
@click.option("--steps", type=click.IntRange(1), default=200, show_default=True,
              help="Reverse-process steps per sample.")
@click.option("--sampler", type=click.Choice(["pc", "em", "ode"]), default="pc", show_default=True,
              help="Reverse SDE with Langevin corrector (pc), Euler-Maruyama (em), or the "
                   "probability-flow ODE (ode).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the sampling noise.")
@click.option("--max-images", type=click.IntRange(1), default=16, show_default=True,
              help="Refuse more input images than this (each costs samples x steps evaluations).")
@click.option("--scale", type=click.IntRange(1, 8), default=2, show_default=True,
              help="Pixel upscaling in the PNG.")
@device_option
@click.option("--quiet", is_flag=True, help="No progress bar.")
def reconstruct(images, model_name, out, t_value, samples, steps, sampler, seed, max_images, scale,
                device, quiet) -> None:
    """Originals beside samples drawn from their codes: what z fixes and what it leaves free."""
    from drlkit.files import collect
    from drlkit.grids import save_grid
    from drlkit.preprocess import load_image
    from drlkit.registry import DEFAULT_MODEL
    from drlkit.sampling import reconstruct as draw

    paths = [p for path in images for p in collect(path)]
    if not paths:
        raise click.ClickException("no image files found")
    if len(paths) > max_images:
        raise click.ClickException(f"{len(paths)} images, more than --max-images {max_images}")
    model = load_named(model_name or DEFAULT_MODEL, device)
    parts = [v.strip() for v in (t_value or "").split(",") if v.strip()]
    curve = "curve" in parts
    numeric = parse_ts(",".join(v for v in parts if v != "curve")) if len(parts) > curve else None
    numeric = [numeric] if isinstance(numeric, float) else (numeric or [])
    ts = (numeric + ["curve"] * curve) or None
    try:
        pictures = [load_image(p) for p in paths]
    except Exception as e:  # Pillow raises many types for unreadable files
        raise click.ClickException(f"cannot read an input image: {e}") from None
    try:
        x = draw(model, pictures, t=ts, n_samples=samples, steps=steps, sampler=sampler,
                 seed=seed, progress=not quiet)
    except ValueError as e:
        raise click.ClickException(str(e)) from None
    originals = model_inputs(model, pictures)
    ts_used = [model.recommended_t] if ts is None else ts
    rows = [[originals[i]] + [s for j in range(x.shape[1]) for s in x[i, j]]
            for i in range(len(paths))]
    header = ["input"]
    for tj in ts_used if model.config.t_conditioned else [None]:
        label = "samples" if tj is None else ("E(x0, t)" if tj == "curve" else f"t={tj:g}")
        header += [label] + [""] * (samples - 1)
    seps = [1 + j * samples for j in range(x.shape[1])]
    save_grid(rows, out, scale=scale, header=header, separators=seps)
    click.echo(f"wrote {out}: {len(paths)} images x {x.shape[1]} t x {samples} samples "
               f"({sampler}, {steps} steps, seed {seed})")


def model_inputs(model: DRLModel, pictures) -> np.ndarray:
    """What the encoder saw: the inputs converted to the model's channels and size, in [0, 1]."""
    from drlkit.preprocess import to_model_input

    return to_model_input(pictures, model.config.channels, model.config.image_size).numpy()


@cli.command(name="latent-grid")
@click.argument("model_name", metavar="MODEL")
@click.option("--out", type=click.Path(dir_okay=False), required=True, help="Output PNG.")
@click.option("--n", "n", type=click.IntRange(2, 30), default=10, show_default=True,
              help="Grid size per axis.")
@click.option("--range", "value_range", default=None,
              help="lo,hi of both code axes [default: the 2nd-98th percentile of the codes of "
                   "--dataset's train images].")
@click.option("--dataset", type=click.Choice(["mnist", "fashion-mnist", "cifar10"]), default=None,
              help="Data whose codes set the default range.")
@data_root_option
@click.option("--steps", type=click.IntRange(1), default=100, show_default=True,
              help="Probability-flow ODE steps (one shared starting noise for every cell).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the sampling noise.")
@click.option("--scale", type=click.IntRange(1, 8), default=1, show_default=True,
              help="Pixel upscaling in the PNG.")
@device_option
@click.option("--quiet", is_flag=True, help="No progress bar.")
def latent_grid(model_name, out, n, value_range, dataset, data_root, steps, seed, scale, device,
                quiet) -> None:
    """Decode a grid of 2-D codes (models with a 2-D latent; the paper's Figures 2-3)."""
    from drlkit.grids import save_grid
    from drlkit.sampling import latent_grid as decode_grid

    model = load_named(model_name, device)
    if model.config.latent_dim != 2:
        raise click.ClickException(f"{model_name}: latent grids need a 2-D code, this one has "
                                   f"{model.config.latent_dim} dimensions")
    if value_range:
        try:
            lo, hi = (float(v) for v in value_range.split(","))
        except ValueError:
            raise click.BadParameter("expected lo,hi", param_hint="--range") from None
    elif dataset:
        from drlkit.data import load_dataset, stratified_subset

        try:
            ds = stratified_subset(load_dataset(dataset, "train", data_root), 5000)
        except DataError as e:
            raise click.ClickException(str(e)) from None
        lo, hi = np.percentile(model.encode(ds.images), [2, 98])
    else:
        raise click.UsageError("pass --range lo,hi, or --dataset to take it from the codes")
    if not lo < hi:
        raise click.BadParameter(f"need lo < hi, got {lo}, {hi}", param_hint="--range")
    try:
        grid, values = decode_grid(model, n=n, lo=float(lo), hi=float(hi), steps=steps, seed=seed,
                                   progress=not quiet)
    except ValueError as e:
        raise click.ClickException(str(e)) from None
    save_grid([list(row) for row in grid], out, scale=scale)
    click.echo(f"wrote {out}: {n} x {n} codes, z in [{values[0]:.3g}, {values[-1]:.3g}] on both "
               "axes (z_1 left to right, z_2 bottom to top)")


@cli.command()
@click.argument("model_name", metavar="MODEL")
@click.option("--dataset", type=click.Choice(["mnist", "fashion-mnist", "cifar10"]), required=True,
              help="Images to measure on (a stratified subset of the test split).")
@click.option("--n", "n", type=click.IntRange(2), default=1000, show_default=True,
              help="Number of test images.")
@click.option("--t", "t_value", default=None, multiple=True,
              help="Times to measure [default: 0.05, 0.1, ..., 1.0].")
@click.option("--out", type=click.Path(dir_okay=False), default=None, help="Plot (PNG).")
@click.option("--report", type=click.Path(dir_okay=False), default=None, help="Write JSON here.")
@data_root_option
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of the image subset and the noise.")
@device_option
@click.option("--quiet", is_flag=True, help="No progress bar.")
def information(model_name, dataset, n, t_value, out, report, data_root, seed, device,
                quiet) -> None:
    """The denoising error vs t with the image's own code, a shuffled code and a zero code."""
    import json

    from drlkit.cli.common import json_default, write_text
    from drlkit.data import load_dataset, stratified_subset
    from drlkit.diagnostics import information_curve

    model = load_named(model_name, device)
    ts = parse_ts(t_value)
    ts = [round(0.05 * i, 2) for i in range(1, 21)] if ts is None else (
        [ts] if isinstance(ts, float) else ts)
    try:
        ds = stratified_subset(load_dataset(dataset, "test", data_root), n, seed, "test")
    except DataError as e:
        raise click.ClickException(str(e)) from None
    try:
        curve = information_curve(model, ds.images, ts, seed=seed, progress=not quiet)
    except ValueError as e:
        raise click.ClickException(str(e)) from None
    click.echo(f"{'t':>5} {'own':>10} {'shuffled':>10} {'zero':>10} {'gap':>8}")
    for i, t in enumerate(curve["t"]):
        click.echo(f"{t:>5g} {curve['own'][i]:>10.5f} {curve['shuffled'][i]:>10.5f} "
                   f"{curve['zero'][i]:>10.5f} {100 * curve['gap_shuffled'][i]:>7.1f}%")
    click.echo(f"largest gap (shuffled vs own code) at t={curve['largest_gap_t']:g}")
    if report:
        data = {"model": model_name, "dataset": ds.source, "seed": seed, **curve}
        write_text(report, json.dumps(data, indent=2, default=json_default) + "\n")
        click.echo(f"wrote {report}")
    if out:
        from drlkit.plots import plot_information

        try:
            plot_information(curve, out, title=f"{model_name} on {len(ds)} {dataset} test images")
        except ImportError as e:
            raise click.ClickException(str(e)) from None
        click.echo(f"wrote {out}")


@cli.command(name="level-of-detail")
@click.option("--out-dir", type=click.Path(file_okay=False), required=True,
              help="Where to write the pictures and level_of_detail.json (the docs' copy: "
                   "docs/level-of-detail).")
@click.option("--runs", "runs_dir", type=click.Path(file_okay=False),
              default="runs/level-of-detail", show_default=True,
              help="Training runs (reused when done, resumed when interrupted).")
@click.option("--steps", type=click.IntRange(1), default=2000, show_default=True,
              help="Training steps per model (batch 64).")
@click.option("--preset", "preset_name", type=click.Choice(["tiny", "small", "base"]),
              default="small", show_default=True, help="Network size preset of the three models.")
@click.option("--n-train", type=click.IntRange(100), default=None,
              help="Stratified subset of MNIST train [default: all 60,000].")
@click.option("--n-test", type=click.IntRange(50), default=None,
              help="Stratified subset of MNIST test [default: all 10,000].")
@click.option("--grid-steps", type=click.IntRange(1), default=100, show_default=True,
              help="ODE steps per latent-grid picture.")
@data_root_option
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of the trainings, subsets and pictures.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def level_of_detail(out_dir, runs_dir, steps, preset_name, n_train, n_test, grid_steps, data_root,
                    seed, quiet) -> None:
    """Train 2-D-code MNIST models under three t samplers and show what each code keeps."""
    from drlkit.level_of_detail import markdown_table, run_study

    try:
        result = run_study(out_dir, runs_dir, steps=steps, preset_name=preset_name, data_root=data_root,
                           n_train=n_train, n_test=n_test, grid_steps=grid_steps, seed=seed,
                           progress=not quiet)
    except (DataError, ValueError) as e:
        raise click.ClickException(str(e)) from None
    click.echo(markdown_table(result))
    click.echo(f"wrote {out_dir}/level_of_detail.json and the grid_*.png pictures")
