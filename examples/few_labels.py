"""Few labels: classify with 100 labelled images, plain (SVC) and semi-supervised (label spreading).

drlkit's protocol functions take (train features, train labels, test features, test labels) and
return plain dicts. `few_label` fits an SVC on n class-balanced labelled train points (several
draws); `semi_supervised` also uses the unlabelled rest of the train split. Codes are compared
with raw pixels.

    python examples/few_labels.py --data-root ../shared/data     # MNIST, all 60,000 + 10,000
    python examples/few_labels.py --fast                         # 1,000 + 200 of them (tests)
    python examples/few_labels.py --dataset digits               # no download: sklearn's digits

On sklearn's 8x8 digits, which look little like MNIST's 28x28 strokes, raw pixels beat the
`mnist` model's code with 100 labels; on MNIST the code wins clearly (docs/evaluation.md).
"""

import argparse

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import drlkit
from drlkit.data import load_dataset, stratified_subset


def digits(n: int | None):
    d = load_digits()
    images = (d.images / 16 * 255).astype(np.uint8)[:n]
    return train_test_split(images, d.target[:n], test_size=0.3, stratify=d.target[:n],
                            random_state=0)  # x_train, x_test, y_train, y_test


def named(name: str, root: str | None, n: int | None):
    train = stratified_subset(load_dataset(name, "train", root), n)
    test = stratified_subset(load_dataset(name, "test", root), n and n // 5)
    return train.images, test.images, train.labels, test.labels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="mnist", help="mnist, fashion-mnist, cifar10 or digits")
    parser.add_argument("--data-root", default=None,
                        help="folder of the named datasets (default: $DRLKIT_DATA, else ./data)")
    parser.add_argument("--max-train", type=int, default=None, help="stratified subset of train")
    parser.add_argument("--model", default="mnist", help="registry name or .safetensors path")
    parser.add_argument("--labels", type=int, default=100, help="labelled train images")
    parser.add_argument("--fast", action="store_true", help="a small subset (for tests)")
    args = parser.parse_args()

    if args.fast and args.max_train is None:
        args.max_train = 1000
    if args.dataset == "digits":
        x_train, x_test, y_train, y_test = digits(args.max_train)
    else:
        x_train, x_test, y_train, y_test = named(args.dataset, args.data_root, args.max_train)
    model = drlkit.load(args.model)
    features = {"DRL code": (model.encode(x_train), model.encode(x_test)),
                "raw pixels": (x_train.reshape(len(x_train), -1) / 255.0,
                               x_test.reshape(len(x_test), -1) / 255.0)}
    n = args.labels
    for name, (f_train, f_test) in features.items():
        few = drlkit.few_label(f_train, y_train, f_test, y_test, n_labels=(n,),
                               n_seeds=2 if args.fast else 5)
        semi = drlkit.semi_supervised(f_train, y_train, f_test, y_test, n_labels=(n,),
                                      n_seeds=2 if args.fast else 5)
        print(f"{name:<10} {n} labels: SVC {few[f'accuracy_{n}']:.4f} "
              f"(+/- {few[f'std_{n}']:.4f}), label spreading {semi[f'accuracy_{n}']:.4f}")


if __name__ == "__main__":
    main()
