"""Hostile inputs for `drlkit encode` (issue: robustness), shared by the tests and by
scripts/reliability_table.py, which writes docs/reliability.md from a real run over it.

`make_hostile_folder(root)` writes the files and returns one `Case` per input: its file name (bytes,
relative to root), what it is, and whether drlkit must encode it (one row) or skip it (a reason in
the .skipped.txt sidecar).
"""

from __future__ import annotations

import io
import json
import os
import struct
import subprocess
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image


@dataclass
class Case:
    name: bytes  # relative path, bytes (one of them is not valid UTF-8)
    what: str
    good: bool

    @property
    def path_text(self) -> str:
        return self.name.decode("utf-8", "replace")


def _gradient(w: int, h: int, channels: int = 3, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    base = ((x * 255 // max(w - 1, 1) + y * 127 // max(h - 1, 1)) % 256).astype(np.uint8)
    img = np.stack([base, base[::-1], np.roll(base, 3, axis=1)][:channels], axis=-1)
    return np.clip(img.astype(int) + rng.integers(0, 20, img.shape), 0, 255).astype(np.uint8)


def _encoded(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_header_claiming(width: int, height: int, with_data: bool = True) -> bytes:
    """A tiny PNG whose header claims width x height 1-bit pixels (a decompression bomb's shape);
    with_data=False stops after the header (a header-only PNG)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    out = b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr)
    if with_data:
        row = b"\x00" + b"\x00" * ((width + 7) // 8)
        out += _png_chunk(b"IDAT", zlib.compress(row * 4)) + _png_chunk(b"IEND", b"")
    return out


def make_hostile_folder(root: Path, big: int = 6000) -> list[Case]:
    """Write every case under `root` (created); `big` is the side of the large good image."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    cases: list[Case] = []
    rgb = Image.fromarray(_gradient(48, 40))

    def write(name: bytes, data: bytes, what: str, good: bool) -> None:
        path = os.path.join(os.fsencode(root), name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
        cases.append(Case(name, what, good))

    # ---- good images in every mode and format
    write(b"good/rgb.png", _encoded(rgb, "PNG"), "RGB PNG", True)
    write(b"good/rgb.jpg", _encoded(rgb, "JPEG", quality=90), "RGB JPEG", True)
    write(b"good/upper.JPG", _encoded(rgb, "JPEG"), "upper-case extension .JPG", True)
    write(b"good/UPPER.PNG", _encoded(rgb, "PNG"), "upper-case extension .PNG", True)
    write(b"good/cmyk.jpg", _encoded(rgb.convert("CMYK"), "JPEG"), "CMYK JPEG", True)
    grey16 = Image.fromarray(_gradient(40, 40, 1)[..., 0].astype(np.uint16) * 257)
    write(b"good/grey16.png", _encoded(grey16, "PNG"), "16-bit greyscale PNG", True)
    pal = rgb.convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    pal.info["transparency"] = 0
    write(b"good/palette_transparent.png", _encoded(pal, "PNG", transparency=0),
          "palette PNG with transparency", True)
    write(b"good/rgba.png", _encoded(rgb.convert("RGBA"), "PNG"), "RGBA PNG", True)
    write(b"good/la.png", _encoded(rgb.convert("LA"), "PNG"), "LA (grey + alpha) PNG", True)
    write(b"good/bilevel.png", _encoded(rgb.convert("1"), "PNG"), "1-bit PNG", True)
    frames = [Image.fromarray(_gradient(32, 32, seed=s)).convert("P") for s in range(3)]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:], duration=50)
    write(b"good/animated.gif", buf.getvalue(), "animated GIF (first frame used)", True)
    write(b"good/image.webp", _encoded(rgb, "WEBP"), "WebP", True)
    write(b"good/image.bmp", _encoded(rgb, "BMP"), "BMP", True)
    write(b"good/image.tiff", _encoded(rgb, "TIFF"), "TIFF", True)
    write(b"good/one_pixel.png", _encoded(Image.new("RGB", (1, 1), (200, 30, 30)), "PNG"),
          "1x1 image", True)
    write(b"good/huge.png", _encoded(Image.new("L", (big, big), 90), "PNG"),
          f"{big}x{big} image", True)
    write(b"good/jpeg_named.png", _encoded(rgb, "JPEG"), "a JPEG named .png", True)
    write(b"good/caf\xe9-latin1.png", _encoded(rgb, "PNG"), "non-UTF-8 file name", True)
    write(b"good/folder.png/inside.png", _encoded(rgb, "PNG"),
          "image inside a directory named like an image (the directory is not a row)", True)

    # ---- bad files: skipped with a reason
    png, jpg = _encoded(rgb, "PNG"), _encoded(rgb, "JPEG")
    write(b"bad/empty.png", b"", "zero-byte file", False)
    write(b"bad/truncated.jpg", jpg[: len(jpg) // 2], "truncated JPEG", False)
    write(b"bad/truncated.png", png[: len(png) // 2], "truncated PNG", False)
    write(b"bad/header_only.png", png_header_claiming(40, 40, with_data=False),
          "header-only PNG", False)
    write(b"bad/notes.png", b"just some text, not an image\n" * 20, "text file named .png", False)
    write(b"bad/page.jpg", b"<!DOCTYPE html><html><body>404 not found</body></html>",
          "HTML page named .jpg", False)
    write(b"bad/random.png", np.random.default_rng(0).bytes(4096), "random bytes named .png", False)
    write(b"bad/bomb.png", png_header_claiming(100_000, 100_000),
          "decompression bomb (100000x100000, over 2x Pillow's limit)", False)
    write(b"bad/bomb_small.png", png_header_claiming(10_000, 10_000),
          "decompression bomb (10000x10000, between 1x and 2x Pillow's limit)", False)
    corrupt = bytearray(png)
    corrupt[60:80] = b"\xff" * 20  # inside the IDAT data: the CRC no longer matches
    write(b"bad/bitflip.png", bytes(corrupt), "PNG with corrupted data", False)
    os.symlink(os.path.join(os.fsencode(root), b"bad/missing-target.png"),
               os.path.join(os.fsencode(root), b"bad/dangling.png"))
    cases.append(Case(b"bad/dangling.png", "dangling symbolic link", False))
    fifo = os.path.join(os.fsencode(root), b"bad/fifo.png")
    os.mkfifo(fifo)
    cases.append(Case(b"bad/fifo.png", "FIFO named .png", False))
    return cases


def run_encode_killed(args: list[str], sig: int, after: int, cwd: Path,
                      timeout: int = 600) -> subprocess.CompletedProcess:
    """`drlkit encode ARGS` in a subprocess that sends itself `sig` once `after` images are done."""
    code = ("import os, sys, drlkit.files as f\n"
            "orig = f.encode_to_file\n"
            "def patched(*a, **k):\n"
            f"    k['on_batch'] = lambda n: os.kill(os.getpid(), {sig}) if n >= {after} else None\n"
            "    return orig(*a, **k)\n"
            "f.encode_to_file = patched\n"
            "from drlkit.cli import main\n"
            "sys.argv = ['drlkit', 'encode', *sys.argv[1:]]\n"
            "main()\n")
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          cwd=cwd, timeout=timeout)


def rewrite_metadata(src: Path, dst: Path, **changes: str) -> None:
    """Copy the safetensors file `src` to `dst` with its `__metadata__` fields changed."""
    raw = Path(src).read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    header["__metadata__"].update(changes)
    new = json.dumps(header).encode()
    new += b" " * ((8 - len(new) % 8) % 8)
    Path(dst).write_bytes(struct.pack("<Q", len(new)) + new + raw[8 + n :])
