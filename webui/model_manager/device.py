"""Find out what device we run on. Called by the composition root, never at import time."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch

from webui.model_manager.memory_policy import DeviceInfo, MemoryPolicyError, cpu_flags_from_cpuinfo

CPUINFO = Path("/proc/cpuinfo")


def read_cpu_flags(cpuinfo: Path = CPUINFO) -> frozenset[str]:
    """The CPU's instruction-set flags (empty where /proc/cpuinfo does not exist: macOS, Windows)."""
    try:
        return cpu_flags_from_cpuinfo(cpuinfo.read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return frozenset()


def detect_device(requested: str | None) -> DeviceInfo:
    """The device to use: `requested` ("cpu"/"cuda") or CUDA when present; asking for missing CUDA is an error."""
    cuda_present = torch.cuda.is_available()
    if requested == "cuda" and not cuda_present:
        raise MemoryPolicyError("--device cuda was given but no CUDA device is available")
    if requested == "cpu" or not cuda_present:
        return DeviceInfo("cpu", cpu_flags=read_cpu_flags())
    properties = torch.cuda.get_device_properties(0)
    return DeviceInfo(
        kind="cuda", name=properties.name, total_vram_mb=properties.total_memory // (1024 * 1024),
        xformers_available=importlib.util.find_spec("xformers") is not None,
    )
