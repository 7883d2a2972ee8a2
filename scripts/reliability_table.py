"""Write docs/reliability.md from real runs: every bad input the tests try, fed to drlkit now, with
what drlkit did (the row or the skip reason, the error message, the exit status).

    python scripts/reliability_table.py            # about a minute on 2 CPU cores

The hostile folder comes from tests/hostile.py (the same one tests/test_reliability.py uses);
the folder is encoded with the shipped default model.
"""

from __future__ import annotations

import dataclasses
import os
import pickle
import signal
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from click.testing import CliRunner

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from hostile import make_hostile_folder, rewrite_metadata, run_encode_killed  # noqa: E402

import drlkit  # noqa: E402
from drlkit import registry  # noqa: E402
from drlkit.checkpoint import FORMAT_VERSION, CheckpointError, load_model  # noqa: E402
from drlkit.cli import cli  # noqa: E402
from drlkit.files import read_files_list  # noqa: E402


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def folder_table(tmp: Path) -> tuple[str, int, int]:
    root = tmp / "hostile"
    cases = make_hostile_folder(root)
    out = tmp / "out" / "feats.npy"
    res = CliRunner().invoke(cli, ["encode", str(root), "--out", str(out), "--quiet"])
    assert res.exit_code == 0 and "Traceback" not in res.output, res.output
    strict = CliRunner().invoke(cli, ["encode", str(root), "--out", str(tmp / "s.npy"), "--quiet",
                                      "--strict"])
    rows = {os.fsencode(p)[len(os.fsencode(root)) + 1:]: i for i, p in enumerate(read_files_list(out))}
    reasons = {}
    for line in out.with_name("feats.skipped.txt").read_bytes().splitlines():
        path, why = line.split(b"\t", 1)
        reasons[path[len(os.fsencode(root)) + 1:]] = why.decode()
    feats = np.load(out)
    lines = ["| input | file | what drlkit does |", "|---|---|---|"]
    for c in cases:
        if c.name in rows:
            done = f"encoded: row {rows[c.name]} (finite: {bool(np.isfinite(feats[rows[c.name]]).all())})"
        else:
            done = f"skipped: {reasons[c.name]}"
        ok = "" if (c.name in rows) == c.good else " **(unexpected)**"
        lines.append(f"| {_cell(c.what)} | `{_cell(c.path_text)}` | {_cell(done)}{ok} |")
    warning = [ln for ln in res.output.splitlines() if ln.startswith("warning")]
    summary = (f"`drlkit encode hostile/ --out feats.npy`: exit status {res.exit_code}, "
               f"{len(feats)} rows, {len(reasons)} skipped; with `--strict`: exit status "
               f"{strict.exit_code}, same files written. The warning it printed:\n\n"
               f"    {warning[0] if warning else '(none)'}\n")
    return "\n".join(lines) + "\n\n" + summary, len(cases), len(reasons)


def interruption_table(tmp: Path) -> str:
    from PIL import Image

    folder = tmp / "imgs"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(600):
        Image.fromarray(rng.integers(0, 256, (28, 28), dtype=np.uint8)).save(folder / f"{i:04d}.png")
    common = [str(folder), "--batch-size", "64", "--t", "0.3,0.9", "--quiet"]
    ref = tmp / "ref.npy"
    CliRunner().invoke(cli, ["encode", *common, "--out", str(ref)])
    lines = ["| interruption | after | `--out` afterwards | `--resume` result |", "|---|---|---|---|"]
    for name, sig in (("SIGINT (Ctrl-C)", signal.SIGINT), ("SIGKILL", signal.SIGKILL)):
        out = tmp / f"{sig}.npy"
        killed = run_encode_killed([*common, "--out", str(out)], sig, 256, REPO)
        said = killed.stderr.strip().splitlines()
        status = f"exit status {killed.returncode}" + (
            f", message: {said[-1]}" if sig == signal.SIGINT and said else "")
        exists = "exists (wrong!)" if out.exists() else "absent"
        resumed = CliRunner().invoke(cli, ["encode", *common, "--out", str(out), "--resume"])
        same = out.read_bytes() == ref.read_bytes()
        lines.append(f"| {name}, {status} | 256 of 600 images | {exists} | exit status "
                     f"{resumed.exit_code}; {_cell(resumed.output.strip().splitlines()[0])}; "
                     f"byte-identical to an uninterrupted run: **{same}** |")
    return "\n".join(lines) + "\n"


