"""One conversion path from every accepted image input to the model's input (DESIGN §3).

Every entry point (file path, PIL image, uint8 array, float tensor) becomes float (C, H, W) in
[0, 1] first; then the same channel conversion (ITU-R 601 luma for RGB -> grey, repetition for
grey -> RGB, alpha dropped) and the same resize (shorter side to the model's resolution with
antialiased bilinear interpolation, then a centre crop) are applied.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, UnidentifiedImageError
from torch import Tensor

from drlkit.layouts import layout, to_nchw

LUMA = (0.299, 0.587, 0.114)
IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".jpe", ".jfif", ".jfi", ".pjpeg", ".pjp", ".bmp",
                    ".dib", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm", ".pnm"}
# The first bytes of the formats above, for files whose name does not say what they are
# (no extension, or another one): PNG, JPEG, GIF, BMP, TIFF (both byte orders), WebP, PNM.
_SIGNATURES = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"BM", b"II*\x00",
               b"MM\x00*", b"P1", b"P2", b"P3", b"P4", b"P5", b"P6")


class ImageReadError(ValueError):
    """An image file that cannot be used, with the reason (`reason`) and the file (`path`)."""

    def __init__(self, path: str | os.PathLike, reason: str) -> None:
        self.path, self.reason = Path(path), reason
        super().__init__(f"{display_path(path)}: {reason}")


def display_path(path: str | os.PathLike) -> str:
    """A path printable on any terminal (undecodable bytes in file names become U+FFFD)."""
    return os.fsencode(path).decode("utf-8", "replace")


def load_image(path: str | os.PathLike) -> np.ndarray:
    """Decode an image file with Pillow into uint8 (H, W) or (H, W, 3) (first frame if animated).

    Raises:
        ImageReadError (a ValueError) naming the file and the reason: missing or empty file, not
        an image Pillow can identify, truncated or corrupt data, or more pixels than Pillow's
        `Image.MAX_IMAGE_PIXELS` (a decompression bomb: refused before any pixel is decoded).
    """
    path = Path(path)
    try:
        if path.is_symlink() and not path.exists():
            raise ImageReadError(path, "dangling symbolic link")
        if not path.exists():
            raise ImageReadError(path, "no such file")
        if path.is_dir():
            raise ImageReadError(path, "a directory, not an image file")
        if not path.is_file():
            raise ImageReadError(path, "not a regular file (a FIFO, socket or device?)")
        if path.stat().st_size == 0:
            raise ImageReadError(path, "empty file (0 bytes)")
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                _check_pixel_count(path, img.size)
                return pil_to_array(img)
    except ImageReadError:
        raise
    except UnsupportedModeError as e:
        raise ImageReadError(path, str(e)) from None
    except UnidentifiedImageError:
        raise ImageReadError(path, "not an image Pillow can identify (wrong extension, "
                                   "text or random bytes?)") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise ImageReadError(path, f"decompression bomb, not decoded: {_one_line(e)}") from None
    except FileNotFoundError:
        raise ImageReadError(path, "no such file") from None
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        raise ImageReadError(path, f"truncated or corrupt image data: {_one_line(e)}") from None
    except Exception as e:  # a decoder bug must not end a million-file run either
        raise ImageReadError(path, f"cannot decode: {type(e).__name__}: {_one_line(e)}") from None


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split()) or type(e).__name__


def _check_pixel_count(path: Path, size: tuple[int, int]) -> None:
    limit = Image.MAX_IMAGE_PIXELS
    w, h = size
    if limit is not None and w * h > limit:
        raise ImageReadError(path, f"decompression bomb, not decoded: {w}x{h} = {w * h:,} pixels "
                                   f"is over Pillow's limit of {limit:,} (Image.MAX_IMAGE_PIXELS)")


# Modes whose samples are wider than 8 bits: scaled from their full range to 0-255, never clipped.
_WIDE_MODES = {"I;16": 65535, "I;16B": 65535, "I;16L": 65535, "I;16N": 65535, "I": 65535}


def pil_to_array(img: Image.Image) -> np.ndarray:
    """A PIL image (any mode) -> uint8 (H, W) for single-band images, (H, W, 3) otherwise.

    16-bit and 32-bit integer images are scaled from 0-65535 (values above are clipped), float
    images ("F") from [0, 1] if they lie there, else clipped to 0-255; palette images with
    transparency go through RGBA; alpha is dropped (DESIGN §3); CMYK and YCbCr become RGB.
    """
    img.load()
    if img.mode in _WIDE_MODES or img.mode == "F":
        a = np.asarray(img, dtype=np.float64)
        if img.mode == "F":
            a = a * 255 if np.nanmax(a, initial=0) <= 1 else a
        else:
            a = a * (255 / _WIDE_MODES[img.mode])
        return np.nan_to_num(a, nan=0.0).clip(0, 255).round().astype(np.uint8)
    if img.mode in ("L", "LA", "1", "La"):
        return np.asarray(img.convert("L"))
    try:
        if img.mode == "P" and "transparency" in img.info:
            img = img.convert("RGBA")
        return np.asarray(img.convert("RGB"))
    except ValueError as e:  # e.g. LAB, HSV: Pillow has no conversion to RGB
        raise UnsupportedModeError(f"image mode {img.mode!r} cannot be converted to RGB "
                                   f"({_one_line(e)})") from None


class UnsupportedModeError(ValueError):
    """A decoded image whose pixel format drlkit cannot convert."""


def _as_float_chw(item: Any, name: str) -> Tensor:
    """One image (path, PIL, uint8 HW[C] array, float CHW array/tensor) -> float (C, H, W) in [0, 1]."""
    if isinstance(item, (str, os.PathLike)):
        item = load_image(item)
    elif isinstance(item, Image.Image):
        item = pil_to_array(item)
    if isinstance(item, np.ndarray) and item.dtype == np.uint8:
        arr = item[:, :, None] if item.ndim == 2 else item
        if arr.ndim != 3:
            raise ValueError(f"{name}: expected a uint8 image (H, W) or (H, W, C), got {item.shape}")
        return torch.tensor(arr).permute(2, 0, 1).float() / 255
    x = _float_batch(item, name)
    if x.shape[0] != 1:
        raise ValueError(f"{name}: expected one image (C, H, W), got a batch of {x.shape[0]}")
    return x[0]


def _float_batch(x: Any, name: str) -> Tensor:
    """Float array/tensor (N, C, H, W) or (C, H, W) in [0, 1]; uint8 torch tensors are CHW (/255)."""
    try:
        x = torch.as_tensor(x)
    except (TypeError, ValueError, RuntimeError) as e:  # ragged lists, objects, strings
        raise ValueError(f"{name}: cannot be read as an array of pixels ({e}); pass a path, a "
                         "PIL image, a uint8 array or a float tensor (N, C, H, W)") from None
    if x.dtype == torch.uint8:
        x = x.float() / 255
    if not x.is_floating_point():
        raise ValueError(
            f"{name}: expected uint8 pixels or floats in [0, 1], got dtype {x.dtype}"
        )
    if x.ndim == 3:
        x = x[None]
    if x.ndim != 4:
        raise ValueError(f"{name}: expected a float tensor (N, C, H, W), got shape {tuple(x.shape)}")
    x = x.detach().float().cpu()
    if not torch.isfinite(x).all():
        raise ValueError(f"{name}: pixel values must be finite (found NaN or inf)")
    if x.numel() and (x.min() < 0 or x.max() > 1):
        raise ValueError(
            f"{name}: float pixels must lie in [0, 1], got [{x.min():.3g}, {x.max():.3g}]"
            " (pass uint8 arrays for 0-255 data)"
        )
    return x


def _convert_channels(x: Tensor, channels: int) -> Tensor:
    c = x.shape[1]
    if c in (2, 4):  # LA / RGBA: drop alpha, as Pillow's convert does
        x, c = x[:, : c - 1], c - 1
    if c == channels:
        return x
    if c == 1 and channels == 3:
        return x.expand(-1, 3, -1, -1)
    if c == 3 and channels == 1:
        w = torch.tensor(LUMA, dtype=x.dtype).view(1, 3, 1, 1)
        return (x * w).sum(1, keepdim=True)
    if x.shape[-1] in (1, 2, 3, 4):
        raise ValueError(f"images: float tensors must be (N, C, H, W); got {tuple(x.shape)}, "
                         "which looks channels-last (N, H, W, C): pass x.permute(0, 3, 1, 2)")
    raise ValueError(f"images: expected 1, 2, 3 or 4 channels, got {x.shape[1]}")


def _resize(x: Tensor, size: int) -> Tensor:
    h, w = x.shape[-2:]
    if (h, w) == (size, size):
        return x
    scale = size / min(h, w)
    nh, nw = max(size, round(h * scale)), max(size, round(w * scale))
    x = F.interpolate(x, size=(nh, nw), mode="bilinear", antialias=True, align_corners=False)
    top, left = (nh - size) // 2, (nw - size) // 2
    return x[..., top : top + size, left : left + size].clamp(0, 1)


def one_image(item: Any, channels: int, size: int, name: str = "image") -> Tensor:
    """One image (a path, PIL image, uint8 (H, W[, C]) array or (C, H, W) tensor) as model input
    (1, channels, size, size) in [0, 1]."""
    return _resize(_convert_channels(_as_float_chw(item, name)[None], channels), size)


def to_model_input(images: Any, channels: int, size: int) -> Tensor:
    """Convert any accepted input to a float tensor (N, channels, size, size) in [0, 1] on the CPU.

    Raises:
        ValueError: empty input, wrong dtype or channel count, non-finite or out-of-range pixels.
    """
    check_not_folder(images)
    if isinstance(images, (str, os.PathLike, Image.Image)):
        images = [images]
    if isinstance(images, (np.ndarray, Tensor)):
        return array_input(images, channels, size)
    if isinstance(images, Sequence) and not isinstance(images, (str, bytes)):
        if len(images) == 0:
            raise ValueError("images: empty input, expected at least one image")
        return torch.cat([one_image(item, channels, size, f"images[{i}]")
                          for i, item in enumerate(images)])
    x = _float_batch(images, "images")
    if x.shape[0] == 0:
        raise ValueError("images: empty batch, expected at least one image")
    return _resize(_convert_channels(x, channels), size).contiguous()


def array_input(a: np.ndarray | Tensor, channels: int, size: int, batched: bool = False,
                image_shape: Sequence[int] | None = None, channels_last: bool | None = None
                ) -> Tensor:
    """An array or tensor of pixels read by the one layout rule (`drlkit.layouts.layout`; numpy
    uint8 arrays are channels-last unless `channels_last` says otherwise) as model input
    (N, channels, size, size) in [0, 1]."""
    if channels_last is None:
        channels_last = isinstance(a, np.ndarray) and a.dtype == np.uint8
    kind, row = layout(tuple(a.shape), channels_last, channels, size, batched, image_shape)
    x = to_nchw(a, kind, row)
    if isinstance(x, np.ndarray) and x.dtype == np.uint8:
        x = torch.from_numpy(np.array(x, copy=True, order="C"))  # uint8 tensors are CHW / 255
    x = _float_batch(x, "images")
    if x.shape[0] == 0:
        raise ValueError("images: empty input, expected at least one image")
    return _resize(_convert_channels(x, channels), size).contiguous()


# The networks' pixel range: training maps [0, 1] pixels here, and every card records it as
# `preprocessing.value_range`, which `DRLModel.value_range` reads back.
VALUE_RANGE = (-1, 1)


def to_value_range(x01: Tensor, value_range: Sequence[float] = VALUE_RANGE) -> Tensor:
    """[0, 1] pixels -> the networks' range (lo, hi)."""
    lo, hi = value_range
    return x01 * (hi - lo) + lo


