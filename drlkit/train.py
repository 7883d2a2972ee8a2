"""The DRL trainer: Adam with warm-up, bf16 autocast, gradient clipping, EMA (exported), periodic
resumable checkpoints (exact on CPU), z-usage and probe diagnostics, and a final safetensors export.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from drlkit.atomic import atomic_write
from drlkit.checkpoint import save_model
from drlkit.config import ModelConfig, preset, upgrade_config
from drlkit.data import ImageDataset, load_dataset
from drlkit.diagnostics import ProbeSet, quick_probe, z_usage
from drlkit.diffusion import parse_t_sampler
from drlkit.distributed import World, all_gather_bytes, all_mean, check_device, default_device, process_group
from drlkit.methods import METHODS, check_recipe
from drlkit.model import DRLModel
from drlkit.precision import hardware, resolve_precision
from drlkit.preprocess import to_tensor
from drlkit.provenance import DEFAULT_T_SAMPLER, RunRecord, training_card
from drlkit.train_state import SavedState, save_state

STATE_FILE, MODEL_FILE, LOG_FILE = "state.safetensors", "model.safetensors", "log.jsonl"
RESUMABLE_CHANGES = ("steps", "checkpoint_every", "diagnostics_every")  # do not change the weights


@dataclass(frozen=True)
class TrainConfig:
    """Training hyperparameters; stored in the exported checkpoint's `training` metadata.

    `t_sampler`: `uniform-t`, `uniform-sigma`, `range:a,b` or `lognormal:P_mean,P_std`. `views`
    (DRL / VDRL): "none" (the paper's recipe), "same" or "novel" (encode one augmented view,
    denoise another; docs/training.md), made by `view_augment`: a random resized crop of area
    `view_crop` (min, max), flip, colour jitter with probability `view_jitter` and greyscale with
    probability `view_grey`. `invariance_weight` (DRL with novel views): the weight of NT-Xent
    between the two views' codes, a DRL + contrastive hybrid (0: pure DRL).
    """

    dataset: str = "mnist"
    method: str = "drl"
    t_sampler: str = DEFAULT_T_SAMPLER
    steps: int = 10_000
    batch_size: int = 64
    lr: float = 1e-3
    warmup_steps: int = 500
    grad_clip: float = 1.0
    ema_decay: float = 0.999
    l1_weight: float = 0.0
    kl_weight: float = 1e-5
    seed: int = 0
    precision: str = "auto"
    hflip: bool = False
    cifar_copy: str = "png"
    checkpoint_every: int = 500
    diagnostics_every: int = 1000
    # DRL's augmented views (issue 31): none / same / novel, and the augmentation's strength
    views: str = "none"
    view_crop: tuple[float, float] = (0.2, 1.0)
    view_jitter: float = 0.8
    view_grey: float = 0.2
    invariance_weight: float = 0.0

    def __post_init__(self) -> None:
        check_recipe(self)  # the method, its views and invariance (drlkit.methods)
        crop = tuple(float(v) for v in self.view_crop)
        if len(crop) != 2 or not 0.0 < crop[0] <= crop[1] <= 1.0:
            raise ValueError(f"view_crop: need 0 < min <= max <= 1, got {self.view_crop}")
        object.__setattr__(self, "view_crop", crop)  # a JSON list reads back as the same config
        for name in ("view_jitter", "view_grey"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} is a probability, got {getattr(self, name)}")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        """Strict, except that fields added since a state was saved take their defaults."""
        names = {f.name for f in dataclasses.fields(cls)}
        d = {**{k: getattr(cls, k) for k in ADDED_TRAIN_FIELDS}, **d}
        if set(d) != names:
            raise ValueError(f"train config keys differ: unknown {sorted(set(d) - names)}, "
                             f"missing {sorted(names - set(d))}")
        return cls(**d)


# TrainConfig fields added after training states were first written (issue 31's views).
ADDED_TRAIN_FIELDS = ("views", "view_crop", "view_jitter", "view_grey", "invariance_weight")


class Batches:
    """Deterministic batch order: epoch e uses randperm(N) seeded by (seed, e); resumable by step."""

    def __init__(self, n: int, batch_size: int, seed: int) -> None:
        self.n, self.batch_size, self.seed = n, batch_size, seed
        self._epoch, self._perm = -1, None

    def indices(self, step: int) -> np.ndarray:
        out = []
        for g in range(step * self.batch_size, (step + 1) * self.batch_size):
            epoch, pos = divmod(g, self.n)
            if epoch != self._epoch:
                gen = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
                self._epoch, self._perm = epoch, torch.randperm(self.n, generator=gen).numpy()
            out.append(self._perm[pos])
        return np.asarray(out)


def rank_seed(seed: int, rank: int) -> int:
    """The noise generator's seed on each rank (rank 0 keeps `seed`: one process is unchanged)."""
    return seed if rank == 0 else seed * 1_000_003 + 7919 * rank


