"""What drlkit trains, as one literal table (issue 32): adding a method is adding a row.

A *method* (`drlkit train --method`) is a way of training an objective (`drlkit.objectives`: the
network beside the encoder): whether its code is probabilistic, its loss, its defaults, and how
the card names it. The CLI's choices and help, `TrainConfig`'s validation, the model config a run
builds, the loss and the card all read this table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from drlkit.augment import SimCLRAugment
from drlkit.baselines import AELoss, SimCLRLoss, VAELoss
from drlkit.loss import DRLLoss, check_options
from drlkit.objectives import OBJECTIVES


@dataclass(frozen=True)
class Method:
    name: str  # --method
    card_name: str  # the card's description: "<card_name> on <dataset> (...)"
    objective: str  # a key of OBJECTIVES
    probabilistic: bool  # the encoder outputs (mu, log-variance)
    loss_name: str  # the card's training.loss; {weighting} is the DSM weighting
    make_loss: Callable[[Any], Any]  # TrainConfig -> callable (model, x0, generator) -> (loss, stats)
    help: str  # the CLI's words for it
    kl_weight: float = 1e-5  # the default --kl-weight

    @property
    def diffusion(self) -> bool:
        return OBJECTIVES[self.objective].diffusion


def _dsm(tc) -> DRLLoss:
    views = SimCLRAugment(scale=tc.view_crop, jitter=tc.view_jitter, grey=tc.view_grey)
    return DRLLoss(tc.t_sampler, tc.l1_weight, tc.kl_weight, tc.views, views,
                   tc.invariance_weight, probabilistic=METHODS[tc.method].probabilistic)


METHODS: dict[str, Method] = {m.name: m for m in (
    Method("drl", "DRL", "drl", False, "DSM, {weighting} weighting", _dsm,
           "deterministic code"),
    Method("vdrl", "VDRL", "drl", True, "DSM, {weighting} weighting, + KL", _dsm,
           "probabilistic code with KL"),
    Method("ae", "AE", "ae", False, "L2 reconstruction", lambda tc: AELoss(), "decoder, L2"),
    Method("vae", "VAE", "vae", True, "negative ELBO (L2 reconstruction + KL)",
           lambda tc: VAELoss(tc.kl_weight), "decoder, KL", kl_weight=1.0),
    Method("simclr", "SimCLR", "simclr", False, "NT-Xent (temperature 0.5) on two augmented views",
           lambda tc: SimCLRLoss(), "NT-Xent on augmented views"),
)}


def method(name: str) -> Method:
    """The row of `name`, or ValueError naming the choices."""
    if name not in METHODS:
        raise ValueError(f"method must be one of {tuple(METHODS)}, got {name!r}")
    return METHODS[name]


def check_recipe(tc) -> None:
    """The method-dependent checks of a TrainConfig: views and invariance need a score net (and
    `loss.check_options`: invariance a deterministic code with novel views)."""
    row = method(tc.method)
    if not row.diffusion and (tc.views != "none" or tc.invariance_weight):
        raise ValueError(f"views and invariance are options of drl / vdrl, not of {tc.method}")
    check_options(tc.views, tc.invariance_weight, row.probabilistic)


def methods_help() -> str:
    """The CLI's --method help, from the table."""
    diffusion = "; ".join(f"{m.name}: {m.help}" for m in METHODS.values() if m.diffusion)
    baselines = ", ".join(f"{m.name} ({m.help})" for m in METHODS.values() if not m.diffusion)
    return f"{diffusion}. Baselines with the same encoder: {baselines}."
