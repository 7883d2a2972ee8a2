"""The reads of a model: what `encode(images, t, features=...)` returns (DESIGN §10).

- "z": the code E(x0, t), the paper's representation (the default).
- "pooled": the encoder's pooled features before its last linear layer.
- "denoiser": the score net's own residual-block activations on the image, told a noise level
  t, each block average-pooled over space (or over a small grid) and concatenated: the read of
  DDAE (Xiang et al., ICCV 2023, "Denoising Diffusion Autoencoders are Unified Self-supervised
  Learners"). The image is not noised: t only sets the noise level the score net is told (and
  its input scaling), so the read is deterministic and batch-invariant; docs/benchmarks/denoiser.md
  measures that against noised reads.
- "best": the model's best measured read, a concatenation of the parts its card records under
  `reads.best` (for example the denoiser read beside z at five times).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import Tensor

from drlkit.objectives import OBJECTIVES

if TYPE_CHECKING:
    from drlkit.model import DRLModel

FEATURES = ("z", "pooled", "denoiser", "best")
POOLS = ("avg", "grid2")  # global average; average over a 2 x 2 grid (4 x the width)
LAYER_GROUPS = ("down", "mid", "up")
Z_TIMES = (0.1, 0.3, 0.5, 0.7, 0.9)  # the multi-t code of `drlkit eval` (docs/evaluation.md)

# How a model is read when its card records nothing: the read that probed best on validation for
# the shipped cifar10 (scripts/denoiser_sweep.py, docs/benchmarks/denoiser.md); each card
# records its own.
DENOISER_DEFAULTS: dict[str, Any] = {"t": 0.35, "layers": "all", "pool": "avg", "give_z": False}


def check_features(features: str) -> str:
    if features not in FEATURES:
        raise ValueError(f"features must be one of {', '.join(FEATURES)}; got {features!r}")
    return features


def has_denoiser(model: DRLModel) -> bool:
    """Whether the model has a score net to read (DRL and VDRL; not the AE, VAE or SimCLR)."""
    return OBJECTIVES[model.config.objective].diffusion


def available_features(model: DRLModel) -> tuple[str, ...]:
    return FEATURES if has_denoiser(model) else ("z", "pooled", "best")


def check_model_features(model: DRLModel, features: str) -> str:
    """`features`, if this model has it; else a one-line ValueError naming the ones it has."""
    check_features(features)
    if features == "denoiser" and not has_denoiser(model):
        raise ValueError(f"features 'denoiser' reads a score net, and this {model.config.objective}"
                         f" model has none; its features are {', '.join(available_features(model))}")
    return features


def parse_layers(spec: str | Sequence[int | str], groups: Sequence[str]) -> list[int]:
    """Block indices (sorted, unique) from "all", a group ("down", "mid", "up"), block numbers,
    or a comma-separated mix ("down,mid", "0,3,16"); `groups` is the score net's
    `block_groups`."""
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    if not items:
        raise ValueError("layers: expected 'all', a path (down, mid, up) or block numbers")
    picked: set[int] = set()
    for item in items:
        word = str(item).strip()
        if word == "all":
            picked.update(range(len(groups)))
        elif word in LAYER_GROUPS:
            picked.update(i for i, g in enumerate(groups) if g == word)
        elif word.lstrip("-").isdigit() and 0 <= int(word) < len(groups):
            picked.add(int(word))
        else:
            raise ValueError(f"layers: unknown entry {word!r}; use all, down, mid, up or block "
                             f"numbers 0-{len(groups) - 1}, comma-separated")
    return sorted(picked)


def check_pool(pool: str) -> str:
    if pool not in POOLS:
        raise ValueError(f"pool must be one of {', '.join(POOLS)}; got {pool!r}")
    return pool


def pool_map(h: Tensor, pool: str) -> Tensor:
    """(B, C, H, W) -> (B, C) global average, or (B, 4C) averages over a 2 x 2 grid."""
    if pool == "avg":
        return h.float().mean(dim=(2, 3))
    return F.adaptive_avg_pool2d(h.float(), 2).flatten(1)


@dataclass(frozen=True)
class DenoiserRead:
    """How the score net is read: at which noise level t, which residual blocks, which pooling,
    and whether the image's own code z conditions the score net (give_z) or is withheld."""

    t: float
    layers: tuple[int, ...]
    pool: str
    give_z: bool

    def dim(self, model: DRLModel) -> int:
        widths = model.score_net.block_widths
        return sum(widths[i] for i in self.layers) * (4 if self.pool == "grid2" else 1)


