"""A job in the queue: what kind of device work, who asked, what for, how far it is, and how it ended.

Every device task is a job — generation, Extras upscales, merges and conversions, benchmarks, checkpoint switches —
so all of them share the queue's fairness, ownership, limits, progress, cancel and history. Readers never touch a
`Job`'s fields; they take immutable `JobSnapshot`s. Waiting comes in two forms: `wait_for_update` blocks a thread
(the worker side, tests), while `next_update` / `done` / `updates` are awaited on an event loop and hold no thread —
what the API routes and the UI's handlers use, so a thousand waiting clients cost a thousand small futures, not a
thousand threads.
"""

from __future__ import annotations

import asyncio
import enum
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from webui.errors import KestrelError

ResultT = TypeVar("ResultT")


class JobKind(enum.StrEnum):
    GENERATE = "generate"
    EXTRAS = "extras"
    MERGE = "merge"
    CONVERT = "convert"
    BENCHMARK = "benchmark"
    MODEL = "model"          # load / switch / unload a checkpoint, choose a VAE
    INTERROGATE = "interrogate"  # CLIP / DeepBooru: an image → a prompt


class JobState(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (JobState.DONE, JobState.FAILED, JobState.CANCELLED)


@dataclass(frozen=True)
class JobProgress:
    """Generation: batch i of n, step s of m. Extras: image i of n, tile s of m. Others: 0 of 0 until done."""

    batch_index: int = 0
    step: int = 0
    total_steps: int = 0
    batch_count: int = 1

    @property
    def fraction(self) -> float:
        """A1111's progress: finished batches plus the current batch's share of its steps."""
        if self.batch_count <= 0:
            return 0.0
        within = self.step / self.total_steps if self.total_steps > 0 else 0.0
        if self.total_steps <= 0 and self.batch_index == 0:
            return 0.0
        return min(1.0, (self.batch_index + within) / self.batch_count)


@dataclass(frozen=True)
class JobSnapshot(Generic[ResultT]):
    id: str
    owner: str
    state: JobState
    progress: JobProgress
    version: int
    queue_position: int | None     # 0 = next to run; None once running or finished
    started_at: float | None
    finished_at: float | None
    result: ResultT | None
    error: str | None
    cancel_requested: bool = False
    preview: bytes | None = None    # PNG of the latest live preview while running
    kind: JobKind = JobKind.GENERATE
    failure: KestrelError | None = None  # the typed error a failed job ended with (mapped to a status at the edge)
    worker: str | None = None       # the device worker running it (or that ran it); None in-process
    retried_from: tuple[str, ...] = ()  # workers lost while running it (it was queued again once)

    @property
    def eta_seconds(self) -> float | None:
        """elapsed / progress − elapsed, as A1111 computes it; None until there is progress to extrapolate."""
        fraction = self.progress.fraction
        if self.started_at is None or fraction <= 0.0 or self.state.finished:
            return None
        elapsed = time.monotonic() - self.started_at
        return elapsed / fraction - elapsed


def _initial_progress(spec: object) -> JobProgress:
    steps = getattr(spec, "steps", 0)
    count = getattr(spec, "batch_count", 1)
    return JobProgress(total_steps=steps if isinstance(steps, int) else 0,
                       batch_count=count if isinstance(count, int) else 1)


class Job(Generic[ResultT]):
    """`spec` is the frozen description of the work (a GenerationRequest, an ExtrasSpec, a ModelSwitch, ...)."""

    def __init__(self, spec: Any, owner: str, job_id: str | None = None,
                 kind: JobKind = JobKind.GENERATE) -> None:
        self.id = job_id or uuid.uuid4().hex
        self.owner = owner
        self.kind = kind
        self.spec = spec
        self.stored = False          # in the job store: it runs again after a restart
        self._condition = threading.Condition()
        self._watchers: list[Callable[[], None]] = []
        self._state = JobState.QUEUED
        self._progress = _initial_progress(spec)
        self._version = 0
        self._queue_position: int | None = None
        self._started_at: float | None = None
        self._finished_at: float | None = None
        self._result: ResultT | None = None
        self._error: str | None = None
        self._failure: KestrelError | None = None
        self._cancel_requested = threading.Event()
        self._skip_requested = threading.Event()
        self._shutdown_requested = threading.Event()
        self._preview: bytes | None = None
        self._worker: str | None = None
        self._retried_from: tuple[str, ...] = ()

    @property
    def request(self) -> Any:
        """The generation request (generation jobs); other kinds' spec under the same name."""
        return self.spec

    def _changed(self, **fields: object) -> None:
        with self._condition:
            for name, value in fields.items():
                setattr(self, f"_{name}", value)
            self._version += 1
            self._condition.notify_all()
            watchers = list(self._watchers)
        for wake in watchers:  # outside the lock: a watcher only schedules a wake-up on its event loop
            wake()

    def add_watcher(self, wake: Callable[[], None]) -> None:
        """`wake()` is called (on whichever thread changed the job, outside its lock) after every change; it must
        be quick and must not block — schedule work elsewhere."""
        with self._condition:
            self._watchers.append(wake)

    def snapshot(self) -> JobSnapshot[ResultT]:
        with self._condition:
            return self._snapshot_locked()

    def wait_for_update(self, seen_version: int, timeout: float) -> JobSnapshot[ResultT]:
        """Block until the job changes past `seen_version` (or the timeout passes); returns the latest snapshot."""
        with self._condition:
            self._condition.wait_for(lambda: self._version > seen_version, timeout=timeout)
        return self.snapshot()

    async def next_update(self, seen_version: int, timeout: float | None = None) -> JobSnapshot[ResultT]:
        """Await a change past `seen_version` without holding a thread (the worker wakes this loop)."""
        loop = asyncio.get_running_loop()
        changed = asyncio.Event()

        def wake() -> None:
            try:
                loop.call_soon_threadsafe(changed.set)
            except RuntimeError:  # the loop closed (server stopping): nobody is waiting any more
                pass

        with self._condition:
            if self._version > seen_version:
                return self._snapshot_locked()
            self._watchers.append(wake)
        try:
            await asyncio.wait_for(changed.wait(), timeout)
        except TimeoutError:
            pass
        finally:
            with self._condition:
                self._watchers.remove(wake)
        return self.snapshot()

    def _snapshot_locked(self) -> JobSnapshot[ResultT]:
        return JobSnapshot(self.id, self.owner, self._state, self._progress, self._version, self._queue_position,
                           self._started_at, self._finished_at, self._result, self._error,
                           self._cancel_requested.is_set(), self._preview, self.kind, self._failure,
                           self._worker, self._retried_from)

    async def done(self) -> JobSnapshot[ResultT]:
        """Await the end of the job; a cancelled awaiter (a client that went away) leaves the job running."""
        snapshot = self.snapshot()
        while not snapshot.state.finished:
            snapshot = await self.next_update(snapshot.version)
        return snapshot

    async def updates(self, interval: float = 0.0) -> AsyncIterator[JobSnapshot[ResultT]]:
        """Each change (at most one every `interval` seconds while running; the end at once), up to the end."""
        snapshot = self.snapshot()
        yield snapshot
        while not snapshot.state.finished:
            snapshot = await self.next_update(snapshot.version)
            deadline = time.monotonic() + interval
            while not snapshot.state.finished and (left := deadline - time.monotonic()) > 0:
                snapshot = await self.next_update(snapshot.version, timeout=left)
            yield snapshot

    @property
    def cancel_requested(self) -> bool:
        return self._cancel_requested.is_set()

    @property
    def shutdown_requested(self) -> bool:
        """Stopped because the server is shutting down: the job is kept and runs again after the restart, so what
        this run made is not saved (it would be saved twice)."""
        return self._shutdown_requested.is_set()

    def request_skip(self) -> None:
        """A1111's Skip: finish the batch being sampled with what it has and go on with the next one."""
        self._skip_requested.set()

    def take_skip(self) -> bool:
        """True once per request_skip (the engine asks at every step)."""
        if self._skip_requested.is_set():
            self._skip_requested.clear()
            return True
        return False

    def request_cancel(self) -> None:
        self._cancel_requested.set()
        self._changed()

    # Called by the queue and its worker only.
    def request_shutdown(self) -> None:
        self._shutdown_requested.set()
        self.request_cancel()

    def set_queue_position(self, position: int | None) -> None:
        if position != self._queue_position:
            self._changed(queue_position=position)

    def mark_running(self) -> None:
        self._changed(state=JobState.RUNNING, queue_position=None, started_at=time.monotonic())

    def set_worker(self, name: str) -> None:
        self._changed(worker=name)

    def requeue_after_loss(self, lost_worker: str) -> None:
        """Its worker died mid-job (nothing of that run is kept): it waits again, and its history says where."""
        self._changed(state=JobState.QUEUED, worker=None, started_at=None, preview=None,
                      retried_from=(*self._retried_from, lost_worker), progress=_initial_progress(self.spec))

    def report_progress(self, batch_index: int, step: int, total_steps: int, batch_count: int | None = None) -> None:
        count = batch_count if batch_count is not None else self._progress.batch_count
        self._changed(progress=JobProgress(batch_index, step, total_steps, count))

    def set_preview(self, png: bytes) -> None:
        self._changed(preview=png)

    def finish(self, state: JobState, result: ResultT | None = None, error: str | None = None,
               failure: KestrelError | None = None) -> None:
        self._changed(state=state, result=result, error=error, failure=failure, queue_position=None,
                      finished_at=time.monotonic())
