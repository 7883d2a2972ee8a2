"""`DRLClassifier`: fine-tune a DRL model with a classification head from few labels, the
scikit-learn way (the paper's semi-supervised CIFAR-10 protocol: LaplaceNet from a DRL init).

    clf = DRLClassifier(model="cifar10", method="laplacenet", epochs=10)
    clf.fit(images, y)              # y: class labels, -1 for unlabelled images
    clf.predict(test_images); clf.save("clf.safetensors")
    DRLClassifier.load("clf.safetensors").predict(test_images)   # the same predictions, bit for bit
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted, check_random_state

from drlkit.checkpoint import CheckpointError, encoder_digest, load_model, read_header, save_model
from drlkit.config import ModelConfig, upgrade_config
from drlkit.finetune import (
    BACKBONES,
    METHODS,
    FinetuneNet,
    Finetuner,
    FitOptions,
    fingerprint,
    read_state_meta,
)
from drlkit.labels import encode_known, encode_labels
from drlkit.model import DRLModel, check_t
from drlkit.preprocess import as_items, item_batches, to_model_input
from drlkit.reads import check_model_features, denoiser_read
from drlkit.transformer import image_input

STATE_FILE = "finetune-state.safetensors"


class DRLClassifier(ClassifierMixin, BaseEstimator):
    """A registry model's encoder (or its score net) fine-tuned with a linear head.

    Args:
        model: the init: a registry name, a drlkit file, a DRLModel, or None for a random-init
            model of `config`'s architecture.
        t: the noise level the backbone reads at (one float in [0, 1]); None: the card's (the
            recommended t for "encoder", the denoiser read's t for "denoiser").
        method: "laplacenet" (labels propagated over the kNN graph of the network's features
            each epoch, pseudo-labels weighted by certainty and class size; drlkit.finetune) or
            "supervised" (the labelled images only).
        backbone: "encoder" (the paper's choice: E(x0, t), pooled before its last layer) or
            "denoiser" (the score net's pooled block activations, the denoiser read's path).
            The default, "encoder", fine-tuned from `cifar10` as well as the denoiser on
            validation (70.04% against 69.84%, 4000 labels) in a third of the time
            (docs/benchmarks/finetune.md).
        epochs: passes over all images (each pass runs the same steps for both methods).
        supervised_epochs: laplacenet's supervised initialisation (as LaplaceNet's code runs
            it): its first supervised_epochs of `epochs` train on the labelled images
            only, before any labels are propagated; 0: propagate from the first epoch. The
            default, 1, scored higher than 0 on validation (docs/benchmarks/finetune.md).
        batch_size: images per step.
        lr: SGD's peak learning rate (Nesterov momentum 0.9, 5% warm-up, cosine decay).
        weight_decay: SGD's weight decay.
        mixup: mixup's Beta(a, a) parameter; 0 turns it off.
        k: neighbours per image in laplacenet's graph.
        config: the architecture of a random-init model (a ModelConfig or its dict), with
            model=None only.
        device: "cpu", "cuda", ...; None: cuda if available.
        precision: training's autocast, as `drlkit train --precision` ("auto": bf16 where the
            hardware runs it natively). Prediction runs in fp32.
        random_state: seeds the head, a random init, the augmentation and the batches.
        progress: a progress bar per epoch (loss; pseudo-label accuracy when `fit` gets y_true).
        checkpoint_dir: a folder for the state written after each epoch, so that an interrupted
            fit (Ctrl-C) continues with resume=True.
        resume: continue the fit whose state `checkpoint_dir` holds (it must be of the same data,
            labels and options); with no state there the fit starts from the init.
        image_shape: (H, W, C) of the rows of 2-D input, as in DRLTransformer.

    Attributes:
        classes_: the class labels (ints or strings), in the order of predict_proba's columns.
        history_: one record per epoch (loss, seconds, images/s, graph seconds, pseudo-label
            accuracy and certainty).
        labels_: the labels it was fitted with: image count, labelled count (per class), and
            the sha256 of the class codes.
        net_: the fine-tuned network (drlkit.finetune.FinetuneNet), on `device`, in eval mode.
    """

    def __init__(self, model: str | os.PathLike | DRLModel | None = "cifar10",
                 t: float | None = None, method: str = "laplacenet", backbone: str = "encoder",
                 epochs: int = 10, supervised_epochs: int = 1, batch_size: int = 64,
                 lr: float = 0.03,
                 weight_decay: float = 5e-4, mixup: float = 0.0, k: int = 50,
                 config: ModelConfig | dict | None = None, device: str | None = None,
                 precision: str = "auto", random_state: int | None = None, progress: bool = True,
                 checkpoint_dir: str | os.PathLike | None = None, resume: bool = False,
                 image_shape: tuple[int, ...] | None = None) -> None:
        self.model = model
        self.t = t
        self.method = method
        self.backbone = backbone
        self.epochs = epochs
        self.supervised_epochs = supervised_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.mixup = mixup
        self.k = k
        self.config = config
        self.device = device
        self.precision = precision
        self.random_state = random_state
        self.progress = progress
        self.checkpoint_dir = checkpoint_dir
        self.resume = resume
        self.image_shape = image_shape

    # ------------------------------------------------------------------ sklearn API

    def fit(self, X: Any, y: Any, y_true: Any = None) -> DRLClassifier:
        """Fine-tune on X with labels y (-1: unlabelled).

        Args:
            X: images, as DRLTransformer takes them (arrays, file paths, PIL images, a dataset).
            y: (N,) int or str labels; -1 marks an unlabelled image (scikit-learn's
                semi-supervised convention; for string labels use an object array).
            y_true: optional (N,) labels of every image (-1 where unknown), only to show the
                pseudo-labels' accuracy while training; never used to fit.
        """
        self._check_params()
        seed = int(check_random_state(self.random_state).randint(2**31 - 1))
        classes, codes = encode_labels(y)  # y first: its errors need no model
        init = self._init_model(seed)
        images = self._images(X, reset=True, model=init)
        if len(images) != len(codes):
            raise ValueError(f"X has {len(images)} images but y has {len(codes)} labels")
        known = None
        if y_true is not None:
            known = encode_known(y_true, classes, len(images))
        t = self._t(init)
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            net = FinetuneNet(init, self.backbone, t, len(classes))
        device = init.device
        net.to(device)
        from drlkit.precision import resolve_precision

        opts = FitOptions(method=self.method, epochs=int(self.epochs),
                          batch_size=int(self.batch_size), lr=float(self.lr),
                          weight_decay=float(self.weight_decay), mixup=float(self.mixup),
                          k=int(self.k), seed=seed,
                          supervised_epochs=int(self.supervised_epochs))
        tuner = Finetuner(net, images, codes, len(classes), opts, device,
                          resolve_precision(self.precision, device), known, bool(self.progress))
        state = Path(self.checkpoint_dir) / STATE_FILE if self.checkpoint_dir is not None else None
        record = self._init_record(init, t)
        stamp = fingerprint(opts, codes, record)
        start = self._resume_from(state, tuner, stamp)
        for e in range(start, opts.epochs):
            tuner.epoch(e)
            if state is not None:
                tuner.save_state(state, e + 1, stamp)
        self.classes_ = classes
        self.net_ = net.eval()
        self.history_ = tuner.history
        self.t_ = t
        self.init_ = record
        self.resumed_from_ = start
        self.labels_ = {"n_images": len(codes), "n_labelled": int((codes >= 0).sum()),
                        "per_class": np.bincount(codes[codes >= 0], minlength=len(classes)).tolist(),
                        "sha256": stamp["labels_sha256"]}
        return self

    def predict_proba(self, X: Any, batch_size: int | None = None, on_error: str = "raise",
                      progress: bool = False) -> Any:
        """Class probabilities (N, n_classes), float64, columns in `classes_` order.

        Images are read as `fit` reads them; lists of paths, datasets and iterables are read a
        batch at a time. on_error="skip" leaves out the items that cannot be used (as
        `DRLModel.encode` does) and returns (probabilities, skipped), with skipped a list of
        (path or index, reason).
        """
        check_is_fitted(self, "net_")
        if on_error not in ("raise", "skip"):
            raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
        from drlkit.progress import tqdm

        bs = batch_size or max(1, int(self.batch_size))
        cfg = self.net_.model.config
        x = image_input(self, X, False, cfg)
        if isinstance(x, torch.Tensor):
            x = self._checked_tensor(x)
            batches: Any = ((x[s:s + bs], None, []) for s in range(0, len(x), bs))
            total: int | None = len(x)
        else:
            items, total = as_items(x)
            batches = item_batches(items, cfg.channels, cfg.image_size, bs,
                                   skip=on_error == "skip")
        device = next(self.net_.parameters()).device
        self.net_.eval()
        out, skipped = [], []
        with torch.inference_mode(), tqdm(total=total, desc="predict", unit="img",
                                          disable=not progress) as bar:
            for xb, _, bad in batches:
                if len(xb):
                    out.append(torch.softmax(self.net_(xb.to(device)).float(), dim=1).cpu())
                skipped.extend(bad)
                bar.update(len(xb) + len(bad))
        proba = (torch.cat(out).double().numpy() if out
                 else np.empty((0, len(self.classes_)), dtype=np.float64))
        return (proba, skipped) if on_error == "skip" else proba

    def predict(self, X: Any) -> np.ndarray:
        """The most probable class of each image, (N,), as labels of `classes_`."""
        check_is_fitted(self, "net_")
        return self.classes_[self.predict_proba(X).argmax(axis=1)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True  # (N, H, W) greyscale images
        tags.input_tags.positive_only = True  # pixels
        return tags

    # ------------------------------------------------------------------ files

    def save(self, path: str | os.PathLike, metrics: dict[str, Any] | None = None) -> None:
        """Write the fine-tuned model and head as one drlkit file (atomically): `drlkit.load`
        reads it as a model (its encoder, score net and card), `DRLClassifier.load` as this
        classifier. `metrics`: measured scores to record in the card (e.g. test accuracy)."""
        check_is_fitted(self, "net_")
        model = self.net_.model
        classes = self.classes_.tolist()
        entry = {
            "init": self.init_, "t": self.t_, "method": self.method, "backbone": self.backbone,
            "classes": classes, "class_type": "str" if self.classes_.dtype == object else "int",
            "labels": self.labels_,
            "options": {"epochs": self.epochs, "supervised_epochs": self.supervised_epochs,
                        "batch_size": self.batch_size, "lr": self.lr,
                        "weight_decay": self.weight_decay, "mixup": self.mixup, "k": self.k,
                        "precision": self.precision, "random_state": self.random_state},
            "history": self.history_, "metrics": metrics or {},
        }
        card = {k: v for k, v in model.card.items() if k not in ("name", "num_params", "reads",
                                                                 "classifier")}
        card.setdefault("preprocessing", {"resolution": model.config.image_size,
                                          "channels": model.config.channels,
                                          "value_range": list(model.value_range)})
        for key, default in (("training", {}), ("data", None), ("budget", {})):
            card.setdefault(key, default)  # how the init was trained (a random init: nothing)
        card["metrics"] = {}  # the init's no longer hold: the classifier's are in `classifier`
        card["recommended_t"] = model.recommended_t
        name = self.init_.get("model") or "a random init"
        card["description"] = (f"DRLClassifier ({self.method}, {self.backbone} backbone, "
                               f"{len(classes)} classes) fine-tuned from {name}")
        card["classifier"] = entry
        head = {f"norm.{k}": v for k, v in self.net_.norm.state_dict().items()}
        head.update({f"head.{k}": v for k, v in self.net_.head.state_dict().items()})
        save_model(model, path, card, head=head)

    @classmethod
    def load(cls, path: str | os.PathLike, device: str | None = None) -> DRLClassifier:
        """A fitted classifier from a file `save` wrote; ValueError (CheckpointError) if the file
        is missing, truncated, not a drlkit file, or a model without a classifier head."""
        meta = read_header(path)
        entry = meta.get("classifier")
        if not isinstance(entry, dict):
            raise CheckpointError(f"{path}: a drlkit model, not a DRLClassifier file (no "
                                  "classifier in its card); load it with drlkit.load")
        head: dict[str, torch.Tensor] = {}
        model = load_model(path, device=device, head=head)
        opts = dict(entry["options"])
        opts.setdefault("supervised_epochs", 0)  # files from before the option propagated at once
        clf = cls(model=entry["init"].get("model"), t=entry["init"].get("t_given"),
                  method=entry["method"], backbone=entry["backbone"], device=device, **opts)
        classes = entry["classes"]
        clf.classes_ = np.array(classes, dtype=object if entry["class_type"] == "str" else np.int64)
        net = FinetuneNet(model, entry["backbone"], entry["t"], len(classes))
        try:
            net.norm.load_state_dict({k[5:]: v for k, v in head.items() if k.startswith("norm.")},
                                     strict=True)
            net.head.load_state_dict({k[5:]: v for k, v in head.items() if k.startswith("head.")},
                                     strict=True)
        except RuntimeError as e:
            raise CheckpointError(f"{path}: the classifier head does not match its card: "
                                  f"{str(e).splitlines()[0]}") from None
        clf.net_ = net.to(model.device).eval()
        clf.t_, clf.init_, clf.history_ = entry["t"], entry["init"], entry["history"]
        clf.labels_ = entry["labels"]
        clf.metrics_ = entry.get("metrics", {})
        return clf

    # ------------------------------------------------------------------ helpers

    def _check_params(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {self.method!r}")
        if self.backbone not in BACKBONES:
            raise ValueError(f"backbone must be one of {BACKBONES}, got {self.backbone!r}")
        for name, low in (("epochs", 1), ("batch_size", 2), ("k", 1)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {v!r}")
        v = self.supervised_epochs
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0:
            raise ValueError(f"supervised_epochs must be an integer >= 0, got {v!r}")
        if self.method == "laplacenet" and v >= self.epochs:
            raise ValueError(f"supervised_epochs ({v}) must be below epochs ({self.epochs}): "
                             "laplacenet propagates labels in the epochs after them; pass "
                             "supervised_epochs=0 to propagate from the first epoch, or "
                             "method='supervised' for the labelled images only")
        for name in ("lr", "weight_decay", "mixup"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not np.isfinite(v) \
                    or v < 0 or (name == "lr" and v == 0):
                raise ValueError(f"{name} must be a {'positive' if name == 'lr' else 'non-negative'}"
                                 f" number, got {v!r}")
        if self.t is not None:
            _, single = check_t(self.t)
            if not single:
                raise ValueError(f"t: the backbone is fine-tuned at one noise level; got {self.t!r}")
        if self.resume and self.checkpoint_dir is None:
            raise ValueError("resume=True needs checkpoint_dir, the folder of the state to resume")

    def _init_model(self, seed: int) -> DRLModel:
        from drlkit.distributed import default_device

        device = torch.device(default_device(device=self.device))
        if self.model is None:
            if self.config is None:
                raise ValueError("model=None is a random init: pass config= (a ModelConfig, or "
                                 "its dict, e.g. drlkit.load('cifar10').config) for its architecture")
            cfg = self.config if isinstance(self.config, ModelConfig) else \
                ModelConfig.from_dict(upgrade_config(dict(self.config)))
            with torch.random.fork_rng():
                torch.manual_seed(seed)
                return DRLModel(cfg).to(device)
        if self.config is not None:
            raise ValueError("config= is the architecture of a random init (model=None); a named "
                             "model has its own")
        if isinstance(self.model, DRLModel):
            return copy.deepcopy(self.model).to(device)  # never train the caller's module
        if not isinstance(self.model, (str, os.PathLike)):
            raise TypeError("model must be a registry name, a .safetensors path, a DRLModel or "
                            f"None, got {type(self.model).__name__}")
        from drlkit.registry import load

        return load(self.model, device=device)

    def _t(self, model: DRLModel) -> float:
        if self.backbone == "denoiser":
            check_model_features(model, "denoiser")  # a baseline without a score net: one line
        if self.t is not None:
            return float(self.t)
        if self.backbone == "denoiser":
            return denoiser_read(model).t
        return model.recommended_t

    def _init_record(self, model: DRLModel, t: float) -> dict[str, Any]:
        name = self.model if isinstance(self.model, str) else (
            str(self.model) if isinstance(self.model, os.PathLike) else
            model.card.get("name"))
        return {"model": name, "random_init": self.model is None, "t_given": self.t,
                "encoder_sha256": encoder_digest(model), "t": t}

    def _resume_from(self, state: Path | None, tuner: Finetuner, stamp: dict[str, Any]) -> int:
        if state is None or not state.exists():
            return 0
        if not self.resume:
            raise ValueError(f"{state.parent} already holds a fine-tuning state: pass resume=True "
                             "to continue it, or choose another checkpoint_dir")
        meta = read_state_meta(state)
        import json

        if json.loads(meta["fingerprint"]) != json.loads(json.dumps(stamp, sort_keys=True)):
            raise ValueError(f"{state}: the state is of another fit (other images, labels, init "
                             "or options); resume it with the same ones, or use another "
                             "checkpoint_dir")
        return tuner.restore(state)

    def _images(self, X: Any, reset: bool, model: DRLModel) -> torch.Tensor:
        """X as a float tensor (N, C, H, W) in [0, 1] at the model's geometry, in memory."""
        cfg = model.config
        x = image_input(self, X, reset, cfg)
        if isinstance(x, torch.Tensor):
            return self._checked_tensor(x, cfg)
        items, _ = as_items(x)
        return torch.cat([xb for xb, _, _ in item_batches(items, cfg.channels, cfg.image_size,
                                                          256, skip=False)])

    def _checked_tensor(self, x: torch.Tensor, cfg: ModelConfig | None = None) -> torch.Tensor:
        """An array's (N, C, H, W) tensor as model input; its channels must be the model's."""
        cfg = cfg or self.net_.model.config
        if x.shape[1] != cfg.channels:
            fix = "np.repeat(x, 3, axis=-1)" if cfg.channels == 3 else "convert them to grey"
            raise ValueError(f"X: images with {x.shape[1]} channel(s), but the model takes "
                             f"{cfg.channels}; convert them first (e.g. {fix})")
        return to_model_input(x, cfg.channels, cfg.image_size)
