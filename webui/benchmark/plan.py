"""Which precision × attention × resolution configurations a benchmark runs on this device, and why the others
are skipped (pure: decided from capabilities, tested for any card on a CPU).

fp16 is a CUDA format (on a CPU it is slow and partly unsupported, so it is skipped, never timed as a zero);
bf16 runs where torch supports it; xformers needs CUDA and the package.
"""

from __future__ import annotations

from dataclasses import dataclass

PRECISIONS = ("fp32", "fp16", "bf16")
ATTENTIONS = ("sdpa", "sliced", "xformers", "classic")
DEFAULT_RESOLUTIONS = (256, 512, 768)


@dataclass(frozen=True)
class Capabilities:
    device: str                    # "cpu" or "cuda"
    bf16: bool
    xformers: bool
    total_vram_mb: int | None = None


@dataclass(frozen=True)
class BenchmarkConfig:
    precision: str
    attention: str
    resolution: int

    @property
    def label(self) -> str:
        return f"{self.precision} · {self.attention} · {self.resolution}px"


@dataclass(frozen=True)
class PlannedRun:
    config: BenchmarkConfig
    skip_reason: str | None = None


def skip_reason(config: BenchmarkConfig, capabilities: Capabilities) -> str | None:
    if config.precision == "fp16" and capabilities.device != "cuda":
        return "fp16 needs a CUDA card (on a CPU it is slow and partly unsupported)"
    if config.precision == "bf16" and not capabilities.bf16:
        return "bf16 is not supported on this device"
    if config.attention == "xformers" and capabilities.device != "cuda":
        return "xformers runs on CUDA only"
    if config.attention == "xformers" and not capabilities.xformers:
        return "xformers is not installed (./launch.sh --xformers installs it)"
    return None


def plan_benchmark(capabilities: Capabilities, resolutions: tuple[int, ...] = DEFAULT_RESOLUTIONS,
                   precisions: tuple[str, ...] = PRECISIONS,
                   attentions: tuple[str, ...] = ATTENTIONS) -> list[PlannedRun]:
    """Every combination, resolution-major so a long run shows the small sizes first; bad names raise."""
    for name, value, allowed in (("precision", precisions, PRECISIONS), ("attention", attentions, ATTENTIONS)):
        unknown = [item for item in value if item not in allowed]
        if unknown:
            raise ValueError(f"unknown {name} {', '.join(unknown)}; allowed: {', '.join(allowed)}")
    bad = [size for size in resolutions if size < 64 or size > 2048 or size % 8]
    if bad:
        raise ValueError(f"resolution {bad[0]} is not allowed: use multiples of 8 from 64 to 2048")
    runs = []
    for resolution in resolutions:
        for precision in precisions:
            for attention in attentions:
                config = BenchmarkConfig(precision, attention, resolution)
                runs.append(PlannedRun(config, skip_reason(config, capabilities)))
    return runs
