"""The model registry (DESIGN §4): one literal table of shipped checkpoints with full sha256 hashes.

`load` verifies the hash of every shipped file before reading it and loads strictly; paths to other
drlkit files load without a hash (there is nothing to compare against) but are still validated.
"""

from __future__ import annotations

import difflib
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from drlkit.checkpoint import CheckpointError, load_model, read_header
from drlkit.model import DRLModel


@dataclass(frozen=True)
class Entry:
    file: str
    sha256: str
    description: str


REGISTRY: dict[str, Entry] = {
    "mnist": Entry(
        file="mnist.safetensors",
        sha256="fe6a51e9c12626bc2122ed6f6fbef642066d04d6c122cf697dcae6fbb3f809b0",
        description="t-conditioned DRL, small preset, MNIST train, CPU-trained",
    ),
    "cifar10": Entry(
        file="cifar10.safetensors",
        sha256="6f10d8e9e7a69609cf778e55a46eba9e7e8a1b3584a3dc5f7fe9d190d905da18",
        description="t-conditioned DRL, small preset, CIFAR-10 JPEG copy, GPU-trained 1.66M images",
    ),
    "cifar10-cpu": Entry(
        file="cifar10-cpu.safetensors",
        sha256="82cb33102a18797edfadbcf8b5a1a0bf6ab55af5358c7a7ed5881cc96f7ed491",
        description="t-conditioned DRL, small preset, CIFAR-10 train (lossless), CPU-trained 640k images",
    ),
    "fashion-mnist": Entry(
        file="fashion-mnist.safetensors",
        sha256="804160fd6edf812e9933a227aa70820a872363ad7f1f19756b54b266780dc475",
        description="t-conditioned DRL, small preset, Fashion-MNIST train, CPU-trained 128k images",
    ),
    "mnist-2d": Entry(
        file="mnist-2d.safetensors",
        sha256="fb97239bfb02d41c8cfe4e0b21aa4ada2653fce54facecc3b7518841c0b7a938",
        description="t-conditioned DRL with a 2-D code (for pictures: latent grids), MNIST, CPU-trained",
    ),
    "cifar10-ae": Entry(
        file="cifar10-ae.safetensors",
        sha256="244e2d7a56526eabf54ebc71fe803765569702864fa7ca2ee9fbfed600e6e942",
        description="autoencoder baseline (static code, same encoder and budget as cifar10-cpu), CPU-trained",
    ),
    "cifar10-simclr": Entry(
        file="cifar10-simclr.safetensors",
        sha256="99660fc463822c6798d0cff95da099007816b2823380535c4c6fabcf8b141cb3",
        description="SimCLR baseline (static code, same encoder and budget as cifar10-cpu), CPU-trained",
    ),
    "cifar10-vdrl": Entry(
        file="cifar10-vdrl.safetensors",
        sha256="5b047369f726117300f69ea9e49d970c5dd9d2ae9b95b9e54df5c215fa49e612",
        description="VDRL (probabilistic t-conditioned code), CIFAR-10 JPEG copy, GPU-trained 384k images",
    ),
    "cifar10-coarse": Entry(
        file="cifar10-coarse.safetensors",
        sha256="e61f6e03d3cf94b67f71139eacc046b4b1e808f48350c362435972740c0ea971",
        description="t-conditioned DRL, uniform-sigma sampler, CIFAR-10 JPEG copy, GPU-trained 384k images",
    ),
}
DEFAULT_MODEL = "mnist"


