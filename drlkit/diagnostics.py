"""Training diagnostics (DESIGN §8): is z used, and is it becoming a better representation?

z-usage: the DSM loss with each image's own code vs with the codes shuffled across the batch, per t.
A gap near 0 means the score net ignores z. Quick probe: a small logistic-regression probe on a
fixed subset of training images (fit on one part, scored on another), run at step 0 too, where it
measures the randomly initialised encoder.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from drlkit.loss import dsm_per_sample
from drlkit.metrics import fit_quietly, standardised_logistic

Z_USAGE_T = (0.1, 0.3, 0.5, 0.7, 0.9)
PROBE_T = (0.3, 0.7)


@dataclass
class ProbeSet:
    x_fixed: torch.Tensor  # (256, C, H, W) in [-1, 1], for z-usage
    x_fit: torch.Tensor | None = None
    y_fit: np.ndarray | None = None
    x_val: torch.Tensor | None = None
    y_val: np.ndarray | None = None

    @property
    def has_labels(self) -> bool:
        return self.y_fit is not None and len(np.unique(self.y_fit)) > 1

    @classmethod
    def from_dataset(cls, dataset, seed: int = 0, n_fit: int = 3000, n_val: int = 1000) -> ProbeSet:
        from drlkit.train import to_tensor

        rng = np.random.default_rng(seed + 12345)
        idx = rng.permutation(len(dataset))
        x_fixed = to_tensor(dataset.images[idx[:256]])
        if dataset.labels is None or len(dataset) < 20:
            return cls(x_fixed)
        n_fit = min(n_fit, len(idx) // 2)
        n_val = min(n_val, len(idx) - n_fit)
        fit, val = idx[:n_fit], idx[n_fit : n_fit + n_val]
        return cls(x_fixed, to_tensor(dataset.images[fit]), dataset.labels[fit],
                   to_tensor(dataset.images[val]), dataset.labels[val])


@torch.inference_mode()
def z_usage(model, x0: torch.Tensor, seed: int = 0, ts=Z_USAGE_T) -> dict[float, float]:
    """{t: shuffled-z loss / own-z loss - 1} on a fixed batch with fixed noise."""
    model.eval()
    gen = torch.Generator().manual_seed(seed + 777)
    x0 = x0.to(model.device)
    out = {}
    for t_value in ts:
        t = torch.full((x0.shape[0],), t_value, device=x0.device)
        n = torch.randn(x0.shape, generator=gen).to(x0.device)
        z = model.embed(x0, t if model.config.t_conditioned else None).float()
        own = dsm_per_sample(model, x0, t, n, z).mean()
        shuffled = dsm_per_sample(model, x0, t, n, z.roll(1, dims=0)).mean()
        out[t_value] = float(shuffled / own - 1)
    return out


@torch.inference_mode()
def _features(model, x: torch.Tensor, t_value: float, batch: int = 500) -> np.ndarray:
    model.eval()
    feats = []
    for s in range(0, x.shape[0], batch):
        xb = x[s : s + batch].to(model.device)
        t = torch.full((xb.shape[0],), t_value, device=xb.device)
        feats.append(model.embed(xb, t if model.config.t_conditioned else None).float().cpu())
    return torch.cat(feats).numpy()


def quick_probe(model, ps: ProbeSet, ts=PROBE_T) -> dict[float, float]:
    """{t: accuracy of standardise + LogisticRegression} on the probe subset (static: one entry)."""
    ts = ts if model.config.t_conditioned else (0.5,)
    out = {}
    for t_value in ts:
        clf = fit_quietly(standardised_logistic(1.0, max_iter=300),
                          _features(model, ps.x_fit, t_value), ps.y_fit)
        out[t_value] = float(clf.score(_features(model, ps.x_val, t_value), ps.y_val))
    return out
