"""What a checkpoint holds beside the encoder (`ModelConfig.objective`), as one literal table:
DRL's conditional score net, or a baseline's decoder or projection head. `drlkit.methods` says
how each is trained; `DRLModel` builds the head its row names. Plain data: this module imports
nothing of drlkit, so the config can read it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Objective:
    name: str
    head: str  # the DRLModel attribute of the network that trains the encoder
    probabilistic: tuple[bool, ...]  # the values ModelConfig.probabilistic may take
    diffusion: bool  # a score net: t-conditioned encoders, views, t samplers, z conditioning
    size_multiple: int = 1  # image_size must be a multiple of this (the decoder upsamples twice)


OBJECTIVES: dict[str, Objective] = {o.name: o for o in (
    Objective("drl", "score_net", (False, True), diffusion=True),
    Objective("ae", "decoder", (False,), diffusion=False, size_multiple=4),
    Objective("vae", "decoder", (True,), diffusion=False, size_multiple=4),
    Objective("simclr", "projector", (False,), diffusion=False),
)}


def objective(name: str) -> Objective:
    """The row of `name`, or ValueError naming the choices."""
    if name not in OBJECTIVES:
        raise ValueError(f"objective must be one of {tuple(OBJECTIVES)}, got {name!r}")
    return OBJECTIVES[name]
