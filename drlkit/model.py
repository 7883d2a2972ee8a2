"""DRLModel: encoder + score net + noise math, and the public `encode(images, t)` (DESIGN §3)."""

from __future__ import annotations

import warnings
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
from drlkit.reads import (
    DenoiserRead,
    best_parts,
    check_model_features,
    denoiser_features,
    denoiser_read,
    describe_parts,
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

    def feature_dim(self, features: str = "z", layers: Any = None, pool: str | None = None) -> int:
        """Width D of the read `features` names (drlkit.reads): latent_dim for "z",
        4 * encoder_width for "pooled", the pooled widths of the read blocks for "denoiser"
        (928 for the `small` preset's 17 blocks), the sum of its parts' for "best"."""
        check_model_features(self, features)
        if features == "z":
            return self.config.latent_dim
        if features == "pooled":
            return 4 * self.config.encoder_width
        if features == "denoiser":
            return denoiser_read(self, layers=layers, pool=pool).dim(self)
        return sum(self.feature_dim(p.features) * len(p.t) for p in best_parts(self))

    def embed(self, x: Tensor, t: Tensor | None, features: str = "z",
              read: DenoiserRead | None = None) -> Tensor:
        """The representation of preprocessed x (B, C, H, W) in [-1, 1]; VDRL returns mu.

        t: (B,) times for t-conditioned encoders and the denoiser read, None for static encoders.
        features: "z" (the code), "pooled" (the encoder's pooled features before its last
            linear layer) or "denoiser" (the score net's pooled block activations, read as
            `read` says; default: the card's read).
        """
        if check_model_features(self, features) == "denoiser":
            if t is None:
                raise ValueError("the denoiser read needs t, the noise level it reads at")
            return denoiser_features(self, x, t, read or denoiser_read(self))
        if features == "best":
            raise ValueError("features 'best' combines several reads: use encode")
        if self.config.t_conditioned and t is None:
            raise ValueError("this encoder is t-conditioned: pass t")
        c_noise = self.c_noise(t) if self.config.t_conditioned else None
        if features == "pooled":
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
        layers: str | Sequence[int | str] | None = None,
        pool: str | None = None,
        give_z: bool | None = None,
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
            t: diffusion time in [0, 1], or a sequence of times. Default: the recommended t of
                the read (`recommended_t` for z and pooled; the card's denoiser t for
                "denoiser", `drlkit.reads.DENOISER_DEFAULTS` without one). Static encoders ignore
                t for z and pooled; "best" takes no t (its parts have their own).
            batch_size: images per forward pass; the result does not depend on it. Default
                (`default_batch_size`): 64 on CPU, where larger batches fall out of cache and
                run 2x slower (bench/encode.py, docs/performance.md), 512 on CUDA.
            progress: show a progress bar.
            precision: "fp32"; "bf16" (autocast; on CPUs with AVX512-BF16/AMX about N x faster,
                codes within the tolerance stated in docs/performance.md); "fp16" (CUDA only);
                or "auto" (bf16 where the hardware runs it natively, else fp32).
            features: "z" (the code, default); "pooled" (the encoder's pooled features
                before its last linear layer, 4 * encoder_width wide); "denoiser" (the score
                net's residual-block activations at noise level t, pooled: DDAE's read; DRL
                models only); or "best" (the model's best measured read, the concatenation
                of the parts its card records, e.g. denoiser + multi-t z). drlkit.reads and
                docs/benchmarks/denoiser.md describe and compare them.
            layers: the denoiser read's residual blocks: "all", "down", "mid", "up", block
                numbers, or a comma-separated mix (default: the card's).
            pool: the denoiser read's pooling: "avg" (global average) or "grid2" (averages
                over a 2 x 2 grid, 4x wider) (default: the card's).
            give_z: whether the image's own code z conditions the score net in the denoiser
                read (default: the card's; False, withheld, when the card says nothing).
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

        plan, single = self.read_plan(features, t, layers, pool, give_z)
        value_range = self.value_range
        amp = resolve_precision(precision, self.device)
        if on_error not in ("raise", "skip"):
            raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
        batch_size = default_batch_size(self.device) if batch_size is None else batch_size
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
                or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer or None, got {batch_size!r}")
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
                    codes.append(self._embed_batch(xb, plan, value_range))
                    skipped.extend(bad)
                    if lab is not None:
                        labels.append(lab)
                    bar.update(len(xb) + len(bad))
        finally:
            self.train(was_training)
        out = np.concatenate(codes) if codes else np.empty((0, *plan.shape), dtype=np.float32)
        out = out[:, 0] if single else out
        result: tuple[Any, ...] = (out,)
        if labels:
            result += (np.concatenate(labels),)
        if on_error == "skip":
            result += (skipped,)
        return result if len(result) > 1 else out

    def read_plan(self, features: str = "z", t: Any = None, layers: Any = None,
                  pool: str | None = None, give_z: bool | None = None) -> tuple[ReadPlan, bool]:
        """What `encode` computes for these arguments (checked), and whether t was one time."""
        check_model_features(self, features)
        if features == "best":
            if t is not None or layers is not None or pool is not None or give_z is not None:
                raise ValueError("features 'best' reads at the times and with the options its "
                                 f"card records ({describe_parts(best_parts(self))}); pass "
                                 "no t, layers, pool or give_z")
            steps = [(p.features, list(p.t), denoiser_read(self) if p.features == "denoiser"
                      else None) for p in best_parts(self)]
            for f, ts, _ in steps:
                check_model_features(self, f)
                check_t(ts)
            return ReadPlan(self, steps, combined=True), True
        read = None
        if features == "denoiser":
            read = denoiser_read(self, layers=layers, pool=pool, give_z=give_z)
            default_t = read.t
        else:
            if layers is not None or pool is not None or give_z is not None:
                raise ValueError(f"layers, pool and give_z are options of the denoiser read, not "
                                 f"of features {features!r}")
            default_t = self.recommended_t
            if t is not None and not self.config.t_conditioned:
                warnings.warn(f"t has no effect on this static encoder ({self.config.objective}, "
                              "not t-conditioned): every t gives the same code", UserWarning,
                              stacklevel=3)
        ts, single = check_t(default_t if t is None else t)
        return ReadPlan(self, [(features, ts, read)], combined=False), single

    def _embed_batch(self, x: Tensor, plan: ReadPlan, value_range: tuple[float, float]
                     ) -> np.ndarray:
        """(n, T, dim) reads of preprocessed x in [0, 1] at each of the plan's times, or
        (n, 1, D) for a combined read (its parts concatenated)."""
        out = np.empty((x.shape[0], *plan.shape), dtype=np.float32)
        if not len(x):
            return out
        xb = to_value_range(x.to(self.device), value_range)
        col = 0
        for features, ts, read in plan.steps:
            for j, tj in enumerate(ts):
                tb = torch.full((xb.shape[0],), tj, device=self.device)
                code = self.embed(xb, tb, features, read).float().cpu().numpy()
                if plan.combined:
                    out[:, 0, col : col + code.shape[1]] = code
                    col += code.shape[1]
                else:
                    out[:, j] = code
        return out


class ReadPlan:
    """The reads one `encode` call computes: [(features, times, denoiser read or None)]; a
    combined plan ("best") concatenates every (part, time) into one (N, D) code."""

    def __init__(self, model: DRLModel, steps: list[tuple[str, list[float], Any]],
                 combined: bool) -> None:
        self.steps, self.combined = steps, combined
        dims = [read.dim(model) if read is not None else model.feature_dim(f)
                for f, _, read in steps]
        if combined:
            self.shape = (1, sum(d * len(ts) for d, (_, ts, _) in zip(dims, steps, strict=True)))
        else:
            self.shape = (len(steps[0][1]), dims[0])


def default_batch_size(device: torch.device) -> int:
    """Images per encoder forward pass: the fastest measured on CPU (batch 64-128 peaks, 256 and
    512 are 1.5-3x slower), a large batch on GPUs."""
    return 512 if device.type == "cuda" else 64


def check_t(t: float | Sequence[float]) -> tuple[list[float], bool]:
    """([times], whether t was one number); ValueError for anything but numbers in [0, 1]."""
    single = np.isscalar(t) or (isinstance(t, (np.ndarray, Tensor)) and np.ndim(t) == 0)
    try:
        if isinstance(t, (str, bytes)) or (not single and any(isinstance(v, (str, bytes))
                                                                for v in t)):
            raise TypeError
        ts = [float(t)] if single else [float(v) for v in t]
    except (TypeError, ValueError):
        raise ValueError(f"t: expected a number in [0, 1] or a sequence of them, got {t!r}") from None
    if not ts:
        raise ValueError("t: expected a float in [0, 1] or a non-empty sequence of them")
    for v in ts:
        if not (0.0 <= v <= 1.0):  # also rejects NaN
            raise ValueError(f"t: expected values in [0, 1], got {v}")
    return ts, single
