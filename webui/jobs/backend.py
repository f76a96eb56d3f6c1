"""How the queue hands a job to a device worker, and which runner does each kind of job.

The queue decides *which* job runs next; an `ExecutionBackend` decides *where*. `LocalBackend` is one device
thread in this process that owns the device and the model manager. A backend in other processes or on other
machines (`webui.workers.ray_backend.RayBackend`) implements the same two members (run a job to its end, say whether
the calling code is already on a worker), so the API and the UI do not change when workers are added; a backend
with several workers also declares `slots` (how many jobs run at once; the queue runs that many dispatchers) and
`choose(ordered)` (which of the waiting jobs, in the fair order, a free worker takes now: model affinity, bounded by
fairness; None when no worker is free). A worker lost mid-job raises `WorkerLost`: the queue queues the job again,
once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from webui.errors import KestrelError
from webui.jobs.device import DeviceThread
from webui.jobs.job import Job, JobKind

T = TypeVar("T")
Runner = Callable[[Job], Any]


class RunnerRegistry:
    """kind → the function that does that kind of job on a worker. Registering a kind twice is a mistake."""

    def __init__(self) -> None:
        self._runners: dict[JobKind, Runner] = {}

    def register(self, kind: JobKind, runner: Runner) -> None:
        if kind in self._runners:
            raise ValueError(f"a runner for {kind.value!r} jobs is already registered")
        self._runners[kind] = runner

    def runner_for(self, kind: JobKind) -> Runner:
        try:
            return self._runners[kind]
        except KeyError:
            known = ", ".join(sorted(k.value for k in self._runners)) or "none"
            raise LookupError(f"no runner for {kind.value!r} jobs (registered: {known})") from None

    @property
    def kinds(self) -> tuple[JobKind, ...]:
        return tuple(self._runners)


class WorkerLost(KestrelError):
    """The worker running a job died (killed, out of memory, its node lost) before the job ended: nothing of that
    run exists, so the job may run again elsewhere. A job lost twice fails with this error."""

    http_status = 503

    def __init__(self, worker: str, reason: str) -> None:
        super().__init__(f"worker {worker} was lost while running the job: {reason}")
        self.worker = worker


class ExecutionBackend(Protocol):
    def execute(self, job: Job) -> Any:
        """Run `job` to its end on a device worker and return its result (or raise its error); blocks the caller
        (the queue's dispatcher thread) meanwhile."""

    @property
    def on_worker(self) -> bool:
        """True when called from a device worker (a hook): waiting there for another job would deadlock."""


class LocalBackend:
    """One device thread in this process (see device.py for why it is one thread)."""

    def __init__(self, runners: RunnerRegistry, device: DeviceThread | None = None) -> None:
        self._runners = runners
        self._device = device or DeviceThread()

    def execute(self, job: Job) -> Any:
        runner = self._runners.runner_for(job.kind)
        return self._device.run(runner, job)

    def call(self, function: Callable[..., T], *args: Any) -> T:
        """Device work outside any job: only the composition root uses it, while it builds the App (before the
        queue starts, the starting checkpoint is loaded this way)."""
        return self._device.run(function, *args)

    @property
    def on_worker(self) -> bool:
        return self._device.is_current

    def shutdown(self) -> None:
        self._device.shutdown()
