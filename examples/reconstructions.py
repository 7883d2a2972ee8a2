"""Reconstructions: what a code keeps. Samples of p(x0 | z) for codes read at several t.

Each row is one image: the original, then samples drawn by the score net conditioned on that
image's code E(x0, t) for each t. Whatever the samples share, the code fixed; whatever varies,
it left to the noise. Low-t codes keep little (the denoiser sees the image anyway); high-t codes
keep the content.

    python examples/reconstructions.py --out reconstructions.png
    python examples/reconstructions.py --fast --out r.png     # 10 sampler steps (tests)
"""

import argparse
from pathlib import Path

import drlkit
from drlkit.files import collect
from drlkit.grids import save_grid
from drlkit.preprocess import to_model_input
from drlkit.sampling import reconstruct


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("images", nargs="*", type=Path,
                        default=sorted(Path(__file__).parent.joinpath("images").glob("mnist-*.png")))
    parser.add_argument("--model", default="mnist", help="registry name or .safetensors path")
    parser.add_argument("--t", default="0.1,0.5,0.9", help="comma-separated encoder times")
    parser.add_argument("--samples", type=int, default=3, help="samples per image and t")
    parser.add_argument("--out", type=Path, default=Path("reconstructions.png"))
    parser.add_argument("--fast", action="store_true", help="few sampler steps (for tests)")
    args = parser.parse_args()

    paths = [p for folder in args.images for p in collect(folder)]
    ts = [float(v) for v in args.t.split(",")]
    model = drlkit.load(args.model)
    samples = reconstruct(model, paths, t=ts, n_samples=args.samples,
                          steps=10 if args.fast else 200, seed=0)  # (N, T, S, C, H, W)
    originals = to_model_input(paths, model.config.channels, model.config.image_size).numpy()
    rows = [[originals[i]] + [s for j in range(len(ts)) for s in samples[i, j]]
            for i in range(len(paths))]
    header = ["image"] + [f"t={t}" if k == 0 else "" for t in ts for k in range(args.samples)]
    separators = [1 + j * args.samples for j in range(len(ts))]
    save_grid(rows, args.out, header=header, separators=separators)
    print(f"{len(paths)} images x {len(ts)} times x {args.samples} samples -> {args.out}")


if __name__ == "__main__":
    main()
