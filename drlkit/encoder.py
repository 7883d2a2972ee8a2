"""The representation encoder E(x0) or E(x0, t): a small wide-ResNet (DESIGN §2).

t-conditioning (paper eq. 8): Fourier features of ln(sigma(t))/4 -> MLP -> a per-channel bias in
every residual block, so each image maps to a curve z(t).
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from drlkit.config import ModelConfig
from drlkit.layers import NoiseEmbedding, group_norm


class EncoderBlock(nn.Module):
    """Pre-activation residual block; optional additive t-bias after the first conv."""

    def __init__(self, cin: int, cout: int, stride: int, emb_dim: int | None) -> None:
        super().__init__()
        self.norm1 = group_norm(cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1)
        self.norm2 = group_norm(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.t_bias = nn.Linear(emb_dim, cout) if emb_dim else None
        self.skip = (
            nn.Conv2d(cin, cout, 1, stride=stride) if (cin != cout or stride != 1) else nn.Identity()
        )

    def forward(self, x: Tensor, emb: Tensor | None) -> Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        if self.t_bias is not None:
            h = h + self.t_bias(emb)[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return self.skip(x) + h


class Encoder(nn.Module):
    """x0 in [-1, 1], (B, C, H, W) [+ c_noise (B,)] -> z (B, D), or (mu, logvar) when probabilistic."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        w = config.encoder_width
        emb_dim = config.emb_dim if config.t_conditioned else None
        self.t_embed = NoiseEmbedding(config.emb_dim) if config.t_conditioned else None
        self.stem = nn.Conv2d(config.channels, w, 3, padding=1)
        blocks, cin = [], w
        for stage, width in enumerate((w, 2 * w, 4 * w)):
            for i in range(config.encoder_blocks):
                stride = 2 if (stage > 0 and i == 0) else 1
                blocks.append(EncoderBlock(cin, width, stride, emb_dim))
                cin = width
        self.blocks = nn.ModuleList(blocks)
        self.norm = group_norm(cin)
        out = 2 * config.latent_dim if config.probabilistic else config.latent_dim
        self.head = nn.Linear(cin, out)
        self.probabilistic = config.probabilistic

    def forward(self, x: Tensor, c_noise: Tensor | None = None,
                pooled: bool = False) -> Tensor | tuple[Tensor, Tensor]:
        """pooled=True returns the features before the last linear layer, (B, 4 * width)."""
        if (self.t_embed is None) != (c_noise is None):
            raise ValueError(
                "t-conditioned encoders need c_noise; static encoders take none"
                f" (t_conditioned={self.t_embed is not None})"
            )
        emb = self.t_embed(c_noise) if self.t_embed is not None else None
        h = self.stem(x)
        for block in self.blocks:
            h = block(h, emb)
        h = F.silu(self.norm(h)).mean(dim=(2, 3))
        if pooled:
            return h
        out = self.head(h)
        if self.probabilistic:
            mu, logvar = out.chunk(2, dim=1)
            return mu, logvar
        return out
