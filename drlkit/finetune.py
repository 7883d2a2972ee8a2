"""Fine-tuning a DRL model with a classification head: the network, the augmentation and the epoch
loop behind `DRLClassifier` (drlkit.classifier).

Two methods. "supervised": batches of labelled images only. "laplacenet" (Sellars et al. 2021,
after Iscen et al. 2019): before each epoch, the current network's features of all images are
propagated over their kNN graph (drlkit.graph.propagate) into pseudo-labels with certainty and
class-balancing weights; each batch then holds a quarter labelled images (drawn with replacement)
and three quarters of all images with their pseudo-labels, under one weighted cross-entropy. Both
run the same number of steps per epoch (one pass over all images in the pseudo-labelled share), so
an epoch costs the same either way. LaplaceNet's supervised initialisation: with
supervised_epochs > 0, laplacenet's first epochs train as "supervised" does (the network learns
from the labels alone before its features are trusted to propagate them); they count in `epochs`.
Augmentation: random translation by an eighth of the image (reflect padding), and horizontal
flips for colour images; mixup (Zhang et al. 2018) optional.

Every epoch draws its randomness from a generator seeded by (random_state, epoch), so a run
resumed from the state written after epoch e continues as if it had never stopped.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from safetensors import safe_open
from safetensors.torch import load_file
from torch import Tensor, nn

from drlkit.checkpoint import atomic_save
from drlkit.graph import PseudoLabels, propagate
from drlkit.model import DRLModel
from drlkit.preprocess import to_value_range
from drlkit.progress import tqdm
from drlkit.reads import check_model_features, denoiser_features, denoiser_read

BACKBONES = ("encoder", "denoiser")
METHODS = ("supervised", "laplacenet")
STATE_FORMAT = "drlkit-finetune-state"
LABELLED_SHARE = 4  # laplacenet: batch_size // 4 labelled images per batch, the rest pseudo-labelled


class FinetuneNet(nn.Module):
    """A DRL model's backbone + BatchNorm + linear head: logits (B, C) of images (B, C, H, W) in [0, 1].

    backbone "encoder": the encoder's pooled features (before its last layer) at noise level t
    (static encoders ignore t); "denoiser": the score net's pooled block activations at t, as the
    denoiser read takes them (drlkit.reads), on the image as it is.
    """

    def __init__(self, model: DRLModel, backbone: str, t: float, n_classes: int) -> None:
        super().__init__()
        if backbone not in BACKBONES:
            raise ValueError(f"backbone must be one of {BACKBONES}, got {backbone!r}")
        if backbone == "denoiser":
            check_model_features(model, "denoiser")
        self.model, self.backbone, self.t = model, backbone, float(t)
        self.read = denoiser_read(model, t=t) if backbone == "denoiser" else None
        dim = self.read.dim(model) if self.read else 4 * model.config.encoder_width
        self.norm = nn.BatchNorm1d(dim)  # the read's blocks differ in scale, as a probe standardises
        self.head = nn.Linear(dim, n_classes)

    def trunk_parameters(self) -> list[nn.Parameter]:
        """The parameters the backbone uses (the rest of the DRL model stays as it was)."""
        if self.read is None:
            return list(self.model.encoder.parameters())
        params = list(self.model.score_net.parameters())
        return params + (list(self.model.encoder.parameters()) if self.read.give_z else [])

    def features(self, x01: Tensor) -> Tensor:
        """The backbone's features (B, D) of images in [0, 1]."""
        x = to_value_range(x01, self.model.value_range)
        t = torch.full((len(x),), self.t, device=x.device)
        if self.read is not None:
            return denoiser_features(self.model, x, t, self.read)
        c_noise = self.model.c_noise(t) if self.model.config.t_conditioned else None
        return self.model.encoder(x, c_noise, pooled=True)

    def forward(self, x01: Tensor) -> Tensor:
        return self.head(self.norm(self.features(x01).float()))


