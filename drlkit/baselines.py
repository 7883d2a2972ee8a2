"""The baselines' objectives, trained by the same trainer on the same encoder as DRL (issue: the
paper's comparison). Each is a callable like `DRLLoss`: (model, x0 in [-1, 1], generator) ->
(scalar loss, float stats).

- `AELoss`: L2 reconstruction, 0.5 * ||D(E(x0)) - x0||^2 per image, averaged per pixel.
- `VAELoss`: the negative ELBO with a Gaussian decoder of fixed variance (0.5 * squared error, as
  above) and KL(q(z|x0) || N(0, I)) with weight `kl_weight` (1 for the standard VAE).
- `SimCLRLoss`: NT-Xent (Chen et al. 2020, eq. 1) between two augmented views of each image,
  on the projection head's output; the code before the head is the representation.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor

from drlkit.augment import SimCLRAugment
from drlkit.preprocess import from_value_range, to_value_range

if TYPE_CHECKING:
    from drlkit.model import DRLModel


def reparameterise(mu: Tensor, logvar: Tensor, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """A draw z = mu + exp(logvar / 2) eps of q(z | x0), and KL(q(z | x0) || N(0, I)) averaged over
    the batch (VAE and VDRL)."""
    mu, logvar = mu.float(), logvar.float()
    eps = torch.randn(mu.shape, generator=generator).to(mu.device)
    z = mu + torch.exp(0.5 * logvar) * eps
    kl = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(1).mean()
    return z, kl


class AELoss:
    def __call__(self, model: DRLModel, x0: Tensor, generator: torch.Generator) -> tuple[Tensor, dict]:
        recon = 0.5 * (model.decoder(model.embed(x0, None)).float() - x0).pow(2).flatten(1).sum(1)
        loss = recon.mean() / x0[0].numel()
        return loss, {"loss": loss.item(), "recon": recon.mean().item()}


class VAELoss:
    def __init__(self, kl_weight: float = 1.0) -> None:
        self.kl_weight = kl_weight

    def __call__(self, model: DRLModel, x0: Tensor, generator: torch.Generator) -> tuple[Tensor, dict]:
        z, kl = reparameterise(*model.encoder(x0, None), generator)
        recon = 0.5 * (model.decoder(z).float() - x0).pow(2).flatten(1).sum(1).mean()
        loss = (recon + self.kl_weight * kl) / x0[0].numel()
        return loss, {"loss": loss.item(), "recon": recon.item(), "kl": kl.item()}


def nt_xent(p1: Tensor, p2: Tensor, temperature: float) -> Tensor:
    """NT-Xent over 2B views: each view's positive is the other view of its image, the other
    2B - 2 views are its negatives; cosine similarity / temperature, mean cross-entropy."""
    p = F.normalize(torch.cat([p1, p2]).float(), dim=1)
    logits = p @ p.T / temperature
    logits.fill_diagonal_(float("-inf"))  # a view is not its own positive or negative
    b = p1.shape[0]
    target = torch.cat([torch.arange(b, 2 * b), torch.arange(0, b)]).to(p.device)
    return F.cross_entropy(logits, target)


class SimCLRLoss:
    def __init__(self, temperature: float = 0.5, augment: SimCLRAugment | None = None) -> None:
        self.temperature = temperature
        self.augment = augment or SimCLRAugment()

    def __call__(self, model: DRLModel, x0: Tensor, generator: torch.Generator) -> tuple[Tensor, dict]:
        images = from_value_range(x0.float())  # the augmentations work on [0, 1] pixels
        views = [to_value_range(self.augment(images, generator)) for _ in range(2)]
        z = model.embed(torch.cat(views), None)
        p1, p2 = model.projector(z).chunk(2)
        loss = nt_xent(p1, p2, self.temperature)
        return loss, {"loss": loss.item()}
