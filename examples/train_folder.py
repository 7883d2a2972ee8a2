"""Train your own DRL encoder on a folder of images, then encode the folder with it.

Class sub-folders are optional; when present, training logs a linear-probe diagnostic on them.
Training is resumable (run again with --resume after an interruption) and writes
OUT/model.safetensors, a file that `drlkit.load`, `drlkit encode --model` and `drlkit eval` take.

    python examples/train_folder.py my_images/ --out runs/mine --steps 5000
    python examples/train_folder.py --fast     # 30 tiny steps on generated digit images (tests)
"""

import argparse
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image
from sklearn.datasets import load_digits

import drlkit
from drlkit.files import collect


def make_folder(root: Path, n: int = 120) -> Path:
    """A small image folder with class sub-folders, from scikit-learn's digits (for --fast)."""
    d = load_digits()
    for i in range(n):
        folder = root / str(d.target[i])
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray((d.images[i] / 16 * 255).astype(np.uint8)).resize((16, 16)).save(
            folder / f"{i:04d}.png")
    return root


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, nargs="?", help="image folder (not needed with --fast)")
    parser.add_argument("--out", type=Path, default=None,
                        help="run folder [default: runs/folder; with --fast a temporary one]")
    parser.add_argument("--steps", type=int, default=5000)
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--channels", type=int, default=3, choices=[1, 3])
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--fast", action="store_true", help="tiny model, generated data (tests)")
    args = parser.parse_args()

    scratch = tempfile.TemporaryDirectory()
    preset = "small"
    if args.fast:
        args.folder = make_folder(Path(scratch.name) / "digits")
        args.steps, args.image_size, args.channels, preset = 30, 16, 1, "tiny"
        args.out = args.out or Path(scratch.name) / "run"
    elif args.folder is None:
        parser.error("give an image folder (or --fast)")
    args.out = args.out or Path("runs/folder")

    config = drlkit.TrainConfig(dataset=str(args.folder), method="drl", t_sampler="uniform-t",
                                steps=args.steps, batch_size=16 if args.fast else 64,
                                checkpoint_every=500, diagnostics_every=0 if args.fast else 1000)
    exported = drlkit.train(train_config=config, out=args.out, resume=args.resume,
                            preset_name=preset, image_size=args.image_size, channels=args.channels,
                            t_conditioned=True, latent_dim=16 if args.fast else 128,
                            progress=not args.fast)
    model = drlkit.load(exported)
    z = model.encode(collect(args.folder))
    print(f"trained {args.steps} steps -> {exported}")
    print(f"codes of the folder's {len(z)} images: {z.shape}")
    scratch.cleanup()


if __name__ == "__main__":
    main()