def _message(fn) -> str:
    try:
        fn()
    except (CheckpointError, ValueError) as e:
        return f"`{type(e).__name__}`: {_cell(str(e))}"
    return "**no error (unexpected)**"


def checkpoint_table(tmp: Path) -> str:
    good = registry.verify_file(registry.DEFAULT_MODEL)
    raw = good.read_bytes()
    cases = []

    def case(what: str, name: str, data: bytes | None = None, fn=None):
        path = tmp / name
        if data is not None:
            path.write_bytes(data)
        cases.append((what, _message(fn or (lambda: load_model(path, device="cpu")))))

    case("truncated file (last 1,000 bytes cut)", "truncated.safetensors", raw[:-1000])
    flipped = bytearray(raw)
    flipped[-5000] ^= 0x01
    case("one bit flipped in the weights (file not from the registry)", "flipped.safetensors",
         bytes(flipped))
    case("header length field corrupted", "badheader.safetensors", b"\xff" * 8 + raw[8:])
    case("header that is not JSON", "notjson.safetensors", raw[:8] + b"\x00" + raw[9:])
    case("a pickle renamed to .safetensors", "evil.safetensors",
         pickle.dumps({"w": torch.zeros(2)}))
    case("empty file", "empty.safetensors", b"")
    rewrite_metadata(good, tmp / "future.safetensors", format_version=str(FORMAT_VERSION + 1))
    case(f"metadata of a future format version ({FORMAT_VERSION + 1})", "future.safetensors")
    rewrite_metadata(good, tmp / "other.safetensors", format="something-else")
    case("a safetensors file that is not a drlkit model", "other.safetensors")
    case("a path that does not exist", "missing.safetensors")
    copy_dir = tmp / "registry"
    copy_dir.mkdir()
    (copy_dir / good.name).write_bytes(bytes(flipped))
    entry = registry.REGISTRY[registry.DEFAULT_MODEL]
    old_dir, old_reg = registry.checkpoint_dir, dict(registry.REGISTRY)
    registry.checkpoint_dir = lambda: copy_dir
    try:
        cases.append((f"registry file whose sha256 does not match (`{registry.DEFAULT_MODEL}`, one "
                      "bit flipped)", _message(lambda: drlkit.load(registry.DEFAULT_MODEL))))
        registry.REGISTRY["ghost"] = dataclasses.replace(entry, file="ghost.safetensors")
        cases.append(("registry file missing", _message(lambda: drlkit.load("ghost"))))
    finally:
        registry.checkpoint_dir = old_dir
        registry.REGISTRY.clear()
        registry.REGISTRY.update(old_reg)
    cases.append(("unknown registry name", _message(lambda: drlkit.load("no-such-model"))))
    lines = ["| checkpoint | what drlkit says |", "|---|---|"]
    lines += [f"| {what} | {msg} |" for what, msg in cases]
    return "\n".join(lines) + "\n"


def api_table() -> str:
    model = drlkit.load(registry.DEFAULT_MODEL, device="cpu")
    x = np.zeros((2, 28, 28), np.uint8)
    cases = [
        ("t = 1.5", lambda: model.encode(x, t=1.5)),
        ("t = -0.1", lambda: model.encode(x, t=-0.1)),
        ("t = NaN", lambda: model.encode(x, t=float("nan"))),
        ("t = [] (empty sequence)", lambda: model.encode(x, t=[])),
        ("NaN pixels", lambda: model.encode(torch.full((2, 1, 28, 28), float("nan")))),
        ("float pixels outside [0, 1]", lambda: model.encode(torch.full((2, 1, 28, 28), 3.0))),
        ("5 channels", lambda: model.encode(np.zeros((2, 28, 28, 5), np.uint8))),
        ("empty batch (0 images)", lambda: model.encode(np.zeros((0, 28, 28), np.uint8))),
        ("empty list", lambda: model.encode([])),
        ("int64 array", lambda: model.encode(np.zeros((2, 28, 28), np.int64))),
        ("uint16 array", lambda: model.encode(np.zeros((2, 28, 28), np.uint16))),
        ("bool array", lambda: model.encode(np.zeros((2, 28, 28), bool))),
        ("ragged nested list", lambda: model.encode([[1, 2], [3]])),
        ("5-D float tensor", lambda: model.encode(torch.zeros(2, 1, 1, 28, 28))),
        ("a path that does not exist", lambda: model.encode("no/such/image.png")),
        ("batch_size = 0", lambda: model.encode(x, batch_size=0)),
    ]
    lines = ["| input to `model.encode` | what drlkit says |", "|---|---|"]
    lines += [f"| {what} | {_message(fn)} |" for what, fn in cases]
    return "\n".join(lines) + "\n", len(cases)


