"""One benchmark run end to end: plan for this device, measure, write report.md, results.csv and plot.png under
`outputs/benchmarks/<time>/` (each written atomically), for both `python app.py benchmark` and the System tab."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from webui.benchmark.plan import ATTENTIONS, DEFAULT_RESOLUTIONS, PRECISIONS, plan_benchmark
from webui.benchmark.report import RunResult, SystemDescription, csv_report, markdown_report, plot_png
from webui.benchmark.runner import Benchmark, BenchmarkProgress, BenchmarkSettings, detect_capabilities
from webui.config.atomic import write_atomically
from webui.model_manager.manager import ModelManager


@dataclass(frozen=True)
class BenchmarkRequest:
    resolutions: tuple[int, ...] = DEFAULT_RESOLUTIONS
    precisions: tuple[str, ...] = PRECISIONS
    attentions: tuple[str, ...] = ATTENTIONS
    steps: int = 4

    def __post_init__(self) -> None:
        if not 2 <= self.steps <= 150:
            raise ValueError(f"steps {self.steps} is out of range; allowed: 2–150")


@dataclass(frozen=True)
class BenchmarkOutcome:
    folder: Path
    markdown: str
    system: SystemDescription
    results: tuple[RunResult, ...]

    @property
    def plot(self) -> Path:
        return self.folder / "plot.png"


def _write(path: Path, data: bytes) -> None:
    write_atomically(path, lambda handle: handle.write(data))


def run_benchmark(models: ModelManager, outputs: Path, request: BenchmarkRequest,
                  progress: BenchmarkProgress | None = None,
                  cancelled: Callable[[], bool] | None = None) -> BenchmarkOutcome:
    loaded = models.loaded
    if loaded is None:
        raise ValueError("no checkpoint is loaded: load one before benchmarking")
    capabilities = detect_capabilities(loaded.plan.device)
    planned = plan_benchmark(capabilities, request.resolutions, request.precisions, request.attentions)
    system, results = Benchmark(models, BenchmarkSettings(steps=request.steps)).run(planned, progress, cancelled)
    folder = outputs / "benchmarks" / time.strftime("%Y-%m-%d_%H-%M-%S")
    folder.mkdir(parents=True, exist_ok=True)
    markdown = markdown_report(system, results)
    _write(folder / "report.md", markdown.encode("utf-8"))
    _write(folder / "results.csv", csv_report(results).encode("utf-8"))
    _write(folder / "plot.png", plot_png(system, results))
    return BenchmarkOutcome(folder, markdown, system, tuple(results))
