"""What `drlkit encode` writes and how to read it back: feats.npy with its sidecars
feats.files.txt (the image of each row) and feats.skipped.txt (path TAB reason), or one
feats.npz ("codes", "files", "t", "skipped", "skipped_reasons"). Every file is written atomically."""

from __future__ import annotations

import errno
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from drlkit.atomic import atomic_write
from drlkit.preprocess import display_path

OUTPUT_SUFFIXES = (".npy", ".npz")


def check_output_name(out: str | os.PathLike) -> Path:
    """`out` as a Path if it names a .npy or .npz file, else ValueError."""
    out = Path(out)
    if out.suffix not in OUTPUT_SUFFIXES:
        raise ValueError(f"--out {display_path(out)}: expected a .npy file name (codes, with "
                         ".files.txt and .skipped.txt beside it) or a .npz (all in one file)")
    return out


def sidecar(out: Path, kind: str) -> Path:
    """feats.npy -> feats.files.txt / feats.skipped.txt."""
    return out.with_name(f"{out.stem}.{kind}.txt")


def unwritable_reason(out: Path, error: OSError) -> str:
    """Why `out` cannot be written, in words, with what to do."""
    for parent in out.parents:
        if parent.exists() and not parent.is_dir():
            return f"{display_path(parent)} is a file, not a folder; choose another output path"
    if isinstance(error, PermissionError):
        return "no permission to write there; choose a folder you can write to"
    if isinstance(error, FileNotFoundError) or getattr(error, "errno", None) == errno.EROFS:
        existing = next((p for p in out.parents if p.is_dir()), None)
        if existing is not None and os.path.ismount(existing):
            return (f"{display_path(existing)} does not take new files (a read-only or virtual "
                    "file system?); choose a folder you can write to")
    return (f"cannot write there ({error.strerror or error}); choose a folder you can write "
            "to")


def write_sidecars(out: Path, files: Sequence[Path], skipped: Sequence[tuple[Path, str]]) -> None:
    """<out>.files.txt (a path per row) and <out>.skipped.txt (path TAB reason), byte-exact names."""
    rows = b"".join(os.fsencode(p) + b"\n" for p in files)
    skips = b"".join(os.fsencode(p) + b"\t" + why.encode("utf-8", "replace") + b"\n"
                     for p, why in skipped)
    atomic_write(sidecar(out, "files"), lambda f: f.write(rows))
    atomic_write(sidecar(out, "skipped"), lambda f: f.write(skips))


def write_npz(out: Path, codes: np.ndarray, files: Sequence[Path],
              skipped: Sequence[tuple[Path, str]], ts: list[float], single: bool,
              model: str = "", features: str = "z") -> None:
    """The whole result in one .npz; file names as str (undecodable bytes as os.fsdecode gives
    them, so `Path(name)` opens the file again); `model` and `features` say what encoded it
    (`drlkit probe` reads them back with t)."""
    arrays = {"codes": codes, "files": np.array([os.fsdecode(p) for p in files], dtype=str),
              "t": np.array(ts[0] if single and ts else ts, dtype=np.float64),  # "best": []
              "skipped": np.array([os.fsdecode(p) for p, _ in skipped], dtype=str),
              "skipped_reasons": np.array([why for _, why in skipped], dtype=str),
              "model": np.array(model, dtype=str), "features": np.array(features, dtype=str)}
    atomic_write(out, lambda f: np.savez(f, **arrays))


def read_files_list(out: str | os.PathLike) -> list[Path]:
    """The image path of each row of `out` (its .files.txt sidecar, or a .npz's "files"),
    byte-exact."""
    out = Path(out)
    if out.suffix == ".npz":
        with np.load(out, allow_pickle=False) as z:
            return [Path(name) for name in z["files"].tolist()]
    data = sidecar(out, "files").read_bytes()
    return [Path(os.fsdecode(line)) for line in data.split(b"\n") if line]


def read_npz_meta(path: str | os.PathLike) -> dict:
    """What an `encode` .npz says of its codes: {"t": float, list or None (the "best" read, or
    none stored), "model": str or None, "features": str or None}; {} for a .npy."""
    path = Path(path)
    if path.suffix != ".npz":
        return {}
    with np.load(path, allow_pickle=False) as data:
        t = data["t"].tolist() if "t" in data.files else None
        return {"t": t if t != [] else None,
                **{k: (str(data[k]) or None) if k in data.files else None
                   for k in ("model", "features")}}


def read_features(path: str | os.PathLike) -> np.ndarray:
    """The codes of an `encode` output: a .npy, or the "codes" of a .npz (any other .npz: its
    only array)."""
    path = Path(path)
    data = np.load(path, allow_pickle=False)
    if not isinstance(data, np.lib.npyio.NpzFile):
        return data
    with data:
        if "codes" in data.files:
            return data["codes"]
        if len(data.files) == 1:
            return data[data.files[0]]
        raise ValueError(f"{display_path(path)}: a .npz without a 'codes' array (it has "
                         f"{', '.join(data.files)})")
