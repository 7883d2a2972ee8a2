"""Encoding files on disk: list a folder, decode each image (skipping unreadable ones with a
reason), embed in batches, and write the result atomically with sidecars (DESIGN §3, §7).

Outputs for `--out feats.npy`: `feats.npy` (float32, one row per readable image in sorted path
order), `feats.files.txt` (the image of each row), `feats.skipped.txt` (path<TAB>reason per skip).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from drlkit.data import list_images
from drlkit.model import DRLModel
from drlkit.preprocess import load_image


@dataclass
class EncodeResult:
    features: np.ndarray
    files: list[Path]
    skipped: list[tuple[Path, str]] = field(default_factory=list)


def collect(path: str | os.PathLike) -> list[Path]:
    """A file -> [file]; a folder -> its image files, recursively, in sorted path order."""
    p = Path(path)
    if p.is_dir():
        return list_images(p)
    if p.is_file():
        return [p]
    raise FileNotFoundError(f"{p}: no such file or folder")


def _decode(path: Path) -> np.ndarray | str:
    """The decoded image, or the reason it cannot be read (never raises for a bad file)."""
    try:
        return load_image(path)
    except Exception as e:  # Pillow raises many types (OSError, SyntaxError, DecompressionBomb...)
        return f"{type(e).__name__}: {e}".replace("\n", " ").replace("\t", " ")


def encode_files(model: DRLModel, paths: Sequence[Path], t, batch_size: int = 256,
                 progress: bool = False) -> EncodeResult:
    """Decode and embed `paths` in batches; unreadable files are skipped and reported."""
    from tqdm.auto import tqdm

    feats, kept, skipped = [], [], []
    bar = tqdm(total=len(paths), desc="encode", unit="img", disable=not progress)
    for s in range(0, len(paths), batch_size):
        chunk, images = [], []
        for p in paths[s : s + batch_size]:
            img = _decode(p)
            if isinstance(img, str):
                skipped.append((p, img))
            else:
                chunk.append(p)
                images.append(img)
        if images:
            feats.append(model.encode(images, t=t, batch_size=batch_size))
            kept.extend(chunk)
        bar.update(len(paths[s : s + batch_size]))
    bar.close()
    d = model.config.latent_dim
    shape = (0, d) if np.ndim(t) == 0 else (0, len(t), d)  # np.ndim(None) == 0
    out = np.concatenate(feats) if feats else np.empty(shape, dtype=np.float32)
    return EncodeResult(out, kept, skipped)


def sidecar(out: Path, kind: str) -> Path:
    """feats.npy -> feats.files.txt / feats.skipped.txt."""
    return out.with_name(f"{out.stem}.{kind}.txt")


def _atomic_write(path: Path, write) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            write(f)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_result(result: EncodeResult, out: str | os.PathLike) -> Path:
    """Write the features and sidecars; the .npy is renamed into place last, so its presence
    means the whole result is complete."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    files = "".join(f"{p}\n" for p in result.files).encode("utf-8", "surrogateescape")
    skipped = "".join(f"{p}\t{why}\n" for p, why in result.skipped).encode("utf-8", "surrogateescape")
    _atomic_write(sidecar(out, "files"), lambda f: f.write(files))
    _atomic_write(sidecar(out, "skipped"), lambda f: f.write(skipped))
    _atomic_write(out, lambda f: np.save(f, result.features))
    return out