def shift_flip(x: Tensor, gen: torch.Generator, flip: bool) -> Tensor:
    """Each image translated by up to an eighth of its size (reflect padding), and flipped
    horizontally with probability 1/2 when `flip`; draws from `gen` (on the CPU)."""
    b, _, h, w = x.shape
    pad = max(1, h // 8)
    padded = F.pad(x, (pad, pad, pad, pad), mode="reflect")
    dx = torch.randint(0, 2 * pad + 1, (b,), generator=gen).tolist()
    dy = torch.randint(0, 2 * pad + 1, (b,), generator=gen).tolist()
    out = torch.stack([padded[i, :, dy[i]:dy[i] + h, dx[i]:dx[i] + w] for i in range(b)])
    if flip:
        mirror = (torch.rand(b, generator=gen) < 0.5).to(x.device)[:, None, None, None]
        out = torch.where(mirror, out.flip(-1), out)
    return out


@dataclass(frozen=True)
class FitOptions:
    """The options of one fine-tuning run (recorded in its state and card)."""

    method: str
    epochs: int
    batch_size: int
    lr: float
    weight_decay: float
    mixup: float
    k: int
    seed: int
    supervised_epochs: int = 0


class Finetuner:
    """Runs the epochs of one fit: `images` (N, C, H, W) float in [0, 1] on the CPU, `codes` (N,)
    class codes with -1 for unlabelled images, and optionally `known` (N,) true codes (-1 where
    unknown) for the pseudo-label accuracy shown while training."""

    def __init__(self, net: FinetuneNet, images: Tensor, codes: np.ndarray, n_classes: int,
                 opts: FitOptions, device: torch.device, amp: torch.dtype | None,
                 known: np.ndarray | None = None, progress: bool = True) -> None:
        self.net, self.images, self.codes = net, images, codes
        self.n_classes, self.opts, self.device, self.amp = n_classes, opts, device, amp
        self.known, self.progress = known, progress
        self.labelled = np.flatnonzero(codes >= 0)
        b = opts.batch_size
        self.steps = math.ceil(len(images) / max(1, b - b // LABELLED_SHARE))
        params = [*net.trunk_parameters(), *net.norm.parameters(), *net.head.parameters()]
        self.opt = torch.optim.SGD(params, lr=opts.lr, momentum=0.9, nesterov=True,
                                   weight_decay=opts.weight_decay)
        self.flip = net.model.config.channels == 3
        self.history: list[dict[str, Any]] = []

    # ------------------------------------------------------------------ one epoch

    def lr_at(self, step: int) -> float:
        """Linear warm-up over the first 5% of all steps, then cosine decay to 0."""
        total = self.opts.epochs * self.steps
        warm = max(1, total // 20)
        return self.opts.lr * min(1.0, (step + 1) / warm) * 0.5 * (1 + math.cos(math.pi * step / total))

    @torch.inference_mode()
    def extract(self, batch_size: int = 256) -> np.ndarray:
        """The backbone's features (N, D) of every image, in eval mode."""
        self.net.eval()
        out = []
        with self._autocast():
            for s in range(0, len(self.images), batch_size):
                out.append(self.net.features(self.images[s:s + batch_size].to(self.device))
                           .float().cpu().numpy())
        return np.concatenate(out)

    def pseudo_labels(self) -> PseudoLabels:
        """Propagate the labels over the kNN graph of the standardised current features."""
        f = self.extract()
        f = (f - f.mean(axis=0)) / (f.std(axis=0) + 1e-6)
        return propagate(f, self.codes, self.n_classes, k=self.opts.k)

    def epoch(self, e: int) -> dict[str, Any]:
        """Train one epoch; its record (loss, seconds, images/s, pseudo-label figures)."""
        opts, start = self.opts, time.perf_counter()
        gen = torch.Generator().manual_seed(opts.seed * 100_003 + e)
        record: dict[str, Any] = {"epoch": e + 1}
        propagating = (opts.method == "laplacenet" and e >= opts.supervised_epochs
                       and len(self.labelled) < len(self.codes))
        n_labelled = max(1, opts.batch_size // LABELLED_SHARE) if propagating else opts.batch_size
        if propagating:
            pl = self.pseudo_labels()
            record["graph_s"] = round(time.perf_counter() - start, 2)
            unl = self.codes < 0
            if self.known is not None and (unl & (self.known >= 0)).any():
                seen = unl & (self.known >= 0)
                record["pseudo_label_accuracy"] = float((pl.labels[seen] == self.known[seen]).mean())
            record["certainty"] = float(pl.certainty[unl].mean())
            targets, weights = pl.labels, pl.weights()
        else:
            targets = np.where(self.codes >= 0, self.codes, 0)
            weights = (self.codes >= 0).astype(np.float32)
        targets_t, weights_t = torch.from_numpy(targets), torch.from_numpy(weights)
        order = torch.randperm(len(self.images), generator=gen)
        share = opts.batch_size - n_labelled
        picks = torch.randint(len(self.labelled), (self.steps, n_labelled), generator=gen)
        labelled = torch.from_numpy(self.labelled)
        beta = np.random.default_rng([opts.seed, e])
        self.net.train()
        total, seen_images = 0.0, 0
        desc = f"epoch {e + 1}/{opts.epochs}"
        with tqdm(total=self.steps, desc=desc, unit="step", disable=not self.progress) as bar:
            for s in range(self.steps):
                idx = labelled[picks[s]]
                if propagating:
                    idx = torch.cat([idx, order[s * share:(s + 1) * share]])
                lam = float(beta.beta(opts.mixup, opts.mixup)) if opts.mixup > 0 else 1.0
                loss = self._step(idx, targets_t, weights_t, gen, lam, e * self.steps + s)
                total += loss
                seen_images += len(idx)
                bar.set_postfix(loss=f"{total / (s + 1):.3f}", **(
                    {"pl_acc": f"{record['pseudo_label_accuracy']:.3f}"}
                    if "pseudo_label_accuracy" in record else {}))
                bar.update(1)
        seconds = time.perf_counter() - start
        record.update(loss=total / self.steps, seconds=round(seconds, 2),
                      images_per_s=round(seen_images / max(seconds - record.get("graph_s", 0),
                                                           1e-9), 1))
        self.history.append(record)
        return record

    def _step(self, idx: Tensor, targets: Tensor, weights: Tensor, gen: torch.Generator,
              lam: float, step: int) -> float:
        for group in self.opt.param_groups:
            group["lr"] = self.lr_at(step)
        x = shift_flip(self.images[idx], gen, self.flip).to(self.device)
        y, w = targets[idx].to(self.device), weights[idx].to(self.device)
        mate = torch.randperm(len(idx), generator=gen).to(self.device) if lam < 1 else None
        if mate is not None:
            x = lam * x + (1 - lam) * x[mate]
        with self._autocast():
            logits = self.net(x).float()
        loss = w * F.cross_entropy(logits, y, reduction="none")
        if mate is not None:
            loss = lam * loss + (1 - lam) * w[mate] * F.cross_entropy(logits, y[mate],
                                                                      reduction="none")
        loss = loss.mean()
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        return float(loss.detach())

    def _autocast(self):
        return torch.autocast(self.device.type, dtype=self.amp or torch.float32,
                              enabled=self.amp is not None)

    # ------------------------------------------------------------------ resumable state

    def save_state(self, path: Path, epochs_done: int, fingerprint: dict[str, Any]) -> None:
        """The network, SGD's momentum and the history after `epochs_done` epochs, atomically."""
        tensors = {f"net.{k}": v.detach().cpu().contiguous()
                   for k, v in self.net.state_dict().items()}
        for i, st in self.opt.state_dict()["state"].items():
            tensors.update({f"optim.{i}.{k}": torch.as_tensor(v).detach().cpu().contiguous()
                            for k, v in st.items() if v is not None})
        meta = {"format": STATE_FORMAT, "epochs_done": str(epochs_done),
                "fingerprint": json.dumps(fingerprint, sort_keys=True),
                "history": json.dumps(self.history)}
        atomic_save(tensors, meta, path)

    def restore(self, path: Path) -> int:
        """Load a state written by `save_state`; returns the epochs it had done."""
        meta = read_state_meta(path)
        t = load_file(str(path))
        self.net.load_state_dict({k[4:]: v for k, v in t.items() if k.startswith("net.")},
                                 strict=True)
        state: dict[int, dict[str, Tensor]] = {}
        for k, v in t.items():
            if k.startswith("optim."):
                _, i, name = k.split(".", 2)
                state.setdefault(int(i), {})[name] = v
        groups = self.opt.state_dict()["param_groups"]
        self.opt.load_state_dict({"state": state, "param_groups": groups})
        self.history = json.loads(meta["history"])
        return int(meta["epochs_done"])


def read_state_meta(path: Path) -> dict[str, str]:
    """A fine-tuning state's metadata; ValueError if the file is not one."""
    try:
        with safe_open(str(path), "pt") as f:
            meta = f.metadata() or {}
    except Exception as e:  # safetensors raises its own error type for corrupt files
        raise ValueError(f"{path}: not a readable fine-tuning state ({e})") from None
    if meta.get("format") != STATE_FORMAT:
        raise ValueError(f"{path}: not a drlkit fine-tuning state")
    return meta


def fingerprint(opts: FitOptions, codes: np.ndarray, init: dict[str, Any]) -> dict[str, Any]:
    """What a resumed fit must share with the one that wrote the state."""
    import hashlib

    digest = hashlib.sha256(np.ascontiguousarray(codes, dtype=np.int64).tobytes()).hexdigest()
    return {"options": asdict(opts), "n": len(codes), "labels_sha256": digest, "init": init}
