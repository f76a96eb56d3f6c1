"""A job in the queue: who asked, what for, how far it is, and how it ended.

Readers never touch a `Job`'s fields directly; they take immutable `JobSnapshot`s, and `wait_for_update` lets a UI
handler or an HTTP long-poll sleep until something changes instead of spinning.
"""

from __future__ import annotations

import enum
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Generic, TypeVar

from webui.engine.request import GenerationRequest

ResultT = TypeVar("ResultT")


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
    batch_index: int = 0     # which batch (of batch_count) is being sampled
    step: int = 0
    total_steps: int = 0
    batch_count: int = 1

    @property
    def fraction(self) -> float:
        """A1111's progress: finished batches plus the current batch's share of its steps."""
        if self.total_steps <= 0 or self.batch_count <= 0:
            return 0.0
        return min(1.0, (self.batch_index + self.step / self.total_steps) / self.batch_count)


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

    @property
    def eta_seconds(self) -> float | None:
        """elapsed / progress − elapsed, as A1111 computes it; None until there is progress to extrapolate."""
        fraction = self.progress.fraction
        if self.started_at is None or fraction <= 0.0 or self.state.finished:
            return None
        elapsed = time.monotonic() - self.started_at
        return elapsed / fraction - elapsed


class Job(Generic[ResultT]):
    def __init__(self, request: GenerationRequest, owner: str, job_id: str | None = None) -> None:
        self.id = job_id or uuid.uuid4().hex
        self.owner = owner
        self.request = request
        self._condition = threading.Condition()
        self._state = JobState.QUEUED
        self._progress = JobProgress(total_steps=request.steps, batch_count=request.batch_count)
        self._version = 0
        self._queue_position: int | None = None
        self._started_at: float | None = None
        self._finished_at: float | None = None
        self._result: ResultT | None = None
        self._error: str | None = None
        self._cancel_requested = threading.Event()
        self._skip_requested = threading.Event()
        self._preview: bytes | None = None

    def _changed(self, **fields: object) -> None:
        with self._condition:
            for name, value in fields.items():
                setattr(self, f"_{name}", value)
            self._version += 1
            self._condition.notify_all()

    def snapshot(self) -> JobSnapshot[ResultT]:
        with self._condition:
            return JobSnapshot(self.id, self.owner, self._state, self._progress, self._version,
                               self._queue_position, self._started_at, self._finished_at, self._result, self._error,
                               self._cancel_requested.is_set(), self._preview)

    def wait_for_update(self, seen_version: int, timeout: float) -> JobSnapshot[ResultT]:
        """Block until the job changes past `seen_version` (or the timeout passes); returns the latest snapshot."""
        with self._condition:
            self._condition.wait_for(lambda: self._version > seen_version, timeout=timeout)
        return self.snapshot()

    @property
    def cancel_requested(self) -> bool:
        return self._cancel_requested.is_set()

    def request_skip(self) -> None:
        """A1111's Skip: abandon the batch being sampled and go on with the next one."""
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
    def set_queue_position(self, position: int | None) -> None:
        if position != self._queue_position:
            self._changed(queue_position=position)

    def mark_running(self) -> None:
        self._changed(state=JobState.RUNNING, queue_position=None, started_at=time.monotonic())

    def report_progress(self, batch_index: int, step: int, total_steps: int) -> None:
        self._changed(progress=JobProgress(batch_index, step, total_steps, self.request.batch_count))

    def set_preview(self, png: bytes) -> None:
        self._changed(preview=png)

    def finish(self, state: JobState, result: ResultT | None = None, error: str | None = None) -> None:
        self._changed(state=state, result=result, error=error, queue_position=None, finished_at=time.monotonic())
