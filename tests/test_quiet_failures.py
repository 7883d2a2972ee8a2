"""No silent wrong results (issue 40): an encode of nothing fails, probe reads the stored t, the
t rules, several paths and file lists, hidden files, near-miss model names, messages with
context."""

from __future__ import annotations

import io
import json
import warnings

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import tiny_model
from PIL import Image
from test_cli import CARD

import drlkit
from drlkit.checkpoint import save_model
from drlkit.cli import cli
from drlkit.files import ResumeError, collect_all, encode_to_file


def run(*args, input=None):
    return CliRunner().invoke(cli, [str(a) for a in args], input=input)


@pytest.fixture()
def tiny(tmp_path):
    path = tmp_path / "tiny.safetensors"
    save_model(tiny_model(), path, CARD)
    return path


@pytest.fixture()
def folder(tmp_path):
    """a.png, b/c.png, .hidden/d.png, .e.png, and notes.txt."""
    root = tmp_path / "imgs"
    for name in ("a.png", "b/c.png", ".hidden/d.png", ".e.png"):
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.full((16, 16), len(name) * 9, np.uint8)).save(p)
    (root / "notes.txt").write_text("not an image")
    return root


def names(paths):
    return [p.name for p in paths]


# ------------------------------------------------------------------ an encode of nothing fails


@pytest.mark.parametrize("what", ["folder", "file"])
def test_encoding_nothing_exits_1_with_the_reasons_and_writes_nothing(tmp_path, tiny, what):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "x.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"junk" * 4)
    (bad / "y.jpg").write_bytes(b"")
    target = bad if what == "folder" else bad / "y.jpg"
    out = tmp_path / "f.npy"
    r = run("encode", target, "--model", tiny, "-o", out, "--quiet")
    assert r.exit_code == 1 and "Traceback" not in r.output
    assert "could be encoded" in r.output and "empty file (0 bytes)" in r.output
    assert not out.exists() and not (tmp_path / "f.npy.partial").exists()
    assert not (tmp_path / "f.files.txt").exists()
    r = run("encode", target, "--model", tiny, "-o", out, "--quiet", "--allow-empty")
    assert r.exit_code == 0, r.output
    assert np.load(out).shape == (0, 8)


# ------------------------------------------------------------------ probe reads the stored t


def test_probe_reads_t_and_model_from_an_encode_npz(tmp_path, tiny):
    rng = np.random.default_rng(0)
    root = tmp_path / "cls"
    for label in ("dark", "light"):
        (root / label).mkdir(parents=True)
        for i in range(12):
            base = 40 if label == "dark" else 200
            Image.fromarray((base + rng.integers(0, 30, (16, 16))).astype(np.uint8)).save(
                root / label / f"{i}.png")
    out = tmp_path / "f.npz"
    assert run("encode", root, "--model", tiny, "--t", "0.2,0.6", "-o", out, "--quiet").exit_code == 0
    report = tmp_path / "r.json"
    r = run("probe", out, "--labels-from-folders", "--metrics", "linear_probe", "--report", report,
            "--quiet")
    assert r.exit_code == 0, r.output
    rep = json.loads(report.read_text())
    assert rep["t"] == [0.2, 0.6] and rep["model"] == "tiny" and rep["read"] == "z"
    r = run("probe", out, "--labels-from-folders", "--metrics", "linear_probe", "--t", "0.1,0.3",
            "--report", report, "--quiet")  # --t overrides
    assert r.exit_code == 0 and json.loads(report.read_text())["t"] == [0.1, 0.3]


# ------------------------------------------------------------------ the t rules


@pytest.mark.parametrize("args, match", [
    (["--t", "0.1", "--t", "0.5"], "given 2 times"),
    (["--t", "0.1,,0.5"], "an empty entry"),
    (["--t", ""], "an empty entry"),
    (["--t", "abc"], "expected a number or comma-separated numbers, got 'abc'"),
    (["--t", "0.5,0.5"], "a time is repeated"),
    (["--t", "nan"], "times must lie in [0, 1]"),
])
def test_t_mistakes_are_one_line_errors(tmp_path, tiny, folder, args, match):
    r = run("encode", folder, "--model", tiny, "-o", tmp_path / "f.npy", *args)
    assert r.exit_code == 2 and match in r.output and "Traceback" not in r.output, r.output


