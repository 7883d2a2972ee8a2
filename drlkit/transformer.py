"""`DRLTransformer`: a DRL encoder as a scikit-learn transformer (DESIGN §3).

    from sklearn.pipeline import make_pipeline
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV

    pipe = make_pipeline(DRLTransformer(model="mnist"), LogisticRegression(max_iter=1000))
    search = GridSearchCV(pipe, {"drltransformer__t": [0.3, 0.5, 0.9]}).fit(images, labels)
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
from PIL import Image
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils.validation import check_array, check_is_fitted

from drlkit.config import ModelConfig, upgrade_config
from drlkit.layouts import layout, to_nchw
from drlkit.model import DRLModel, check_t
from drlkit.reads import check_features


class DRLTransformer(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Images -> DRL codes, for scikit-learn pipelines; `t` is a hyperparameter like any other.

    Args:
        model: a registry name ("mnist"), a path to a drlkit .safetensors file, or a DRLModel.
            Loaded (and sha256-verified, for registry names) in `fit`.
        t: diffusion time in [0, 1]; a sequence of times gives the concatenated multi-t code
            (N, T*D); None: the model's recommended t.
        batch_size: images per forward pass (the codes do not depend on it); None: the
            model's fast batch on its device (`drlkit.model.default_batch_size`: 64 on CPU,
            512 on CUDA).
        device: "cpu", "cuda", ...; None: cuda if available.
        image_shape: (H, W, C) of the rows of 2-D input (flattened images, HWC order);
            None: the model's own (image_size, image_size, channels).
        features: "z" (the code), "pooled" (the encoder's pooled features before its last
            layer, 4 x encoder width), "denoiser" (the score net's pooled block activations at
            noise level t) or "best" (the model's best measured read; takes no t):
            `DRLModel.encode`, drlkit.reads.
        layers: the denoiser read's blocks (`DRLModel.encode`); None: the card's.
        pool: the denoiser read's pooling, "avg" or "grid2"; None: the card's.

    Input X: uint8 images (N, H, W, C) or (N, H, W) in 0-255, float images in [0, 1] with the
    same layouts, 2-D rows of flattened images (see `image_shape`), a list of file paths or
    PIL images, or a `torch.utils.data.Dataset`, `DataLoader` or iterator of images or of
    (image, label) pairs (labels are dropped: pass y to the next step yourself). Images of another
    size or channel count are converted as by `DRLModel.encode`.

    Output: float32 (N, D), or (N, T*D) for a sequence of times.
    """

    def __init__(self, model: str | os.PathLike | DRLModel = "mnist",
                 t: float | Sequence[float] | None = None, batch_size: int | None = None,
                 device: str | None = None, image_shape: tuple[int, ...] | None = None,
                 features: str = "z", layers: str | None = None, pool: str | None = None) -> None:
        self.model = model
        self.t = t
        self.batch_size = batch_size
        self.device = device
        self.image_shape = image_shape
        self.features = features
        self.layers = layers
        self.pool = pool

    # ------------------------------------------------------------------ sklearn API

    def fit(self, X: Any, y: Any = None) -> DRLTransformer:
        """Load the model and check that X can be encoded (no training happens: y is ignored)."""
        if self.t is not None:
            check_t(self.t)
        check_features(self.features)
        if self.batch_size is not None and (
                not isinstance(self.batch_size, (int, np.integer)) or self.batch_size < 1):
            raise ValueError(f"batch_size must be a positive integer or None, got "
                             f"{self.batch_size!r}")
        self.model_ = self._load_model()
        self._as_images(X, reset=True)
        plan, _ = self.model_.read_plan(self.features, self.t, self.layers, self.pool)
        self._n_features_out = int(np.prod(plan.shape))
        return self

    def transform(self, X: Any) -> np.ndarray:
        """Encode X: float32 (N, D), or (N, T*D) for a sequence of times."""
        check_is_fitted(self, "model_")
        images = self._as_images(X, reset=False)
        z = self.model_.encode(images, t=self.t, batch_size=self.batch_size, features=self.features,
                               layers=self.layers, pool=self.pool)
        if isinstance(z, tuple):  # (codes, labels) of a dataset of pairs
            z = z[0]
        return z.reshape(len(z), -1)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True  # (N, H, W) greyscale images
        tags.input_tags.positive_only = True  # pixels
        tags.transformer_tags.preserves_dtype = []  # codes are float32 whatever the input dtype
        return tags

    # ------------------------------------------------------------------ pickling

    def __getstate__(self) -> dict:
        """Fitted models pickle as CPU tensors + config + card, so a transformer fitted on a GPU
        unpickles on a machine without one."""
        state = dict(super().__getstate__())  # a copy: on Python 3.11+ it is self.__dict__ itself
        model = state.pop("model_", None)
        if model is not None:
            state["_model_state"] = {
                "config": model.config.to_dict(), "card": model.card,
                "tensors": {k: v.detach().cpu() for k, v in model.state_dict().items()}}
        return state

    def __setstate__(self, state: dict) -> None:
        saved = state.pop("_model_state", None)
        super().__setstate__(state)
        if saved is not None:
            model = DRLModel(ModelConfig.from_dict(upgrade_config(saved["config"])),
                             card=saved["card"])
            model.load_state_dict(saved["tensors"])
            self.model_ = model.to(self._device()).eval()

    # ------------------------------------------------------------------ helpers

    def _device(self) -> torch.device:
        from drlkit.distributed import default_device

        return torch.device(default_device(device=self.device))

    def _load_model(self) -> DRLModel:
        if isinstance(self.model, DRLModel):
            device = self._device()
            if self.model.device == device:
                return self.model.eval()
            return copy.deepcopy(self.model).to(device).eval()  # never move the caller's module
        if not isinstance(self.model, (str, os.PathLike)):
            raise TypeError("model must be a registry name, a .safetensors path or a DRLModel, "
                            f"got {type(self.model).__name__}")
        from drlkit.registry import load

        return load(self.model, device=self._device())

    def _as_images(self, X: Any, reset: bool) -> Any:
        return image_input(self, X, reset, self.model_.config)


