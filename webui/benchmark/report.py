"""Benchmark results as a Markdown table, a CSV and a PNG plot, with the system they were measured on.

Skipped configurations appear with their reason and empty figures, never as zeros.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

from webui.benchmark.plan import BenchmarkConfig

CSV_FIELDS = ("precision", "attention", "resolution", "seconds_per_step", "iterations_per_second",
              "seconds_per_image", "peak_memory_mb", "skipped")


@dataclass(frozen=True)
class RunResult:
    config: BenchmarkConfig
    seconds_per_step: float | None = None
    seconds_per_image: float | None = None     # all steps plus the VAE decode
    peak_memory_mb: float | None = None        # CUDA: max allocated; CPU: peak RSS over the run's baseline
    skipped: str | None = None

    @property
    def iterations_per_second(self) -> float | None:
        return 1.0 / self.seconds_per_step if self.seconds_per_step else None


@dataclass(frozen=True)
class SystemDescription:
    device: str
    memory: str                                # VRAM on CUDA, RAM on CPU
    versions: dict[str, str] = field(default_factory=dict)
    checkpoint: str = ""
    checkpoint_size_mb: float = 0.0
    load_seconds: float = 0.0
    steps: int = 0


def _figure(value: float | None, digits: int = 3) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def markdown_report(system: SystemDescription, results: list[RunResult]) -> str:
    versions = ", ".join(f"{name} {version}" for name, version in system.versions.items())
    lines = [
        f"# Benchmark: {system.checkpoint}",
        "",
        f"- Device: {system.device} ({system.memory})",
        f"- Versions: {versions}",
        f"- Checkpoint: {system.checkpoint_size_mb:.1f} MB, loaded in {system.load_seconds:.2f} s",
        f"- Steps per image: {system.steps}",
        "",
        "| precision | attention | resolution | s/step | it/s | s/image | peak memory (MB) | note |",
        "|---|---|---|---:|---:|---:|---:|---|",
    ]
    for result in results:
        config = result.config
        lines.append(f"| {config.precision} | {config.attention} | {config.resolution} | "
                     f"{_figure(result.seconds_per_step)} | {_figure(result.iterations_per_second, 2)} | "
                     f"{_figure(result.seconds_per_image)} | {_figure(result.peak_memory_mb, 1)} | "
                     f"{'skipped: ' + result.skipped if result.skipped else ''} |")
    return "\n".join(lines) + "\n"


def csv_report(results: list[RunResult]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_FIELDS)
    for result in results:
        config = result.config
        writer.writerow([config.precision, config.attention, config.resolution, _figure(result.seconds_per_step, 6),
                         _figure(result.iterations_per_second, 4), _figure(result.seconds_per_image, 6),
                         _figure(result.peak_memory_mb, 2), result.skipped or ""])
    return buffer.getvalue()


def plot_png(system: SystemDescription, results: list[RunResult]) -> bytes:
    """Seconds per image and peak memory against resolution, one line per precision × attention."""
    import matplotlib

    matplotlib.use("Agg")  # no display; the figure only goes to a PNG
    from matplotlib import pyplot

    measured = [result for result in results if result.skipped is None]
    figure, (speed, memory) = pyplot.subplots(1, 2, figsize=(11, 4.2))
    for key in sorted({(r.config.precision, r.config.attention) for r in measured}):
        points = sorted((r.config.resolution, r.seconds_per_image, r.peak_memory_mb) for r in measured
                        if (r.config.precision, r.config.attention) == key)
        label = f"{key[0]} · {key[1]}"
        speed.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=label)
        memory.plot([p[0] for p in points], [p[2] for p in points], marker="o", label=label)
    speed.set(title="Seconds per image", xlabel="resolution (px)", ylabel="s")
    memory.set(title="Peak memory", xlabel="resolution (px)", ylabel="MB")
    speed.legend(fontsize=8)
    figure.suptitle(f"{system.checkpoint} on {system.device}")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    pyplot.close(figure)
    return buffer.getvalue()
