"""Atomic file writes: write under a temporary name beside the target, then rename it into place,
so a reader (or a run killed at any moment) sees the old file or the whole new one, never a part."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; when the block ends without an error it is renamed
    to `path`, and in any case no temporary file is left behind."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], object]) -> None:
    """Call `write(f)` on a binary file that replaces `path` atomically once `write` returns."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            write(f)
