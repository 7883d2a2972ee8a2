"""Train the CIFAR-10 family side by side on one GPU, to equal budgets, within a fixed wall time.

Written for the GPU machine this project is sometimes lent: minutes per call and 64 MiB of files
each way. So the data is the 56 MB lossy JPEG copy (`--cifar-copy jpeg`; each card's `data` field
says so) and only the exported models come back, not the 40 MB training states.

Every run has the zoo's recipe (scripts/train_zoo.sh: small preset, 128-d code, seed 0, lr 1e-3)
but batch 256, and all of them end at the same step, so every method has seen the same images:

- the runs start together and train toward a step count none of them reaches in time;
- every checkpoint (each 500 steps) is kept, as a hard link to that version of state.safetensors;
- a run that gets 1000 steps ahead of the slowest one is stopped (kill -STOP; the trainer does
  not count stopped time as training time) until that one is within 500 steps again, so the GPU
  goes to the runs that are behind;
- at the stop time all runs are killed, and each is exported from its checkpoint at the largest
  step every run has reached (resume with --steps = that step: nothing more is trained).

    PYTHONPATH=. python3 scripts/gpu_zoo.py --data-root gpu-data --out "$OUT" --stop-at EPOCH_S
    PYTHONPATH=. python3 scripts/gpu_zoo.py --data-root ../shared/data --out /tmp/z --smoke \
        --device cpu --only cifar10-ae,cifar10-static     # checks the script itself

Writes OUT/NAME.safetensors for every run and OUT/logs.tar.gz (this script's log, and each run's
log.jsonl and console output), and prints a summary.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

from safetensors import safe_open

from drlkit.checkpoint import read_header

RUNS = {  # name: `drlkit train` options, as in scripts/train_zoo.sh
    "cifar10": ["--method", "drl", "--t-conditioned", "--t-sampler", "uniform-t"],
    "cifar10-vdrl": ["--method", "vdrl", "--t-conditioned", "--t-sampler", "uniform-t"],
    "cifar10-coarse": ["--method", "drl", "--t-conditioned", "--t-sampler", "uniform-sigma"],
    "cifar10-static": ["--method", "drl", "--static", "--t-sampler", "uniform-t"],
    "cifar10-ae": ["--method", "ae"],
    "cifar10-vae": ["--method", "vae"],
    "cifar10-simclr": ["--method", "simclr"],
}
BATCH, TARGET, EVERY = 256, 100_000, 500


class Log:
    def __init__(self, path: Path) -> None:
        self.file = open(path, "a")

    def __call__(self, msg: str) -> None:
        line = f"[{time.strftime('%H:%M:%S')}] {msg}"
        print(line, flush=True)
        self.file.write(line + "\n")
        self.file.flush()


def state_step(path: Path) -> int | None:
    try:
        with safe_open(str(path), "pt") as f:
            return int(f.metadata()["step"])
    except (OSError, KeyError, ValueError):  # not written yet, or replaced while read
        return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-root", required=True)
    ap.add_argument("--out", required=True, help="Folder for the exported models and logs.")
    ap.add_argument("--runs-dir", default="runs-gpu")
    ap.add_argument("--stop-at", type=float, default=None,
                    help="Unix time at which training stops (default: in 7 minutes).")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--threads", type=int, default=2, help="CPU threads per training process.")
    ap.add_argument("--only", default=",".join(RUNS), help="Comma-separated runs to train.")
    ap.add_argument("--smoke", action="store_true",
                    help="Checkpoints every 5 steps, batch 8, no diagnostics (checks the script).")
    args = ap.parse_args()
    names = args.only.split(",")
    if unknown := set(names) - set(RUNS):
        ap.error(f"--only: unknown runs {sorted(unknown)}; choose from {', '.join(RUNS)}")
    stop_at = args.stop_at or time.time() + 420
    out, runs_dir = Path(args.out), Path(args.runs_dir)
    out.mkdir(parents=True, exist_ok=True)
    runs_dir.mkdir(parents=True, exist_ok=True)
    log = Log(runs_dir / "gpu_zoo.log")
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "PYTHONUNBUFFERED": "1"}
    every, batch = (5, 8) if args.smoke else (EVERY, BATCH)
    diagnostics = 0 if args.smoke else 2000

    def command(name: str, run_dir: Path, steps: int, resume: bool = False) -> list[str]:
        return [sys.executable, "-m", "drlkit", "train", "--dataset", "cifar10", "--cifar-copy",
                "jpeg", "--data-root", args.data_root, "--preset", "small", "--latent-dim", "128",
                "--seed", "0", "--batch-size", str(batch), "--quiet", "--device", args.device,
                "--checkpoint-every", str(every), "--diagnostics-every", str(diagnostics),
                *RUNS[name], "--steps", str(steps), "--out", str(run_dir),
                *(["--resume"] if resume else [])]

    procs: dict[str, subprocess.Popen] = {}
    for name in names:
        if (runs_dir / name).exists():
            sys.exit(f"{runs_dir / name} exists: use a new --runs-dir")
        (runs_dir / name).mkdir()
        console = open(runs_dir / f"{name}.out", "w")
        procs[name] = subprocess.Popen(command(name, runs_dir / name, TARGET), stdout=console,
                                       stderr=subprocess.STDOUT, env=env)
    stop_clock = time.strftime("%H:%M:%S", time.localtime(stop_at))
    log(f"started {', '.join(names)} (batch {batch}); stop at {stop_clock}")

    kept: dict[str, list[int]] = {n: [] for n in names}  # checkpoint steps kept per run
    stopped: set[str] = set()
    last_report = 0.0
    while time.time() < stop_at and any(p.poll() is None for p in procs.values()):
        time.sleep(1)
        for name in names:  # keep every checkpoint: a hard link to the version just written
            step = state_step(runs_dir / name / "state.safetensors")
            if step and (not kept[name] or step > kept[name][-1]):
                link = runs_dir / name / f"state-{step}.safetensors"
                os.link(runs_dir / name / "state.safetensors", link)
                if state_step(link) == step:  # not replaced between the read and the link
                    kept[name].append(step)
                else:
                    link.unlink()
        running = [n for n in names if procs[n].poll() is None]
        reached = {n: kept[n][-1] if kept[n] else 0 for n in running}
        slowest = min(reached.values(), default=0)
        for name in running:
            if name not in stopped and reached[name] >= slowest + 2 * every:
                procs[name].send_signal(signal.SIGSTOP)
                stopped.add(name)
            elif name in stopped and reached[name] <= slowest + every:
                procs[name].send_signal(signal.SIGCONT)
                stopped.discard(name)
        if time.time() - last_report >= (5 if args.smoke else 60):
            last_report = time.time()
            log("checkpoints: " + ", ".join(
                f"{n} {kept[n][-1] if kept[n] else 0}{' (stopped)' if n in stopped else ''}"
                for n in names))

    for name, p in procs.items():
        if p.poll() is None:
            p.send_signal(signal.SIGKILL)  # state writes are atomic; a stopped process dies too
            p.wait()
        else:
            log(f"{name} exited early with {p.returncode}: see {name}.out")
    common = min((kept[n][-1] for n in names if kept[n]), default=0)
    log("killed at the stop time; checkpoints: "
        + ", ".join(f"{n} {kept[n][-1] if kept[n] else 'none'}" for n in names)
        + f"; exporting every run at step {common}")
    if not common:
        sys.exit("no step that every run reached: nothing to export")

    # export each run at the common step from its kept checkpoint, in a fresh folder
    exports = {}
    for name in names:
        if common not in kept[name]:
            log(f"{name}: no checkpoint at step {common}; not exported")
            continue
        export_dir = runs_dir / "export" / name
        export_dir.mkdir(parents=True)
        shutil.copy(runs_dir / name / f"state-{common}.safetensors", export_dir / "state.safetensors")
        if (runs_dir / name / "log.jsonl").exists():  # truncated to the step on resume
            shutil.copy(runs_dir / name / "log.jsonl", export_dir / "log.jsonl")
        console = open(runs_dir / f"{name}.out", "a")
        exports[name] = subprocess.Popen(command(name, export_dir, common, resume=True),
                                         stdout=console, stderr=subprocess.STDOUT, env=env)
    for name, p in exports.items():
        code = p.wait()
        model = runs_dir / "export" / name / "model.safetensors"
        if code or not model.exists():
            log(f"{name}: export failed (exit {code}); see {name}.out")
            continue
        budget = read_header(model)["budget"]
        log(f"{name}: {budget['steps']} steps ({budget['images_seen']} images), "
            f"{budget['wall_time_s']} s training, {budget['paused_s']} s stopped")
        shutil.copy(model, out / f"{name}.safetensors")
    with tarfile.open(out / "logs.tar.gz", "w:gz") as tar:
        for path in [runs_dir / "gpu_zoo.log", *sorted(runs_dir.glob("*.out")),
                     *sorted(runs_dir.glob("*.json")),
                     *sorted((runs_dir / "export").glob("*/log.jsonl"))]:
            if path.exists():
                tar.add(path, arcname=str(path.relative_to(runs_dir)))
    log(f"wrote {out}")


if __name__ == "__main__":
    main()
