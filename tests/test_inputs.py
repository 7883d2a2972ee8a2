"""What PyTorch and scikit-learn users hand to drlkit, and the outputs they ask for (issue 33):
datasets and iterables into `encode`, `on_error="skip"`, `--out .npz`, images found by content,
a readable `info`, and progress bars that print their last state once."""

from __future__ import annotations

import io
import json
import os
import re

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from conftest import synthetic_dataset, tiny_model
from PIL import Image
from test_cli import CARD

import drlkit
from drlkit.checkpoint import save_model
from drlkit.cli import cli
from drlkit.files import collect, read_features, read_files_list
from drlkit.preprocess import ImageReadError, is_image_path


@pytest.fixture(scope="module")
def model():
    return tiny_model(seed=3)


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(1).integers(0, 256, (7, 16, 16), dtype=np.uint8)


class PairDataset(torch.utils.data.Dataset):
    """What a torchvision dataset yields: (PIL image, int label)."""

    def __init__(self, images):
        self.images = images

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return Image.fromarray(self.images[i]), i % 3


def test_a_dataset_of_pil_label_pairs_gives_codes_and_labels(model, images):
    ref = model.encode(images, t=0.3)
    codes, labels = model.encode(PairDataset(images), t=0.3, batch_size=3)
    np.testing.assert_allclose(codes, ref, atol=1e-5)
    assert labels.tolist() == [i % 3 for i in range(7)]


@pytest.mark.parametrize("make", [
    lambda a: (im for im in a),                                       # a generator of arrays
    lambda a: [torch.from_numpy(im)[None].float() / 255 for im in a],  # CHW float tensors
    lambda a: iter([Image.fromarray(im) for im in a]),                # an iterator of PIL images
])
def test_iterables_of_images_give_the_codes_of_the_array(model, images, make):
    out = model.encode(make(images), t=0.3, batch_size=2)
    np.testing.assert_allclose(out, model.encode(images, t=0.3), atol=1e-5)


def test_a_dataloader_of_batches_gives_codes_and_labels(model, images):
    x = torch.from_numpy(images[:, None]).float() / 255
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, torch.arange(7)),
                                         batch_size=4)
    codes, labels = model.encode(loader, t=[0.1, 0.9], batch_size=3)
    assert codes.shape == (7, 2, 8) and labels.tolist() == list(range(7))
    np.testing.assert_allclose(codes, model.encode(images, t=[0.1, 0.9]), atol=1e-5)


def test_mixed_items_and_empty_streams_are_value_errors(model, images):
    with pytest.raises(ValueError, match="every item must be of one kind"):
        model.encode([(images[0], 1), images[1]])
    with pytest.raises(ValueError, match="empty input"):
        model.encode(iter([]))


def test_on_error_skip_returns_the_good_codes_and_the_bad_items(model, images, tmp_path):
    paths = []
    for i, im in enumerate(images[:3]):
        paths.append(tmp_path / f"{i}.png")
        Image.fromarray(im).save(paths[-1])
    (tmp_path / "bad.png").write_bytes(b"not a png")
    mixed = [paths[0], tmp_path / "bad.png", paths[1], tmp_path / "missing.png", paths[2]]
    with pytest.raises(ImageReadError, match="bad.png"):
        model.encode(mixed, t=0.3)
    codes, skipped = model.encode(mixed, t=0.3, on_error="skip", batch_size=2)
    np.testing.assert_allclose(codes, model.encode(images[:3], t=0.3), atol=1e-5)
    assert [p for p, _ in skipped] == [tmp_path / "bad.png", tmp_path / "missing.png"]
    assert "not an image" in skipped[0][1] and skipped[1][1] == "no such file"
    # items that are not files are named by their index
    codes, skipped = model.encode([images[0], np.full((1, 16, 16), 2.0, np.float32)],
                                   on_error="skip")
    assert codes.shape == (1, 8) and [i for i, _ in skipped] == [1]
    with pytest.raises(ValueError, match="on_error must be"):
        model.encode(images, on_error="ignore")
    assert drlkit.ImageReadError is ImageReadError


def test_transformer_accepts_a_dataset(model, images):
    from drlkit.transformer import DRLTransformer

    ref = model.encode(images, t=0.3)
    tr = DRLTransformer(model, t=0.3, batch_size=4)
    np.testing.assert_allclose(tr.fit_transform(PairDataset(images)), ref, atol=1e-5)
    np.testing.assert_allclose(tr.fit_transform(iter(list(images))), ref, atol=1e-5)


def _encoded(arr, fmt: str) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format=fmt)
    return buf.getvalue()


def test_images_are_found_by_extension_or_by_content(tmp_path, images):
    (tmp_path / "photo.jfif").write_bytes(_encoded(images[0], "JPEG"))
    (tmp_path / "scan").write_bytes(_encoded(images[1], "PNG"))       # no extension
    (tmp_path / "dump.dat").write_bytes(_encoded(images[2], "JPEG"))  # another extension
    (tmp_path / "LICENSE").write_text("MIT")                      # text: not an image
    (tmp_path / "notes.txt").write_text("BM, not a bitmap")
    (tmp_path / "P5.md").write_text("P5 is text here")
    os.mkfifo(tmp_path / "pipe")                                 # must not be opened (blocks)
    found = [p.name for p in collect(tmp_path)]
    assert found == ["dump.dat", "photo.jfif", "scan"]
    assert not is_image_path(tmp_path / "pipe")