def test_t_on_a_static_encoder_warns_once(tmp_path, folder):
    path = tmp_path / "static.safetensors"
    save_model(tiny_model(t_conditioned=False), path, CARD)
    r = run("encode", folder, "--model", path, "--t", "0.1,0.5", "-o", tmp_path / "f.npy",
            "--quiet", "--batch-size", "1")
    assert r.exit_code == 0, r.output
    assert r.output.count("warning: t has no effect on this static encoder") == 1
    model = tiny_model(t_conditioned=False)
    x = np.zeros((2, 16, 16), np.uint8)
    with pytest.warns(UserWarning, match="t has no effect"):
        model.encode(x, t=0.3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.encode(x)  # no t, no warning


# ------------------------------------------------------------------ several paths, lists, hidden


def test_several_paths_file_lists_and_hidden_files(tmp_path, tiny, folder):
    # a folder's images in sorted order; hidden ones left out; a path met twice kept once
    assert names(collect_all([folder])) == ["a.png", "c.png"]
    assert names(collect_all([folder], include_hidden=True)) == [".e.png", "d.png", "a.png",
                                                                 "c.png"]
    assert names(collect_all([folder / "b", folder / "a.png", folder])) == ["c.png", "a.png"]
    out = tmp_path / "f.npz"
    r = run("encode", folder / "b" / "c.png", folder / "a.png", "--model", tiny, "-o", out,
            "--quiet")
    assert r.exit_code == 0, r.output
    assert [p.rsplit("/", 1)[1] for p in np.load(out)["files"]] == ["c.png", "a.png"]
    listing = f"{folder / 'a.png'}\n\n{folder / 'missing.png'}\n{folder / '.e.png'}\n"
    r = run("encode", "--files-from", "-", "--model", tiny, "-o", out, "--quiet", input=listing)
    assert r.exit_code == 0, r.output
    saved = np.load(out)
    assert [p.rsplit("/", 1)[1] for p in saved["files"]] == ["a.png", ".e.png"]  # named: read
    assert [p.rsplit("/", 1)[1] for p in saved["skipped"]] == ["missing.png"]
    (tmp_path / "list.txt").write_text(str(folder / "b") + "\n")
    r = run("encode", folder / "a.png", "--files-from", tmp_path / "list.txt", "--model", tiny,
            "-o", out, "--quiet", "--include-hidden")
    assert r.exit_code == 0 and len(np.load(out)["codes"]) == 2
    r = run("encode", "--model", tiny, "-o", out)
    assert r.exit_code == 2 and "--files-from" in r.output
    hidden_only = tmp_path / "h"
    (hidden_only / ".x").mkdir(parents=True)
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(hidden_only / ".x" / "p.png")
    r = run("encode", hidden_only, "--model", tiny, "-o", out)
    assert r.exit_code == 1 and "--include-hidden" in r.output


# ------------------------------------------------------------------ model names, messages


def test_model_names_case_insensitive_and_did_you_mean(tmp_path, folder):
    assert drlkit.load("MNIST").card["name"] == "mnist"
    assert drlkit.load(None).card["name"] == "mnist"  # None: the default model
    with pytest.raises(drlkit.registry.UnknownModelError, match="did you mean 'cifar10'"):
        drlkit.load("cifar-10")
    r = run("encode", folder, "--model", "fashion_mnist", "-o", tmp_path / "y.npy")
    assert r.exit_code == 1 and "did you mean 'fashion-mnist'?" in r.output
    assert not (tmp_path / "y.npy").exists()


def test_messages_say_what_was_wrong():
    model = tiny_model()
    x = np.zeros((2, 16, 16), np.uint8)
    with pytest.raises(ValueError, match="t: expected a number in \\[0, 1\\] .* got 'abc'"):
        model.encode(x, t="abc")
    with pytest.raises(ValueError, match="batch_size must be a positive integer or None, got 2.5"):
        model.encode(x, batch_size=2.5)


def test_resume_mismatch_reads_well(tmp_path, folder):
    model = tiny_model()
    paths = collect_all([folder])
    out = tmp_path / "f.npy"
    with pytest.raises(KeyboardInterrupt):
        encode_to_file(model, paths, out, t=0.5, batch_size=1, workers=0,
                       on_batch=lambda n: (_ for _ in ()).throw(KeyboardInterrupt))
    with pytest.raises(ResumeError, match="was started with a different file list; run"):
        encode_to_file(model, paths[:1], out, t=0.5, batch_size=1, workers=0, resume=True)
    with pytest.raises(ResumeError, match="was started with a different t;"):
        encode_to_file(model, paths, out, t=0.3, batch_size=1, workers=0, resume=True)


def test_file_list_reader_handles_crlf_and_blank_lines():
    from drlkit.files import read_file_list

    assert read_file_list("-", io.StringIO("a.png\r\n\r\nb c.png\n")) == ["a.png", "b c.png"]


# ------------------------------------------------------------------ threads


def test_threads_default_leaves_busy_cores_alone(monkeypatch, tmp_path, tiny, folder):
    import torch

    from drlkit import threads

    monkeypatch.setattr(threads.os, "sched_getaffinity", lambda _pid: {0, 1}, raising=False)
    monkeypatch.setattr(threads, "busy_cores", lambda: 1)
    assert threads.auto_threads() == 1
    monkeypatch.setattr(threads, "busy_cores", lambda: 5)
    assert threads.auto_threads() == 1  # never 0
    monkeypatch.setattr(threads, "busy_cores", lambda: 0)
    assert threads.auto_threads() == 2
    before = torch.get_num_threads()
    try:
        r = run("encode", folder, "--model", tiny, "-o", tmp_path / "f.npy", "--threads", "1",
                "--quiet")
        assert r.exit_code == 0 and torch.get_num_threads() == 1
        r = run("encode", folder, "--model", tiny, "-o", tmp_path / "f.npy", "--quiet")
        assert r.exit_code == 0 and torch.get_num_threads() == 2  # auto: no core busy
        r = run("encode", folder, "--model", tiny, "-o", tmp_path / "f.npy", "--threads", "0")
        assert r.exit_code == 2 and "--threads" in r.output
    finally:
        torch.set_num_threads(before)


def test_busy_cores_reads_the_runnable_count(monkeypatch):
    from drlkit import threads

    class Loadavg(io.StringIO):
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    monkeypatch.setattr("builtins.open", lambda *a, **k: Loadavg("0.50 0.40 0.30 3/200 12345\n"))
    assert threads.busy_cores(samples=3, interval=0) == 2  # 3 running, one of them us
