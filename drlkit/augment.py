"""SimCLR's small-image augmentations (Chen et al. 2020, appendix B.9), batched in torch.

Random resized crop (scale 0.08-1, aspect 3/4-4/3, bilinear), horizontal flip (p 0.5), colour jitter
(brightness, contrast, saturation 0.4, hue 0.1; applied with p 0.8) and greyscale (p 0.2), each
image with its own random draw from one seeded generator. Greyscale images get crop and flip only.
No torchvision: the core must not need it (its wheels here do not import with the CPU torch).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from drlkit.preprocess import LUMA


@dataclass(frozen=True)
class SimCLRAugment:
    """Callable: x (B, C, H, W) in [0, 1] -> one random view of each image, same shape and range."""

    scale: tuple[float, float] = (0.08, 1.0)
    ratio: tuple[float, float] = (3 / 4, 4 / 3)
    flip: float = 0.5
    jitter: float = 0.8
    strength: tuple[float, float, float, float] = (0.4, 0.4, 0.4, 0.1)
    grey: float = 0.2

    def __call__(self, x: Tensor, gen: torch.Generator) -> Tensor:
        b = x.shape[0]

        def u(*shape: int) -> Tensor:  # uniform [0, 1) on the CPU generator, moved to x's device
            return torch.rand(*shape, generator=gen).to(x.device)

        x = resized_crop(x, u(b), u(b), u(b), u(b), self.scale, self.ratio)
        x = torch.where(u(b)[:, None, None, None] < self.flip, x.flip(-1), x)
        if x.shape[1] == 3:
            bri, con, sat, hue = self.strength
            on = (u(b) < self.jitter)[:, None, None, None]
            jittered = color_jitter(x, 1 + bri * (2 * u(b) - 1), 1 + con * (2 * u(b) - 1),
                                    1 + sat * (2 * u(b) - 1), hue * (2 * u(b) - 1))
            x = torch.where(on, jittered, x)
            grey = (x * torch.tensor(LUMA, device=x.device).view(1, 3, 1, 1)).sum(1, keepdim=True)
            x = torch.where((u(b) < self.grey)[:, None, None, None], grey.expand_as(x), x)
        return x.clamp(0, 1)


def resized_crop(x: Tensor, r_area: Tensor, r_ratio: Tensor, r_x: Tensor, r_y: Tensor,
                 scale: tuple[float, float], ratio: tuple[float, float]) -> Tensor:
    """Crop a box of random area and aspect from each image and resize it back to (H, W).

    r_*: uniform [0, 1) draws (B,). Boxes that would leave the image are shrunk to fit.
    """
    area = scale[0] + (scale[1] - scale[0]) * r_area
    log_r = math.log(ratio[0]) + (math.log(ratio[1]) - math.log(ratio[0])) * r_ratio
    aspect = torch.exp(log_r)
    w = torch.sqrt(area * aspect).clamp(max=1.0)  # box width / image width
    h = torch.sqrt(area / aspect).clamp(max=1.0)
    cx = (2 * r_x - 1) * (1 - w)  # box centre in [-1, 1] coordinates, box inside the image
    cy = (2 * r_y - 1) * (1 - h)
    theta = torch.zeros(x.shape[0], 2, 3, device=x.device, dtype=x.dtype)
    theta[:, 0, 0], theta[:, 0, 2] = w, cx
    theta[:, 1, 1], theta[:, 1, 2] = h, cy
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def color_jitter(x: Tensor, brightness: Tensor, contrast: Tensor, saturation: Tensor,
                 hue: Tensor) -> Tensor:
    """torchvision's ColorJitter in a fixed order; factors (B,), hue shift in turns (B,)."""
    def per_image(v: Tensor) -> Tensor:
        return v[:, None, None, None]

    luma = torch.tensor(LUMA, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    x = (x * per_image(brightness)).clamp(0, 1)
    mean = (x * luma).sum(1, keepdim=True).mean(dim=(2, 3), keepdim=True)
    x = ((x - mean) * per_image(contrast) + mean).clamp(0, 1)
    grey = (x * luma).sum(1, keepdim=True)
    x = ((x - grey) * per_image(saturation) + grey).clamp(0, 1)
    return shift_hue(x, hue)


def shift_hue(x: Tensor, shift: Tensor) -> Tensor:
    """Rotate the hue of RGB images (B, 3, H, W) in [0, 1] by `shift` turns (B,), through HSV."""
    r, g, b = x.unbind(1)
    maxc, _ = x.max(1)
    minc, _ = x.min(1)
    delta = maxc - minc
    safe = torch.where(delta > 0, delta, torch.ones_like(delta))
    h = torch.where(maxc == r, ((g - b) / safe) % 6,
                    torch.where(maxc == g, (b - r) / safe + 2, (r - g) / safe + 4)) / 6
    h = torch.where(delta > 0, h, torch.zeros_like(h))
    s = torch.where(maxc > 0, delta / torch.where(maxc > 0, maxc, torch.ones_like(maxc)),
                    torch.zeros_like(maxc))
    h = (h + shift[:, None, None]) % 1.0
    # HSV -> RGB: each channel from the distance of the hue to its sector
    k = (torch.tensor([5.0, 3.0, 1.0], device=x.device)[None, :, None, None] + 6 * h[:, None]) % 6
    v = maxc[:, None]
    return v - v * s[:, None] * (torch.minimum(k, 4 - k).clamp(0, 1))
