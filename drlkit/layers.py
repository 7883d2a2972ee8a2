"""Small building blocks shared by the encoder and the score U-Net."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


def group_norm(channels: int) -> nn.GroupNorm:
    """GroupNorm with up to 8 groups: batch-independent, so encodings do not depend on batch size."""
    groups = math.gcd(8, channels)
    return nn.GroupNorm(groups, channels)


class FourierEmbedding(nn.Module):
    """Sin/cos features of a scalar noise level (e.g. ln(sigma)/4) at log-spaced frequencies."""

    def __init__(self, dim: int, max_freq: float = 1000.0) -> None:
        super().__init__()
        freqs = torch.exp(torch.linspace(0.0, math.log(max_freq), dim // 2))
        self.register_buffer("freqs", freqs, persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        angles = x.float()[:, None] * self.freqs[None, :]
        return torch.cat([angles.cos(), angles.sin()], dim=1)


class NoiseEmbedding(nn.Module):
    """Fourier features of the noise level -> 2-layer MLP (the time embedding)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.fourier = FourierEmbedding(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, dim), nn.SiLU(), nn.Linear(dim, dim))

    def forward(self, c_noise: Tensor) -> Tensor:
        return self.mlp(self.fourier(c_noise))
