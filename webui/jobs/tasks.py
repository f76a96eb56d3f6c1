"""The device tasks besides generation and Extras: checkpoint switches, merges, conversions, benchmarks.

Each is a frozen spec submitted to the one `JobQueue` under its `JobKind`, so it waits its turn like a generation,
belongs to whoever asked, shows progress, and fails with a typed error instead of blocking a UI handler on the device.
`job_result` (async) and `wait_result` (blocking, for tools and tests) turn a finished job into its result or its
error, once for every caller.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from webui.errors import KestrelError
from webui.jobs.job import Job, JobKind, JobSnapshot, JobState
from webui.model_manager.manager import LoadedModel, ModelManager
from webui.model_manager.tools import CheckpointTools


class JobFailed(KestrelError):
    """A job ended with an error that is not one of the typed ones (a bug, or a library's error): a 500 that
    names the job, whose traceback is in the log."""

    http_status = 500

    def __init__(self, job_id: str, error: str) -> None:
        super().__init__(f"job {job_id} failed: {error}")
        self.job_id = job_id


class JobCancelled(KestrelError):
    http_status = 409

    def __init__(self, job_id: str) -> None:
        super().__init__(f"job {job_id} was cancelled before it ran")
        self.job_id = job_id


def outcome(snapshot: JobSnapshot) -> Any:
    """The result of a finished job, or its error raised (typed errors as they are)."""
    if snapshot.state is JobState.DONE:
        return snapshot.result
    if snapshot.state is JobState.CANCELLED:
        raise JobCancelled(snapshot.id)
    if snapshot.failure is not None:
        raise snapshot.failure
    raise JobFailed(snapshot.id, snapshot.error or "no result")


async def job_result(job: Job) -> Any:
    """Await the job's end without holding a thread; its result, or its error raised."""
    return outcome(await job.done())


def wait_result(job: Job, timeout: float = 3600.0) -> Any:
    """Block this thread until the job ends (command-line tools and tests; never an event loop's handler)."""
    deadline = time.monotonic() + timeout
    snapshot = job.snapshot()
    while not snapshot.state.finished:
        if time.monotonic() > deadline:
            raise TimeoutError(f"job {job.id} did not finish within {timeout:.0f} s")
        snapshot = job.wait_for_update(snapshot.version, timeout=1.0)
    return outcome(snapshot)


@dataclass(frozen=True)
class ModelSwitch:
    """Make a checkpoint live (query: title, name or hash), optionally with a VAE choice; `remember` writes it
    into the instance's settings (A1111's sd_model_checkpoint), as an admin's switch does."""

    checkpoint: str | None = None
    vae: str | None = None
    unload: bool = False
    remember: bool = True


@dataclass(frozen=True)
class MergeSpec:
    primary: str
    secondary: str
    tertiary: str | None
    method: str
    multiplier: float
    custom_name: str = ""
    vae: Path | None = None


@dataclass(frozen=True)
class ConvertSpec:
    checkpoint: str


@dataclass(frozen=True)
class BenchmarkSpec:
    request: Any               # webui.benchmark.suite.BenchmarkRequest
    outputs: Path


Remember = Callable[[LoadedModel | None, str | None], None]  # (the checkpoint now live, the VAE choice) → settings
BenchmarkRunner = Callable[..., Any]


class DeviceTasks:
    """The runners of the MODEL, MERGE, CONVERT and BENCHMARK kinds (they run on the device worker)."""

    def __init__(self, models: ModelManager, tools: CheckpointTools, remember: Remember,
                 benchmark: BenchmarkRunner | None = None) -> None:
        self._models = models
        self._tools = tools
        self._remember = remember
        self._benchmark = benchmark

    def register(self, registry: Any) -> None:
        registry.register(JobKind.MODEL, self.switch)
        registry.register(JobKind.MERGE, self.merge)
        registry.register(JobKind.CONVERT, self.convert)
        registry.register(JobKind.BENCHMARK, self.benchmark)

    def switch(self, job: Job) -> str | None:
        """Returns the live checkpoint's title (None after an unload)."""
        spec: ModelSwitch = job.spec
        if spec.unload:
            self._models.unload()
            return None
        if spec.vae is not None:
            self._models.set_vae(spec.vae)
        loaded = self._models.loaded
        if spec.checkpoint is not None:
            loaded = self._models.load(spec.checkpoint, lambda what, fraction: job.report_progress(
                0, int(fraction * 100), 100))
        if spec.remember:
            self._remember(loaded, spec.vae)
        return loaded.record.title if loaded else None

    def merge(self, job: Job) -> Path:
        spec: MergeSpec = job.spec
        return self._tools.merge(spec.primary, spec.secondary, spec.tertiary, spec.method, spec.multiplier,
                                 spec.custom_name, spec.vae, lambda done, total: job.report_progress(0, done, total))

    def convert(self, job: Job) -> Any:
        return self._tools.convert(job.spec.checkpoint)

    def benchmark(self, job: Job) -> Any:
        if self._benchmark is None:
            raise LookupError("no benchmark runner is configured")
        spec: BenchmarkSpec = job.spec
        return self._benchmark(self._models, spec.outputs, spec.request,
                               progress=lambda done, total, what: job.report_progress(0, done, max(total, 1)))
