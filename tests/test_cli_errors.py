"""Mistakes a new user makes get one line saying what is wrong and what to do (issue 33), a
non-zero exit, and no partial output."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from conftest import REPO

from drlkit.cli import cli
from drlkit.distributed import check_device

IMAGES = REPO / "examples" / "images"


def _encode(*args):
    return CliRunner().invoke(cli, ["encode", str(IMAGES), "--quiet", *args])


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_on_a_machine_without_it_is_a_message(tmp_path):
    res = _encode("--device", "cuda", "--out", str(tmp_path / "f.npy"))
    assert res.exit_code == 1 and "Traceback" not in res.output
    assert "device 'cuda'" in res.output and "use cpu" in res.output
    assert list(tmp_path.iterdir()) == []


def test_a_device_that_is_no_device_name_is_a_message(tmp_path):
    res = _encode("--device", "gpu", "--out", str(tmp_path / "f.npy"))
    assert res.exit_code == 1 and "'gpu' is not a device name" in res.output
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match="not a device name"):
        check_device("gpu")
    assert check_device("cpu") == torch.device("cpu")


def test_an_output_under_a_file_is_a_message(tmp_path):
    afile = tmp_path / "image.jpg"
    afile.write_bytes(b"x")
    res = _encode("--out", str(afile / "y.npy"))
    assert res.exit_code == 1 and "is a file, not a folder" in res.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["image.jpg"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write into any folder")
def test_an_unwritable_output_is_a_message(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        res = _encode("--out", str(locked / "y.npy"))
        assert res.exit_code == 1 and "no permission to write there" in res.output
        assert list(locked.iterdir()) == []
    finally:
        locked.chmod(0o700)


def test_an_output_on_a_read_only_filesystem_is_a_message():
    res = _encode("--out", "/proc/drlkit-test/y.npy")
    assert res.exit_code == 1 and "Traceback" not in res.output
    assert "--out /proc/drlkit-test/y.npy: /proc does not take new files" in res.output
    assert list(Path("/proc").glob("drlkit-test*")) == []


def test_load_without_a_name_loads_the_default_model_and_models_marks_it():
    import drlkit
    from drlkit.registry import DEFAULT_MODEL

    assert drlkit.load(device="cpu").card["name"] == DEFAULT_MODEL
    out = CliRunner().invoke(cli, ["models"]).output.splitlines()
    marked = [ln.split()[0] for ln in out if "[default: drlkit.load()" in ln]
    assert marked == [DEFAULT_MODEL]
    rows = drlkit.list_models()
    assert [r["name"] for r in rows if r["default"]] == [DEFAULT_MODEL]


def test_encode_says_what_to_do_with_channels_last_tensors_and_folders():
    import drlkit

    model = drlkit.load("mnist", device="cpu")
    with pytest.raises(ValueError, match=r"channels-last .*permute\(0, 3, 1, 2\)"):
        model.encode(torch.rand(2, 28, 28, 3))
    with pytest.raises(ValueError, match="is a folder; encode its files with"):
        model.encode(str(IMAGES))
    with pytest.raises(ValueError, match="is a folder"):
        model.encode(IMAGES)


def test_resume_with_nothing_to_resume_says_so(tmp_path):
    res = _encode("--out", str(tmp_path / "f.npy"), "--resume")
    assert res.exit_code == 0 and "--resume: nothing to resume" in res.output
    assert (tmp_path / "f.npy").is_file()
    res = _encode("--out", str(tmp_path / "f.npy"))
    assert "nothing to resume" not in res.output


def test_every_cli_option_has_help():
    import click

    import drlkit.cli.core  # noqa: F401 - the commands register on import
    import drlkit.cli.evaluate  # noqa: F401
    import drlkit.cli.pictures  # noqa: F401

    missing = [f"{name} {p.opts[0]}" for name, cmd in cli.commands.items() for p in cmd.params
               if isinstance(p, click.Option) and not p.help]
    assert missing == []
    assert len(cli.commands) >= 12
