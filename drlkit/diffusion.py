"""The noise math of DRL (paper §2-3): VE / VP SDE marginals, training-t samplers, and the
`Preconditioner` that owns the score-net backbone and turns it into a denoiser D(x_t, t, z), a
score s(x_t, t, z) and the weighted DSM loss.

The backbone never sees sigma directly; this module applies the scalings, as in EDM
(Karras et al. 2022, Table 1) and in the paper's score_sde parameterisation.

Names: the marginal p(x_t | x_0) = N(mean(t) x_0, std(t)^2 I); "sigma" always means the noise level
std / mean (`noise_level`), the std of x_t / mean, which equals std under the VE SDE and differs
from it under the VP SDE. Both networks take ln(sigma) / 4 as their noise input (`c_noise`).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from drlkit.config import ModelConfig

VP_T_MIN = 1e-3  # VP marginals degenerate at t = 0 (score_sde uses a small epsilon too)


class VESDE:
    """Variance exploding: x_t = x_0 + sigma(t) n, sigma(t) = sigma_min (sigma_max/sigma_min)^t."""

    t_min = 0.0

    def __init__(self, sigma_min: float = 0.01, sigma_max: float = 50.0) -> None:
        self.sigma_min, self.sigma_max = sigma_min, sigma_max

    def marginal(self, t: Tensor) -> tuple[Tensor, Tensor]:
        """(mean scale, std) of p(x_t | x_0) at time t."""
        std = self.sigma_min * (self.sigma_max / self.sigma_min) ** t
        return torch.ones_like(t), std

    def t_of_std(self, std: Tensor) -> Tensor:
        return torch.log(std / self.sigma_min) / math.log(self.sigma_max / self.sigma_min)

    def coefficients(self, x: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
        """Forward SDE dx = f dt + g dw: (f(x, t), g(t)) with g^2 = d sigma^2 / dt."""
        _, std = self.marginal(t)
        g = std * math.sqrt(2 * math.log(self.sigma_max / self.sigma_min))
        return torch.zeros_like(x), g

    def prior_std(self) -> float:
        """Std of the reverse process's starting distribution N(0, std^2 I) at t = 1."""
        return self.sigma_max


