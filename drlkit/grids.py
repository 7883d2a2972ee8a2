"""Image grids as PNG files with Pillow (no matplotlib needed): reconstructions, latent grids."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw


def to_uint8_hwc(image: np.ndarray) -> np.ndarray:
    """float (C, H, W) in [0, 1] -> uint8 (H, W, 3)."""
    arr = np.asarray(image, dtype=np.float32)
    if arr.ndim != 3:
        raise ValueError(f"expected an image (C, H, W), got shape {arr.shape}")
    arr = np.clip(arr, 0, 1).transpose(1, 2, 0)
    arr = np.repeat(arr, 3, axis=2) if arr.shape[2] == 1 else arr
    return (arr * 255 + 0.5).astype(np.uint8)


def save_grid(rows: Sequence[Sequence[np.ndarray | None]], path: str | os.PathLike,
              scale: int = 2, gap: int = 2, header: Sequence[str] | None = None,
              separators: Sequence[int] = ()) -> None:
    """Write a grid of images (each float (C, H, W) in [0, 1]; None leaves a cell blank).

    Args:
        scale: nearest-neighbour upscaling, so that 28-pixel digits are visible.
        header: a caption per column, drawn above the first row.
        separators: column indices before which a wider gap is drawn (groups of columns).
    """
    rows = [list(r) for r in rows]
    if not rows or not any(c is not None for r in rows for c in r):
        raise ValueError("save_grid: no images to draw")
    first = next(c for r in rows for c in r if c is not None)
    h, w = first.shape[1] * scale, first.shape[2] * scale
    n_cols = max(len(r) for r in rows)
    xs, x = [], gap
    for j in range(n_cols):
        x += 3 * gap if j in separators else 0
        xs.append(x)
        x += w + gap
    top = 14 if header else 0
    width = x
    height = top + len(rows) * (h + gap) + gap
    canvas = Image.new("RGB", (width, height), (255, 255, 255))
    for i, row in enumerate(rows):
        for j, cell in enumerate(row):
            if cell is None:
                continue
            tile = Image.fromarray(to_uint8_hwc(cell)).resize((w, h), Image.NEAREST)
            canvas.paste(tile, (xs[j], top + gap + i * (h + gap)))
    if header:
        draw = ImageDraw.Draw(canvas)
        for j, text in enumerate(header[:n_cols]):
            if text:
                draw.text((xs[j] + 1, 1), str(text), fill=(0, 0, 0))
    canvas.save(path)