class UnknownModelError(CheckpointError, KeyError):
    """A name that is neither in the registry nor a path to a file."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


def checkpoint_dir() -> Path:
    """Where the shipped files are: `drlkit/checkpoints` in an installed wheel, or the top-level
    `checkpoints/` folder of a source checkout (mapped onto the same package at build time)."""
    packaged = Path(__file__).parent / "checkpoints"
    if any(packaged.glob("*.safetensors")):
        return packaged
    return Path(__file__).resolve().parent.parent / "checkpoints"


def sha256sum(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def resolve(name_or_path: str | os.PathLike) -> tuple[Path, Entry | None]:
    """A registry name (any case) -> (shipped file, entry); an existing path -> (path, None)."""
    if name_or_path is None or not isinstance(name_or_path, (str, os.PathLike)):
        raise UnknownModelError(f"model: expected a registry name or a path to a .safetensors "
                                f"file, got {name_or_path!r}")
    key = str(name_or_path)
    name = registry_name(key)
    if name is not None:
        return checkpoint_dir() / REGISTRY[name].file, REGISTRY[name]
    path = Path(name_or_path)
    if path.is_file():
        return path, None
    close = difflib.get_close_matches(key.lower(), list(REGISTRY), n=1, cutoff=0.6)
    hint = f"did you mean {close[0]!r}? " if close else ""
    raise UnknownModelError(
        f"unknown model {key!r}: {hint}not a registry name ({', '.join(sorted(REGISTRY))}) "
        "and no such file; run `drlkit models` for the list"
    )


def registry_name(name: str) -> str | None:
    """The registry's name for `name`, matched exactly or case-insensitively ("MNIST" -> "mnist")."""
    if name in REGISTRY:
        return name
    return next((k for k in REGISTRY if k.lower() == name.lower()), None)


def verify_file(name: str) -> Path:
    """Check a shipped file exists and its sha256 matches the registry; returns its path."""
    path, entry = resolve(name)
    assert entry is not None, "verify_file takes registry names"
    if not path.is_file():
        raise CheckpointError(f"{path}: shipped file for {name!r} is missing; reinstall drlkit")
    got = sha256sum(path)
    if got != entry.sha256:
        raise CheckpointError(
            f"{path}: sha256 {got[:16]}... does not match the registry's {entry.sha256[:16]}... "
            f"for {name!r}: the file is corrupt or was modified; reinstall drlkit"
        )
    return path


def load(name_or_path: str | os.PathLike | None = DEFAULT_MODEL,
         device: str | torch.device | None = None) -> DRLModel:
    """Load a model by registry name (hash-verified) or from a .safetensors path.

    Args:
        name_or_path: e.g. "mnist" (any case), or "runs/x/model.safetensors" [default, or
            None: `DEFAULT_MODEL`, the model `drlkit encode` uses without --model].
        device: "cpu", "cuda", ...; default CUDA when available, else CPU.

    Returns:
        The DRLModel in eval mode, with `.config` and `.card`.

    Raises:
        UnknownModelError: unknown name and no such file.
        CheckpointError: hash mismatch, truncated or corrupt file, not a drlkit file, newer format.
    """
    if name_or_path is None:
        name_or_path = DEFAULT_MODEL
    path, entry = resolve(name_or_path)
    name = registry_name(str(name_or_path)) if entry is not None else None
    if name is not None:
        verify_file(name)
    model = load_model(path, device)
    model.card["name"] = name if name is not None else path.stem
    return model


def list_models() -> list[dict[str, Any]]:
    """One dict per registry entry: name, description, file, recommended t, headline metrics, the
    card's best read (`reads.best`: its parts and scores; None where the card names none), and
    `default` (True for the model `drlkit.load()` and `drlkit encode` use when none is named)."""
    rows = []
    for name, entry in REGISTRY.items():
        path = checkpoint_dir() / entry.file
        row: dict[str, Any] = {"name": name, "description": entry.description, "file": str(path),
                               "sha256": entry.sha256, "default": name == DEFAULT_MODEL}
        try:
            meta = read_header(path)
            row.update(recommended_t=meta["recommended_t"], metrics=meta["metrics"],
                       best_read=meta.get("reads", {}).get("best"),
                       latent_dim=meta["config"]["latent_dim"],
                       t_conditioned=meta["config"]["t_conditioned"],
                       num_params=meta["num_params"]["total"])
        except CheckpointError as e:
            row["error"] = str(e)
        rows.append(row)
    return rows
