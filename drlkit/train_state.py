"""The resumable training state, out/state.safetensors: the model, its EMA, Adam's moments, every
rank's noise generator and the run's metadata, written atomically (checkpoint.atomic_save) so a
kill at any moment leaves the last whole state. A resumed run continues bit for bit on the same
CPU (docs/training.md).

Layout: tensors `model.*`, `ema.*`, `optim.<param index>.<name>`, `rng.generator` (rank 0) and
`rng.generator.<rank>`; metadata `format`, `step`, `world_size`, `param_groups`, `model_config`,
`train_config` and the run record's keys (provenance.RunRecord.state).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file

from drlkit.checkpoint import atomic_save

STATE_FORMAT = "drlkit-train-state"


def save_state(path: Path, model: torch.nn.Module, ema: torch.nn.Module,
               opt: torch.optim.Optimizer, generators: list[torch.Tensor],
               meta: dict[str, str]) -> None:
    """Write the state; `generators` are the ranks' generator states in rank order."""
    tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
    tensors.update({f"ema.{k}": v for k, v in ema.state_dict().items()})
    opt_state = opt.state_dict()
    for i, st in opt_state["state"].items():
        tensors.update({f"optim.{i}.{k}": torch.as_tensor(v) for k, v in st.items()})
    tensors["rng.generator"] = generators[0]
    tensors.update({f"rng.generator.{r}": g for r, g in enumerate(generators) if r})
    meta = {"format": STATE_FORMAT, **meta,
            "param_groups": json.dumps(opt_state["param_groups"])}
    atomic_save({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, meta, path)


@dataclass
class SavedState:
    path: Path
    meta: dict[str, str]

    @classmethod
    def read_meta(cls, path: Path) -> SavedState:
        """The state's metadata (its tensors are read by `restore`)."""
        with safe_open(str(path), "pt") as f:
            meta = f.metadata()
        if meta.get("format") != STATE_FORMAT:
            raise ValueError(f"{path}: not a drlkit training state")
        return cls(path, meta)

    @property
    def step(self) -> int:
        return int(self.meta["step"])

    def restore(self, model: torch.nn.Module, ema: torch.nn.Module, opt: torch.optim.Optimizer,
                generator: torch.Generator, rank: int) -> None:
        """Load the weights, the optimiser and this rank's generator in place."""
        t = load_file(str(self.path))
        model.load_state_dict({k[6:]: v for k, v in t.items() if k.startswith("model.")})
        ema.load_state_dict({k[4:]: v for k, v in t.items() if k.startswith("ema.")})
        state: dict[int, dict[str, torch.Tensor]] = {}
        for k, v in t.items():
            if k.startswith("optim."):
                _, i, name = k.split(".", 2)
                state.setdefault(int(i), {})[name] = v
        opt.load_state_dict({"state": state,
                             "param_groups": json.loads(self.meta["param_groups"])})
        generator.set_state(t["rng.generator" if rank == 0 else f"rng.generator.{rank}"])
