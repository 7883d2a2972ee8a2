"""The `drlkit` group and the helpers its commands share (argument parsing, loading a model by
name, writing reports)."""


from __future__ import annotations

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


def parse_ts(value: str | None) -> float | list[float] | None:
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
