"""SDE marginals, their inverses and the training-t samplers."""

import math

import pytest
import torch

from drlkit.diffusion import VESDE, VPSDE, parse_t_sampler, sample_t


def test_ve_sigma_endpoints_and_inverse():
    sde = VESDE(0.01, 50.0)
    t = torch.tensor([0.0, 0.5, 1.0])
    mean, std = sde.marginal(t)
    assert torch.allclose(mean, torch.ones(3))
    assert torch.allclose(std, torch.tensor([0.01, math.sqrt(0.01 * 50), 50.0]), rtol=1e-5)
    assert torch.allclose(sde.t_of_std(std), t, atol=1e-6)


def test_vp_is_variance_preserving_and_invertible():
    sde = VPSDE(0.1, 20.0)
    t = torch.linspace(0.01, 1.0, 20, dtype=torch.float64)
    mean, std = sde.marginal(t)
    assert torch.allclose(mean**2 + std**2, torch.ones_like(t))
    assert torch.allclose(sde.t_of_std(std), t, atol=1e-6)


@pytest.mark.parametrize("sde", [VESDE(), VPSDE()], ids=["ve", "vp"])
def test_uniform_sigma_is_uniform_in_sigma(sde):
    t = sample_t("uniform-sigma", sde, 20000, torch.Generator().manual_seed(0))
    _, std = sde.marginal(t.double())
    lo, hi = sde.marginal(torch.tensor(sde.t_min, dtype=torch.float64))[1], sde.marginal(
        torch.tensor(1.0, dtype=torch.float64))[1]
    u = (std - lo) / (hi - lo)
    hist = torch.histc(u.float(), bins=4, min=0, max=1) / len(u)
    assert torch.allclose(hist, torch.full((4,), 0.25), atol=0.02)


def test_uniform_t_and_range():
    g = torch.Generator().manual_seed(0)
    t = sample_t("uniform-t", VESDE(), 10000, g)
    assert 0 <= t.min() and t.max() <= 1 and abs(float(t.mean()) - 0.5) < 0.02
    r = sample_t("range:0.2,0.4", VESDE(), 10000, g)
    assert 0.2 <= r.min() and r.max() <= 0.4


@pytest.mark.parametrize("bad", ["uniform", "range:0.5", "range:0.6,0.2", "range:a,b", "range:0,2"])
def test_bad_sampler_specs_are_rejected(bad):
    with pytest.raises(ValueError, match="sampler|range"):
        parse_t_sampler(bad)
