"""How an array of pixels is read: one rule for `DRLModel.encode`, `DRLTransformer` and the
CLI, so that every shape maps to exactly one reading or is refused with a one-line message that
says how to pass it (docs/api.md, "Array layouts").

Two conventions: channels-last for numpy uint8 arrays (as Pillow and most image libraries give
them, and every numpy array in `DRLTransformer`), channels-first for float arrays and torch
tensors (PyTorch's). Flattened rows, scikit-learn's layout ((N, 784) as in `mnist_784`), are read
as images when their width is the model's C x H x W or H x W, in HWC order, as
`images.reshape(len(images), -1)` of an (N, H, W, C) array flattens them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

CHANNEL_COUNTS = (1, 2, 3, 4)  # grey, grey + alpha, RGB, RGBA

# The readings (see `layout`): one image (H, W), (H, W, C) or (C, H, W); a batch (N, H, W),
# (N, H, W, C) or (N, C, H, W); or flattened rows (N, H*W*C), each an (H, W, C) image.
LAYOUTS = ("hw", "hwc", "chw", "nhw", "nhwc", "nchw", "rows")


def row_shape(width: int, channels: int, size: int,
              image_shape: Sequence[int] | None = None) -> tuple[int, int, int] | None:
    """The (H, W, C) image that rows of `width` values hold: `image_shape` if given, else the
    model's (size, size, channels) or (size, size, 1); None if the width fits none of them."""
    if image_shape is not None:
        shape = tuple(int(v) for v in image_shape)
        shape = (*shape, 1) if len(shape) == 2 else shape
        if len(shape) != 3 or min(shape) < 1:
            raise ValueError(f"image_shape must be (H, W) or (H, W, C), got {tuple(image_shape)!r}")
        return shape if math.prod(shape) == width else None
    for shape in ((size, size, channels), (size, size, 1)):
        if math.prod(shape) == width:
            return shape
    return None


def _flattened_square(width: int) -> str | None:
    """'8x8' or '32x32x3' when `width` is the size of a flattened square image (side >= 4)."""
    for c in (1, 3):
        k = math.isqrt(width // c)
        if width % c == 0 and k >= 4 and k * k * c == width:
            return f"{k}x{k}" + ("x3" if c == 3 else "")
    return None


def layout(shape: Sequence[int], channels_last: bool, channels: int, size: int,
           batched: bool = False, image_shape: Sequence[int] | None = None
           ) -> tuple[str, tuple[int, int, int] | None]:
    """How an array of this shape is read: (one of `LAYOUTS`, the (H, W, C) of a row for "rows").

    Args:
        shape: the array's shape.
        channels_last: the convention: True for numpy uint8 arrays (and every numpy array in
            `DRLTransformer`), False for float arrays and torch tensors.
        channels: the model's input channels (for flattened rows).
        size: the model's input resolution (for flattened rows).
        batched: the first axis is always the images (scikit-learn's X).
        image_shape: (H, W[, C]) of flattened rows, if not the model's.

    Raises:
        ValueError: a shape that has no reading or more than one (one line, with the fix).
    """
    shape = tuple(int(v) for v in shape)
    dims = "x".join(map(str, shape))
    model = f"{size}x{size}" + (f"x{channels}" if channels > 1 else "")
    if len(shape) == 1:
        raise ValueError(f"images: a 1-D array of {shape[0]} values; pass one flattened image as "
                         f"x[None], or reshape it to (H, W[, C])")
    if len(shape) == 2:
        row = row_shape(shape[1], channels, size, image_shape)
        if row is not None:
            return "rows", row
        if batched or image_shape is not None:
            raise ValueError(f"images: rows of {shape[1]} values do not fit {model} images "
                             f"({size * size * channels} values, or {size * size} grey); reshape "
                             "them to (N, H, W[, C]), or pass image_shape=(H, W[, C])")
        square = _flattened_square(shape[1])
        if square and shape[0] != shape[1]:
            raise ValueError(f"images: {dims} is ambiguous: {shape[0]} flattened {square} images, "
                             f"or one {dims} grey image? pass x.reshape({shape[0]}, "
                             f"{', '.join(square.split('x'))}) for images (rows are H, W, C "
                             "order), or x[None] for one image")
        if not channels_last:
            raise ValueError(f"images: a 2-D float array ({dims}) is neither rows of {model} "
                             "images nor a batch; pass one grey image as x[None] (1, H, W)")
        return "hw", None
    if len(shape) == 3:
        first, last = shape[0] in CHANNEL_COUNTS, shape[-1] in CHANNEL_COUNTS
        if batched:
            return "nhw", None
        if channels_last:
            if last:
                return "hwc", None
            if shape[0] in (3, 4) and channels == 3:
                raise ValueError(f"images: uint8 {dims} is ambiguous: one channels-first image, "
                                 f"or {shape[0]} grey images? pass x.transpose(1, 2, 0) for one "
                                 f"image (H, W, C), or x[..., None] for {shape[0]} grey images")
            return "nhw", None
        if first:
            return "chw", None
        if last:
            raise ValueError(f"images: float {dims} looks channels-last (H, W, C); float images "
                             "are channels-first: pass x.permute(2, 0, 1) (a torch tensor) or "
                             "x.transpose(2, 0, 1)")
        raise ValueError(f"images: float {dims} has {shape[0]} channels; for {shape[0]} grey "
                         "images pass x[:, None] (N, 1, H, W)")
    if len(shape) == 4:
        first, last = shape[1] in CHANNEL_COUNTS, shape[-1] in CHANNEL_COUNTS
        if channels_last and last:
            return "nhwc", None
        if first:
            return "nchw", None
        if last:
            raise ValueError(f"images: float {dims} looks channels-last (N, H, W, C); float "
                             "tensors must be (N, C, H, W): pass x.permute(0, 3, 1, 2)")
        raise ValueError(f"images: {dims} has no axis of 1 to 4 channels (grey, grey + alpha, "
                         "RGB, RGBA) in second or last place")
    raise ValueError(f"images: expected 2 to 4 dimensions ((H, W), (N, H, W[, C]), "
                     f"(N, C, H, W) or flattened rows), got shape {shape}")


def to_nchw(a, kind: str, row: tuple[int, int, int] | None):
    """The array `a` (numpy or torch) of layout `kind` as a batch (N, C, H, W) of the same type."""
    is_numpy = not hasattr(a, "permute")

    def move(x, order):
        return x.transpose(*order) if is_numpy else x.permute(*order)

    if kind == "rows":
        return move(a.reshape(len(a), *row), (0, 3, 1, 2))
    if kind == "hw":
        return a[None, None]
    if kind == "hwc":
        return move(a, (2, 0, 1))[None]
    if kind == "chw":
        return a[None]
    if kind == "nhw":
        return a[:, None]
    if kind == "nhwc":
        return move(a, (0, 3, 1, 2))
    return a  # nchw
