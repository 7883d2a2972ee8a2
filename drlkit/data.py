"""Dataset loaders (DESIGN §5): MNIST / Fashion-MNIST idx files, CIFAR-10 (original python archive,
or the PNG / JPEG byte copies), and image folders. All return uint8 (N, H, W, C) arrays in memory.

The data root is the `data_root` argument, else the `DRLKIT_DATA` environment variable, else
`./data`. Each dataset lives in `<root>/<name>/` (or directly in `<root>`). Nothing is downloaded.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import pickle
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from drlkit.preprocess import load_image, to_model_input

DATASETS = ("mnist", "fashion-mnist", "cifar10")

IDX_FILES = {
    "mnist": {
        "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
    },
}
CIFAR_FILES = {
    "png": ("cifar10_png_bytes.npz", "8d508fe0a28ad7734f4582211fc79629"),
    "jpeg": ("cifar10_jpeg_bytes.npz", "77cad84c5fe7cbacb551e8a3f5a45e2d"),
    "python": ("cifar-10-python.tar.gz", "c58f30108f718f92721af3b95e74349a"),
}
CLASSES = {
    "mnist": [str(i) for i in range(10)],
    "fashion-mnist": ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                      "Sneaker", "Bag", "Ankle boot"],
    "cifar10": ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
                "truck"],
}


class DataError(ValueError):
    """A dataset is missing, corrupt or malformed."""


@dataclass
class ImageDataset:
    """images: uint8 (N, H, W, C); labels: int64 (N,) or None; source: which copy was read."""

    images: np.ndarray
    labels: np.ndarray | None
    classes: list[str]
    source: str

    def __len__(self) -> int:
        return len(self.images)


def data_root(root: str | os.PathLike | None = None) -> Path:
    return Path(root or os.environ.get("DRLKIT_DATA") or "data")


def md5sum(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _find(root: Path, name: str, filename: str) -> Path | None:
    for candidate in (root / name / filename, root / filename):
        if candidate.is_file():
            return candidate
    return None


def _checked(path: Path, expected_md5: str) -> Path:
    got = md5sum(path)
    if got != expected_md5:
        raise DataError(f"{path}: md5 {got} does not match the official {expected_md5}; "
                        "the file is corrupt or not the original, download it again")
    return path


def _read_idx(path: Path) -> np.ndarray:
    try:
        with gzip.open(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError, zlib.error) as e:  # BadGzipFile is an OSError
        raise DataError(f"{path}: not a readable .gz file ({e})") from None
    if len(raw) < 4 or raw[:2] != b"\x00\x00" or raw[2] != 0x08:
        raise DataError(f"{path}: not an idx file of unsigned bytes")
    ndim = raw[3]
    dims = np.frombuffer(raw, dtype=">u4", count=ndim, offset=4).astype(int)
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise DataError(f"{path}: header says {tuple(dims)} but holds {data.size} values")
    return data.reshape(dims)


def load_idx_dataset(name: str, split: str = "train", root=None) -> ImageDataset:
    """MNIST or Fashion-MNIST from the four original idx .gz files (md5 checked)."""
    prefix = {"train": "train", "test": "t10k"}[split]
    root = data_root(root)
    paths = {}
    for kind, idx in (("images", 3), ("labels", 1)):
        fname = f"{prefix}-{kind}-idx{idx}-ubyte.gz"
        path = _find(root, name, fname)
        if path is None:
            raise DataError(f"{name}: {fname} not found in {root / name} or {root}; "
                            "point --data-root or DRLKIT_DATA at the folder holding it")
        paths[kind] = _checked(path, IDX_FILES[name][fname])
    images, labels = _read_idx(paths["images"]), _read_idx(paths["labels"])
    return ImageDataset(images[..., None], labels.astype(np.int64), CLASSES[name],
                        f"{name} {split}, original idx files")


def _decode_bytes(blob: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    first = np.asarray(Image.open(io.BytesIO(blob[offsets[0]:offsets[1]].tobytes())).convert("RGB"))
    out = np.empty((len(offsets) - 1, *first.shape), dtype=np.uint8)
    for i in range(len(offsets) - 1):
        with Image.open(io.BytesIO(blob[offsets[i]:offsets[i + 1]].tobytes())) as img:
            out[i] = np.asarray(img.convert("RGB"))
    return out


class _ArrayOnlyUnpickler(pickle.Unpickler):
    """The CIFAR-10 python batches are pickles: allow only numpy array reconstruction, nothing else."""

    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy", "ndarray"), ("numpy", "dtype"),
               ("_codecs", "encode")}  # how protocol-2 pickles written by Python 3 carry bytes

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise DataError(f"CIFAR-10 batch refers to {module}.{name}; refusing to unpickle it")
        return super().find_class(module, name)


def _cifar_from_archive(path: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    members = [f"data_batch_{i}" for i in range(1, 6)] if split == "train" else ["test_batch"]
    xs, ys = [], []
    with tarfile.open(path, "r:gz") as tar:
        for m in members:
            f = tar.extractfile(f"cifar-10-batches-py/{m}")
            if f is None:
                raise DataError(f"{path}: missing cifar-10-batches-py/{m}")
            batch = _ArrayOnlyUnpickler(f, encoding="bytes").load()
            xs.append(np.asarray(batch[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
            ys.append(np.asarray(batch[b"labels"], dtype=np.int64))
    return np.concatenate(xs).transpose(0, 2, 3, 1), np.concatenate(ys)


def load_cifar10(split: str = "train", root=None, copy: str = "png") -> ImageDataset:
    """CIFAR-10 from the lossless PNG copy (`png`), the lossy JPEG copy (`jpeg`) or the original
    python archive (`python`). All md5 checked; no silent substitution of one copy for another."""
    if copy not in CIFAR_FILES:
        raise ValueError(f"copy must be one of {sorted(CIFAR_FILES)}, got {copy!r}")
    root = data_root(root)
    fname, md5 = CIFAR_FILES[copy]
    path = _find(root, "cifar10", fname)
    if path is None:
        raise DataError(f"cifar10: {fname} not found in {root / 'cifar10'} or {root}; point "
                        "--data-root or DRLKIT_DATA at it, or choose another copy")
    _checked(path, md5)
    if copy == "python":
        images, labels = _cifar_from_archive(path, split)
        source = f"cifar10 {split}, original python archive"
    else:
        key = "png" if copy == "png" else "jpeg"
        with np.load(path) as z:
            blob, offsets = z[f"{split}_{key}"], z[f"{split}_offsets"]
            labels = z[f"y_{split}"].astype(np.int64)
        images = _decode_bytes(blob, offsets)
        source = f"cifar10 {split}, {'lossless PNG' if copy == 'png' else 'lossy JPEG'} copy"
    return ImageDataset(images, labels, CLASSES["cifar10"], source)


def load_image_folder(folder, image_size: int, channels: int) -> ImageDataset:
    """Any image folder; class sub-folders (folder/<class>/img.png) give labels when all images
    sit exactly one level down. Images are resized/converted like `encode` inputs."""
    from drlkit.files import collect  # the one folder lister, `drlkit encode`'s

    folder = Path(folder)
    paths = [p for p in collect(folder) if p.is_file()]
    if not paths:
        raise DataError(f"{folder}: no image files found")
    x = to_model_input([load_image(p) for p in paths], channels, image_size)
    images = (x * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    rel = [p.relative_to(folder).parts for p in paths]
    labels, classes = None, []
    if all(len(r) == 2 for r in rel):
        classes = sorted({r[0] for r in rel})
        labels = np.array([classes.index(r[0]) for r in rel], dtype=np.int64)
    return ImageDataset(images, labels, classes, f"image folder {folder}")


def load_dataset(name: str, split: str = "train", root=None, cifar_copy: str = "png",
                 image_size: int = 32, channels: int = 3) -> ImageDataset:
    """By name (`mnist`, `fashion-mnist`, `cifar10`) or, for anything else, as an image folder."""
    if name in IDX_FILES:
        return load_idx_dataset(name, split, root)
    if name == "cifar10":
        return load_cifar10(split, root, cifar_copy)
    if not Path(name).is_dir():
        raise DataError(f"unknown dataset {name!r}: use one of {DATASETS} or an image folder path")
    return load_image_folder(name, image_size, channels)


def stratified_subset(ds: ImageDataset, n: int | None, seed: int = 0, what: str = "subset"
                      ) -> ImageDataset:
    """At most n examples of a labelled dataset, stratified by class and seeded; `source` says so."""
    if n is None or n >= len(ds):
        return ds
    from sklearn.model_selection import train_test_split

    idx, _ = train_test_split(np.arange(len(ds)), train_size=n, stratify=ds.labels,
                              random_state=seed)
    idx = np.sort(idx)
    return ImageDataset(ds.images[idx], ds.labels[idx], ds.classes,
                        f"{ds.source} [{what}: {n} of {len(ds)}, stratified, seed {seed}]")
