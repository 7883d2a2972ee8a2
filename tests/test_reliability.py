"""Robustness: hostile folders, interrupted encode and training, corrupt checkpoints, API input
validation (docs/reliability.md lists every case)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from conftest import REPO, tiny_model
from hostile import make_hostile_folder, run_encode_killed
from PIL import Image
from safetensors.torch import load_file, save_file

from drlkit.checkpoint import CheckpointError, load_model, save_model
from drlkit.cli import cli
from drlkit.files import collect, encode_to_file, partial_dir, read_files_list
from drlkit.preprocess import ImageReadError, load_image

CARD = {"description": "tiny test model", "preprocessing": {}, "training": {}, "data": "synthetic",
        "budget": {}, "recommended_t": 0.5, "metrics": {}}


@pytest.fixture(scope="module")
def model_path(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("model") / "tiny.safetensors"
    save_model(tiny_model(), path, CARD)
    return path


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile") / "folder"
    return root, make_hostile_folder(root)


def _encode(args: list[str]):
    return CliRunner().invoke(cli, ["encode", *args])


# --------------------------------------------------------------------------- hostile folders


@pytest.mark.parametrize("workers", ["0", "2"])
def test_hostile_folder_one_row_per_good_image_and_a_reason_per_bad_file(hostile, model_path,
                                                                         tmp_path, workers):
    root, cases = hostile
    out = tmp_path / "feats.npy"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no Pillow warning (e.g. palette transparency) leaks out
        result = _encode([str(root), "--model", str(model_path), "--out", str(out), "--t", "0.5",
                          "--workers", workers, "--batch-size", "7", "--quiet"])
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    good = sorted((c.name for c in cases if c.good), key=bytes)
    bad = sorted(c.name for c in cases if not c.good)
    rows = [os.fsencode(p)[len(os.fsencode(root)) + 1:] for p in read_files_list(out)]
    assert rows == good
    feats = np.load(out)
    assert feats.shape == (len(good), 8) and np.isfinite(feats).all()
    skipped = out.with_name("feats.skipped.txt").read_bytes().splitlines()
    assert sorted(line.split(b"\t")[0][len(os.fsencode(root)) + 1:] for line in skipped) == bad
    assert all(len(line.split(b"\t")) == 2 and line.split(b"\t")[1] for line in skipped)
    assert f"skipped {len(bad)} of {len(cases)} files" in result.output
    assert not partial_dir(out).exists()


def test_hostile_folder_under_strict_exits_nonzero_but_writes_the_result(hostile, model_path,
                                                                         tmp_path):
    root, cases = hostile
    out = tmp_path / "feats.npy"
    result = _encode([str(root), "--model", str(model_path), "--out", str(out), "--workers", "0",
                      "--strict", "--quiet"])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert len(np.load(out)) == sum(c.good for c in cases)


def test_each_bad_file_gets_a_specific_reason(hostile):
    root, cases = hostile
    expected = {b"bad/empty.png": "empty file", b"bad/truncated.jpg": "truncated",
                b"bad/truncated.png": "truncated", b"bad/notes.png": "not an image",
                b"bad/page.jpg": "not an image", b"bad/random.png": "not an image",
                b"bad/bomb.png": "decompression bomb", b"bad/bomb_small.png": "decompression bomb",
                b"bad/bitflip.png": "corrupt", b"bad/dangling.png": "dangling symbolic link",
                b"bad/fifo.png": "not a regular file", b"bad/header_only.png": "not an image"}
    assert set(expected) == {c.name for c in cases if not c.good}
    for name, reason in expected.items():
        with pytest.raises(ImageReadError, match=reason):
            load_image(os.path.join(os.fsencode(root), name).decode("utf-8", "surrogateescape"))


def test_special_images_decode_to_what_they_show(hostile):
    root, _ = hostile
    path = lambda n: Path(os.fsdecode(os.path.join(os.fsencode(root), n)))  # noqa: E731
    grey16 = load_image(path(b"good/grey16.png"))  # 16-bit values are scaled, not clipped
    with Image.open(path(b"good/grey16.png")) as im:
        expected = (np.asarray(im).astype(np.float64) / 257).round().astype(np.uint8)
    np.testing.assert_array_equal(grey16, expected)
    with Image.open(path(b"good/animated.gif")) as im:
        first = np.asarray(im.convert("RGB"))
    np.testing.assert_array_equal(load_image(path(b"good/animated.gif")), first)
    assert load_image(path(b"good/one_pixel.png")).shape == (1, 1, 3)
    assert load_image(path(b"good/huge.png")).shape == (6000, 6000)
    assert load_image(path(b"good/cmyk.jpg")).shape == (40, 48, 3)
    assert load_image(path(b"good/la.png")).ndim == 2 and load_image(path(b"good/bilevel.png")).ndim == 2


def test_collect_lists_bad_entries_but_never_directories(hostile):
    root, cases = hostile
    listed = {os.fsencode(p)[len(os.fsencode(root)) + 1:] for p in collect(root)}
    assert listed == {c.name for c in cases}
    assert b"good/folder.png" not in listed


# --------------------------------------------------------------------------- interrupted encode


def _folder(tmp_path: Path, n: int = 40) -> Path:
    folder = tmp_path / "imgs"
    folder.mkdir()
    rng = np.random.default_rng(1)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (18, 22, 3), dtype=np.uint8)).save(folder / f"{i:03d}.png")
    (folder / "zz_broken.png").write_bytes(b"not a png")
    return folder


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT])
def test_interrupted_encode_leaves_no_output_and_resume_equals_an_uninterrupted_run(
        tmp_path, model_path, sig):
    folder = _folder(tmp_path)
    common = [str(folder), "--model", str(model_path), "--batch-size", "8", "--t", "0.2,0.8",
              "--workers", "1", "--quiet"]
    ref = tmp_path / "ref" / "feats.npy"
    assert _encode([*common, "--out", str(ref)]).exit_code == 0
    out = tmp_path / "run" / "feats.npy"
    killed = run_encode_killed([*common, "--out", str(out)], sig, 16, REPO, timeout=300)
    if sig == signal.SIGKILL:
        assert killed.returncode == -signal.SIGKILL
    else:
        assert killed.returncode == 130, killed.stderr
        assert "--resume" in killed.stderr and "Traceback" not in killed.stderr
    assert not out.exists() and not out.with_name("feats.files.txt").exists()
    assert len(list(partial_dir(out).glob("batch-*.npy"))) >= 2
    resumed = _encode([*common, "--out", str(out), "--resume"])
    assert resumed.exit_code == 0, resumed.output
    assert "batches reused" in resumed.output
    assert out.read_bytes() == ref.read_bytes()
    for kind in ("files", "skipped"):
        a = out.with_name(f"feats.{kind}.txt").read_text().replace(str(out.parent.parent / "run"), "")
        b = ref.with_name(f"feats.{kind}.txt").read_text().replace(str(ref.parent.parent / "ref"), "")
        assert a == b
    assert not partial_dir(out).exists()


def test_resume_refuses_a_partial_run_with_other_settings(tmp_path, model_path):
    folder = _folder(tmp_path, 20)
    out = tmp_path / "feats.npy"
    model = load_model(model_path, device="cpu")

    def stop(n):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        encode_to_file(model, collect(folder), out, t=0.3, batch_size=8, workers=0, on_batch=stop)
    result = _encode([str(folder), "--model", str(model_path), "--out", str(out), "--t", "0.4",
                      "--batch-size", "8", "--resume", "--quiet"])
    assert result.exit_code == 1 and "different t" in result.output
    assert "Traceback" not in result.output
    other = _encode([str(folder), "--model", str(model_path), "--out", str(out), "--t", "0.3",
                     "--batch-size", "8", "--precision", "bf16", "--resume", "--quiet"])
    assert other.exit_code == 1 and "different --precision" in other.output
    # without --resume the old partial run is discarded and the run starts over
    fresh = _encode([str(folder), "--model", str(model_path), "--out", str(out), "--t", "0.4",
                     "--batch-size", "8", "--quiet"])
    assert fresh.exit_code == 0 and "reused" not in fresh.output
    assert np.load(out).shape == (20, 8)


def test_encode_to_file_matches_in_memory_encode(tmp_path, model_path):
    folder = _folder(tmp_path, 11)
    model = load_model(model_path, device="cpu")
    summary = encode_to_file(model, collect(folder), tmp_path / "f.npy", t=[0.1, 0.9],
                             batch_size=4, workers=0)
    assert summary.shape == (11, 2, 8) and len(summary.skipped) == 1
    images = [np.asarray(Image.open(folder / f"{i:03d}.png")) for i in range(11)]
    np.testing.assert_allclose(np.load(tmp_path / "f.npy"), model.encode(images, t=[0.1, 0.9]),
                               atol=1e-5)


# --------------------------------------------------------------------------- interrupted training


def test_training_killed_mid_run_resumes_to_the_same_weights(tmp_path):
    folder = tmp_path / "train_imgs"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(24):
        Image.fromarray(rng.integers(0, 256, (16, 16), dtype=np.uint8)).save(folder / f"{i}.png")
    args = ["train", "--dataset", str(folder), "--preset", "tiny", "--image-size", "16",
            "--channels", "1", "--latent-dim", "4", "--steps", "8", "--batch-size", "8",
            "--checkpoint-every", "2", "--diagnostics-every", "0", "--precision", "fp32",
            "--device", "cpu", "--quiet"]
    full = CliRunner().invoke(cli, [*args, "--out", str(tmp_path / "full")])
    assert full.exit_code == 0, full.output
    code = ("import os, sys, signal, importlib\n"
            "t = importlib.import_module('drlkit.train')\n"
            "orig = t.Trainer.save_state\n"
            "def patched(self, *a, **k):\n"
            "    orig(self, *a, **k)\n"
            "    if self.step == 4: os.kill(os.getpid(), signal.SIGKILL)\n"
            "t.Trainer.save_state = patched\n"
            "from drlkit.cli import main\n"
            "sys.argv = ['drlkit', *sys.argv[1:]]\n"
            "main()\n")
    killed = subprocess.run([sys.executable, "-c", code, *args, "--out", str(tmp_path / "cut")],
                            capture_output=True, text=True, cwd=REPO, timeout=300)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert not (tmp_path / "cut" / "model.safetensors").exists()
    resumed = CliRunner().invoke(cli, [*args, "--out", str(tmp_path / "cut"), "--resume"])
    assert resumed.exit_code == 0, resumed.output
    a = load_file(str(tmp_path / "full" / "model.safetensors"))
    b = load_file(str(tmp_path / "cut" / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# --------------------------------------------------------------------------- checkpoints


def test_a_flipped_bit_in_the_weights_is_caught(model_path, tmp_path):
    data = bytearray(model_path.read_bytes())
    data[-100] ^= 0x10  # inside the last tensor's bytes; the header still parses
    bad = tmp_path / "flipped.safetensors"
    bad.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=r"flipped\.safetensors: .*checksum.*corrupt"):
        load_model(bad)


def test_weights_swapped_under_a_valid_header_are_caught(model_path, tmp_path):
    tensors = load_file(str(model_path))
    from safetensors import safe_open

    with safe_open(str(model_path), "pt") as f:
        meta = f.metadata()
    name = sorted(tensors)[0]
    tensors[name] = tensors[name] + 1
    bad = tmp_path / "swapped.safetensors"
    save_file(tensors, str(bad), metadata=meta)
    with pytest.raises(CheckpointError, match="checksum"):
        load_model(bad)


def test_checkpoint_header_that_is_not_a_json_object(tmp_path):
    body = b"[1, 2, 3]"
    bad = tmp_path / "list.safetensors"
    bad.write_bytes(len(body).to_bytes(8, "little") + body)
    with pytest.raises(CheckpointError, match="not a JSON object"):
        load_model(bad)


def test_card_update_keeps_the_checksum_valid(model_path, tmp_path):
    from drlkit.checkpoint import update_card

    path = tmp_path / "m.safetensors"
    path.write_bytes(model_path.read_bytes())
    update_card(path, description="renamed")
    assert load_model(path).card["description"] == "renamed"
    assert "tensors_sha256" not in load_model(path).card


# --------------------------------------------------------------------------- API input validation


@pytest.mark.parametrize("bad, match", [
    ([np.zeros((8, 8), np.uint8), [[1, 2], [3]]], r"images\[1\]"),        # ragged nested list
    (np.zeros((2, 8, 8), np.uint16), "dtype"),                               # uint16 array
    (np.zeros((2, 8, 8), bool), "dtype"),                                    # bool array
    (torch.zeros((2, 1, 8, 8), dtype=torch.complex64), "dtype"),             # complex
    (np.zeros((2, 8, 8, 5), np.uint8), "channels"),                          # 5 channels
    (np.zeros((2, 3, 8, 8, 1), np.float32), "shape"),                        # 5-D float
    (torch.zeros((0, 1, 8, 8)), "empty"),                                    # empty float batch
    (["/no/such/image.png"], "no such file"),                                # missing path
    ("/no/such/image.png", "no such file"),
    (12, "images"),                                                          # not an image at all
])
def test_bad_api_input_is_a_value_error_naming_the_argument(bad, match):
    with pytest.raises(ValueError, match=match):
        tiny_model().encode(bad)


def test_bad_file_in_a_path_list_names_the_file(tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    with pytest.raises(ValueError, match=r"broken\.png: truncated"):
        tiny_model().encode([str(bad)])