def from_value_range(x: Tensor, value_range: Sequence[float] = VALUE_RANGE) -> Tensor:
    """The networks' range (lo, hi) -> [0, 1] pixels."""
    lo, hi = value_range
    return (x - lo) / (hi - lo)


def to_tensor(images: np.ndarray) -> Tensor:
    """uint8 (B, H, W, C) -> float (B, C, H, W) in the training range `VALUE_RANGE`."""
    lo, hi = VALUE_RANGE
    return torch.from_numpy(images).permute(0, 3, 1, 2).float().div(255 / (hi - lo)).add(lo)


def check_not_folder(images: Any) -> None:
    if isinstance(images, (str, os.PathLike)) and Path(images).is_dir():
        raise ValueError(f"images: {images} is a folder; encode its files with "
                         "drlkit.files.encode_files(model, drlkit.files.collect(folder)) or "
                         "`drlkit encode FOLDER --out feats.npy`, which skip bad files")


def as_items(images: Any) -> tuple[Iterator[Any], int | None] | None:
    """The items of an input encoded one item at a time, and how many (None: unknown).

    Lists and tuples, map-style datasets (`len` and integer indexing, as torch's and
    torchvision's), and other iterables (generators, `IterableDataset`, `DataLoader`) are item
    streams; a single path or PIL image is a stream of one. Arrays and tensors are not (None):
    they are converted as one batch.
    """
    if isinstance(images, (np.ndarray, Tensor, bytes, bytearray, dict)):
        return None
    if isinstance(images, (str, os.PathLike, Image.Image)):
        return iter([images]), 1
    if hasattr(images, "__len__") and hasattr(images, "__getitem__") \
            and not isinstance(images, torch.utils.data.IterableDataset):
        n = len(images)
        return (images[i] for i in range(n)), n
    if isinstance(images, Iterable):
        return iter(images), None
    return None