def _folder(tmp_path, images):
    folder = tmp_path / "imgs"
    for cls in ("a", "b"):
        (folder / cls).mkdir(parents=True)
    for i, im in enumerate(images[:4]):
        Image.fromarray(im).save(folder / "ab"[i % 2] / f"{i}.png")
    (folder / "a" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"x" * 20)
    return folder


def test_encode_out_npz_holds_codes_files_t_and_skips(tmp_path, model, images):
    model_path = tmp_path / "tiny.safetensors"
    save_model(model, model_path, CARD)
    folder = _folder(tmp_path, images)
    base = ["encode", str(folder), "--model", str(model_path), "--quiet", "--batch-size", "2"]
    r = CliRunner().invoke(cli, [*base, "--t", "0.2,0.6", "--out", str(tmp_path / "f.npy")])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(cli, [*base, "--t", "0.2,0.6", "--out", str(tmp_path / "f.npz")])
    assert r.exit_code == 0, r.output
    assert "row order in its 'files' array" in r.output and "skipped 1 of 5" in r.output
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("f.")) == [
        "f.files.txt", "f.npy", "f.npz", "f.skipped.txt"]  # the .npz has no sidecars
    with np.load(tmp_path / "f.npz") as z:
        assert sorted(z.files) == ["codes", "features", "files", "model", "skipped",
                                   "skipped_reasons", "t"]
        np.testing.assert_array_equal(z["codes"], np.load(tmp_path / "f.npy"))
        assert z["t"].tolist() == [0.2, 0.6]
        assert [os.path.basename(s) for s in z["skipped"]] == ["broken.png"]
        assert z["skipped_reasons"][0].startswith("truncated or corrupt")
    assert read_files_list(tmp_path / "f.npz") == read_files_list(tmp_path / "f.npy")
    np.testing.assert_array_equal(read_features(tmp_path / "f.npz"), np.load(tmp_path / "f.npy"))
    # probe reads the .npz, its labels from the folders in its files array
    blobs = synthetic_dataset(40)
    for i, (im, y) in enumerate(zip(blobs.images, blobs.labels, strict=True)):
        (tmp_path / "blobs" / blobs.classes[y]).mkdir(parents=True, exist_ok=True)
        Image.fromarray(im[..., 0]).save(tmp_path / "blobs" / blobs.classes[y] / f"{i:02d}.png")
    r = CliRunner().invoke(cli, ["encode", str(tmp_path / "blobs"), "--model", str(model_path),
                                 "--quiet", "--out", str(tmp_path / "g.npz")])
    with np.load(tmp_path / "g.npz") as z:
        assert z["codes"].shape == (40, 8) and z["t"].shape == ()
    r = CliRunner().invoke(cli, ["probe", str(tmp_path / "g.npz"), "--labels-from-folders",
                                 "--metrics", "linear_probe", "--test-fraction", "0.5", "--quiet",
                                 "--report", str(tmp_path / "p.json")])
    assert r.exit_code == 0, r.output
    report = json.loads((tmp_path / "p.json").read_text())
    assert report["n_train"] + report["n_test"] == 40, report
    r = CliRunner().invoke(cli, [*base, "--out", str(tmp_path / "f.csv")])
    assert r.exit_code == 1 and "expected a .npy file name" in r.output and ".npz" in r.output
    assert not (tmp_path / "f.csv").exists()


def test_info_is_aligned_and_rounded_and_json_is_raw():
    r = CliRunner().invoke(cli, ["info", "cifar10"])
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert any(ln.startswith("sha256:") and "(matches the registry)" in ln for ln in lines)
    starts = {len(m.group(1)) for ln in lines if (m := re.match(r"^(\S+:\s+)\S", ln))}
    assert len(starts) == 1  # every top-level value starts in one column
    assert "0.1275382" not in r.output and "nmi:" in r.output and "0.1275" in r.output
    assert "1,664,000" in r.output  # big integers grouped
    raw = json.loads(CliRunner().invoke(cli, ["info", "cifar10", "--json"]).output)
    assert raw["sha256_verified"] is True and raw["budget"]["images_seen"] == 1664000
    assert raw["metrics"]["best"]["nmi"]["test"] == pytest.approx(0.1275, abs=1e-4)


def test_a_progress_bar_in_a_log_prints_its_last_state_once():
    from drlkit.progress import tqdm

    log = io.StringIO()
    with tqdm(total=3, desc="encode", file=log, mininterval=0) as bar:
        for _ in range(3):
            bar.update(1)
    states = [s for s in log.getvalue().replace("\r", "\n").splitlines() if s.strip()]
    assert sum("3/3" in s for s in states) == 1, states
    assert any("0/3" in s for s in states)