class Objective(torch.nn.Module):
    """The training loss as a module, forward(x0, generator) -> (loss, stats), so that
    DistributedDataParallel can wrap it and average the gradients of every network it uses."""

    def __init__(self, model: DRLModel, loss_fn) -> None:
        super().__init__()
        self.model, self.loss_fn = model, loss_fn

    def forward(self, x0: torch.Tensor, generator: torch.Generator):
        return self.loss_fn(self.model, x0, generator)


class Trainer:
    """One training run: the loop (Adam with warm-up, autocast, clipping, EMA), its log and
    diagnostics, periodic states (train_state) and the export with its card (provenance)."""

    def __init__(self, model_config: ModelConfig, train_config: TrainConfig, out: str | Path,
                 dataset: ImageDataset, device: str | torch.device = "cpu",
                 world: World | None = None) -> None:
        parse_t_sampler(train_config.t_sampler)
        self.mc, self.tc, self.out = model_config, train_config, Path(out)
        self.data, self.device = dataset, check_device(device)
        self.world = world = world or World()
        if train_config.batch_size % world.size:
            raise ValueError(f"--batch-size {train_config.batch_size} (the global batch) must be "
                             f"divisible by the number of processes, {world.size}")
        torch.manual_seed(train_config.seed)
        self.model = DRLModel(model_config).to(self.device)
        self.ema = copy.deepcopy(self.model).requires_grad_(False)
        self.opt = torch.optim.Adam(self.model.parameters(), lr=train_config.lr)
        row = METHODS[train_config.method]
        self.loss_fn = row.make_loss(train_config)
        if row.objective != model_config.objective:
            raise ValueError(f"--method {train_config.method} trains objective "
                             f"{row.objective!r}, but the model config says "
                             f"{model_config.objective!r}")
        self.gen = torch.Generator().manual_seed(rank_seed(train_config.seed, world.rank))
        self.objective: torch.nn.Module = Objective(self.model, self.loss_fn)
        if world.distributed:  # broadcasts rank 0's weights, then averages gradients every step
            from torch.nn.parallel import DistributedDataParallel

            ids = [self.device.index] if self.device.type == "cuda" else None
            self.objective = DistributedDataParallel(self.objective, device_ids=ids)
        self.batches = Batches(len(dataset), train_config.batch_size, train_config.seed)
        self.amp_dtype = resolve_precision(train_config.precision, self.device)
        self.step = 0
        self.record = RunRecord(
            hardware() + (f"; {world.size} processes (DDP)" if world.distributed else ""),
            str(self.amp_dtype or "float32").replace("torch.", ""))
        self.probe_set = ProbeSet.from_dataset(dataset, seed=train_config.seed)

    # --- state -----------------------------------------------------------------------------
    def save_state(self) -> None:
        """Rank 0 writes out/state.safetensors atomically (with every rank's noise generator)."""
        generators = all_gather_bytes(self.gen.get_state(), self.world)
        if not self.world.is_main:
            return
        save_state(self.out / STATE_FILE, self.model, self.ema, self.opt, generators, {
            "step": str(self.step), **self.record.state(self.step),
            "world_size": str(self.world.size),
            "model_config": json.dumps(self.mc.to_dict()),
            "train_config": json.dumps(dataclasses.asdict(self.tc))})

    def load_state(self) -> None:
        path = self.out / STATE_FILE
        saved = SavedState.read_meta(path)
        meta = saved.meta
        if upgrade_config(json.loads(meta["model_config"])) != self.mc.to_dict():
            raise ValueError(f"{path}: saved with a different model config; use a new --out")
        saved_world = int(meta.get("world_size", "1"))
        if saved_world != self.world.size:
            raise ValueError(f"{path}: saved by a run of {saved_world} process(es); resume it with "
                             f"the same number (this run has {self.world.size})")
        saved_tc = TrainConfig.from_dict(json.loads(meta["train_config"]))
        schedule_only = {k: getattr(self.tc, k) for k in RESUMABLE_CHANGES}
        if dataclasses.replace(saved_tc, **schedule_only) != self.tc:
            raise ValueError(f"{path}: saved with different training options; only "
                             f"{', '.join(RESUMABLE_CHANGES)} may change on --resume")
        saved.restore(self.model, self.ema, self.opt, self.gen, self.world.rank)
        self.step = saved.step
        self.record.restore(meta, self.step)
        if self.world.is_main:
            self._truncate_log()

    def _truncate_log(self) -> None:
        """Drop log records written after the saved step: the resumed run writes them again."""
        path = self.out / LOG_FILE
        if not path.exists():
            return
        lines = path.read_text().splitlines(keepends=True)
        keep = [ln for ln in lines if ln.strip() and json.loads(ln).get("step", 0) <= self.step]
        if len(keep) != len(lines):
            atomic_write(path, lambda f: f.write("".join(keep).encode()))

    # --- training --------------------------------------------------------------------------
    def _lr(self) -> float:
        return self.tc.lr * min(1.0, (self.step + 1) / max(1, self.tc.warmup_steps))

    def train_step(self) -> dict[str, float]:
        # every rank draws the same global batch and takes its slice (a step-indexed
        # DistributedSampler); the gradient averaged over ranks is the global batch's
        idx = self.batches.indices(self.step)[self.world.rank :: self.world.size]
        x0 = to_tensor(self.data.images[idx])
        if self.tc.hflip:
            flip = torch.rand(x0.shape[0], generator=self.gen) < 0.5
            x0 = torch.where(flip[:, None, None, None], x0.flip(3), x0)
        x0 = x0.to(self.device)
        for group in self.opt.param_groups:
            group["lr"] = self._lr()
        with torch.autocast(self.device.type, dtype=self.amp_dtype or torch.float32,
                            enabled=self.amp_dtype is not None):
            loss, stats = self.objective(x0, self.gen)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.tc.grad_clip)
        self.opt.step()
        # EMA with warm-up: decay (1 + s) / (10 + s) early on, so the random init fades quickly.
        decay = min(self.tc.ema_decay, (1 + self.step) / (10 + self.step))
        with torch.no_grad():  # one fused launch per group on CUDA (hundreds of tensors)
            torch._foreach_lerp_(list(self.ema.parameters()), list(self.model.parameters()),
                                 1 - decay)
        self.step += 1
        return {**stats, "grad_norm": float(grad_norm), "lr": self._lr()}

    def diagnostics(self) -> dict[str, Any]:
        out: dict[str, Any] = {"step": self.step}
        if self.model.precond.backbone is not None:  # a score net whose use of z can be measured
            out["z_usage"] = z_usage(self.ema, self.probe_set.x_fixed, seed=self.tc.seed)
        if self.probe_set.has_labels:
            out["probe"] = quick_probe(self.ema, self.probe_set)
        return out

    def _log(self, record: dict[str, Any]) -> None:
        if not self.world.is_main:
            return
        with open(self.out / LOG_FILE, "a") as f:
            f.write(json.dumps(record) + "\n")

    def fit(self, progress: bool = True) -> Path:
        from drlkit.progress import tqdm

        main = self.world.is_main
        if main:
            self.out.mkdir(parents=True, exist_ok=True)
            if self.step == 0:  # a fresh run: a log left by a run that never checkpointed goes
                (self.out / LOG_FILE).unlink(missing_ok=True)
        if self.step == 0 and self.tc.diagnostics_every and main:
            self._log({"event": "random_init", **self.diagnostics()})
        if self.step < self.tc.steps:
            self.record.start_segment(self.step)
        bar = tqdm(total=self.tc.steps, initial=self.step, desc="train", unit="step",
                   disable=not (progress and main), dynamic_ncols=True)
        with self.record.clock.listening():
            self._loop(bar)
        bar.close()
        path = self.export() if main else self.out / MODEL_FILE
        self.world.barrier()  # every rank returns once the export exists
        return path

    def _loop(self, bar) -> None:
        main = self.world.is_main
        t_last, n_last = time.perf_counter(), 0
        while self.step < self.tc.steps:
            t0 = time.perf_counter()
            stats = self.train_step()
            self.record.count(time.perf_counter() - t0)
            n_last += 1
            bar.update(1)
            if self.step % 25 == 0 or self.step == self.tc.steps:
                stats = dict(zip(stats, all_mean(list(stats.values()), self.world), strict=True))
                img_s = n_last * self.tc.batch_size / max(1e-9, time.perf_counter() - t_last)
                t_last, n_last = time.perf_counter(), 0
                bar.set_postfix(loss=f"{stats['loss']:.4g}", img_s=f"{img_s:.0f}")
                self._log({"step": self.step, **stats, "img_s": round(img_s, 1)})
            if main and self.tc.diagnostics_every and self.step % self.tc.diagnostics_every == 0:
                record = self.diagnostics()
                if len(record) > 1:  # nothing to measure: no score net and no labels
                    self._log(record)
                    bar.write(format_diagnostics(record))
            if self.step % self.tc.checkpoint_every == 0 or self.step == self.tc.steps:
                self.save_state()

    def export(self, path: Path | None = None) -> Path:
        """Write the EMA weights and full metadata to out/model.safetensors."""
        path = path or self.out / MODEL_FILE
        budget = self.record.budget(self.step, self.tc.batch_size)
        save_model(self.ema, path, training_card(self.tc, self.mc, self.data.source, budget))
        return path


