"""Cluster a folder of images by their DRL codes (k-means), and write one cluster per file.

Every image under FOLDER is encoded (files that are not usable images are skipped with a warning
by `drlkit encode`'s rules); k-means runs on the standardised codes. If the images sit in class
sub-folders, the clustering is also scored against them (NMI, ARI).

    python examples/cluster_folder.py examples/images --clusters 3 --out clusters.csv
"""

import argparse
import csv
from pathlib import Path

from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
from sklearn.preprocessing import StandardScaler

import drlkit
from drlkit.files import collect, encode_files


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--clusters", type=int, default=10)
    parser.add_argument("--model", default="mnist", help="registry name or .safetensors path")
    parser.add_argument("--t", type=float, default=None, help="encoder time (default: recommended)")
    parser.add_argument("--out", type=Path, default=Path("clusters.csv"))
    args = parser.parse_args()

    paths = collect(args.folder)  # every file under the folder, sorted
    model = drlkit.load(args.model)
    result = encode_files(model, paths, t=args.t)  # skips unusable files, says which
    for path, reason in result.skipped:
        print(f"skipped {path}: {reason}")
    z = StandardScaler().fit_transform(result.features)
    clusters = KMeans(args.clusters, n_init=10, random_state=0).fit_predict(z)

    with open(args.out, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["file", "cluster"])
        writer.writerows((str(p), int(c)) for p, c in zip(result.files, clusters, strict=True))
    print(f"{len(result.files)} images in {args.clusters} clusters -> {args.out}")

    # class sub-folders, if any, as ground truth
    groups = [p.parent.relative_to(args.folder) for p in result.files]
    if len(set(groups)) > 1:
        print(f"NMI {normalized_mutual_info_score(groups, clusters):.4f}  "
              f"ARI {adjusted_rand_score(groups, clusters):.4f} against the sub-folders")


if __name__ == "__main__":
    main()
