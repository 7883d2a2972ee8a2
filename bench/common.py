"""Shared by the benchmarks: timing, this machine's matmul ceiling, FLOP counting, and a plain
PyTorch ResNet-18-style peer network. Benchmarks print their figures; they are not tests."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a source checkout

from drlkit.precision import hardware  # noqa: E402


def rate(fn: Callable[[], object], items: int, min_time: float = 1.0, warmup: int = 1,
         sync: Callable[[], None] | None = None) -> float:
    """Items per second of fn(): warm up, then call until min_time has passed; the median of the
    per-call rates (robust to a stray slow call)."""
    for _ in range(warmup):
        fn()
    if sync:
        sync()
    rates, start = [], time.perf_counter()
    while time.perf_counter() - start < min_time or len(rates) < 3:
        t0 = time.perf_counter()
        fn()
        if sync:
            sync()
        rates.append(items / (time.perf_counter() - t0))
    rates.sort()
    return rates[len(rates) // 2]


def sync_for(device: torch.device) -> Callable[[], None] | None:
    return torch.cuda.synchronize if device.type == "cuda" else None


def matmul_ceiling(device: torch.device, dtype: torch.dtype = torch.float32, n: int = 2048,
                   min_time: float = 2.0) -> float:
    """Achieved FLOP/s of an n x n x n matmul (2 n^3 FLOPs) in `dtype`: the machine's practical
    ceiling for dense compute."""
    a = torch.randn(n, n, device=device).to(dtype)
    b = torch.randn(n, n, device=device).to(dtype)
    return rate(lambda: a @ b, 2 * n**3, min_time=min_time, sync=sync_for(device))


def flops_per_item(module: nn.Module, *inputs: torch.Tensor) -> float:
    """FLOPs of one forward pass per batch item (convolutions, matmuls; PyTorch's own counter,
    which counts a multiply-add as 2)."""
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        module(*inputs)
    return counter.get_total_flops() / inputs[0].shape[0]


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.skip = nn.Sequential()
        if stride != 1 or cin != cout:
            self.skip = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                      nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(h)) + self.skip(x))


class ResNet18(nn.Module):
    """ResNet-18 (He et al. 2016) for small images: 3x3 stem, four stages of two basic blocks,
    widths w, 2w, 4w, 8w (w = 64 is the original), global average pool, a linear head."""

    def __init__(self, channels: int, width: int = 64, out_dim: int = 128) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(channels, width, 3, 1, 1, bias=False),
                                  nn.BatchNorm2d(width), nn.ReLU())
        layers, cin = [], width
        for i, w in enumerate((width, 2 * width, 4 * width, 8 * width)):
            for j in range(2):
                layers.append(BasicBlock(cin, w, 2 if (i > 0 and j == 0) else 1))
                cin = w
        self.layers = nn.Sequential(*layers)
        self.head = nn.Linear(cin, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.layers(self.stem(x)).mean(dim=(2, 3)))


def peer_resnet(channels: int, size: int, target_flops: float) -> tuple[ResNet18, int, float]:
    """The ResNet-18-style network whose FLOPs per image at this resolution are closest to
    `target_flops`: (network, base width, its FLOPs per image)."""
    best = None
    for width in range(4, 65, 2):
        net = ResNet18(channels, width).eval()
        f = flops_per_item(net, torch.zeros(1, channels, size, size))
        if best is None or abs(f - target_flops) < abs(best[2] - target_flops):
            best = (net, width, f)
    assert best is not None
    return best


def environment() -> dict:
    """Where a figure was measured: CPU/GPU, cores, torch version, thread count."""
    return {"hardware": hardware(), "torch_threads": torch.get_num_threads(),
            "omp_num_threads": os.environ.get("OMP_NUM_THREADS")}


def write_json(path: str | None, payload: dict) -> None:
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(payload, indent=2) + "\n")
        print(f"wrote {path}")
