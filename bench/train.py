"""Training throughput: images/s of the real trainer (`drlkit.train.Trainer.train_step`: batch
assembly, forward, backward, clipping, Adam, EMA) on the real datasets, for each variant:

- CPU: fp32, bf16 autocast, and each of them under `torch.compile` (inductor);
- CUDA (when present): bf16 / fp16 autocast, channels_last, torch.compile.

    python bench/train.py                                  # mnist and cifar10, every variant
    python bench/train.py --datasets cifar10 --steps 30 --variants fp32,bf16

Run it alone: another job on the same cores makes every figure meaningless.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import torch
from common import environment, write_json

from drlkit.config import preset
from drlkit.data import load_dataset
from drlkit.methods import METHODS
from drlkit.train import TrainConfig, Trainer

CPU_VARIANTS = "fp32,bf16,fp32+compile,bf16+compile"
CUDA_VARIANTS = "fp32,bf16,fp16,bf16+channels_last,bf16+compile"


def measure(ds, dataset: str, variant: str, steps: int, warmup: int, batch: int, method: str,
            preset_name: str, device: str) -> dict:
    precision, *options = variant.split("+")
    _, h, _, c = ds.images.shape
    row = METHODS[method]
    mc = preset(preset_name, image_size=h, channels=c, objective=row.objective,
                probabilistic=row.probabilistic,
                t_conditioned=row.diffusion)  # the baselines are static, as in the CLI
    tc = TrainConfig(dataset=dataset, method=method, precision=precision, batch_size=batch,
                     steps=10**9, checkpoint_every=10**9, diagnostics_every=0,
                     hflip=dataset == "cifar10")
    with tempfile.TemporaryDirectory() as out:
        trainer = Trainer(mc, tc, out, ds, device)
        if "channels_last" in options:
            trainer.model.to(memory_format=torch.channels_last)
        if "compile" in options:
            trainer.objective = torch.compile(trainer.objective)
        sync = torch.cuda.synchronize if trainer.device.type == "cuda" else (lambda: None)
        t0 = time.perf_counter()
        for _ in range(warmup):
            trainer.train_step()
        sync()
        warm_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        for _ in range(steps):
            trainer.train_step()
        sync()
        seconds = time.perf_counter() - t0
    return {"dataset": dataset, "variant": variant, "img_s": steps * batch / seconds,
            "step_s": seconds / steps, "warmup_s": warm_s, "steps": steps, "batch": batch}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--datasets", default="mnist,cifar10")
    ap.add_argument("--variants", default=None,
                    help=f"Default: {CPU_VARIANTS} on CPU; {CUDA_VARIANTS} on CUDA.")
    ap.add_argument("--method", default="drl")
    ap.add_argument("--preset", default="small")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--steps", type=int, default=40, help="Timed steps per variant.")
    ap.add_argument("--warmup", type=int, default=5,
                    help="Untimed steps first (torch.compile compiles in these).")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--cifar-copy", default="png", choices=["png", "jpeg", "python"],
                    help="Which CIFAR-10 copy to read (the GPU machine gets the JPEG copy).")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    variants = (args.variants or (CUDA_VARIANTS if args.device.startswith("cuda")
                                  else CPU_VARIANTS)).split(",")
    env = environment()
    print(f"# training throughput ({args.method}, {args.preset} preset, batch {args.batch_size}):"
          f" {env['hardware']}")
    print(f"{'dataset':<10}{'variant':<22}{'img/s':>8}{'s/step':>9}{'vs fp32':>9}{'warm-up s':>11}")
    rows = []
    for dataset in args.datasets.split(","):
        ds = load_dataset(dataset, "train", args.data_root, args.cifar_copy)
        base = None
        for variant in variants:
            try:
                r = measure(ds, dataset, variant, args.steps, args.warmup, args.batch_size,
                            args.method, args.preset, args.device)
            except Exception as e:  # e.g. torch.compile without a working compiler
                print(f"{dataset:<10}{variant:<22}  failed: {type(e).__name__}: "
                      f"{str(e).splitlines()[0][:120]}")
                rows.append({"dataset": dataset, "variant": variant, "error": str(e)[:500]})
                continue
            base = r["img_s"] if variant == "fp32" else base
            speedup = r["img_s"] / base if base else float("nan")
            r["vs_fp32"] = speedup
            rows.append(r)
            print(f"{dataset:<10}{variant:<22}{r['img_s']:>8.0f}{r['step_s']:>9.3f}"
                  f"{speedup:>8.2f}x{r['warmup_s']:>11.1f}")
    write_json(args.json, {"environment": env, "method": args.method, "preset": args.preset,
                           "rows": rows})


if __name__ == "__main__":
    main()
