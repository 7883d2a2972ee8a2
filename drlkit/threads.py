"""How many CPU threads the networks use: PyTorch starts one per core, and on a machine where other
work keeps cores busy that is the slowest choice (docs/performance.md, "Threads": on 2 cores beside
one busy process, 2 threads encoded at 179 img/s and 1 thread at 384; on free cores 2 threads
were 1.9x faster than 1). So the CLI's default counts the cores other work is using now."""

from __future__ import annotations

import os
import time


def busy_cores(samples: int = 5, interval: float = 0.01) -> int:
    """Cores that other processes keep busy now: the runnable tasks in /proc/loadavg (its fourth
    field, "running/total"), less this process, the median of a few samples; 0 where the file
    does not exist (not Linux)."""
    counts = []
    for i in range(samples):
        try:
            with open("/proc/loadavg", encoding="ascii") as f:
                running = int(f.read().split()[3].split("/")[0])
        except (OSError, ValueError, IndexError):
            return 0
        counts.append(max(0, running - 1))  # the reading process is running
        if i < samples - 1:
            time.sleep(interval)
    return sorted(counts)[len(counts) // 2]


def auto_threads() -> int:
    """The CLI's default thread count: the cores not busy with other work, at least 1."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, (cores or 1) - busy_cores())