def _is_image(x: Any) -> bool:
    return isinstance(x, (str, os.PathLike, Image.Image, np.ndarray, Tensor))


def _label_array(label: Any, n: int, batched: bool, name: str) -> np.ndarray:
    """A label of one image -> shape (1, ...); the labels of a batch of n -> (n, ...)."""
    a = label.detach().cpu().numpy() if isinstance(label, Tensor) else np.asarray(label)
    if not batched:
        return a[None]
    if a.ndim == 0 or a.shape[0] != n:
        raise ValueError(f"{name}: a batch of {n} images with labels of shape {a.shape}")
    return a


def item_batches(items: Iterable[Any], channels: int, size: int, batch_size: int,
                 skip: bool) -> Iterator[tuple[Tensor, np.ndarray | None, list[tuple[Any, str]]]]:
    """Convert a stream of items to model input, `batch_size` images at a time.

    Items: images (paths, PIL images, uint8 (H, W[, C]) arrays, CHW tensors), or (image, label)
    pairs, as torchvision datasets yield, or (images, labels) batches, as a DataLoader yields;
    every item of a stream is of the same kind. Yields (x (n, C, S, S) in [0, 1] with
    n = batch_size except at the end, the labels of its images (None for images without labels),
    the items skipped since the last batch). With skip=True an item that cannot be used is
    left out and reported as (its path, or its index, reason); otherwise it raises ValueError.
    """
    pending: list[Tensor] = []
    labels: list[np.ndarray] = []
    skipped: list[tuple[Any, str]] = []
    paired: bool | None = None
    count = 0
    for i, item in enumerate(items):
        name = f"images[{i}]"
        pair = isinstance(item, (tuple, list)) and len(item) == 2 and _is_image(item[0])
        if paired is None:
            paired = pair
        elif pair != paired:
            kind = "an (image, label) pair" if pair else "an image without a label"
            raise ValueError(f"{name}: {kind} after {'pairs' if paired else 'images'}; every "
                             "item must be of one kind")
        image, label = item if pair else (item, None)
        batched = isinstance(image, (np.ndarray, Tensor)) and image.ndim == 4
        try:
            x = (to_model_input(image, channels, size) if batched
                 else one_image(image, channels, size, name))
            lab = _label_array(label, len(x), batched, name) if pair else None
        except ValueError as e:
            if not skip:
                raise
            why = e.reason if isinstance(e, ImageReadError) else str(e)
            key = Path(image) if isinstance(image, (str, os.PathLike)) else i
            skipped.append((key, why))
            continue
        pending.append(x)
        if lab is not None:
            labels.append(lab)
        count += len(x)
        while count >= batch_size:
            yield (*_take(pending, labels if paired else None, batch_size), skipped)
            count -= batch_size
            skipped = []
    if paired is None:
        raise ValueError("images: empty input, expected at least one image")
    if count or skipped:
        yield (*_take(pending, labels if paired else None, count), skipped)