class VPSDE:
    """Variance preserving (paper ablation): beta(t) linear from beta_min to beta_max."""

    t_min = VP_T_MIN

    def __init__(self, beta_min: float = 0.1, beta_max: float = 20.0) -> None:
        self.beta_min, self.beta_max = beta_min, beta_max

    def _int_beta(self, t: Tensor) -> Tensor:
        return self.beta_min * t + 0.5 * (self.beta_max - self.beta_min) * t**2

    def marginal(self, t: Tensor) -> tuple[Tensor, Tensor]:
        log_mean = -0.5 * self._int_beta(t)
        return torch.exp(log_mean), torch.sqrt(-torch.expm1(2 * log_mean))

    def coefficients(self, x: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
        """Forward SDE dx = -beta(t) x / 2 dt + sqrt(beta(t)) dw: (f(x, t), g(t))."""
        beta = self.beta_min + t * (self.beta_max - self.beta_min)
        return -0.5 * beta.view(-1, *[1] * (x.ndim - 1)) * x, torch.sqrt(beta)

    def prior_std(self) -> float:
        return 1.0

    def t_of_std(self, std: Tensor) -> Tensor:
        ib = -torch.log1p(-(std**2))  # solve beta_min t + (beta_max - beta_min) t^2 / 2 = ib
        a, b = 0.5 * (self.beta_max - self.beta_min), self.beta_min
        return (-b + torch.sqrt(b * b + 4 * a * ib)) / (2 * a)


def make_sde(config: ModelConfig) -> VESDE | VPSDE:
    if config.sde == "ve":
        return VESDE(config.sigma_min, config.sigma_max)
    return VPSDE(config.beta_min, config.beta_max)


def noise_level(sde: VESDE | VPSDE, t: Tensor) -> Tensor:
    """The VE-equivalent noise scale sigma = std / mean; both SDEs are conditioned on log sigma."""
    mean, std = sde.marginal(t)
    return std / mean


T_SAMPLERS_HELP = "uniform-t, uniform-sigma, range:a,b or lognormal:P_mean,P_std"


def _two_numbers(spec: str, prefix: str, form: str) -> tuple[float, float]:
    try:
        a, b = (float(v) for v in spec[len(prefix):].split(","))
    except ValueError:
        raise ValueError(f"t sampler {spec!r}: expected {form} with two numbers") from None
    if not (math.isfinite(a) and math.isfinite(b)):
        raise ValueError(f"t sampler {spec!r}: the numbers must be finite")
    return a, b


def parse_t_sampler(spec: str) -> tuple[str, float, float]:
    """`uniform-t`, `uniform-sigma`, `range:a,b` or `lognormal:P_mean,P_std` -> (kind, a, b);
    raises ValueError otherwise."""
    if spec in ("uniform-t", "uniform-sigma"):
        return spec, 0.0, 1.0
    if spec.startswith("range:"):
        a, b = _two_numbers(spec, "range:", "range:a,b")
        if not 0.0 <= a < b <= 1.0:
            raise ValueError(f"t sampler {spec!r}: need 0 <= a < b <= 1")
        return "range", a, b
    if spec.startswith("lognormal:"):
        p_mean, p_std = _two_numbers(spec, "lognormal:", "lognormal:P_mean,P_std")
        if p_std <= 0:
            raise ValueError(f"t sampler {spec!r}: P_std must be > 0")
        return "lognormal", p_mean, p_std
    raise ValueError(f"unknown t sampler {spec!r}; use {T_SAMPLERS_HELP}")


def t_of_sigma(sde: VESDE | VPSDE, sigma: Tensor) -> Tensor:
    """The time at which the noise scale std/mean equals `sigma` (the inverse of `noise_level`)."""
    if isinstance(sde, VPSDE):  # sigma^2 = std^2 / (1 - std^2) under the VP SDE
        return sde.t_of_std(sigma / torch.sqrt(1 + sigma**2))
    return sde.t_of_std(sigma)


def sample_t(
    spec: str, sde: VESDE | VPSDE, n: int, generator: torch.Generator | None = None
) -> Tensor:
    """Draw n training times according to the level-of-detail sampler `spec` (paper §4).

    `uniform-sigma` is uniform in the marginal std(t) on [std(t_min), std(1)]: in sigma itself
    under the VE SDE (std = sigma there), in std under the VP SDE (where sigma = std / mean is
    unbounded); `lognormal` draws ln(sigma) under either.
    """
    kind, a, b = parse_t_sampler(spec)
    t_min = sde.t_min
    if kind == "lognormal":
        # ln(sigma) ~ N(P_mean, P_std^2) (Karras et al. 2022, sec. 5: -1.2, 1.2); the draws outside
        # the SDE's noise range (0.2% below sigma_min = 0.01 for EDM's values) land on its ends
        log_sigma = a + b * torch.randn(n, generator=generator)
        return t_of_sigma(sde, torch.exp(log_sigma)).nan_to_num(1.0).clamp(t_min, 1.0)
    u = torch.rand(n, generator=generator)
    if kind == "uniform-sigma":
        # std ~ U(std(t_min), std(1)): most mass at high noise, z keeps coarse/class content
        _, lo = sde.marginal(torch.tensor(t_min))
        _, hi = sde.marginal(torch.tensor(1.0))
        return sde.t_of_std(lo + u * (hi - lo)).clamp(t_min, 1.0)
    return (max(a, t_min) + u * (b - max(a, t_min))).clamp(t_min, 1.0)


class Preconditioner:
    """The noise math around one score-net backbone F(x, c_noise, z), after NVlabs/edm's
    `EDMPrecond`: perturb x_0 to x_t, denoise, score, the loss weight and the per-sample DSM loss.

    `edm`: D(x~; sigma) = c_skip x~ + c_out F(c_in x~, ln(sigma)/4, z) on x~ = x_t / mean.
    `paper`: s(x_t, t, z) = F(x_t, ln(sigma)/4, z) / std(t) (score_sde's "score scaled by 1/sigma").

    Args:
        config: the model's config (SDE, parameterisation, sigma_data).
        backbone: the score net (`DRLModel.score_net`; None for the baselines, which have none:
            then only the SDE methods work). It is held, not owned as a submodule, so the model's
            state dict keeps its `score_net.*` keys.
    """

    def __init__(self, config: ModelConfig, backbone: torch.nn.Module | None = None) -> None:
        self.kind = config.parameterization
        self.sigma_data = config.sigma_data
        self.sde = make_sde(config)
        self.backbone = backbone

    def marginal(self, t: Tensor) -> tuple[Tensor, Tensor]:
        """(mean, std) of p(x_t | x_0) at the (B,) times t, shaped (B, 1, 1, 1)."""
        mean, std = self.sde.marginal(t)
        return mean.view(-1, 1, 1, 1), std.view(-1, 1, 1, 1)

    def perturb(self, x0: Tensor, t: Tensor, n: Tensor) -> Tensor:
        """x_t = mean(t) x_0 + std(t) n for unit Gaussian noise n."""
        mean, std = self.marginal(t)
        return mean * x0 + std * n

    def c_noise(self, t: Tensor) -> Tensor:
        """The noise input of the score net and of t-conditioned encoders: ln(sigma(t)) / 4, (B,)."""
        return torch.log(noise_level(self.sde, t)) / 4

    def backbone_input(self, xt: Tensor, t: Tensor) -> Tensor:
        """What the backbone sees of x_t: c_in x_t / mean under `edm`, x_t itself under `paper`."""
        if self.kind == "edm":
            mean, std = self.marginal(t)
            sigma = std / mean
            c_in = 1 / torch.sqrt(sigma**2 + self.sigma_data**2)
            return c_in * xt / mean
        return xt

    def backbone_output(self, xt: Tensor, t: Tensor, z: Tensor | None):
        """Returns (F output, mean, std, sigma) with per-sample factors shaped (B, 1, 1, 1)."""
        mean, std = self.marginal(t)
        return (self.backbone(self.backbone_input(xt, t), self.c_noise(t), z), mean, std,
                std / mean)

    def denoise(self, xt: Tensor, t: Tensor, z: Tensor | None) -> Tensor:
        """Estimate of x_0 given x_t (Tweedie), in data space."""
        f, mean, std, sigma = self.backbone_output(xt, t, z)
        if self.kind == "edm":
            sd2 = self.sigma_data**2
            c_skip = sd2 / (sigma**2 + sd2)
            c_out = sigma * self.sigma_data / torch.sqrt(sigma**2 + sd2)
            return c_skip * xt / mean + c_out * f.float()
        return (xt + std * f.float()) / mean  # x0 = (x_t + std^2 s) / mean, s = F / std

    def score(self, xt: Tensor, t: Tensor, z: Tensor | None) -> Tensor:
        """grad_x log p_t(x_t | z)."""
        if self.kind == "paper":
            f, _, std, _ = self.backbone_output(xt, t, z)
            return f.float() / std
        mean, std = self.marginal(t)
        return (mean * self.denoise(xt, t, z) - xt) / std**2

    def loss_weight(self, t: Tensor) -> Tensor:
        """EDM's lambda(sigma) = (sigma^2 + sigma_data^2) / (sigma sigma_data)^2 (Table 1), which
        gives the denoiser a unit-variance target at every noise level; (B, 1, 1, 1)."""
        mean, std = self.marginal(t)
        sigma = std / mean
        return (sigma**2 + self.sigma_data**2) / (sigma * self.sigma_data) ** 2

    def dsm_loss(self, x0: Tensor, t: Tensor, n: Tensor, z: Tensor | None) -> Tensor:
        """The weighted denoising score-matching loss of each sample, (B,); z=None withholds the
        code. `paper`: lambda = std^2, i.e. 0.5 * sum_pixels (std * s + n)^2; `edm`: the same loss
        written on the denoiser with `loss_weight`."""
        xt = self.perturb(x0, t, n)
        if self.kind == "paper":
            f, *_ = self.backbone_output(xt, t, z)
            return 0.5 * (f.float() + n).pow(2).flatten(1).sum(1)  # (std * F/std + n)^2
        d = self.denoise(xt, t, z)
        return 0.5 * (self.loss_weight(t) * (d - x0).pow(2)).flatten(1).sum(1)
