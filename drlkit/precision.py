"""Hardware facts shared by training, encoding and the benchmarks: a one-line description of
the machine, and which autocast dtype a precision setting means on a device."""

from __future__ import annotations

import functools
import logging
import os
import platform

import torch

log = logging.getLogger(__name__)
PRECISIONS = ("auto", "bf16", "fp16", "fp32")


def hardware() -> str:
    """Where a figure was measured, e.g. "AMD EPYC (AVX2), 2 cores, torch 2.13.0+cpu". The CPU's
    vector capability is named because one model name can cover machines whose training speed
    differs several-fold (an AMD EPYC with AVX-512 BF16 runs bf16 autocast natively, one with only
    AVX2 does not)."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    simd = torch.backends.cpu.get_cpu_capability()
    simd += ", native bf16" if native_bf16_cpu() else ""
    desc = f"{cpu} ({simd}), {os.cpu_count()} cores, torch {torch.__version__}"
    if torch.cuda.is_available():
        desc = f"{torch.cuda.get_device_name(0)} + {desc}"
    return desc


@functools.cache
def native_bf16_cpu() -> bool:
    """Whether this CPU computes bf16 natively (AVX512-BF16 or AMX), where autocast pays off."""
    if torch.backends.cpu.get_cpu_capability() not in ("AVX512", "AVX512_BF16", "AMX"):
        return False
    flags = open("/proc/cpuinfo").read() if os.path.exists("/proc/cpuinfo") else ""
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_precision(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype of a precision setting (None: fp32). `auto` is bf16 where the hardware
    runs it natively (fp16 on GPUs without bf16), fp32 otherwise (logged, not silent)."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if precision == "fp32":
        return None
    if precision == "bf16":
        return torch.bfloat16
    if precision == "fp16":
        if device.type != "cuda":
            raise ValueError("precision fp16 needs a CUDA device; on CPU use bf16 or fp32")
        return torch.float16
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if native_bf16_cpu():
        return torch.bfloat16
    log.info("no native bf16 on this CPU: running in fp32")
    return None
