"""DRLModel: encoder + score net + noise math, and the public `encode(images, t)` (DESIGN §3)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from drlkit.config import ModelConfig
from drlkit.diffusion import Preconditioner
from drlkit.encoder import Encoder
from drlkit.heads import Decoder, ProjectionHead
from drlkit.objectives import OBJECTIVES
from drlkit.preprocess import (
    VALUE_RANGE,
    as_items,
    check_not_folder,
    item_batches,
    to_model_input,
    to_value_range,
)
from drlkit.scorenet import ScoreUNet

# the network each objective row's `head` names
HEADS = {"score_net": ScoreUNet, "decoder": Decoder, "projector": ProjectionHead}


class DRLModel(nn.Module):
    """A DRL model (or a baseline with the same encoder, per `config.objective`).

    Attributes:
        config: the architecture (a `ModelConfig`), stored in every checkpoint.
        card: the checkpoint's metadata when loaded: training options, data, budget, hardware,
            metrics and recommended t (`drlkit info NAME` prints it).
        encoder: the network `encode` runs; the score net (or a baseline's decoder or projection
            head) only trains it.
    """

    def __init__(self, config: ModelConfig, card: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.config = config
        self.card: dict[str, Any] = card or {}
        self.encoder = Encoder(config)
        # The network that trains the encoder (score_net, decoder or projector, by the objective's
        # row in drlkit.objectives); `encode` never uses it.
        row = OBJECTIVES[config.objective]
        setattr(self, row.head, HEADS[row.head](config))
        # the noise math, around the score net (held, not registered: its weights stay score_net.*)
        self.precond = Preconditioner(config, self.score_net if row.diffusion else None)

    @property
    def head_name(self) -> str:
        """The attribute holding the objective's second network."""
        return OBJECTIVES[self.config.objective].head

    def __repr__(self) -> str:  # the architecture dump of nn.Module is one call away: print(model.encoder)
        c = self.config
        kind = "t-conditioned" if c.t_conditioned else "static"
        if not OBJECTIVES[c.objective].diffusion:
            kind += f" {c.objective}"
        n = sum(p.numel() for p in self.encoder.parameters())
        return (f"DRLModel({c.channels}x{c.image_size}x{c.image_size} -> {c.latent_dim}-d, {kind}, "
                f"encoder {n:,} params)")

    @property
    def device(self) -> torch.device:
        """Where the weights are (move them with `.to(device)`)."""
        return next(self.parameters()).device

    @property
    def recommended_t(self) -> float:
        """The t `encode` uses by default: the best on validation by the card's metrics (0.5 if
        the card has none)."""
        return float(self.card.get("recommended_t", 0.5))

    @property
    def value_range(self) -> tuple[float, float]:
        """The pixel range the networks take, (lo, hi): the card's `preprocessing.value_range`
        (every drlkit card has [-1, 1]; a card without one means the same)."""
        lo, hi = (float(v) for v in self.card.get("preprocessing", {}).get("value_range",
                                                                         VALUE_RANGE))
        if not lo < hi:
            raise ValueError(f"preprocessing.value_range must be [lo, hi] with lo < hi, got "
                             f"{[lo, hi]}")
        return lo, hi

    def c_noise(self, t: Tensor) -> Tensor:
        """The noise-level input of both networks: ln(sigma(t)) / 4."""
        return self.precond.c_noise(t)

    def feature_dim(self, features: str = "z") -> int:
        """Width of the representation `features` names: D for "z", 4 * encoder_width for "pooled"."""
        check_features(features)
        return self.config.latent_dim if features == "z" else 4 * self.config.encoder_width

    def embed(self, x: Tensor, t: Tensor | None, features: str = "z") -> Tensor:
        """The representation of preprocessed x (B, C, H, W) in [-1, 1]; VDRL returns mu.

        t: (B,) times for t-conditioned encoders, None for static ones.
        features: "z" (the code) or "pooled" (the encoder's pooled features before its last
            linear layer).
        """
        if self.config.t_conditioned and t is None:
            raise ValueError("this encoder is t-conditioned: pass t")
        c_noise = self.c_noise(t) if self.config.t_conditioned else None
        if check_features(features) == "pooled":
            return self.encoder(x, c_noise, pooled=True)
        out = self.encoder(x, c_noise)
        return out[0] if self.config.probabilistic else out

    def encode(
        self,
        images: Any,
        t: float | Sequence[float] | None = None,
        batch_size: int | None = None,
        progress: bool = False,
        precision: str = "fp32",
        features: str = "z",
        on_error: str = "raise",
    ) -> Any:
        """Embed images with the encoder (in eval mode, without gradients).

        Args:
            images: uint8 array (N, H, W[, C]) or (H, W[, C]); float tensor/array (N, C, H, W) in
                [0, 1]; a PIL image; a file path; a list of PIL images / paths / uint8 arrays /
                CHW tensors; or a `torch.utils.data.Dataset` or any iterable (a generator, an
                `IterableDataset`, a `DataLoader`) of such images, of (image, label) pairs as
                torchvision datasets yield, or of (images, labels) batches. Lists, datasets and
                iterables are read and converted one item at a time, `batch_size` images per
                forward pass, so memory holds one batch of pixels. Every entry point is converted
                to the model's channels and resolution the same way. A 3-D uint8 array whose last
                axis has 1 to 4 entries is one (H, W, C) image; any other 3-D uint8 array is a
                batch (N, H, W).
            t: diffusion time in [0, 1], or a sequence of times. Default: the model's recommended t.
                Static encoders ignore t.
            batch_size: images per forward pass; the result does not depend on it. Default
                (`default_batch_size`): 64 on CPU, where larger batches fall out of cache and
                run 2x slower (bench/encode.py, docs/performance.md), 512 on CUDA.
            progress: show a progress bar.
            precision: "fp32"; "bf16" (autocast; on CPUs with AVX512-BF16/AMX about N x faster,
                codes within the tolerance stated in docs/performance.md); "fp16" (CUDA only);
                or "auto" (bf16 where the hardware runs it natively, else fp32).
            features: "z" (the code, default) or "pooled" (the encoder's pooled features
                before its last linear layer, 4 * encoder_width wide; docs/benchmarks.md
                compares the two).
            on_error: "raise" (default) or "skip": leave out the items of a list, dataset or
                iterable that cannot be used (unreadable files, bad arrays) and return which
                ones. A single array or tensor is one input: its errors are always raised.

        Returns:
            codes: float32 array (N, D) for a single t, (N, T, D) for a sequence of T times (D is
            `feature_dim(features)`). When the items were (image, label) pairs, a tuple
            (codes, labels) with the labels of the encoded images as an array. With
            on_error="skip", the list `skipped` is appended to that: (the file path, or the item's
            index for anything else, reason) for each item left out, so
            `codes, skipped = model.encode(paths, on_error="skip")`.

        Raises:
            ValueError: t outside [0, 1] or not finite, images that cannot be interpreted, or an
                unknown precision or on_error.
        """
        from drlkit.precision import resolve_precision
        from drlkit.progress import tqdm

        ts, single = check_t(self.recommended_t if t is None else t)
        dim, value_range = self.feature_dim(features), self.value_range
        amp = resolve_precision(precision, self.device)
        if on_error not in ("raise", "skip"):
            raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
        batch_size = default_batch_size(self.device) if batch_size is None else batch_size
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        check_not_folder(images)
        stream = as_items(images)
        if stream is None:  # one array or tensor: converted at once, then cut into batches
            x = to_model_input(images, self.config.channels, self.config.image_size)
            batches = ((x[s : s + batch_size], None, []) for s in range(0, len(x), batch_size))
            total: int | None = len(x)
        else:
            items, total = stream
            batches = item_batches(items, self.config.channels, self.config.image_size,
                                   batch_size, skip=on_error == "skip")
        was_training = self.training
        self.eval()
        codes, labels, skipped = [], [], []
        try:
            with torch.inference_mode(), torch.autocast(self.device.type, dtype=amp or torch.float32,
                                                         enabled=amp is not None), \
                    tqdm(total=total, desc="encode", unit="img", disable=not progress) as bar:
                for xb, lab, bad in batches:
                    codes.append(self._embed_batch(xb, ts, features, dim, value_range))
                    skipped.extend(bad)
                    if lab is not None:
                        labels.append(lab)
                    bar.update(len(xb) + len(bad))
        finally:
            self.train(was_training)
        out = np.concatenate(codes) if codes else np.empty((0, len(ts), dim), dtype=np.float32)
        out = out[:, 0] if single else out
        result: tuple[Any, ...] = (out,)
        if labels:
            result += (np.concatenate(labels),)
        if on_error == "skip":
            result += (skipped,)
        return result if len(result) > 1 else out

    def _embed_batch(self, x: Tensor, ts: list[float], features: str, dim: int,
                     value_range: tuple[float, float]) -> np.ndarray:
        """(n, T, dim) codes of preprocessed x in [0, 1] at each of the times ts."""
        out = np.empty((x.shape[0], len(ts), dim), dtype=np.float32)
        if not len(x):
            return out
        xb = to_value_range(x.to(self.device), value_range)
        for j, tj in enumerate(ts):
            tb = torch.full((xb.shape[0],), tj, device=self.device)
            out[:, j] = self.embed(xb, tb, features).float().cpu().numpy()
        return out


def default_batch_size(device: torch.device) -> int:
    """Images per encoder forward pass: the fastest measured on CPU (batch 64-128 peaks, 256 and
    512 are 1.5-3x slower), a large batch on GPUs."""
    return 512 if device.type == "cuda" else 64


FEATURES = ("z", "pooled")


def check_features(features: str) -> str:
    if features not in FEATURES:
        raise ValueError(f"features must be one of {FEATURES}, got {features!r}")
    return features


def check_t(t: float | Sequence[float]) -> tuple[list[float], bool]:
    single = np.isscalar(t) or (isinstance(t, (np.ndarray, Tensor)) and np.ndim(t) == 0)
    ts = [float(t)] if single else [float(v) for v in t]
    if not ts:
        raise ValueError("t: expected a float in [0, 1] or a non-empty sequence of them")
    for v in ts:
        if not (0.0 <= v <= 1.0):  # also rejects NaN
            raise ValueError(f"t: expected values in [0, 1], got {v}")
    return ts, single
