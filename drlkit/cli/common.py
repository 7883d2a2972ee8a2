"""The `drlkit` group and the helpers its commands share (argument parsing, loading a model by
name, writing reports)."""


from __future__ import annotations

import contextlib
import warnings
from pathlib import Path

import click
import numpy as np

from drlkit import __version__
from drlkit.checkpoint import CheckpointError

# Options that several commands share, defined once.
data_root_option = click.option("--data-root", type=click.Path(file_okay=False), default=None,
                                help="Dataset folder [default: $DRLKIT_DATA, else ./data].")
device_option = click.option("--device", default=None,
                             help="cpu, cuda, cuda:1 ... [default: cuda if available].")


def parse_ts(value: str | tuple[str, ...] | None) -> float | list[float] | None:
    """--t's value: one time, comma-separated times, or None (not given). The option is taken
    once (`multiple=True` only so that a repeated --t is an error rather than the last one)."""
    if isinstance(value, tuple):
        if len(value) > 1:
            raise click.BadParameter(f"given {len(value)} times ({', '.join(value)}); give it "
                                     "once, with comma-separated times, e.g. --t 0.1,0.5",
                                     param_hint="--t")
        value = value[0] if value else None
    if value is None:
        return None
    entries = value.split(",")
    if not value.strip() or any(not v.strip() for v in entries):
        raise click.BadParameter(f"expected a number or comma-separated numbers, got {value!r} "
                                 "(an empty entry)", param_hint="--t")
    try:
        ts = [float(v) for v in entries]
    except ValueError:
        raise click.BadParameter(f"expected a number or comma-separated numbers, got {value!r}",
                                 param_hint="--t") from None
    if any(not 0.0 <= t <= 1.0 for t in ts):
        raise click.BadParameter(f"times must lie in [0, 1], got {value!r}", param_hint="--t")
    if len(set(ts)) != len(ts):
        raise click.BadParameter(f"a time is repeated in {value!r}", param_hint="--t")
    return ts[0] if len(ts) == 1 else ts


@contextlib.contextmanager
def warnings_as_messages():
    """Library warnings (t given to a static encoder, ...) as one 'warning: ...' line each on
    stderr, each message once, instead of Python's file-and-line form."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        try:
            yield
        finally:
            for message in dict.fromkeys(str(w.message) for w in caught):
                click.echo(f"warning: {message}", err=True)


FEATURES_HELP = ("z: the code (the paper's); pooled: the encoder's pooled features before its "
                 "last layer; denoiser: the score net's block activations at noise level t, "
                 "pooled (DRL models); best: the model's best measured read (its card's parts, "
                 "no --t).")

features_option = click.option("--features", type=click.Choice(["z", "pooled", "denoiser", "best"]),
                               default="z", show_default=True, help=FEATURES_HELP)
layers_option = click.option("--layers", default=None,
                             help="Denoiser read: the score-net blocks to read: all, down, mid, "
                                  "up, block numbers, or a comma-separated mix [default: the "
                                  "card's].")
pool_option = click.option("--pool", type=click.Choice(["avg", "grid2"]), default=None,
                           help="Denoiser read: global average, or averages over a 2 x 2 grid "
                                "(4x wider) [default: the card's].")


threads_option = click.option(
    "--threads", type=click.IntRange(1), default=None,
    help="CPU threads for the networks [default for encode and eval: the cores that no other "
         "process is keeping busy when the command starts, at least 1, unless OMP_NUM_THREADS "
         "is set; for train: PyTorch's, so that a resumed run is bitwise the uninterrupted "
         "one]. PyTorch's own default, one per core, runs 2x slower on a 2-core machine where "
         "another job holds a core (docs/performance.md, 'Threads').")


def set_threads(threads: int | None, auto: bool = True) -> None:
    """--threads: PyTorch's intra-op threads. None: `drlkit.threads.auto_threads` when `auto`
    and OMP_NUM_THREADS is not set (torchrun sets it), else PyTorch's default."""
    import os

    import torch

    from drlkit.threads import auto_threads

    if threads is None and (not auto or "OMP_NUM_THREADS" in os.environ):
        return
    torch.set_num_threads(threads if threads is not None else auto_threads())


def read_request(features: str, layers: str | None, pool: str | None) -> dict:
    """The denoiser read's options given on the command line, for encode/evaluate_model."""
    if features != "denoiser" and (layers is not None or pool is not None):
        raise click.BadParameter("--layers and --pool are options of the denoiser read",
                                 param_hint="--features denoiser")
    return {k: v for k, v in (("layers", layers), ("pool", pool)) if v is not None}


def load_named(name: str, device: str | None):
    from drlkit.registry import load

    try:
        return load(name, device=device)
    except CheckpointError as e:
        raise click.ClickException(str(e)) from None
    except ValueError as e:  # a device that cannot be used here
        raise click.BadParameter(str(e), param_hint="--device") from None


def parse_list(value: str, parse, param_hint: str):
    try:
        return parse(value)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint=param_hint) from None


def json_default(v):
    if isinstance(v, np.generic):
        return v.item()
    raise TypeError(f"not JSON serialisable: {type(v).__name__}")


def write_text(path, text: str) -> None:
    """Write a report/table atomically (files' temp-name-then-rename), creating its folder."""
    from drlkit.atomic import atomic_write

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda f: f.write(text.encode("utf-8")))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="drlkit")
def cli() -> None:
    """drlkit: diffusion-based representation learning (train, ship and use DRL encoders)."""


def main() -> None:
    cli(prog_name="drlkit")