def format_diagnostics(record: dict[str, Any]) -> str:
    parts = []
    if "z_usage" in record:
        gaps = " ".join(f"t={t}:{g:+.1%}" for t, g in record["z_usage"].items())
        parts.append(f"z-usage (shuffled-z loss / own-z loss - 1) {gaps}")
    if "probe" in record:
        parts.append("probe " + " ".join(f"t={t}:{a:.3f}" for t, a in record["probe"].items()))
    return f"step {record['step']}: " + " | ".join(parts)


def train(model_config: ModelConfig | None = None, train_config: TrainConfig | None = None,
          out: str | Path = "runs/drl", resume: bool = False, data_root=None,
          device: str | None = None, progress: bool = True, dataset: ImageDataset | None = None,
          preset_name: str = "small", **model_overrides: Any) -> Path:
    """Train a DRL model and export it; returns the path of the exported safetensors file.

    With resume=True, continues from out/state.safetensors bitwise-exactly (same CPU, same seed).
    Started by `torchrun --nproc-per-node N`, the N processes train one model with
    DistributedDataParallel (see drlkit.distributed); `batch_size` is then the global batch.
    """
    tc = train_config or TrainConfig()
    # image_size / channels only shape image-folder datasets; named datasets fix their own.
    folder_size = model_overrides.pop("image_size", 32)
    folder_channels = model_overrides.pop("channels", 3)
    if dataset is None:
        dataset = load_dataset(tc.dataset, "train", data_root, tc.cifar_copy, folder_size,
                               folder_channels)
    _, h, w, c = dataset.images.shape
    if h != w:
        raise ValueError(f"training images must be square, got {h}x{w}")
    row = METHODS[tc.method]
    mc = model_config or preset(preset_name, **{"image_size": h, "channels": c,
                                                "probabilistic": row.probabilistic,
                                                "objective": row.objective, **model_overrides})
    state = Path(out) / STATE_FILE
    if resume and not state.exists():
        raise FileNotFoundError(f"--resume: no training state at {state}")
    if not resume and state.exists():
        raise FileExistsError(f"{state} exists: pass --resume to continue it, or use a new --out")
    # under torchrun: join the process group (DDP); otherwise one process as usual
    with process_group(device) as world:
        trainer = Trainer(mc, tc, out, dataset, default_device(world, device), world)
        if resume:
            trainer.load_state()
        return trainer.fit(progress=progress)
