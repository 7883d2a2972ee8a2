"""Encoding files on disk: list a folder, decode each image in worker processes (skipping
unreadable ones with a reason), embed in batches, and stream the result to disk so that memory
stays flat in the number of images and an interrupted run can continue (DESIGN §3, §7).

Outputs (written and read by drlkit.outputs) for `--out feats.npy`: `feats.npy` (float32, one row
per readable image in sorted path order), `feats.files.txt` (the image of each row),
`feats.skipped.txt` (path<TAB>reason per skip). The .npy is renamed into place last: if it
exists, the whole result is complete. For `--out feats.npz`, one file holds it all
(`read_features` reads either): "codes", "files" (the image of each row), "t" (the times, or
one), "skipped" and "skipped_reasons".

While a run is going, finished batches live in `feats.npy.partial/` (one .npy and one .json per
batch, each written atomically, so a kill at any moment leaves only whole batches). `--resume`
reuses them; the batches are fixed index ranges of the sorted file list, so a resumed run computes
exactly what an uninterrupted one would and the outputs are identical.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from drlkit.atomic import atomic_path, atomic_write
from drlkit.distributed import World, usable_cpus
from drlkit.model import DRLModel
from drlkit.outputs import (  # noqa: F401 - read_features, read_files_list: part of this API
    check_output_name,
    read_features,
    read_files_list,
    sidecar,
    unwritable_reason,
    write_npz,
    write_sidecars,
)
from drlkit.preprocess import ImageReadError, display_path, is_image_path, load_image, one_image

PARTIAL_FORMAT = "drlkit-encode-partial-1"


@dataclass
class EncodeResult:
    features: np.ndarray
    files: list[Path]
    skipped: list[tuple[Path, str]] = field(default_factory=list)


# --------------------------------------------------------------------------- listing


def collect(path: str | os.PathLike, include_hidden: bool = False) -> list[Path]:
    """A file -> [file]; a folder -> its image files, recursively, in sorted path order.

    Entries with an image extension (any case) that are not regular files are listed too
    (dangling symbolic links, FIFOs), so that they are reported as skipped rather than silently
    dropped; directories are descended into, never listed, whatever their name. Symbolic links
    to directories are not followed (no cycles). Hidden files and folders under a folder (names
    that start with ".", as `.ipynb_checkpoints/` or macOS's `._photo.jpg`) are left out unless
    `include_hidden`; a hidden file or folder named itself is read.
    """
    p = Path(path)
    if p.is_dir():
        found = []
        for dirpath, dirnames, filenames in os.walk(p):
            if not include_hidden:
                dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            dirnames.sort()
            for name in filenames:
                f = Path(dirpath, name)
                if (include_hidden or not name.startswith(".")) and is_image_path(f) \
                        and not f.is_dir():
                    found.append(f)
        return sorted(found, key=lambda q: os.fsencode(q))
    if p.is_file() or (p.is_symlink() and not p.exists()):
        return [p]
    raise FileNotFoundError(f"{display_path(p)}: no such file or folder")


def collect_all(paths: Sequence[str | os.PathLike], include_hidden: bool = False,
                missing_ok: bool = False) -> list[Path]:
    """The images of several paths, files and folders mixed: each path's images in the order the
    paths are given (a folder's in sorted path order, as `collect`), a path met twice kept at
    its first place. `missing_ok`: a path that does not exist is listed anyway (a file list's
    entry; encoding reports it as skipped, "no such file") instead of raising
    FileNotFoundError."""
    out: dict[Path, None] = {}
    for path in paths:
        try:
            found = collect(path, include_hidden)
        except FileNotFoundError:
            if not missing_ok:
                raise
            found = [Path(path)]
        out.update(dict.fromkeys(found))
    return list(out)


def read_file_list(source: str, stdin=None) -> list[str]:
    """The paths of a file list, one a line (blank lines skipped); "-" reads standard input."""
    import sys

    if source == "-":
        text = (stdin or sys.stdin).read()
    else:
        with open(source, encoding="utf-8", errors="surrogateescape") as f:
            text = f.read()
    return [line.rstrip("\r") for line in text.split("\n") if line.strip()]


# --------------------------------------------------------------------------- decoding in workers


class _Decoded(torch.utils.data.Dataset):
    """Item i: (i, float (C, S, S) tensor in [0, 1]) or (i, reason) for a file that cannot be used."""

    def __init__(self, paths: Sequence[Path], channels: int, size: int) -> None:
        self.paths, self.channels, self.size = paths, channels, size

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> tuple[int, torch.Tensor | str]:
        try:
            image = load_image(self.paths[i])
            return i, one_image(image, self.channels, self.size)[0]
        except ImageReadError as e:
            return i, e.reason
        except Exception as e:  # never let one file end the run; the reason is reported
            return i, f"cannot convert: {type(e).__name__}: {' '.join(str(e).split())}"


def _collate(items: list[tuple[int, torch.Tensor | str]]):
    good = [(i, x) for i, x in items if not isinstance(x, str)]
    bad = [(i, x) for i, x in items if isinstance(x, str)]
    images = torch.stack([x for _, x in good]) if good else None
    return [i for i, _ in good], images, bad


def _worker_init(_: int) -> None:
    torch.set_num_threads(1)  # decoding is per image; the main process owns the cores for compute


def default_workers(processes: int = 1) -> int:
    """Decode workers per process: one fewer than this process's share of the CPUs (at least 1),
    at most 8; `processes` encoders share the machine (torchrun)."""
    return max(1, min(8, usable_cpus() // processes - 1))


def _batches(paths: Sequence[Path], starts: Sequence[int], batch_size: int, channels: int,
             size: int, workers: int, pin_memory: bool) -> Iterator[tuple[int, list, object, list]]:
    """(start, kept indices, images or None, [(index, reason)]) for each batch [start, start+bs)."""
    index_batches = [list(range(s, min(s + batch_size, len(paths)))) for s in starts]
    loader = torch.utils.data.DataLoader(
        _Decoded(paths, channels, size), batch_sampler=index_batches, num_workers=workers,
        collate_fn=_collate, pin_memory=pin_memory, worker_init_fn=_worker_init if workers else None,
        prefetch_factor=4 if workers else None, persistent_workers=False)
    for start, (kept, images, bad) in zip(starts, loader, strict=True):
        yield start, kept, images, bad


def _embed(model: DRLModel, images, request: dict, shape: tuple[int, ...],
           precision: str = "fp32") -> np.ndarray:
    """Codes of a decoded batch (`request`: encode's t, features and read options); an empty
    (0, *shape) array when every file was skipped."""
    if images is None:
        return np.empty((0, *shape), dtype=np.float32)
    # batch_size groups files (decoding, partial writes); the forward passes use the encoder's
    # own fastest batch
    return model.encode(images, precision=precision, **request)


def _request(model: DRLModel, t, features: str, read: dict | None
             ) -> tuple[dict, list[float], bool, int]:
    """(encode's keyword arguments, times, single t, width D) of a read, checked before any
    work; "best" has no times of its own (ts = [], one (N, D) code)."""
    plan, single = model.read_plan(features, t, **(read or {}))
    ts = [] if plan.combined else plan.steps[0][1]
    return {"t": t, "features": features, **(read or {})}, ts, single, plan.shape[-1]


# --------------------------------------------------------------------------- in memory


def encode_files(model: DRLModel, paths: Sequence[Path], t=None, batch_size: int = 256,
                 workers: int | None = 0, progress: bool = False, precision: str = "fp32",
                 features: str = "z", read: dict | None = None) -> EncodeResult:
    """Decode and embed `paths` in batches, in memory; unreadable files are skipped and reported.
    `features` ("z", "pooled", "denoiser" or "best") and `read` (the denoiser read's layers,
    pool, give_z) as in `DRLModel.encode`.

    For many files prefer `encode_to_file`, which streams to disk and can resume.
    """
    from drlkit.progress import tqdm

    request, ts, single, dim = _request(model, t, features, read)
    shape = (dim,) if single else (len(ts), dim)
    workers = default_workers() if workers is None else workers
    feats, kept, skipped = [], [], []
    starts = list(range(0, len(paths), batch_size))
    with tqdm(total=len(paths), desc="encode", unit="img", disable=not progress) as bar:
        for start, idx, images, bad in _batches(paths, starts, batch_size, model.config.channels,
                                                model.config.image_size, workers, False):
            feats.append(_embed(model, images, request, shape, precision))
            kept.extend(paths[i] for i in idx)
            skipped.extend((paths[i], why) for i, why in bad)
            bar.update(min(batch_size, len(paths) - start))
    out = np.concatenate(feats) if feats else _embed(model, None, request, shape)
    return EncodeResult(out, kept, skipped)


# --------------------------------------------------------------------------- streamed to disk


def partial_dir(out: Path) -> Path:
    """Where an unfinished `encode_to_file` keeps its finished batches."""
    return out.with_name(f"{out.name}.partial")


def _manifest(model: DRLModel, paths: Sequence[Path], ts: list[float], single: bool,
              batch_size: int, precision: str, features: str, read: dict | None = None) -> dict:
    from drlkit.checkpoint import encoder_digest

    names = hashlib.sha256(b"\0".join(os.fsencode(p) for p in paths)).hexdigest()
    return {"format": PARTIAL_FORMAT, "model_sha256": encoder_digest(model), "t": ts,
            "single_t": single, "batch_size": batch_size, "precision": precision,
            "n_files": len(paths),
            "file_list_sha256": names, "features": features, "read": read or {}}


class NothingEncoded(ValueError):
    """Not one of the files could be encoded (`skipped` says why each failed); no output was
    written, unless the caller allowed an empty one."""

    def __init__(self, skipped: Sequence[tuple[Path, str]]) -> None:
        self.skipped = list(skipped)
        shown = "; ".join(f"{display_path(p)}: {why}" for p, why in self.skipped[:3])
        more = f"; and {len(self.skipped) - 3} more" if len(self.skipped) > 3 else ""
        n = len(self.skipped)
        super().__init__(f"none of the {n} file{'s' if n != 1 else ''} could be encoded "
                         f"({shown}{more}); nothing was written")


class ResumeError(ValueError):
    """A partial run that does not belong to this command (other files, model, t or batch size)."""


@dataclass
class EncodeSummary:
    out: Path
    shape: tuple[int, ...]
    n_files: int
    skipped: list[tuple[Path, str]]
    resumed_batches: int


def _done_batches(partial: Path, manifest: dict) -> dict[int, dict]:
    with open(partial / "manifest.json", encoding="utf-8") as f:
        old = json.load(f)
    old.setdefault("features", "z")  # written before --features existed
    old.setdefault("read", {})  # written before the denoiser read existed
    diff = [k for k in manifest if old.get(k) != manifest[k]]
    if diff:
        what = {"model_sha256": "model", "t": "t", "single_t": "t", "batch_size": "--batch-size",
                "n_files": "file list", "file_list_sha256": "file list",
                "precision": "--precision", "features": "--features",
                "read": "--layers/--pool", "format": "drlkit version"}
        raise ResumeError(f"{display_path(partial)} was started with a different "
                          f"{', '.join(sorted({what[k] for k in diff}))}; run without --resume to "
                          "start over")
    done = {}
    for meta in partial.glob("batch-*.json"):
        with open(meta, encoding="utf-8") as f:
            record = json.load(f)
        if (partial / f"batch-{record['start']:010d}.npy").is_file():
            done[record["start"]] = record
    return done


def encode_to_file(model: DRLModel, paths: Sequence[Path], out: str | os.PathLike, t=None,
                   batch_size: int = 256, workers: int | None = None, resume: bool = False,
                   progress: bool = False, on_batch: Callable[[int], None] | None = None,
                   world: World | None = None, precision: str = "fp32", features: str = "z",
                   read: dict | None = None, allow_empty: bool = True) -> EncodeSummary:
    """Embed `paths` into the .npy file `out` (with sidecars), streaming: decoding runs in
    `workers` processes (default: `default_workers()`; 0 decodes in this process) while the
    encoder runs, finished batches go to `partial_dir(out)`, and the final .npy is assembled
    through a memory map, so memory does not grow with the number of images.

    With resume=True the finished batches of an interrupted run with the same files, model, t and
    batch size are reused; without it any old partial run is discarded. `features` ("z",
    "pooled", "denoiser" or "best") and `read` (the denoiser read's layers, pool, give_z) as in
    `DRLModel.encode`. `on_batch(n_done)` is
    called after each batch (tests use it to interrupt at a chosen point). With
    allow_empty=False, a run where no file could be encoded raises `NothingEncoded` and writes
    nothing (`drlkit encode` without --allow-empty).

    Distributed (`world` of several ranks under torchrun, every rank calling this with the same
    arguments): rank r encodes batches r, r + N, r + 2N, ... into the shared partial folder and
    rank 0 assembles them, so the output is the one-process output; every rank returns the
    summary once the output exists. A partial run resumes with any number of processes.

    Raises:
        ResumeError: the partial run was made with other files, model, t or batch size.
        NothingEncoded: no file could be encoded, and allow_empty is False.
    """
    from drlkit.progress import tqdm

    out = check_output_name(out)
    request, ts, single, dim = _request(model, t, features, read)  # bad reads fail before work
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    from drlkit.precision import resolve_precision

    resolve_precision(precision, model.device)  # an unknown precision fails before any work
    world = world or World()
    workers = default_workers(world.local_size) if workers is None else workers
    partial = partial_dir(out)
    manifest = _manifest(model, paths, ts, single, batch_size, precision, features, read)
    resuming = resume and (partial / "manifest.json").is_file()
    if world.is_main:  # one rank prepares the shared partial folder, the others wait for it
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            if partial.exists() and not resuming:
                shutil.rmtree(partial)
            if not resuming:
                partial.mkdir(parents=True, exist_ok=True)
                payload = json.dumps(manifest, indent=1).encode()
                atomic_write(partial / "manifest.json", lambda f: f.write(payload))
        except OSError as e:
            raise ValueError(f"--out {display_path(out)}: {unwritable_reason(out, e)}") from None
    world.barrier()
    done = _done_batches(partial, manifest) if resuming else {}
    reused = len(done)
    starts = [s for s in range(0, len(paths), batch_size)
              if s not in done and (s // batch_size) % world.size == world.rank]
    mine = sum(min(batch_size, len(paths) - s) for s in starts)  # this rank's images to do
    n_done = sum(min(batch_size, len(paths) - s) for s in done)  # images done, by all runs
    pin = model.device.type == "cuda"
    # one process: the whole list, resumed batches included; several: rank 0's own share
    total, initial = (mine, 0) if world.distributed else (len(paths), n_done)
    with _stop_on_sigint() as stop, tqdm(total=total, initial=initial, desc="encode", unit="img",
                                         disable=not (progress and world.is_main)) as bar:
        for start, idx, images, bad in _batches(paths, starts, batch_size, model.config.channels,
                                                model.config.image_size, workers, pin):
            feats = _embed(model, images, request, (dim,) if single else (len(ts), dim), precision)
            name = f"batch-{start:010d}"
            atomic_write(partial / f"{name}.npy", lambda f, a=feats: np.save(f, a))
            record = {"start": start, "kept": idx, "skipped": bad}
            payload = json.dumps(record).encode()  # ASCII: odd file names never reach this file
            atomic_write(partial / f"{name}.json", lambda f, b=payload: f.write(b))
            done[start] = record
            n = min(batch_size, len(paths) - start)
            n_done += n
            bar.update(n)
            if on_batch is not None:
                on_batch(n_done)
            if stop:  # Ctrl-C: stop between batches, with every finished batch on disk
                raise KeyboardInterrupt
    if world.distributed:  # collect every rank's batches from the shared folder
        world.barrier()
        done = _done_batches(partial, manifest)
        world.barrier()  # all have read the folder before rank 0 removes it
    if not allow_empty and not any(r["kept"] for r in done.values()):
        world.barrier()  # every rank has seen the batches before rank 0 removes them
        if world.is_main:
            shutil.rmtree(partial, ignore_errors=True)
        raise NothingEncoded([(paths[i], why) for st in sorted(done) for i, why in done[st]["skipped"]])
    if world.is_main:
        _assemble(out, partial, paths, done, ts, single, dim,
                  (str(model.card.get("name", "")), features))
    world.barrier()
    return _summary(out, paths, done, ts, single, dim, reused)


@contextlib.contextmanager
def _stop_on_sigint():
    """Turn SIGINT into a flag checked between batches (in the main thread), so an interrupt
    never lands inside a DataLoader or a file write; the old handler comes back afterwards."""
    stop: list[bool] = []
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return
    old = signal.signal(signal.SIGINT, lambda *_: stop.append(True))
    try:
        yield stop
    finally:
        signal.signal(signal.SIGINT, old)


def _summary(out: Path, paths: Sequence[Path], done: dict[int, dict], ts: list[float],
             single: bool, dim: int, reused: int = 0) -> EncodeSummary:
    rows = sum(len(r["kept"]) for r in done.values())
    skipped = [(paths[i], why) for s in sorted(done) for i, why in done[s]["skipped"]]
    shape = (rows, dim) if single else (rows, len(ts), dim)
    return EncodeSummary(out, shape, len(paths), skipped, reused)


def _assemble(out: Path, partial: Path, paths: Sequence[Path], done: dict[int, dict],
              ts: list[float], single: bool, dim: int, what: tuple[str, str] = ("", "z")) -> None:
    """Join the finished batches into `out`; `what`: (model name, features) for a .npz."""
    order = sorted(done)
    summary = _summary(out, paths, done, ts, single, dim)
    kept = [paths[i] for s in order for i in done[s]["kept"]]
    if out.suffix == ".npz":  # one file: the codes are gathered in memory
        parts = [np.load(partial / f"batch-{s:010d}.npy") for s in order]
        codes = np.concatenate(parts) if parts else np.empty(summary.shape, np.float32)
        write_npz(out, codes, kept, summary.skipped, ts, single, *what)
    else:
        with atomic_path(out) as tmp:  # the .npy comes last: its presence means complete
            arr = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=summary.shape)
            row = 0
            for s in order:
                part = np.load(partial / f"batch-{s:010d}.npy", mmap_mode="r")
                arr[row : row + len(part)] = part
                row += len(part)
            arr.flush()
            del arr
            write_sidecars(out, kept, summary.skipped)
    shutil.rmtree(partial, ignore_errors=True)


def write_result(result: EncodeResult, out: str | os.PathLike) -> Path:
    """Write an in-memory result and its sidecars; the .npy is renamed into place last, so its
    presence means the whole result is complete."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_sidecars(out, result.files, result.skipped)
    atomic_write(out, lambda f: np.save(f, result.features))
    return out
