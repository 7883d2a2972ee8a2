"""`torchrun -m drlkit train|encode` on 2 CPU processes (gloo): the same results as one process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import REPO, tiny_model
from PIL import Image
from safetensors.torch import load_file

from drlkit.checkpoint import load_model, save_model
from drlkit.files import collect, encode_to_file, partial_dir

CARD = {"description": "tiny test model", "preprocessing": {}, "training": {}, "data": "synthetic",
        "budget": {}, "recommended_t": 0.5, "metrics": {}}


def drlkit(args: list[str], cwd: Path, processes: int = 1) -> subprocess.CompletedProcess:
    """`python -m drlkit ARGS`, or under `torchrun --standalone --nproc-per-node N`."""
    launch = [sys.executable, "-m", "drlkit"]
    if processes > 1:
        launch = [sys.executable, "-m", "torch.distributed.run", "--standalone",
                  f"--nproc-per-node={processes}", "-m", "drlkit"]
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    return subprocess.run(launch + args, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300)


def _pngs(root: Path, n: int) -> Path:
    root.mkdir()
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (16, 16), dtype=np.uint8)).save(root / f"{i:03d}.png")
    return root


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """37 small greyscale PNGs and one file that is not an image."""
    root = _pngs(tmp_path_factory.mktemp("ddp") / "imgs", 37)
    (root / "zz-not-an-image.png").write_text("text")
    return root


@pytest.fixture()
def run_dir(tmp_path) -> Path:
    """A working folder with a training image folder `imgs/` of 24 PNGs."""
    _pngs(tmp_path / "imgs", 24)
    return tmp_path


@pytest.fixture(scope="module")
def model_path(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("model") / "tiny.safetensors"
    save_model(tiny_model(), path, CARD)
    return path


def _outputs(out: Path) -> tuple[np.ndarray, bytes, bytes]:
    return (np.load(out), out.with_name(f"{out.stem}.files.txt").read_bytes(),
            out.with_name(f"{out.stem}.skipped.txt").read_bytes())


# --------------------------------------------------------------------------- encode


@pytest.mark.parametrize("t", ["0.5", "0.2,0.8"])
def test_two_process_encode_equals_one_process(folder, model_path, tmp_path, t):
    common = ["encode", str(folder), "--model", str(model_path), "--t", t, "--batch-size", "5",
              "--workers", "0", "--quiet"]
    one = drlkit(common + ["--out", "one.npy"], tmp_path)
    two = drlkit(common + ["--out", "two.npy"], tmp_path, processes=2)
    assert one.returncode == 0 and two.returncode == 0, one.stderr + two.stderr
    a, b = _outputs(tmp_path / "one.npy"), _outputs(tmp_path / "two.npy")
    assert a[0].shape[0] == 37 and a[0].dtype == np.float32
    assert np.array_equal(a[0], b[0])  # bitwise: the same batches, encoded the same way
    assert a[1:] == b[1:] and b"zz-not-an-image.png" in b[2]
    assert two.stdout.count("wrote two.npy") == 1  # rank 0 reports, once
    assert "skipped 1 of 38" in two.stderr
    assert not partial_dir(tmp_path / "two.npy").exists()


@pytest.fixture()
def one_thread():
    """Run this process's torch on 1 thread, as the torchrun ranks do (OMP_NUM_THREADS=1): on
    some CPUs (seen on an AVX2 AMD EPYC) fp32 convolutions round differently with 2 threads."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_a_one_process_partial_run_resumes_on_two_processes(folder, model_path, tmp_path,
                                                            one_thread):
    model = load_model(model_path)
    paths = collect(folder)
    full = encode_to_file(model, paths, tmp_path / "full.npy", 0.5, batch_size=5, workers=0)

    def stop_after_two_batches(n_done: int) -> None:
        if n_done >= 10:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        encode_to_file(model, paths, tmp_path / "part.npy", 0.5, batch_size=5, workers=0,
                       on_batch=stop_after_two_batches)
    assert not (tmp_path / "part.npy").exists()
    two = drlkit(["encode", str(folder), "--model", str(model_path), "--t", "0.5", "--batch-size",
                  "5", "--workers", "0", "--quiet", "--out", "part.npy", "--resume"], tmp_path,
                 processes=2)
    assert two.returncode == 0, two.stderr
    assert "2 batches reused" in two.stdout
    assert np.array_equal(np.load(tmp_path / "part.npy"), np.load(full.out))


# --------------------------------------------------------------------------- train


def _train_args(method: str, steps: int, out: str) -> list[str]:
    return ["train", "--dataset", "imgs", "--method", method, "--preset", "tiny", "--steps",
            str(steps), "--batch-size", "8", "--image-size", "16", "--channels", "1",
            "--checkpoint-every", "1", "--diagnostics-every", "0", "--precision", "fp32",
            "--no-hflip", "--quiet", "--out", out]


def test_ddp_gradient_equals_the_global_batch_gradient(run_dir):
    """AE training draws no noise, so after one step the optimiser's first moment (0.1 x the
    clipped gradient) of a 2-process run must equal one process's on the same global batch."""
    one = drlkit(_train_args("ae", 1, "one"), run_dir)
    two = drlkit(_train_args("ae", 1, "two"), run_dir, processes=2)
    assert one.returncode == 0 and two.returncode == 0, one.stderr + two.stderr
    assert two.stdout.count("exported two/model.safetensors") == 1
    a, b = load_file(run_dir / "one/state.safetensors"), load_file(run_dir / "two/state.safetensors")
    moments = [k for k in a if k.endswith(".exp_avg")]
    assert len(moments) > 20
    for k in moments:
        np.testing.assert_allclose(b[k].numpy(), a[k].numpy(), rtol=1e-4, atol=1e-8, err_msg=k)
    assert "rng.generator.1" in b and "rng.generator.1" not in a  # each rank's noise is saved


def test_ddp_training_resumes_bitwise_and_refuses_another_process_count(run_dir):
    whole = drlkit(_train_args("drl", 4, "whole"), run_dir, processes=2)
    half = drlkit(_train_args("drl", 2, "split"), run_dir, processes=2)
    rest = drlkit(_train_args("drl", 4, "split") + ["--resume"], run_dir, processes=2)
    assert whole.returncode == half.returncode == rest.returncode == 0, whole.stderr + rest.stderr
    a = load_file(run_dir / "whole/model.safetensors")
    b = load_file(run_dir / "split/model.safetensors")
    assert all(np.array_equal(a[k].numpy(), b[k].numpy()) for k in a)
    single = drlkit(_train_args("drl", 6, "split") + ["--resume"], run_dir)
    assert single.returncode != 0
    assert "saved by a run of 2 process(es); resume it with the same number" in single.stderr


def test_the_global_batch_must_split_evenly(run_dir):
    args = _train_args("ae", 1, "odd")
    args[args.index("--batch-size") + 1] = "7"
    run = drlkit(args, run_dir, processes=2)
    assert run.returncode != 0
    assert "--batch-size 7 (the global batch) must be divisible by the number of processes, 2" \
        in run.stderr