def image_input(est: Any, X: Any, reset: bool, cfg: ModelConfig) -> Any:
    """Validate an estimator's X and return what DRLModel.encode takes: uint8 (N, H, W, C), a float
    (N, C, H, W) tensor, or a list of paths / PIL images (or X itself, a dataset or iterator).

    `cfg` is the model's config; `est` has the `image_shape` parameter; with reset=True its
    `n_features_in_` is set (array input) or removed (anything else), else X is checked against it.
    """
    name = type(est).__name__
    streamed = isinstance(X, (torch.utils.data.Dataset, torch.utils.data.DataLoader, Iterator))
    if streamed or isinstance(X, (list, tuple)) and X and all(
            isinstance(v, (str, os.PathLike, Image.Image)) for v in X):
        if reset:
            est.__dict__.pop("n_features_in_", None)  # not an array: no feature count
        # files, PIL images and datasets: read and converted by encode, item by item (fit
        # leaves an iterator unread for transform)
        return X if streamed else list(X)
    # sklearn's own checks: sparse, complex, object, empty and non-finite input get its messages
    X = check_array(X, dtype="numeric", allow_nd=True, estimator=est, input_name="X")
    if X.dtype == bool:
        raise ValueError("X: expected uint8 pixels or floats in [0, 1], got dtype bool")
    n_features = int(np.prod(X.shape[1:]))
    if reset:
        est.n_features_in_ = n_features
    elif n_features != getattr(est, "n_features_in_", n_features):
        raise ValueError(f"X has {n_features} features, but {name} is expecting "
                         f"{est.n_features_in_} features as input.")
    if X.min() < 0:
        raise ValueError(f"Negative values in data passed to {name}: pixels must be "
                         f"0-255 (integers) or in [0, 1] (floats), got minimum {X.min()}")
    integer = np.issubdtype(X.dtype, np.integer)
    if X.max() > (255 if integer else 1):
        expected = ("integer pixels must lie in 0-255" if integer else
                    "float pixels must lie in [0, 1] (pass uint8 arrays for 0-255 data)")
        raise ValueError(f"X: {expected}, got maximum {X.max()}")
    kind, row = layout(X.shape, True, cfg.channels, cfg.image_size, batched=True,
                       image_shape=est.image_shape)
    X = to_nchw(X, kind, row)  # (N, C, H, W), the rows read as encode reads them
    # a copy with standard strides: numpy calls a transposed array with a channel axis of
    # size 1 contiguous as it is, and PyTorch's convolutions then take another (equal up to
    # rounding) path than for encode's own uint8 conversion
    X = np.array(X, dtype=np.uint8 if integer else np.float32, copy=True, order="C")
    return torch.from_numpy(X)