def main() -> None:
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        folder, n_folder, n_bad = folder_table(tmp / "a")
        interrupts = interruption_table(Path(tempfile.mkdtemp(dir=d)))
        ckpt = checkpoint_table(Path(tempfile.mkdtemp(dir=d)))
        api, n_api = api_table()
        text = f"""# Reliability: what drlkit does with bad input

Generated by `python scripts/reliability_table.py` (every row is what drlkit did in that run, not
a description); the same cases are asserted by `tests/test_reliability.py` and
`tests/test_properties.py`. Inputs never produce a traceback: a bad file is skipped with its
reason, a bad argument is a `ValueError` naming it, a bad checkpoint is a one-line
`CheckpointError` naming the file.

## Hostile folders: `drlkit encode`

{n_folder} files ({n_bad} bad). Each good image gives exactly one row of `feats.npy` (its path
in `feats.files.txt`, in sorted byte order); each bad file is listed in `feats.skipped.txt`
(path, tab, reason), counted in the warning, and the exit status is 0, or 1 with `--strict`.
Pillow's decompression-bomb limit (`PIL.Image.MAX_IMAGE_PIXELS`, {__import__('PIL').Image.MAX_IMAGE_PIXELS:,}
pixels) is enforced from the header, before any pixel is decoded, including the band between
1x and 2x the limit where Pillow itself only warns.

{folder}
How images are converted (one path for every entry point, `drlkit/preprocess.py`): 16-bit and
32-bit integer images are scaled from 0-65535 (not clipped at 255); palette images with
transparency go through RGBA; alpha is dropped; CMYK becomes RGB; animated images give their
first frame; then channels and size are converted to the model's.

## Interrupted `drlkit encode`

Finished batches are written atomically to `<out>.partial/`; the `.npy` and its sidecars appear
only when the run completes. 600 PNGs, batch 64, t = 0.3 and 0.9, killed after 256 images:

{interrupts}
A partial run made with other files, model, t or batch size is refused with `--resume`
("... was started with a different t; run without --resume to start over"); without `--resume`
an old partial run is discarded.

## Interrupted training

`drlkit train` writes `state.safetensors` (weights, EMA, optimiser, RNG states, step) atomically
every `--checkpoint-every` steps. A run killed with SIGKILL right after a checkpoint and continued
with `--resume` ends with bitwise the same weights as an uninterrupted run with the same seed on
CPU (`tests/test_reliability.py::test_training_killed_mid_run_resumes_to_the_same_weights`, and
`tests/test_train.py` for a resume across an epoch boundary). Log lines written after the saved
step are dropped on resume, so no step is logged twice.

## Checkpoints

Loading never unpickles: the only reader is safetensors (a JSON header and raw tensor bytes). Files
written by drlkit carry `tensors_sha256` in their metadata, checked on every load, so a flipped
bit in the weights of a file outside the registry is caught too; registry files are also checked
against the sha256 pinned in `drlkit/registry.py`.

{ckpt}
## API input validation: `model.encode`

{n_api} bad arguments, each a `ValueError` (or its subclass `ImageReadError` for files) naming the
argument and what was expected:

{api}
A 3-D uint8 array whose last axis has 1 to 4 entries is read as one (H, W, C) image; any other
3-D uint8 array is a batch (N, H, W).

## Totals

{n_bad} kinds of bad file, 2 interruptions of encode, 1 of training, {ckpt.count(chr(10)) - 2}
checkpoint faults and {n_api} bad API arguments.
"""
    text = text.replace(d, "<tmp>")  # temporary paths in the messages
    out = REPO / "docs" / "reliability.md"
    out.write_text(text)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
