"""The score-net backbone: a small U-Net F(x, c_noise, z) that knows nothing of sigma (DESIGN §2).

z is projected and, with `z_conditioning="add"` (the paper's recipe), added to the time embedding,
which scales and shifts every residual block (FiLM). With `"film"` (issue 31, as SODA's z
modulates every decoder layer) z gets its own scale-and-shift in every block, the bottleneck's
included, applied after the time embedding's.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from drlkit.config import ModelConfig
from drlkit.layers import NoiseEmbedding, group_norm


class ResBlock(nn.Module):
    def __init__(self, cin: int, cout: int, emb_dim: int, z_film: bool = False) -> None:
        super().__init__()
        self.norm1 = group_norm(cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.film = nn.Linear(emb_dim, 2 * cout)
        self.z_film = nn.Linear(emb_dim, 2 * cout) if z_film else None
        self.norm2 = group_norm(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        nn.init.zeros_(self.conv2.weight)  # each block starts as the identity
        nn.init.zeros_(self.conv2.bias)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x: Tensor, emb: Tensor, z_emb: Tensor | None = None) -> Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        scale, shift = self.film(F.silu(emb))[:, :, None, None].chunk(2, dim=1)
        h = self.norm2(h) * (1 + scale) + shift
        if self.z_film is not None and z_emb is not None:
            scale, shift = self.z_film(F.silu(z_emb))[:, :, None, None].chunk(2, dim=1)
            h = h * (1 + scale) + shift
        return self.skip(x) + self.conv2(F.silu(h))


class ScoreUNet(nn.Module):
    """(B, C, H, W) input, (B,) noise level, (B, D) code -> (B, C, H, W) raw output."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        c, emb = config.unet_channels, config.emb_dim
        self.z_film = film = config.z_conditioning == "film"
        self.t_embed = NoiseEmbedding(emb)
        self.z_proj = nn.Sequential(nn.Linear(config.latent_dim, emb), nn.SiLU(), nn.Linear(emb, emb))
        self.stem = nn.Conv2d(config.channels, c, 3, padding=1)
        widths = [c * m for m in config.unet_mult]
        self.down, self.downsample = nn.ModuleList(), nn.ModuleList()
        skip_channels, cin = [c], c
        for level, width in enumerate(widths):
            blocks = nn.ModuleList()
            for _ in range(config.unet_blocks):
                blocks.append(ResBlock(cin, width, emb, film))
                cin = width
                skip_channels.append(cin)
            self.down.append(blocks)
            if level < len(widths) - 1:
                self.downsample.append(nn.Conv2d(cin, cin, 3, stride=2, padding=1))
                skip_channels.append(cin)
        self.mid = nn.ModuleList([ResBlock(cin, cin, emb, film), ResBlock(cin, cin, emb, film)])
        self.up, self.upsample = nn.ModuleList(), nn.ModuleList()
        for level, width in reversed(list(enumerate(widths))):
            blocks = nn.ModuleList()
            for _ in range(config.unet_blocks + 1):
                blocks.append(ResBlock(cin + skip_channels.pop(), width, emb, film))
                cin = width
            self.up.append(blocks)
            if level > 0:
                self.upsample.append(nn.Conv2d(cin, cin, 3, padding=1))
        self.out_norm = group_norm(cin)
        self.out = nn.Conv2d(cin, config.channels, 3, padding=1)

    @property
    def block_groups(self) -> list[str]:
        """The path ("down", "mid" or "up") of each residual block, in the order the input meets
        them: the blocks `forward(..., taps=)` reads (17 for the `small` preset)."""
        return (["down"] * sum(len(b) for b in self.down) + ["mid"] * len(self.mid)
                + ["up"] * sum(len(b) for b in self.up))

    @property
    def block_widths(self) -> list[int]:
        """The output channels of each residual block, in `block_groups` order."""
        blocks = [b for lv in self.down for b in lv] + list(self.mid) + [b for lv in self.up for b in lv]
        return [b.conv2.out_channels for b in blocks]

    def forward(self, x: Tensor, c_noise: Tensor, z: Tensor | None,
                taps: list[int] | None = None) -> Tensor | list[Tensor]:
        """The raw output (B, C, H, W); with `taps` (sorted block indices, `block_groups` order)
        the outputs of those residual blocks instead, (B, C_i, H_i, W_i) each, computing no
        further than the last one (the denoiser read, DDAE)."""
        emb, z_emb = self.t_embed(c_noise), None
        if z is not None:  # z withheld (None) is how the z-usage diagnostic measures the gap
            z_emb = self.z_proj(z)
            if not self.z_film:
                emb, z_emb = emb + z_emb, None
        tapped: list[Tensor] = []
        wanted = iter(taps or ())
        next_tap = next(wanted, None)
        index = 0

        def block_out(h: Tensor) -> bool:  # records block `index` if tapped; True when done
            nonlocal index, next_tap
            if index == next_tap:
                tapped.append(h)
                next_tap = next(wanted, None)
            index += 1
            return taps is not None and next_tap is None

        h = self.stem(x)
        skips = [h]
        for level, blocks in enumerate(self.down):
            for block in blocks:
                h = block(h, emb, z_emb)
                skips.append(h)
                if block_out(h):
                    return tapped
            if level < len(self.downsample):
                h = self.downsample[level](h)
                skips.append(h)
        for block in self.mid:
            h = block(h, emb, z_emb)
            if block_out(h):
                return tapped
        for level, blocks in enumerate(self.up):
            for block in blocks:
                h = block(torch.cat([h, skips.pop()], dim=1), emb, z_emb)
                if block_out(h):
                    return tapped
            if level < len(self.upsample):
                h = F.interpolate(h, scale_factor=2.0, mode="nearest")
                h = self.upsample[level](h)
        return self.out(F.silu(self.out_norm(h)))