def denoiser_read(model: DRLModel, t: float | None = None, layers: Any = None,
                  pool: str | None = None, give_z: bool | None = None) -> DenoiserRead:
    """The denoiser read with every option not given taken from the card's `reads.denoiser`
    (else `DENOISER_DEFAULTS`)."""
    card = {**DENOISER_DEFAULTS, **model.card.get("reads", {}).get("denoiser", {})}
    groups = model.score_net.block_groups
    return DenoiserRead(
        t=float(card["t"] if t is None else t),
        layers=tuple(parse_layers(card["layers"] if layers is None else layers, groups)),
        pool=check_pool(card["pool"] if pool is None else pool),
        give_z=bool(card["give_z"] if give_z is None else give_z),
    )


def denoiser_features(model: DRLModel, x: Tensor, t: Tensor, read: DenoiserRead,
                      noise: Tensor | None = None) -> Tensor:
    """The pooled block activations (B, read.dim) of preprocessed x (B, C, H, W) in the model's
    value range, at the (B,) times t. The image is read as it is (x_t = mean(t) x0); `noise`
    (B, C, H, W), for the study only, reads x_t = mean x0 + std noise instead."""
    precond = model.precond
    t = t.clamp(min=precond.sde.t_min)  # VP's marginals degenerate at t = 0
    mean, std = precond.marginal(t)
    xt = mean * x if noise is None else mean * x + std * noise
    z = None
    if read.give_z:
        c_enc = model.c_noise(t) if model.config.t_conditioned else None
        out = model.encoder(x, c_enc)
        z = out[0] if model.config.probabilistic else out
    # channels-last: oneDNN's faster convolution path on CPU (the U-Net 1.3x faster;
    # docs/benchmarks/denoiser.md, "Throughput")
    x_in = precond.backbone_input(xt, t).contiguous(memory_format=torch.channels_last)
    blocks = model.score_net(x_in, precond.c_noise(t), z, taps=list(read.layers))
    return torch.cat([pool_map(h, read.pool) for h in blocks], dim=1)


# ----------------------------------------------------------------------------- the best read


@dataclass(frozen=True)
class Part:
    """One part of a combined read: a feature kind at one or several times."""

    features: str  # "z", "pooled" or "denoiser"
    t: tuple[float, ...]


def best_parts(model: DRLModel) -> list[Part]:
    """The parts of the model's best read: the card's `reads.best.parts`, else the default
    (denoiser read + z at `Z_TIMES` for t-conditioned DRL models; the code z for the rest)."""
    best = model.card.get("reads", {}).get("best")
    if best:
        return [Part(p["features"], tuple(float(v) for v in p["t"])) for p in best["parts"]]
    if not has_denoiser(model):
        return [Part("z", (model.recommended_t,))]
    read = denoiser_read(model)
    z_times = Z_TIMES if model.config.t_conditioned else (model.recommended_t,)
    return [Part("denoiser", (read.t,)), Part("z", z_times)]


def describe_parts(parts: Sequence[Part]) -> str:
    """'denoiser at t=0.35 + z at t=0.1,0.3,0.5,0.7,0.9'."""
    return " + ".join(f"{p.features} at t={','.join(f'{v:g}' for v in p.t)}" for p in parts)
