"""The baselines' second networks, beside the shared encoder: the AE / VAE decoder and SimCLR's
projection head (DRL's is the score net, scorenet.py).

Decoder: the encoder's wide-ResNet mirrored. z (B, D) -> linear -> (4w, S/4, S/4) -> residual
blocks -> upsample -> (2w, S/2, S/2) -> blocks -> upsample -> (w, S, S) -> blocks -> GroupNorm,
SiLU, 3x3 conv -> (C, S, S) in the data's [-1, 1] scale (no squashing: the L2 loss is on the raw
output).
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from drlkit.config import ModelConfig
from drlkit.encoder import EncoderBlock
from drlkit.layers import group_norm


class Decoder(nn.Module):
    """z (B, D) -> image (B, C, S, S) in the data's [-1, 1] scale."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        w, s = config.encoder_width, config.image_size // 4
        self.base = (4 * w, s)
        self.proj = nn.Linear(config.latent_dim, 4 * w * s * s)
        stages = []
        for cin, cout in ((4 * w, 4 * w), (4 * w, 2 * w), (2 * w, w)):
            blocks = [EncoderBlock(cin, cout, 1, None)]
            blocks += [EncoderBlock(cout, cout, 1, None) for _ in range(config.encoder_blocks - 1)]
            stages.append(nn.ModuleList(blocks))
        self.stages = nn.ModuleList(stages)
        self.norm = group_norm(w)
        self.out = nn.Conv2d(w, config.channels, 3, padding=1)

    def forward(self, z: Tensor) -> Tensor:
        c, s = self.base
        h = self.proj(z).view(z.shape[0], c, s, s)
        for i, blocks in enumerate(self.stages):
            if i > 0:
                h = F.interpolate(h, scale_factor=2, mode="nearest")
            for block in blocks:
                h = block(h, None)
        return self.out(F.silu(self.norm(h)))


class ProjectionHead(nn.Module):
    """SimCLR's g(.): a 2-layer MLP on the code; the contrastive loss is applied to its output, and
    the code before it is the representation (Chen et al. 2020, section 4.2)."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        d = config.latent_dim
        self.mlp = nn.Sequential(nn.Linear(d, d), nn.ReLU(), nn.Linear(d, d))

    def forward(self, z: Tensor) -> Tensor:
        return self.mlp(z)
