"""The job queue: one worker thread owns the device and runs jobs one at a time.

Every generation — from the UI, the HTTP API and extensions — is submitted here, so jobs never race for the GPU and a
checkpoint switch never happens under a running job. Which queued job runs next is the `SchedulingPolicy`'s choice
(round-robin between owners on a shared instance); limits per owner and in total refuse new jobs with a `QueueFullError`
that says when to retry; a `JobStore` keeps waiting jobs across a restart. The `JobQueue` interface is small enough
for a distributed backend to implement later.
"""

from __future__ import annotations

import logging
import math
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import replace
from typing import Generic, TypeVar

from webui.engine.request import GenerationRequest
from webui.jobs.job import Job, JobSnapshot, JobState
from webui.jobs.scheduling import FirstComeFirstServed, SchedulingPolicy
from webui.jobs.store import JobStore, NoJobStore

log = logging.getLogger(__name__)
ResultT = TypeVar("ResultT")
DEFAULT_JOB_SECONDS = 5.0  # the Retry-After estimate before any job has finished


class QueueFullError(RuntimeError):
    """The queue (or this owner's share of it) is full; `retry_after` estimates when a place frees up."""

    def __init__(self, message: str, retry_after: float = DEFAULT_JOB_SECONDS) -> None:
        super().__init__(message)
        self.retry_after = max(1, min(3600, math.ceil(retry_after)))


class JobQueue(Generic[ResultT]):
    def __init__(self, runner: Callable[[Job], ResultT], policy: SchedulingPolicy | None = None,
                 max_queued: int = 256, finished_kept: int = 256, max_per_owner: int | None = None,
                 store: JobStore | None = None) -> None:
        self._runner = runner
        self._policy = policy or FirstComeFirstServed()
        self._max_queued = max_queued
        self._max_per_owner = max_per_owner or max_queued
        self._store = store or NoJobStore()
        self._recent_seconds: deque[float] = deque(maxlen=20)
        self._lock = threading.Condition()
        self._queued: list[Job] = []
        self._jobs: dict[str, Job] = {}
        self._running: Job | None = None
        self._finished_ids: deque[str] = deque()
        self._finished_kept = finished_kept  # finished jobs stay readable (results, errors) up to this many
        self._stopping = False
        self._worker: threading.Thread | None = None

    def start(self) -> None:
        """Queue the jobs a previous run left in the store, then start the worker (not at construction: building the
        App must not start threads). Restored jobs save their images: whoever waited for them is gone."""
        with self._lock:
            if self._worker is not None:
                return
            for stored in self._store.pending():
                job: Job = Job(replace(stored.request, save_images=True), stored.owner, job_id=stored.id)
                self._queued.append(job)
                self._jobs[job.id] = job
            if self._queued:
                log.info("restored %d queued job(s) from the last run", len(self._queued))
                self._update_positions()
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
            worker = self._worker
        if worker is not None:
            worker.join(timeout)  # timeout 0 at a signal: later stop() calls join it
            if not worker.is_alive():
                with self._lock:
                    self._worker = None

    def submit(self, request: GenerationRequest, owner: str) -> Job:
        job: Job = Job(request, owner)
        with self._lock:
            if self._stopping:
                raise RuntimeError("the server is shutting down; no new jobs are accepted")
            self._check_room(owner)
            self._store.add(job.id, owner, request)
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
                self._store.remove(job.id)
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

    def snapshots_of(self, owner: str) -> list[JobSnapshot]:
        """One owner's jobs, waiting, running and recently finished (their history), oldest first."""
        with self._lock:
            jobs = [job for job in self._jobs.values() if job.owner == owner]
        return [job.snapshot() for job in jobs]

    def ahead_of(self, owner: str) -> int | None:
        """How many jobs run before this owner's next waiting one (None if the owner has nothing waiting)."""
        with self._lock:
            ordered = self._policy.order(self._queued)
            running = 1 if self._running is not None and self._running.owner != owner else 0
        for position, job in enumerate(ordered):
            if job.owner == owner:
                return position + running
        return None

    def snapshot_running(self) -> JobSnapshot | None:
        with self._lock:
            return self._running.snapshot() if self._running else None

    def queued_count(self) -> int:
        with self._lock:
            return len(self._queued)

    def _check_room(self, owner: str) -> None:
        """Raise QueueFullError when the queue or this owner's share is full (caller holds the lock)."""
        job_seconds = sum(self._recent_seconds) / len(self._recent_seconds) if self._recent_seconds \
            else DEFAULT_JOB_SECONDS
        if len(self._queued) >= self._max_queued:
            raise QueueFullError(f"the queue is full ({self._max_queued} jobs waiting); try again later", job_seconds)
        owned = sum(job.owner == owner for job in self._queued)
        if owned >= self._max_per_owner:
            owners = len({job.owner for job in self._queued})
            raise QueueFullError(f"you already have {owned} jobs waiting (the limit per user is "
                                 f"{self._max_per_owner}); try again when one has run", job_seconds * owners)

    def _update_positions(self) -> None:
        for position, job in enumerate(self._policy.order(self._queued)):
            job.set_queue_position(position)

    def _next_job(self) -> Job | None:
        with self._lock:
            self._lock.wait_for(lambda: self._queued or self._stopping)
            if self._stopping:
                return None
            job = self._policy.order(self._queued)[0]
            self._queued.remove(job)
            self._policy.started(job, self._queued)
            self._running = job
            self._update_positions()
        job.mark_running()
        return job

    def _work(self) -> None:
        while (job := self._next_job()) is not None:
            started = job.snapshot().started_at
            try:
                result = self._runner(job)
            except Exception as error:  # one bad job must not kill the worker; the error goes to its owner
                log.exception("job %s failed", job.id)
                self._unstore(job)
                job.finish(JobState.FAILED, error=str(error) or type(error).__name__)
            else:
                self._unstore(job)  # before finishing, so whoever sees the job done sees it gone from the store
                job.finish(JobState.DONE, result=result)
            finally:
                self._retire(job, started)

    def _unstore(self, job: Job) -> None:
        try:
            if not (self._stopping and job.cancel_requested):  # stopped by a shutdown: it runs again after the restart
                self._store.remove(job.id)
        except Exception:  # a store failure must not stop the worker; the job may run again after a restart
            log.exception("could not remove finished job %s from the store", job.id)

    def _retire(self, job: Job, started: float | None) -> None:
        finished = job.snapshot().finished_at
        if started is not None and finished is not None:
            self._recent_seconds.append(finished - started)
        with self._lock:
            self._running = None
            self._finished_ids.append(job.id)
            while len(self._finished_ids) > self._finished_kept:
                self._jobs.pop(self._finished_ids.popleft(), None)
