"""Typed, frozen configuration of a DRL model (architecture + diffusion), with named size presets."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, fields
from typing import Any

from drlkit.objectives import OBJECTIVES as OBJECTIVE_TABLE
from drlkit.objectives import objective as objective_row

SDES = ("ve", "vp")
PARAMETERIZATIONS = ("edm", "paper")
# What trains the encoder: DRL's conditional score net, or a baseline's decoder / projection head
# (the table in drlkit.objectives).
OBJECTIVES = tuple(OBJECTIVE_TABLE)
# How the code z enters the score net: added to the time embedding (the paper's recipe), or its
# own scale-and-shift in every residual block, the bottleneck's included (issue 31).
Z_CONDITIONINGS = ("add", "film")


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild a model; stored as JSON in every checkpoint.

    Attributes:
        objective: "drl" (encoder + conditional score net; VDRL when `probabilistic`), or a
            baseline with the same encoder: "ae" / "vae" (+ decoder), "simclr" (+ projection head).
        image_size: input resolution (square), e.g. 28 for MNIST, 32 for CIFAR-10.
        channels: 1 (greyscale) or 3 (RGB).
        latent_dim: size D of the code z.
        t_conditioned: encoder is E(x0, t) (paper eq. 8) instead of the static E(x0).
        probabilistic: VDRL encoder that outputs (mu, log-variance); mu is the representation.
        encoder_width: channels of the first wide-ResNet stage (doubled at each of 3 stages).
        encoder_blocks: residual blocks per encoder stage.
        unet_channels: base channels of the score U-Net.
        unet_mult: channel multiplier per U-Net resolution level.
        unet_blocks: residual blocks per U-Net level.
        emb_dim: width of the time (and z) embedding.
        sde: "ve" (variance exploding, the paper's default) or "vp" (variance preserving).
        sigma_min, sigma_max: VE noise range.
        beta_min, beta_max: VP noise schedule.
        parameterization: "edm" (Karras et al. 2022 preconditioning) or "paper" (raw output / sigma).
        sigma_data: data standard deviation assumed by the EDM preconditioning.
        z_conditioning: "add" (z's projection is added to the time embedding, which scales and
            shifts every score-net block) or "film" (z drives its own scale-and-shift in every
            block, the bottleneck's included, beside the time embedding's).
    """

    objective: str = "drl"
    image_size: int = 28
    channels: int = 1
    latent_dim: int = 128
    t_conditioned: bool = True
    probabilistic: bool = False
    encoder_width: int = 32
    encoder_blocks: int = 2
    unet_channels: int = 32
    unet_mult: tuple[int, ...] = (1, 2, 2)
    unet_blocks: int = 2
    emb_dim: int = 128
    sde: str = "ve"
    sigma_min: float = 0.01
    sigma_max: float = 50.0
    beta_min: float = 0.1
    beta_max: float = 20.0
    parameterization: str = "edm"
    sigma_data: float = 0.5
    z_conditioning: str = "add"

    def __post_init__(self) -> None:
        row = objective_row(self.objective)
        if not row.diffusion and self.t_conditioned:
            raise ValueError(f"{self.objective} trains a static encoder: t_conditioned=False")
        if self.probabilistic not in row.probabilistic:
            raise ValueError(f"probabilistic must be {row.probabilistic[0]} for {self.objective}")
        if self.image_size % row.size_multiple:
            raise ValueError(f"image_size {self.image_size} must be divisible by "
                             f"{row.size_multiple} (the {row.head} upsamples twice)")
        if self.sde not in SDES:
            raise ValueError(f"sde must be one of {SDES}, got {self.sde!r}")
        if self.parameterization not in PARAMETERIZATIONS:
            raise ValueError(
                f"parameterization must be one of {PARAMETERIZATIONS}, got {self.parameterization!r}"
            )
        if self.z_conditioning not in Z_CONDITIONINGS:
            raise ValueError(f"z_conditioning must be one of {Z_CONDITIONINGS}, "
                             f"got {self.z_conditioning!r}")
        if self.channels not in (1, 3):
            raise ValueError(f"channels must be 1 or 3, got {self.channels}")
        factor = 2 ** (len(self.unet_mult) - 1)
        if self.image_size % factor:
            raise ValueError(
                f"image_size {self.image_size} must be divisible by {factor} "
                f"(the U-Net halves it {len(self.unet_mult) - 1} times)"
            )
        if self.latent_dim < 1:
            raise ValueError(f"latent_dim must be >= 1, got {self.latent_dim}")
        object.__setattr__(self, "unet_mult", tuple(int(m) for m in self.unet_mult))

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["unet_mult"] = list(self.unet_mult)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelConfig:
        """Strict: unknown or missing keys are an error (a checkpoint must describe itself fully).
        Configs of older file formats go through `upgrade_config` first."""
        names = {f.name for f in fields(cls)}
        unknown, missing = set(d) - names, names - set(d)
        if unknown or missing:
            raise ValueError(
                f"model config mismatch: unknown keys {sorted(unknown)}, missing keys {sorted(missing)}"
            )
        return cls(**{**d, "unet_mult": tuple(d["unet_mult"])})


# Size presets: `tiny` for tests, `small` for CPU-trained checkpoints, `base` for GPU training.
PRESETS: dict[str, dict[str, Any]] = {
    "tiny": dict(encoder_width=8, encoder_blocks=1, unet_channels=8, unet_mult=(1, 2),
                 unet_blocks=1, emb_dim=32),
    "small": dict(encoder_width=32, encoder_blocks=2, unet_channels=32, unet_mult=(1, 2, 2),
                  unet_blocks=2, emb_dim=128),
    "base": dict(encoder_width=64, encoder_blocks=3, unet_channels=64, unet_mult=(1, 2, 2),
                 unet_blocks=2, emb_dim=256),
}


def preset(name: str, **overrides: Any) -> ModelConfig:
    """Build a config from a named size preset; `overrides` set data shape, latent size, etc."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
    return ModelConfig(**{**PRESETS[name], **overrides})


# Fields added after file format 1, with the value every older file implies.
ADDED_FIELDS: dict[str, Any] = {
    "objective": "drl",  # format 2: before baselines existed, every model was DRL
    "z_conditioning": "add",  # format 3: before issue 31, z was always added to the t embedding
}


def upgrade_config(d: dict[str, Any]) -> dict[str, Any]:
    """A config dict from an older file format (1 or 2) in today's form."""
    return {**ADDED_FIELDS, **d}
