"""The job queue: one worker thread owns the device and runs jobs one at a time.

Every generation — from the UI today, the HTTP API and extensions later — is submitted here, so jobs never race
for the GPU and a checkpoint switch never happens under a running job. Which queued job runs next is decided by a
`SchedulingPolicy` (first come, first served now; per-user round-robin can replace it without touching callers),
and the `JobQueue` interface is small enough for a distributed backend to implement later.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Sequence
from typing import Generic, Protocol, TypeVar

from webui.engine.request import GenerationRequest
from webui.jobs.job import Job, JobSnapshot, JobState

log = logging.getLogger(__name__)
ResultT = TypeVar("ResultT")


class SchedulingPolicy(Protocol):
    def pick_next(self, queued: Sequence[Job]) -> Job: ...


class FirstComeFirstServed:
    def pick_next(self, queued: Sequence[Job]) -> Job:
        return queued[0]


class QueueFullError(RuntimeError):
    pass


class JobQueue(Generic[ResultT]):
    def __init__(self, runner: Callable[[Job], ResultT], policy: SchedulingPolicy | None = None,
                 max_queued: int = 256, finished_kept: int = 256) -> None:
        self._runner = runner
        self._policy = policy or FirstComeFirstServed()
        self._max_queued = max_queued
        self._lock = threading.Condition()
        self._queued: list[Job] = []
        self._jobs: dict[str, Job] = {}
        self._running: Job | None = None
        self._finished_ids: deque[str] = deque()
        self._finished_kept = finished_kept  # finished jobs stay readable (results, errors) up to this many
        self._stopping = False
        self._worker: threading.Thread | None = None

    def start(self) -> None:
        """Start the worker (not at construction: building the App must not start threads)."""
        with self._lock:
            if self._worker is not None:
                return
            self._stopping = False
            self._worker = threading.Thread(target=self._work, name="generation-worker", daemon=True)
            self._worker.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Cancel what is queued, let the running job stop at its next step, and join the worker."""
        with self._lock:
            self._stopping = True
            for job in self._queued:
                job.finish(JobState.CANCELLED, error="server is shutting down")
            self._queued.clear()
            if self._running is not None:
                self._running.request_cancel()
            self._lock.notify_all()
            worker, self._worker = self._worker, None
        if worker is not None:
            worker.join(timeout)

    def submit(self, request: GenerationRequest, owner: str) -> Job:
        job: Job = Job(request, owner)
        with self._lock:
            if self._stopping:
                raise RuntimeError("the server is shutting down; no new jobs are accepted")
            if len(self._queued) >= self._max_queued:
                raise QueueFullError(f"the queue is full ({self._max_queued} jobs waiting); try again later")
            self._queued.append(job)
            self._jobs[job.id] = job
            self._update_positions()
            self._lock.notify_all()
        return job

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def cancel(self, job_id: str) -> bool:
        """Cancel a queued job at once, or ask the running one to stop at its next step."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None or job.snapshot().state.finished:
                return False
            if job in self._queued:
                self._queued.remove(job)
                self._update_positions()
                job.finish(JobState.CANCELLED)
            else:
                job.request_cancel()
            return True

    def skip_running(self, owner: str | None = None) -> bool:
        """Skip the running job's current batch (only if it belongs to `owner`, when one is given)."""
        with self._lock:
            job = self._running
        if job is None or (owner is not None and job.owner != owner):
            return False
        job.request_skip()
        return True

    def cancel_owned_by(self, owner: str) -> int:
        """Cancel every unfinished job of one owner (what an Interrupt button means); returns how many."""
        with self._lock:
            ids = [job.id for job in [*self._queued, self._running] if job is not None and job.owner == owner]
        return sum(self.cancel(job_id) for job_id in ids)

    def snapshot_running(self) -> JobSnapshot | None:
        with self._lock:
            return self._running.snapshot() if self._running else None

    def queued_count(self) -> int:
        with self._lock:
            return len(self._queued)

    def _update_positions(self) -> None:
        for position, job in enumerate(self._queued):
            job.set_queue_position(position)

    def _next_job(self) -> Job | None:
        with self._lock:
            self._lock.wait_for(lambda: self._queued or self._stopping)
            if self._stopping:
                return None
            job = self._policy.pick_next(self._queued)
            self._queued.remove(job)
            self._running = job
            self._update_positions()
        job.mark_running()
        return job

    def _work(self) -> None:
        while (job := self._next_job()) is not None:
            try:
                result = self._runner(job)
            except Exception as error:  # one bad job must not kill the worker; the error goes to its owner
                log.exception("job %s failed", job.id)
                job.finish(JobState.FAILED, error=str(error) or type(error).__name__)
            else:
                job.finish(JobState.DONE, result=result)
            finally:
                self._retire(job)

    def _retire(self, job: Job) -> None:
        with self._lock:
            self._running = None
            self._finished_ids.append(job.id)
            while len(self._finished_ids) > self._finished_kept:
                self._jobs.pop(self._finished_ids.popleft(), None)
