"""Running `drlkit train` and `drlkit encode` on several processes with PyTorch's own distributed
engine: start them with `torchrun --nproc-per-node N -m drlkit train|encode ...` (or on several
machines with torchrun's `--nnodes` / `--rdzv-*` options). torchrun sets RANK, WORLD_SIZE and
LOCAL_RANK; without them everything runs in one process as usual.

- backend: NCCL when the processes train on CUDA, gloo on CPU;
- each process gets its share of the CPU threads (cores / local processes) unless
  OMP_NUM_THREADS says otherwise, and its own GPU (`cuda:LOCAL_RANK`) when there are GPUs;
- training: DistributedDataParallel; each rank takes its slice of the same global batch (the job
  of a DistributedSampler, indexed by step so that resume is exact); rank 0 alone logs, writes
  checkpoints and exports;
- encoding: each rank encodes its share of the batches into the shared `<out>.partial/` folder;
  rank 0 assembles them in path order, so the output equals a one-process run.
"""

from __future__ import annotations

import contextlib
import datetime
import os
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class World:
    """This process's place among the processes of a run (rank 0 of 1 when not distributed)."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0
    local_size: int = 1

    @property
    def distributed(self) -> bool:
        return self.size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()


def world_from_env() -> World:
    """The world torchrun describes in RANK / WORLD_SIZE / LOCAL_RANK / LOCAL_WORLD_SIZE."""
    def get(name: str, default: int) -> int:
        value = os.environ.get(name, "")
        try:
            return int(value) if value else default
        except ValueError:
            raise ValueError(f"environment variable {name}={value!r} is not an integer") from None

    size = get("WORLD_SIZE", 1)
    rank = get("RANK", 0)
    if not 0 <= rank < size:
        raise ValueError(f"RANK={rank} outside WORLD_SIZE={size}")
    return World(rank, size, get("LOCAL_RANK", 0), get("LOCAL_WORLD_SIZE", size))


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity mask on Linux)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def check_device(device: str | torch.device) -> torch.device:
    """`device` as a torch.device, or a ValueError saying why it cannot be used here."""
    try:
        d = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"device {str(device)!r} is not a device name; use cpu, cuda or "
                         "cuda:N") from None
    if d.type == "cuda":
        if not torch.cuda.is_available():
            why = ("this PyTorch is built without CUDA" if torch.version.cuda is None
                   else "no GPU is visible")
            raise ValueError(f"device {str(device)!r}: {why} (torch {torch.__version__}); use "
                             "cpu, or install a CUDA build of PyTorch on a machine with a GPU")
        if d.index is not None and d.index >= torch.cuda.device_count():
            raise ValueError(f"device {str(device)!r}: only {torch.cuda.device_count()} GPU(s) "
                             "are visible")
    elif d.type not in ("cpu", "meta"):
        backend = getattr(torch.backends, d.type, None)
        if backend is None or not getattr(backend, "is_available", lambda: False)():
            raise ValueError(f"device {str(device)!r} is not available here; use cpu or cuda")
    return d


def default_device(world: World | None = None, device: str | torch.device | None = None) -> str:
    """drlkit's one device rule: the given device (checked), else the GPU (under torchrun, the
    rank's own), else the CPU."""
    if device is not None:
        check_device(device)
        return str(device)
    if torch.cuda.is_available():
        if world is not None and world.distributed:
            return f"cuda:{world.local_rank % torch.cuda.device_count()}"
        return "cuda"
    return "cpu"


@contextlib.contextmanager
def process_group(device: str | None = None, timeout_s: float = 1800) -> Iterator[World]:
    """Join the process group torchrun started and leave it at the end (a no-op for one process,
    or when the caller has already initialised torch.distributed).

    Yields the `World`. On CPU each process is limited to its share of the cores, since N
    processes each using every core run several times slower than one.
    """
    world = world_from_env()
    if not world.distributed or dist.is_initialized():  # one process, or the caller's own group
        yield world
        return
    if "OMP_NUM_THREADS" not in os.environ:
        torch.set_num_threads(max(1, usable_cpus() // world.local_size))
    rank_device = default_device(world, device)
    cuda = rank_device.startswith("cuda")
    if cuda:
        torch.cuda.set_device(torch.device(rank_device))
    dist.init_process_group("nccl" if cuda else "gloo",
                            timeout=datetime.timedelta(seconds=timeout_s))
    try:
        yield world
    finally:
        dist.destroy_process_group()


def _comm_device() -> torch.device:
    """NCCL moves CUDA tensors only; gloo, CPU tensors."""
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def all_mean(values: list[float], world: World) -> list[float]:
    """The mean of each value over the ranks (every rank must call it at the same point)."""
    if not world.distributed:
        return values
    t = torch.tensor(values, dtype=torch.float64, device=_comm_device())
    dist.all_reduce(t)
    return (t / world.size).tolist()


def all_gather_bytes(x: torch.Tensor, world: World) -> list[torch.Tensor]:
    """Every rank's copy of a same-shaped uint8 tensor (e.g. a generator state), in rank order."""
    if not world.distributed:
        return [x]
    x = x.contiguous().to(_comm_device())
    parts = [torch.empty_like(x) for _ in range(world.size)]
    dist.all_gather(parts, x)
    return [p.cpu() for p in parts]
