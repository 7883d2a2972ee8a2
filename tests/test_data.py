"""Loaders: original idx files (md5 checked), CIFAR-10 archive and byte copies, image folders."""

import gzip
import io
import pickle
import tarfile

import numpy as np
import pytest
from PIL import Image

from drlkit import data
from drlkit.data import DataError, load_cifar10, load_dataset, load_idx_dataset


def test_mnist_from_the_original_idx_files(data_root):
    ds = load_idx_dataset("mnist", "test", data_root)
    assert ds.images.shape == (10000, 28, 28, 1) and ds.images.dtype == np.uint8
    assert ds.labels[:5].tolist() == [7, 2, 1, 0, 4]
    assert "idx" in ds.source


def test_fashion_mnist(data_root):
    ds = load_dataset("fashion-mnist", "test", data_root)
    assert ds.images.shape == (10000, 28, 28, 1) and len(ds.classes) == 10
    assert np.bincount(ds.labels).tolist() == [1000] * 10


def test_data_root_from_the_environment(data_root, monkeypatch):
    monkeypatch.setenv("DRLKIT_DATA", str(data_root))
    assert len(load_dataset("mnist", "test")) == 10000


def _fake_idx_root(tmp_path, images_payload: bytes) -> None:
    folder = tmp_path / "mnist"
    folder.mkdir()
    for name in data.IDX_FILES["mnist"]:
        with gzip.open(folder / name, "wb") as f:
            f.write(images_payload)


def test_md5_mismatch_is_refused(tmp_path):
    _fake_idx_root(tmp_path, b"\x00\x00\x08\x01\x00\x00\x00\x01\x07")
    with pytest.raises(DataError, match="md5"):
        load_idx_dataset("mnist", "train", tmp_path)


def test_missing_dataset_names_the_fix(tmp_path):
    with pytest.raises(DataError, match="DRLKIT_DATA"):
        load_idx_dataset("mnist", "train", tmp_path)
    with pytest.raises(DataError, match="unknown dataset"):
        load_dataset("imagenet", root=tmp_path)


def _register(monkeypatch, copy: str, path) -> None:
    files = dict(data.CIFAR_FILES)
    files[copy] = (path.name, data.md5sum(path))
    monkeypatch.setattr(data, "CIFAR_FILES", files)


def _tiny_cifar(n=4, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8), rng.integers(0, 10, n)


def test_cifar10_from_the_original_python_archive_layout(tmp_path, monkeypatch):
    x, y = _tiny_cifar(12)
    path = tmp_path / "cifar10" / "cifar-10-python.tar.gz"
    path.parent.mkdir()
    with tarfile.open(path, "w:gz") as tar:
        for i, name in enumerate([f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]):
            sl = slice(2 * i, 2 * i + 2)
            blob = pickle.dumps({b"data": x[sl].transpose(0, 3, 1, 2).reshape(2, -1),
                                 b"labels": y[sl].tolist()}, protocol=2)
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    _register(monkeypatch, "python", path)
    train = load_cifar10("train", tmp_path, copy="python")
    np.testing.assert_array_equal(train.images, x[:10])
    np.testing.assert_array_equal(train.labels, y[:10])
    test = load_cifar10("test", tmp_path, copy="python")
    np.testing.assert_array_equal(test.images, x[10:])


def test_cifar_archive_with_code_in_its_pickle_is_refused(tmp_path, monkeypatch):
    class Evil:
        def __reduce__(self):
            return (print, ("owned",))

    path = tmp_path / "cifar-10-python.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        blob = pickle.dumps({b"data": Evil()})
        info = tarfile.TarInfo("cifar-10-batches-py/test_batch")
        info.size = len(blob)
        tar.addfile(info, io.BytesIO(blob))
    _register(monkeypatch, "python", path)
    with pytest.raises(DataError, match="refusing to unpickle"):
        load_cifar10("test", tmp_path, copy="python")


def test_cifar10_from_the_png_byte_copy_layout(tmp_path, monkeypatch):
    x, y = _tiny_cifar(3)
    blobs = []
    for im in x:
        buf = io.BytesIO()
        Image.fromarray(im).save(buf, format="PNG")
        blobs.append(np.frombuffer(buf.getvalue(), np.uint8))
    offsets = np.cumsum([0] + [len(b) for b in blobs]).astype(np.int64)
    path = tmp_path / "cifar10_png_bytes.npz"
    np.savez(path, test_png=np.concatenate(blobs), test_offsets=offsets, y_test=y.astype(np.uint8))
    _register(monkeypatch, "png", path)
    ds = load_cifar10("test", tmp_path)
    np.testing.assert_array_equal(ds.images, x)  # lossless
    assert "lossless" in ds.source


def test_cifar10_real_test_split(data_root):
    ds = load_cifar10("test", data_root)
    assert ds.images.shape == (10000, 32, 32, 3) and np.bincount(ds.labels).tolist() == [1000] * 10


def test_image_folder_with_class_subfolders(tmp_path):
    for cls, value in (("a", 10), ("b", 240)):
        (tmp_path / cls).mkdir()
        for i in range(3):
            Image.fromarray(np.full((20, 24, 3), value, np.uint8)).save(tmp_path / cls / f"{i}.PNG")
    (tmp_path / "notes.txt").write_text("not an image")
    ds = load_dataset(str(tmp_path), image_size=8, channels=1)
    assert ds.images.shape == (6, 8, 8, 1) and ds.classes == ["a", "b"]
    assert ds.labels.tolist() == [0, 0, 0, 1, 1, 1]
    assert ds.images[0].max() == 10 and ds.images[-1].min() == 240
