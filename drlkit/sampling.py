"""Sampling images conditioned on a code z: the reverse-time SDE (Euler-Maruyama, or predictor-
corrector with Langevin steps) and the probability-flow ODE (Heun), for the VE and VP SDEs
(Song et al. 2021, section 4 and appendix G; the DRL paper's reconstructions, section 5).

Time runs from t = 1 (x ~ N(0, prior_std^2 I)) to `t_end` on a uniform t grid (geometric in sigma
for the VE SDE); the last step returns the denoiser's estimate of x_0 at `t_end` (Tweedie's
formula), which removes the remaining noise. Noise comes from one seeded CPU generator, so a seed
gives the same images on every device and every run.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor

if TYPE_CHECKING:
    from drlkit.model import DRLModel

SAMPLERS = ("pc", "em", "ode")


def _check_drl(model: DRLModel) -> None:
    if model.config.objective != "drl":
        raise ValueError(f"sampling needs a DRL score net; this is a {model.config.objective} model")


def _codes(model: DRLModel, z: Any, n: int | None) -> Tensor | None:
    if callable(z):  # a code curve t -> (B, D): checked at t = 1
        return _codes(model, z(1.0), n)
    if z is None:
        if n is None:
            raise ValueError("unconditional sampling (z=None) needs n, the number of images")
        return None
    z = torch.as_tensor(np.asarray(z, dtype=np.float32))
    if z.ndim != 2 or z.shape[1] != model.config.latent_dim:
        raise ValueError(f"z: expected codes (B, {model.config.latent_dim}), got {tuple(z.shape)}")
    if not torch.isfinite(z).all():
        raise ValueError("z: codes must be finite")
    return z.to(model.device)


@torch.inference_mode()
def sample(model: DRLModel, z: Any, steps: int = 200, sampler: str = "pc", seed: int = 0,
           n: int | None = None, t_end: float = 1e-3, snr: float = 0.16, same_noise: bool = False,
           progress: bool = False, x_start: Any = None, t_start: float = 1.0) -> np.ndarray:
    """Draw one image per code from p(x_0 | z).

    Args:
        model: a DRL model (its score net is used; the encoder is not).
        z: codes (B, D) (e.g. `model.encode(images, t)`); or a code curve, a function t -> codes
            (B, D) read at every step (the t-conditioned code E(x0, t) of paper eq. 8, as in
            training); or None for the score net without a code (then `n` images).
        steps: time steps from t = 1 to t_end (each costs 1 score evaluation; 2 for "pc" and "ode").
        sampler: "pc" (Euler-Maruyama predictor + one Langevin corrector step with signal-to-noise
            `snr`), "em" (Euler-Maruyama), or "ode" (probability flow, Heun; deterministic given
            the starting noise).
        seed: seeds the starting noise and every noise draw.
        same_noise: every image gets the same noise (then only the codes differ between them).
        x_start: start from this image (one, or one per code; anything `encode` takes) noised to
            t_start, instead of from pure noise at t = 1 (SDEdit, Meng et al. 2022): for score
            nets trained only up to t_start (a `range` sampler), or to vary only the details of a
            given image.
        t_start: the time x_start is noised to (< 1; used with x_start).

    Returns:
        float32 images (B, C, H, W) in [0, 1].

    Raises:
        ValueError: not a DRL model, bad sampler / steps / t_end, or codes of the wrong shape.
    """
    _check_drl(model)
    if sampler not in SAMPLERS:
        raise ValueError(f"sampler must be one of {SAMPLERS}, got {sampler!r}")
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    sde = model.precond.sde
    if not sde.t_min <= t_end < t_start <= 1:
        raise ValueError(f"need {sde.t_min} <= t_end < t_start <= 1, got t_end={t_end}, "
                         f"t_start={t_start}")
    if (x_start is None) != (t_start == 1.0):
        raise ValueError("x_start and t_start < 1 go together: start from an image noised to "
                         "t_start, or from pure noise at t = 1")
    codes = _codes(model, z, n)
    curve = z if callable(z) else None  # the t-conditioned code, read at every step's t
    b = n if codes is None else codes.shape[0]
    c, s = model.config.channels, model.config.image_size
    dev = model.device
    gen = torch.Generator().manual_seed(seed)

    def noise() -> Tensor:
        eps = torch.randn((1 if same_noise else b, c, s, s), generator=gen)
        return eps.expand(b, -1, -1, -1).to(dev)

    def code(t: float) -> Tensor | None:
        return codes if curve is None else _codes(model, curve(t), n)

    def score(x: Tensor, t: float) -> Tensor:
        return model.precond.score(x, torch.full((b,), t, device=dev), code(t))

    def drift(x: Tensor, t: float, ode: bool) -> Tensor:  # dx/dt of the reverse process
        f, g = sde.coefficients(x, torch.full((b,), t, device=dev))
        g2 = (g**2).view(-1, 1, 1, 1)
        return f - (0.5 if ode else 1.0) * g2 * score(x, t)

    was_training = model.training
    model.eval()
    ts = np.linspace(t_start, t_end, steps + 1)
    if x_start is None:
        x = noise() * sde.prior_std()
    else:
        from drlkit.preprocess import to_model_input, to_value_range

        x0 = to_value_range(to_model_input(x_start, c, s).to(dev), model.value_range)
        if len(x0) not in (1, b):
            raise ValueError(f"x_start: expected 1 or {b} images, got {len(x0)}")
        x = model.precond.perturb(x0.expand(b, -1, -1, -1), torch.full((b,), t_start, device=dev),
                                  noise())
    from drlkit.progress import tqdm

    try:
        for i in tqdm(range(steps), desc=f"sample ({sampler})", unit="step", disable=not progress):
            t, t_next = float(ts[i]), float(ts[i + 1])
            dt = t - t_next
            if sampler == "pc":  # Langevin corrector (Song et al. 2021, Algorithm 4)
                grad, eps = score(x, t), noise()
                ratio = eps.flatten(1).norm(dim=1).mean() / grad.flatten(1).norm(dim=1).mean()
                step = 2 * (snr * ratio) ** 2
                x = x + step * grad + torch.sqrt(2 * step) * eps
            if sampler == "ode":  # Heun's method on the probability-flow ODE
                d1 = drift(x, t, ode=True)
                x_euler = x - d1 * dt
                x = x - 0.5 * (d1 + drift(x_euler, t_next, ode=True)) * dt
            else:  # Euler-Maruyama step of the reverse SDE
                _, g = sde.coefficients(x, torch.full((b,), t, device=dev))
                x = x - drift(x, t, ode=False) * dt + g.view(-1, 1, 1, 1) * np.sqrt(dt) * noise()
        x0 = model.precond.denoise(x, torch.full((b,), t_end, device=dev), code(t_end))
    finally:
        model.train(was_training)
    from drlkit.preprocess import from_value_range

    return from_value_range(x0.float(), model.value_range).clamp(0, 1).cpu().numpy()


def reconstruct(model: DRLModel, images: Any, t: float | Sequence[float] | None = None, n_samples: int = 4,
                **sample_kwargs: Any) -> np.ndarray:
    """Samples from p(x_0 | z = E(x0[, t])) for each image: what the code fixes, and what it
    leaves free.

    Args:
        images: anything `DRLModel.encode` takes.
        t: encoder time(s) for t-conditioned models (default: the recommended t), each a float or
            "curve" (the code E(x0, t) at every sampling step t); static encoders: ignored.
        n_samples: samples per image and t.
        **sample_kwargs: steps, sampler, seed, ... (see `sample`).

    Returns:
        float32 (N, T, n_samples, C, H, W) in [0, 1] (T = 1 for a single t or a static encoder).
    """
    _check_drl(model)
    ts = [model.recommended_t] if t is None else ([t] if isinstance(t, (str, float, int)) else list(t))
    if not model.config.t_conditioned and "curve" not in ts:
        ts = ts[:1]  # a static code does not depend on t: one group of samples
    parts = []
    for tj in ts:
        if tj == "curve":  # E(x0, t) at every sampling step t
            if not model.config.t_conditioned:
                raise ValueError("t='curve' needs a t-conditioned encoder")
            from drlkit.preprocess import to_model_input, to_value_range

            x = to_value_range(to_model_input(images, model.config.channels,
                                              model.config.image_size), model.value_range)
            x = x.repeat_interleave(n_samples, dim=0).to(model.device)

            def curve(t_value: float, x=x) -> np.ndarray:
                with torch.inference_mode():
                    tb = torch.full((len(x),), float(t_value), device=x.device)
                    return model.embed(x, tb).float().cpu().numpy()

            parts.append(sample(model, curve, **sample_kwargs))
        else:
            z = model.encode(images, t=float(tj))
            parts.append(sample(model, np.repeat(z, n_samples, axis=0), **sample_kwargs))
    n = len(parts[0]) // n_samples
    out = np.stack([p.reshape(n, n_samples, *p.shape[1:]) for p in parts], axis=1)
    return out


def latent_grid(model: DRLModel, n: int = 10, lo: float = -2.0, hi: float = 2.0, steps: int = 100,
                seed: int = 0, **sample_kwargs: Any) -> tuple[np.ndarray, np.ndarray]:
    """Decode an n x n grid of 2-D codes with the probability-flow ODE from one shared starting
    noise, so that the code alone varies across the grid (the paper's Figures 2-3).

    Returns:
        (images (n, n, C, H, W) in [0, 1], row i / column j at z = (values[j], values[n-1-i])),
        and the grid values (n,).
    """
    _check_drl(model)
    if model.config.latent_dim != 2:
        raise ValueError(f"latent grids need a 2-D code; this model's code has "
                         f"{model.config.latent_dim} dimensions")
    values = np.linspace(lo, hi, n, dtype=np.float32)
    zx, zy = np.meshgrid(values, values[::-1])  # row 0 at the top: the largest z_2
    z = np.stack([zx.ravel(), zy.ravel()], axis=1)
    images = sample(model, z, steps=steps, sampler="ode", seed=seed, same_noise=True,
                    **sample_kwargs)
    return images.reshape(n, n, *images.shape[1:]), values
