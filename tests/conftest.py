"""Shared fixtures: the data root (../shared/data unless DRLKIT_DATA says otherwise) and tiny models."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from drlkit.config import preset
from drlkit.data import ImageDataset
from drlkit.model import DRLModel

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def data_root() -> Path:
    root = Path(os.environ.get("DRLKIT_DATA") or REPO.parent / "shared" / "data")
    if not (root / "mnist").is_dir():
        pytest.fail(f"test data not found at {root}: set DRLKIT_DATA to the shared data folder")
    return root


def tiny_model(seed: int = 0, **overrides) -> DRLModel:
    torch.manual_seed(seed)
    return DRLModel(preset("tiny", **{"image_size": 16, "channels": 1, "latent_dim": 8,
                                      **overrides})).eval()


def synthetic_dataset(n: int = 64, size: int = 16, channels: int = 1, seed: int = 0) -> ImageDataset:
    """Two classes of blobs: bright left half vs bright right half, plus noise."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 2
    img = rng.integers(0, 60, size=(n, size, size, channels)).astype(np.uint8)
    for i, y in enumerate(labels):
        sl = slice(0, size // 2) if y == 0 else slice(size // 2, size)
        img[i, :, sl] = np.clip(img[i, :, sl].astype(int) + 180, 0, 255)
    return ImageDataset(img, labels.astype(np.int64), ["left", "right"], "synthetic blobs")


@pytest.fixture(autouse=True)
def _keep_torch_threads():
    """Commands run in-process (CliRunner) set PyTorch's thread count (--threads, or the
    load-aware default of encode/eval/finetune): put it back after each test, so that no test
    inherits another's, as separate processes never do."""
    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)
