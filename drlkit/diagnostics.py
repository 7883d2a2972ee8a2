"""Training diagnostics (DESIGN §8): is z used, and is it becoming a better representation?

z-usage: the DSM loss with each image's own code vs with the codes shuffled across the batch, per t.
A gap near 0 means the score net ignores z. Quick probe: a small logistic-regression probe on a
fixed subset of training images (fit on one part, scored on another), run at step 0 too, where it
measures the randomly initialised encoder.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from drlkit.loss import dsm_per_sample
from drlkit.metrics import fit_quietly, standardised_logistic

if TYPE_CHECKING:
    from drlkit.model import DRLModel

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
        from drlkit.preprocess import to_tensor

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
def z_usage(model: DRLModel, x0: torch.Tensor, seed: int = 0, ts=Z_USAGE_T) -> dict[float, float]:
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
def _features(model: DRLModel, x: torch.Tensor, t_value: float, batch: int = 500) -> np.ndarray:
    model.eval()
    feats = []
    for s in range(0, x.shape[0], batch):
        xb = x[s : s + batch].to(model.device)
        t = torch.full((xb.shape[0],), t_value, device=xb.device)
        feats.append(model.embed(xb, t if model.config.t_conditioned else None).float().cpu())
    return torch.cat(feats).numpy()


def quick_probe(model: DRLModel, ps: ProbeSet, ts=PROBE_T) -> dict[float, float]:
    """{t: accuracy of standardise + LogisticRegression} on the probe subset (static: one entry)."""
    ts = ts if model.config.t_conditioned else (0.5,)
    out = {}
    for t_value in ts:
        clf = fit_quietly(standardised_logistic(1.0, max_iter=300),
                          _features(model, ps.x_fit, t_value), ps.y_fit)
        out[t_value] = float(clf.score(_features(model, ps.x_val, t_value), ps.y_val))
    return out


@torch.inference_mode()
def information_curve(model: DRLModel, images, ts, seed: int = 0, batch_size: int = 250,
                      progress: bool = False) -> dict:
    """The information argument (paper Prop. 1) measured: the denoising error as a function of t
    with each image's own code, with another image's code (shuffled) and with a zero code.

    Where knowing z lowers the error most is where the code carries information the noisy image
    has lost. The noise is shared across the three conditions (paired comparison).

    Args:
        images: anything `DRLModel.encode` takes (N >= 2).
        ts: the times to measure.

    Returns:
        {"t": ts, "own" / "shuffled" / "zero": per-pixel MSE of the x0 estimate at each t,
         "gap_shuffled" / "gap_zero": error ratio - 1 at each t, "largest_gap_t": the t with the
         largest shuffled gap}.
    """
    from drlkit.preprocess import to_model_input, to_value_range
    from drlkit.progress import tqdm

    if model.config.objective != "drl":
        raise ValueError(f"the information curve needs a DRL score net, not {model.config.objective}")
    x = to_value_range(to_model_input(images, model.config.channels, model.config.image_size),
                       model.value_range)
    if len(x) < 2:
        raise ValueError("need at least 2 images (the shuffled code is another image's)")
    model.eval()
    gen = torch.Generator().manual_seed(seed)
    out = {k: [] for k in ("own", "shuffled", "zero")}
    for t_value in tqdm([float(t) for t in ts], desc="information", disable=not progress):
        sums = dict.fromkeys(out, 0.0)
        t_all = torch.full((len(x),), t_value)
        z_all = torch.cat([model.embed(x[s : s + batch_size].to(model.device),
                                       t_all[s : s + batch_size].to(model.device)
                                       if model.config.t_conditioned else None).float().cpu()
                           for s in range(0, len(x), batch_size)])
        shuffled_all = z_all.roll(1, dims=0)  # every image gets the next image's code
        for s in range(0, len(x), batch_size):
            x0 = x[s : s + batch_size].to(model.device)
            t = t_all[s : s + batch_size].to(model.device)
            xt = model.precond.perturb(x0, t, torch.randn(x0.shape, generator=gen).to(x0.device))
            z = z_all[s : s + batch_size].to(model.device)
            for name, code in (("own", z), ("shuffled", shuffled_all[s : s + batch_size].to(z.device)),
                               ("zero", torch.zeros_like(z))):
                d = model.precond.denoise(xt, t, code)
                sums[name] += float((d - x0).pow(2).mean(dim=(1, 2, 3)).sum())
        for name in out:
            out[name].append(sums[name] / len(x))
    gaps = {f"gap_{k}": [o / w - 1 for o, w in zip(out[k], out["own"], strict=True)]
            for k in ("shuffled", "zero")}
    ts = [float(t) for t in ts]
    best = ts[int(np.argmax(gaps["gap_shuffled"]))]
    return {"t": ts, **out, **gaps, "largest_gap_t": best}