def _take(images: list[Tensor], labels: list[np.ndarray] | None, n: int
          ) -> tuple[Tensor, np.ndarray | None]:
    """Remove and return the first n images (and their labels) of the pending lists."""
    x = torch.cat(images) if images else torch.empty(0)
    images[:] = [x[n:]] if len(x) > n else []
    lab = None
    if labels is not None:
        a = np.concatenate(labels) if labels else np.empty(0)
        labels[:] = [a[n:]] if len(a) > n else []
        lab = a[:n]
    return x[:n], lab


def is_image_path(path: Path) -> bool:
    """An image file by its name (an image extension, any case) or, failing that, by its first
    bytes (so `photo` or `scan.dat` holding a PNG or JPEG is found too)."""
    return path.suffix.lower() in IMAGE_EXTENSIONS or _has_image_signature(path)


def _has_image_signature(path: Path) -> bool:
    try:
        if not path.is_file():  # never open a FIFO (it would block) or a device
            return False
        with open(path, "rb") as f:
            head = f.read(12)
    except OSError:  # unreadable: not an image by content
        return False
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return True
    if head[:1] == b"P" and head[:2] in _SIGNATURES:
        rest = head[2:].lstrip()  # "P5\n16 16\n": a PNM header, not any text that starts with P5
        return head[2:3].isspace() and rest[:1] in (b"#", *(b"%d" % d for d in range(10)))
    if head[:2] == b"BM":
        return head[6:10] == b"\0\0\0\0"  # BMP: 'BM', file size, two reserved zero words
    return head.startswith(_SIGNATURES)

