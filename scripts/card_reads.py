"""Write each read's options and full-protocol metrics into a model file's card (`reads`), and
choose the model's best read on validation (issue 39). The reports are those of
scripts/denoiser_study.sh (docs/benchmarks/denoiser/) and the model's earlier `drlkit eval`
report (z at each t and the multi-t code).

    python scripts/card_reads.py cifar10 --earlier docs/benchmarks/cifar10-gpu-long/drl.json

The file's new sha256 is written into its entry in drlkit/registry.py.

The best read is the candidate with the highest validation linear-probe accuracy: z at its
recommended t, the multi-t z, the denoiser read, and the denoiser read beside the multi-t z.
Only those measured on the full protocol are candidates. A tie (at the card's four decimals) goes
to the candidate first in that order, which is never the wider of two reads that contain each
other (MNIST's multi-t z against denoiser + multi-t z: 99.03% each).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from drlkit.checkpoint import read_header, update_card
from drlkit.reads import Z_TIMES
from drlkit.registry import REGISTRY, checkpoint_dir, sha256sum

STUDY = Path("docs/benchmarks/denoiser")
SCORES = ("linear", "knn", "nmi", "ari", "cluster_acc", "few_label_100", "few_label_1000",
          "semi_supervised_100", "semi_supervised_1000")


def scores(rep: dict, where: str = "best") -> dict:
    table = rep["multi_t"]["scores"] if where == "multi_t" else rep["best"]
    return {k: round(v["test"], 4) for k, v in table.items() if k in SCORES}


def linear(rep: dict, where: str = "best") -> dict:
    s = rep["multi_t"]["scores"]["linear"] if where == "multi_t" else rep["best"]["linear"]
    return {"test": round(s["test"], 4), "val": round(s["val"], 4)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", help="registry name (its file in checkpoints/ is rewritten)")
    ap.add_argument("--earlier", required=True, help="the model's `drlkit eval` report of z")
    ap.add_argument("--pooled", default=None,
                    help="its `drlkit eval --features pooled` report, if there is one")
    args = ap.parse_args()
    path = checkpoint_dir() / REGISTRY[args.model].file
    card = read_header(path)
    den_path, best_path = STUDY / f"{args.model}-denoiser.json", STUDY / f"{args.model}-best.json"
    earlier = json.loads(Path(args.earlier).read_text())["representations"]["model"]
    rt = card["recommended_t"]
    candidates = {"z": ({"parts": [{"features": "z", "t": [rt]}]}, linear(earlier), earlier,
                        "best", args.earlier)}
    if "multi_t" in earlier:
        candidates["multi-t z"] = ({"parts": [{"features": "z", "t": list(Z_TIMES)}]},
                                   linear(earlier, "multi_t"), earlier, "multi_t", args.earlier)
    reads: dict = {"z": {"t": rt, "linear": linear(earlier), "metrics": scores(earlier),
                         "report": args.earlier}}
    if "multi_t" in earlier:
        reads["multi_t_z"] = {"t": list(Z_TIMES), "linear": linear(earlier, "multi_t"),
                              "metrics": scores(earlier, "multi_t"), "report": args.earlier}
    if args.pooled:
        pooled = json.loads(Path(args.pooled).read_text())["representations"]["model"]
        reads["pooled"] = {"t": pooled["best"]["linear"]["t"], "linear": linear(pooled),
                           "metrics": scores(pooled), "report": args.pooled}
        candidates["pooled"] = ({"parts": [{"features": "pooled",
                                            "t": [pooled["best"]["linear"]["t"]]}]},
                                linear(pooled), pooled, "best", args.pooled)
    if den_path.is_file():
        den = json.loads(den_path.read_text())
        rep = den["representations"]["model"]
        t = rep["best"]["linear"]["t"]
        options = den["read"]
        reads["denoiser"] = {"t": t, "layers": options["layers"], "pool": options["pool"],
                             "give_z": options["give_z"], "linear": linear(rep),
                             "metrics": scores(rep), "report": str(den_path)}
        candidates["denoiser"] = ({"parts": [{"features": "denoiser", "t": [t]}]}, linear(rep),
                                  rep, "best", str(den_path))
    if best_path.is_file():
        best = json.loads(best_path.read_text())
        rep = best["representations"]["model"]
        candidates["denoiser + multi-t z"] = ({"parts": best["read"]["parts"]}, linear(rep), rep,
                                              "best", str(best_path))
    name = max(candidates, key=lambda k: candidates[k][1]["val"])
    spec, lin, rep, where, report = candidates[name]
    reads["best"] = {**spec, "read": name, "linear": lin, "metrics": scores(rep, where),
                     "report": report,
                     "chosen_by": "validation linear-probe accuracy among "
                                  + ", ".join(f"{k} ({100 * v[1]['val']:.2f}%)"
                                              for k, v in candidates.items())}
    update_card(path, reads=reads)
    print(json.dumps(reads, indent=1))
    digest = sha256sum(path)
    set_registry_sha(args.model, digest)
    print(f"{path}: sha256 {digest} (written into drlkit/registry.py)")


def set_registry_sha(name: str, digest: str) -> None:
    """Replace the sha256 of registry entry `name` in drlkit/registry.py's literal table."""
    import re

    src = Path(__file__).resolve().parents[1] / "drlkit" / "registry.py"
    text = src.read_text()
    pattern = re.compile(r'(    "' + re.escape(name) + r'": Entry\(\n[^)]*?sha256=")[0-9a-f]{64}(")')
    new, n = pattern.subn(lambda m: m.group(1) + digest + m.group(2), text)
    if n != 1:
        raise SystemExit(f"registry.py: found {n} entries named {name!r}; set its sha256 by hand")
    src.write_text(new)


if __name__ == "__main__":
    main()
