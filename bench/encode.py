"""Encode throughput on in-memory batches, next to two references measured in the same run.

For each shipped model (or --models), batch sizes 1 to 512, fp32 and bf16 autocast (CPU; on CUDA
also fp16): images/s of `model.encode` (its whole path: input conversion, forward, numpy output)
and the achieved FLOP/s. References: this machine's matmul ceiling (a 2048^3 matmul, fp32 and
bf16), and a plain PyTorch ResNet-18-style network with about the same FLOPs per image at the same
resolution. Then how far bf16 codes are from fp32 codes on real test images, and whether a linear
probe notices.

    python bench/encode.py                        # every registry model, CPU
    python bench/encode.py --models mnist --batch-sizes 64,256 --json bench/results/encode.json
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from common import environment, flops_per_item, matmul_ceiling, peer_resnet, rate, sync_for, write_json

import drlkit
from drlkit.data import load_dataset, stratified_subset
from drlkit.metrics import linear_probe
from drlkit.precision import resolve_precision
from drlkit.registry import REGISTRY


def autocast(device: torch.device, precision: str):
    amp = resolve_precision(precision, device)
    return torch.autocast(device.type, dtype=amp or torch.float32, enabled=amp is not None)


def bf16_deviation(model, data_root, t: float, precision: str, n_train: int = 5000,
                   n_test: int = 2000) -> dict:
    """Codes of real images in fp32 and in `precision`: relative L2 deviation per image, and a
    linear probe (validation-chosen C) trained and scored in each precision."""
    name = model.card["training"]["dataset"]
    train = stratified_subset(load_dataset(name, "train", data_root), n_train, 0, "train")
    test = stratified_subset(load_dataset(name, "test", data_root), n_test, 0, "test")
    codes = {p: (model.encode(train.images, t=t, precision=p),
                 model.encode(test.images, t=t, precision=p)) for p in ("fp32", precision)}
    ref, low = codes["fp32"][1], codes[precision][1]
    rel = np.linalg.norm(low - ref, axis=1) / np.linalg.norm(ref, axis=1)
    probe = {p: linear_probe(tr, train.labels, te, test.labels)["accuracy"]
             for p, (tr, te) in codes.items()}
    return {"dataset": f"{name}: {train.source} ({n_train}) / {test.source} ({n_test})",
            "rel_l2_median": float(np.median(rel)), "rel_l2_max": float(rel.max()),
            "max_abs": float(np.abs(low - ref).max()), "probe_fp32": probe["fp32"],
            f"probe_{precision}": probe[precision]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default=",".join(REGISTRY), help="Registry names or paths.")
    ap.add_argument("--batch-sizes", default=None,
                    help="Default: 1,8,32,64,128,256,512 on CPU; up to 1024 on CUDA.")
    ap.add_argument("--precisions", default=None,
                    help="Default: fp32,bf16 on CPU; fp32,bf16,fp16 on CUDA.")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--min-time", type=float, default=1.0, help="Seconds per measurement.")
    ap.add_argument("--data-root", default=None, help="For the bf16 deviation on real images.")
    ap.add_argument("--no-deviation", action="store_true", help="Skip the bf16 deviation check.")
    ap.add_argument("--json", default=None, help="Also write the figures here.")
    args = ap.parse_args()
    device = torch.device(args.device)
    sizes = [int(b) for b in (args.batch_sizes or "1,8,32,64,128,256,512" +
                              (",1024" if device.type == "cuda" else "")).split(",")]
    precisions = (args.precisions.split(",") if args.precisions else
                  ["fp32", "bf16"] + (["fp16"] if device.type == "cuda" else []))
    sync = sync_for(device)

    env = environment()
    print(f"# encode throughput: {env['hardware']}; torch threads {env['torch_threads']}")
    ceilings = {"fp32": matmul_ceiling(device, torch.float32),
                "bf16": matmul_ceiling(device, torch.bfloat16)}
    if device.type == "cuda":
        ceilings["fp16"] = matmul_ceiling(device, torch.float16)
    print("matmul ceiling (2048^3): " + ", ".join(f"{p} {v / 1e9:.0f} GFLOP/s"
                                                  for p, v in ceilings.items()))
    result = {"environment": env, "device": str(device), "matmul_ceiling_flops": ceilings,
              "models": {}}
    for name in args.models.split(","):
        model = drlkit.load(name, device=str(device)).eval()
        c, s, t = model.config.channels, model.config.image_size, model.recommended_t
        x1 = torch.zeros(1, c, s, s, device=device)
        f_enc = flops_per_item(lambda x, m=model, t=t: m.embed(x, torch.full((1,), t, device=device)),
                               x1)
        peer, width, f_peer = peer_resnet(c, s, f_enc)
        peer = peer.to(device)
        print(f"\n## {name}: {c}x{s}x{s} -> {model.config.latent_dim}-d, "
              f"{f_enc / 1e6:.1f} MFLOP/image; peer ResNet-18 width {width}: "
              f"{f_peer / 1e6:.1f} MFLOP/image")
        print(f"{'precision':<10}{'batch':>6}{'encode img/s':>14}{'GFLOP/s':>9}{'of fp32 ceiling':>17}"
              f"{'peer img/s':>12}{'peer GFLOP/s':>14}")
        rows = []
        for p in precisions:
            for b in sizes:
                x = torch.rand(b, c, s, s, device=device)
                r = rate(lambda x=x, b=b, p=p, m=model, t=t: m.encode(x, t=t, batch_size=b, precision=p), b,
                         args.min_time, sync=sync)

                def run_peer(x=x, p=p, peer=peer):
                    with torch.inference_mode(), autocast(device, p):
                        return peer(x * 2 - 1).float().cpu()

                rp = rate(run_peer, b, args.min_time, sync=sync)
                row = {"precision": p, "batch": b, "img_s": r, "flops": r * f_enc,
                       "ratio_fp32_ceiling": r * f_enc / ceilings["fp32"], "peer_img_s": rp,
                       "peer_flops": rp * f_peer}
                rows.append(row)
                print(f"{p:<10}{b:>6}{r:>14.0f}{r * f_enc / 1e9:>9.1f}"
                      f"{row['ratio_fp32_ceiling']:>17.1%}{rp:>12.0f}{rp * f_peer / 1e9:>14.1f}")
        best = max(rows, key=lambda r: r["img_s"])
        best32 = max((r for r in rows if r["precision"] == "fp32"), key=lambda r: r["img_s"])
        print(f"best: {best['img_s']:.0f} img/s ({best['precision']}, batch {best['batch']}), "
              f"{best['ratio_fp32_ceiling']:.1%} of the fp32 matmul ceiling; best fp32: "
              f"{best32['img_s']:.0f} img/s, {best32['ratio_fp32_ceiling']:.1%} of it; "
              f"peer at that batch: {best32['peer_img_s']:.0f} img/s")
        entry = {"flops_per_image": f_enc, "peer_width": width, "peer_flops_per_image": f_peer,
                 "recommended_t": t, "rows": rows}
        if not args.no_deviation:
            for p in precisions:
                if p == "fp32":
                    continue
                dev = bf16_deviation(model, args.data_root, t, p)
                entry[f"deviation_{p}"] = dev
                print(f"{p} vs fp32 codes on {dev['dataset']}: relative L2 deviation median "
                      f"{dev['rel_l2_median']:.2e}, max {dev['rel_l2_max']:.2e}; linear probe "
                      f"fp32 {dev['probe_fp32']:.4f}, {p} {dev[f'probe_{p}']:.4f}")
        result["models"][name] = entry
    write_json(args.json, result)


if __name__ == "__main__":
    main()
