"""The DRL training objective (paper eq. 7 / 8), as a small callable.

    L = E_{t, x0, n} [ lambda(t) || s(x_t, t, E(x0[, t])) + n / std(t) ||^2 ]      (eq. 7)

`paper` weighting: lambda(t) = std(t)^2, i.e. per sample 0.5 * sum_pixels (std * s + n)^2.
`edm` weighting (default, DESIGN §8): the same score-matching loss written on the denoiser,
lambda_edm(sigma) = (sigma^2 + sigma_data^2) / (sigma * sigma_data)^2 (Karras et al. 2022, Table 1),
which gives every noise level a unit-variance target so high-noise t, where z matters, is learned.

Views (issue 31; SODA, Hudson et al. 2024): with `views="novel"` the encoder sees one augmented view
a = A(x0) and the score net denoises another, b = A'(x0), an independent draw of the same
augmentation, so z can only help with what the two views share. `"same"` (a = b, both augmented)
is the control; `"none"` (the paper's recipe) encodes and denoises x0 itself.

Invariance (a DRL + contrastive hybrid, issue 31): with novel views and `invariance_weight` w > 0
the loss adds w * NT-Xent (SimCLR's loss, temperature 0.5) between the codes of the two views,
E(a, t') and E(b, t') at one t' drawn for the whole batch (`invariance_codes`), so that z also has
to ignore what the augmentation changes. The denoiser is still conditioned on E(a, t) alone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import Tensor

from drlkit.augment import SimCLRAugment
from drlkit.baselines import nt_xent, reparameterise
from drlkit.diffusion import sample_t
from drlkit.preprocess import from_value_range, to_value_range

if TYPE_CHECKING:
    from drlkit.model import DRLModel

VIEWS = ("none", "same", "novel")


def dsm_per_sample(model: DRLModel, x0: Tensor, t: Tensor, n: Tensor, z: Tensor | None) -> Tensor:
    """Weighted denoising score-matching loss for each sample, shape (B,). z=None withholds the
    code. `model.precond.dsm_loss`: the weighting is the model's parameterisation's."""
    return model.precond.dsm_loss(x0, t, n, z)


class DRLLoss:
    """Callable: (model, x0 in [-1, 1], generator) -> (scalar loss, float stats).

    Args:
        t_sampler: training-t distribution (`uniform-t`, `uniform-sigma`, `range:a,b`).
        l1_weight: weight of mean |z| (DRL; the authors used 1e-5).
        kl_weight: weight of KL(q(z|x0) || N(0, I)) (VDRL; the authors used 1e-5).
        views: "none" (encode and denoise x0), "same" (encode and denoise one augmented view) or
            "novel" (encode one view, denoise another).
        augment: the view augmentation (default: `SimCLRAugment()`); unused with views="none".
        invariance_weight: weight of NT-Xent between the two novel views' codes (0: pure DRL).
        probabilistic: False for DRL (deterministic code, optional L1 on z), True for VDRL
            (reparameterised code + KL); `drlkit.methods` sets it from the method's row.
    """

    def __init__(
        self, t_sampler: str = "uniform-t", l1_weight: float = 0.0, kl_weight: float = 1e-5,
        views: str = "none", augment: SimCLRAugment | None = None, invariance_weight: float = 0.0,
        *, probabilistic: bool = False,
    ) -> None:
        check_options(views, invariance_weight, probabilistic)
        self.probabilistic, self.t_sampler = probabilistic, t_sampler
        self.l1_weight, self.kl_weight = l1_weight, kl_weight
        self.views, self.augment = views, augment or SimCLRAugment()
        self.invariance_weight = invariance_weight

    def make_views(self, x0: Tensor, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """(what the encoder sees, what the score net denoises), both (B, C, H, W) in [-1, 1]."""
        if self.views == "none":
            return x0, x0
        images = from_value_range(x0.float())  # the augmentations work on [0, 1] pixels
        a = to_value_range(self.augment(images, generator))
        b = to_value_range(self.augment(images, generator)) if self.views == "novel" else a
        return a, b

    def invariance_codes(self, model: DRLModel, a: Tensor, b: Tensor, z_a: Tensor,
                         generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """The two views' codes that NT-Xent compares. A t-conditioned encoder reads both at one
        t drawn for the whole batch: with each image's own t, the negatives (other images) would
        differ in t from the anchor while its positive does not, and the encoder could tell them
        apart by t alone. A static encoder's code of view a is the one the denoiser got."""
        if not model.config.t_conditioned:
            return z_a, model.embed(b, None).float()
        t = sample_t(self.t_sampler, model.precond.sde, 1, generator).to(a.device)
        t = t.expand(2 * a.shape[0])
        return model.embed(torch.cat([a, b]), t).float().chunk(2)

    def __call__(self, model: DRLModel, x0: Tensor, generator: torch.Generator) -> tuple[Tensor, dict]:
        x_enc, x0 = self.make_views(x0, generator)
        b = x0.shape[0]
        t = sample_t(self.t_sampler, model.precond.sde, b, generator).to(x0.device)
        n = torch.randn(x0.shape, generator=generator).to(x0.device)
        t_enc = t if model.config.t_conditioned else None
        if self.probabilistic:
            c_noise = model.c_noise(t_enc) if t_enc is not None else None
            z, reg = reparameterise(*model.encoder(x_enc, c_noise), generator)
            reg_weight = self.kl_weight
        else:
            z = model.embed(x_enc, t_enc).float()
            reg = z.abs().sum(1).mean()
            reg_weight = self.l1_weight
        dsm = dsm_per_sample(model, x0, t, n, z).mean()
        # Optimise per pixel (a gradient scale that clipping and Adam's eps expect) while keeping
        # the regulariser weight relative to the per-sample sum, as in the authors' runs.
        loss = (dsm + reg_weight * reg) / x0[0].numel()
        stats = {"dsm": dsm.item(), "reg": reg.item()}
        if self.invariance_weight:
            inv = nt_xent(*self.invariance_codes(model, x_enc, x0, z, generator),
                          INVARIANCE_TEMPERATURE)
            loss = loss + self.invariance_weight * inv
            stats["nt_xent"] = inv.item()
        return loss, {"loss": loss.item(), **stats}


INVARIANCE_TEMPERATURE = 0.5  # SimCLR's, as the simclr baseline


def check_options(views: str, invariance_weight: float, probabilistic: bool) -> None:
    """The views are known; invariance is >= 0 and compares two novel views' deterministic codes."""
    if views not in VIEWS:
        raise ValueError(f"views must be one of {VIEWS}, got {views!r}")
    if invariance_weight < 0:
        raise ValueError(f"invariance_weight must be >= 0, got {invariance_weight}")
    if invariance_weight and (views != "novel" or probabilistic):
        raise ValueError("invariance_weight needs a deterministic code with novel views (two "
                         f"views of each image to compare), got {views} views"
                         + (" and a probabilistic code" if probabilistic else ""))
