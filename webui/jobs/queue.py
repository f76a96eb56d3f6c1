"""The job queue: every device task of every caller waits here, and one backend runs them one at a time.

Generation, Extras, merges and conversions, benchmarks and checkpoint switches from the UI, the HTTP API and
extensions are all submitted here, so they take fair turns, never race for the GPU, and a checkpoint switch never
happens under a running job. Which queued job runs next is the `SchedulingPolicy`'s choice (round-robin between
owners on a shared instance); limits per owner (`--queue-per-user`, 32) and in total (`--queue-max`, 256) refuse new
jobs with a `QueueFullError` whose `retry_after` (seconds; the API's Retry-After) estimates when a place frees up
from the recent job times; a `JobStore` keeps waiting generation jobs across a restart. Where a job runs is the
`ExecutionBackend`'s business (backend.py).

The lock guards the queue's lists only: a job's payload is encoded and stored before the lock is taken, and
waiters are woken by the job itself, outside it.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any, TypeVar

from webui.errors import DiskFull, KestrelError, ShuttingDown
from webui.jobs.backend import WorkerLost
from webui.jobs.job import Job, JobKind, JobSnapshot, JobState
from webui.jobs.scheduling import FirstComeFirstServed, SchedulingPolicy
from webui.jobs.store import JobStore, NoJobStore

log = logging.getLogger(__name__)
DEFAULT_JOB_SECONDS = 5.0  # the Retry-After estimate before any job has finished
ADMISSION_THREADS = 2      # admissions write the store one at a time anyway; a burst of 60 needs no 40 threads
T = TypeVar("T")


class QueueFullError(KestrelError):
    """The queue (or this owner's share of it) is full; `retry_after` estimates when a place frees up."""

    http_status = 429

    def __init__(self, message: str, retry_after: float = DEFAULT_JOB_SECONDS) -> None:
        super().__init__(message)
        self.retry_after = max(1, min(3600, math.ceil(retry_after)))


class _CallableBackend:
    """A plain function as the backend (tests, tools): runs the job on the queue's own worker thread."""

    def __init__(self, runner: Callable[[Job], Any]) -> None:
        self._runner = runner
        self._thread_id: int | None = None

    def execute(self, job: Job) -> Any:
        self._thread_id = threading.get_ident()
        return self._runner(job)

    @property
    def on_worker(self) -> bool:
        return threading.get_ident() == self._thread_id


class JobQueue:
    def __init__(self, backend: Any, policy: SchedulingPolicy | None = None,
                 max_queued: int = 256, finished_kept: int = 256, max_per_owner: int | None = None,
                 store: JobStore | None = None) -> None:
        self._backend = backend if hasattr(backend, "execute") else _CallableBackend(backend)
        self._policy = policy or FirstComeFirstServed()
        self._max_queued = max_queued
        self._max_per_owner = max_per_owner or max_queued
        self._store = store or NoJobStore()
        self._persistent = not isinstance(self._store, NoJobStore)
        self._recent_seconds: deque[float] = deque(maxlen=20)
        self._lock = threading.Condition()
        self._queued: list[Job] = []
        self._jobs: dict[str, Job] = {}
        self._running: list[Job] = []  # one per worker (the backend's `slots`), oldest first
        self._finished_ids: deque[str] = deque()
        self._finished_kept = finished_kept  # finished jobs stay readable (results, errors) up to this many
        self._stopping = False
        self._workers: list[threading.Thread] = []  # the dispatchers: one per slot of the backend
        # threads are made on first use, not here: building the App starts none
        self._admission = ThreadPoolExecutor(max_workers=ADMISSION_THREADS, thread_name_prefix="admission")

    async def off_loop(self, function: Callable[..., T], *args: Any) -> T:
        """Run a short blocking step of admission (header checks, encoding, the store write) on the queue's own
        small pool, so an event loop never blocks on it and a burst of callers borrows two threads, not forty."""
        return await asyncio.get_running_loop().run_in_executor(self._admission, function, *args)

    @property
    def limits(self) -> tuple[int, int]:
        """(waiting jobs per owner, waiting jobs in all) before a submit is refused with QueueFullError."""
        return self._max_per_owner, self._max_queued

    @property
    def on_worker(self) -> bool:
        """True on the device worker (inside a job): waiting for another job there would deadlock."""
        return bool(self._backend.on_worker)

    def start(self, restore: bool = True) -> None:
        """Queue the jobs a previous run left in the store (unless `restore` is off: a command-line tool must not
        run the server's waiting jobs), then start the dispatcher (not at construction: building the App must not
        start threads). Restored jobs save their images: whoever waited is gone."""
        with self._lock:
            if self._workers:
                return
            for stored in self._store.pending() if restore else []:
                job: Job = Job(replace(stored.request, save_images=True), stored.owner, job_id=stored.id)
                job.stored = True
                self._queued.append(job)
                self._jobs[job.id] = job
            if self._queued:
                log.info("restored %d queued job(s) from the last run", len(self._queued))
                self._update_positions()
            self._stopping = False
            slots = max(1, int(getattr(self._backend, "slots", 1)))
            self._workers = [threading.Thread(target=self._work, name=f"job-dispatcher-{slot}", daemon=True)
                             for slot in range(slots)]
            for worker in self._workers:
                worker.start()
        if hasattr(self._backend, "set_wakeup"):  # a worker that becomes free (or rejoins) wakes the dispatchers
            self._backend.set_wakeup(self._wake)

    def _wake(self) -> None:
        with self._lock:
            self._lock.notify_all()

    def stop(self, timeout: float = 30.0) -> None:
        """Shutting down: waiting jobs end with ShuttingDown (a stored one says it is kept and will run after the
        restart), the running one stops at its next step without saving, and the dispatcher is joined."""
        with self._lock:
            self._stopping = True
            for job in self._queued:
                failure = ShuttingDown(kept=job.stored)
                job.finish(JobState.FAILED, error=str(failure), failure=failure)
            self._queued.clear()
            for running in self._running:
                running.request_shutdown()
            self._lock.notify_all()
            workers = list(self._workers)
        self._admission.shutdown(wait=False)
        for worker in workers:
            worker.join(timeout)  # timeout 0 at a signal: later stop() calls join it
        if not any(worker.is_alive() for worker in workers):
            with self._lock:
                self._workers = []

    def submit(self, spec: Any, owner: str, kind: JobKind = JobKind.GENERATE) -> Job:
        """Queue a job. Raises QueueFullError (429), ShuttingDown (503), or DiskFull (507) when a job that saves
        images cannot be stored; a job that saves nothing runs unstored instead."""
        job: Job = Job(spec, owner, kind=kind)
        with self._lock:
            self._check_open_and_room(owner)
        if kind is JobKind.GENERATE and self._persistent:
            self._store_new(job)  # encodes the payload: outside the lock
        try:
            with self._lock:
                self._check_open_and_room(owner)
                self._queued.append(job)
                self._jobs[job.id] = job
                self._update_positions()
                self._lock.notify_all()
        except KestrelError:
            self._unstore(job)
            raise
        return job

    def _store_new(self, job: Job) -> None:
        try:
            self._store.add(job.id, job.owner, job.spec)
        except DiskFull:
            if getattr(job.spec, "save_images", True):
                raise
            log.warning("job %s is not kept across a restart: the job store's disk is full", job.id)
            return
        job.stored = True

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def cancel(self, job_id: str) -> bool:
        """Cancel a queued job at once, or ask the running one to stop at its next step."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None or job.snapshot().state.finished:
                return False
            queued = job in self._queued
            if queued:
                self._queued.remove(job)
                self._update_positions()
        if queued:
            self._unstore(job)
            job.finish(JobState.CANCELLED)
        else:
            job.request_cancel()
        return True

    def skip_running(self, owner: str | None = None) -> bool:
        """Skip the running job's current batch (only if it belongs to `owner`, when one is given)."""
        with self._lock:
            job = next((running for running in self._running if owner is None or running.owner == owner), None)
        if job is None:
            return False
        job.request_skip()
        return True

    def cancel_owned_by(self, owner: str, kinds: tuple[JobKind, ...] | None = None) -> int:
        """Cancel every unfinished job of one owner (what an Interrupt button means); returns how many."""
        with self._lock:
            ids = [job.id for job in [*self._queued, *self._running]
                   if job.owner == owner and (kinds is None or job.kind in kinds)]
        return sum(self.cancel(job_id) for job_id in ids)

    def snapshots_of(self, owner: str) -> list[JobSnapshot]:
        """One owner's jobs, waiting, running and recently finished (their history), oldest first."""
        with self._lock:
            jobs = [job for job in self._jobs.values() if job.owner == owner]
        return [job.snapshot() for job in jobs]

    def ahead_of(self, owner: str) -> int | None:
        """How many jobs run before this owner's next waiting one (None if the owner has nothing waiting)."""
        with self._lock:
            ordered = self._ordered()
            running = 1 if any(job.owner != owner for job in self._running) else 0
        for position, job in enumerate(ordered):
            if job.owner == owner:
                return position + running
        return None

    def snapshot_running(self) -> JobSnapshot | None:
        """The running job (the one started first, when several workers run jobs)."""
        with self._lock:
            running = self._running[0] if self._running else None
        return running.snapshot() if running else None

    def snapshots_running(self) -> list[JobSnapshot]:
        """Every running job, one per busy worker, oldest first."""
        with self._lock:
            running = list(self._running)
        return [job.snapshot() for job in running]

    def queued_count(self) -> int:
        with self._lock:
            return len(self._queued)

    def _check_open_and_room(self, owner: str) -> None:
        """Raise ShuttingDown or QueueFullError (caller holds the lock)."""
        if self._stopping:
            raise ShuttingDown(kept=False)
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
        for position, job in enumerate(self._ordered()):
            job.set_queue_position(position)

    def _ordered(self) -> list[Job]:
        """The policy's order, except that a job whose worker was lost goes first: it had its turn already."""
        ordered = self._policy.order(self._queued)
        retried = {job.id for job in ordered if job.snapshot().retried_from}
        if not retried:
            return ordered
        return [job for job in ordered if job.id in retried] + [job for job in ordered if job.id not in retried]

    def _choose(self, ordered: list[Job]) -> Job | None:
        choose = getattr(self._backend, "choose", None)
        return choose(ordered) if choose is not None else ordered[0]

    def _next_job(self) -> Job | None:
        with self._lock:
            while True:
                self._lock.wait_for(lambda: self._queued or self._stopping)
                if self._stopping:
                    return None
                job = self._choose(self._ordered())
                if job is not None:
                    break
                self._lock.wait(timeout=1.0)  # no worker free: a freed one wakes us (set_wakeup); 1 s at worst
            self._queued.remove(job)
            self._policy.started(job, self._queued)
            self._running.append(job)
            self._update_positions()
        job.mark_running()
        return job

    def _work(self) -> None:
        while (job := self._next_job()) is not None:
            started = job.snapshot().started_at
            if self._run(job):
                self._retire(job, started)

    def _run(self, job: Job) -> bool:
        """Run one job to its end (False: its worker was lost and it waits again)."""
        try:
            result = self._backend.execute(job)
        except WorkerLost as lost:
            if self._requeue(job, lost):
                return False
            self._end_failed(job, lost)
        except Exception as error:  # one bad job must not kill the dispatcher; the error goes to its owner
            self._end_failed(job, error)
        else:
            if job.shutdown_requested:
                failure = ShuttingDown(kept=job.stored)  # stays stored: it runs again after the restart
                job.finish(JobState.FAILED, error=str(failure), failure=failure)
            else:
                self._unstore(job)  # before finishing: whoever sees the job done sees it gone from the store
                job.finish(JobState.DONE, result=result)
        return True

    def _requeue(self, job: Job, lost: WorkerLost) -> bool:
        """A job whose worker died runs again, first in line, once; lost twice (or while stopping) it fails."""
        with self._lock:
            if self._stopping or job.snapshot().retried_from or job.shutdown_requested:
                return False
            self._running.remove(job)
            log.warning("job %s is queued again: %s", job.id, lost)
            job.requeue_after_loss(lost.worker)
            self._queued.append(job)
            self._update_positions()
            self._lock.notify_all()
        return True

    def _end_failed(self, job: Job, error: Exception) -> None:
        if isinstance(error, KestrelError):
            log.warning("job %s (%s) failed: %s", job.id, job.kind.value, error)
        else:
            log.exception("job %s (%s) failed", job.id, job.kind.value)
        if job.shutdown_requested:  # it failed while being stopped: it stays stored and runs after the restart
            stopped = ShuttingDown(kept=job.stored)
            job.finish(JobState.FAILED, error=str(stopped), failure=stopped)
            return
        self._unstore(job)
        failure = error if isinstance(error, KestrelError) else None
        job.finish(JobState.FAILED, error=str(error) or type(error).__name__, failure=failure)

    def _unstore(self, job: Job) -> None:
        if not job.stored:
            return
        try:
            self._store.remove(job.id)
            job.stored = False
        except Exception:  # a store failure must not stop the worker; the job may run again after a restart
            log.exception("could not remove finished job %s from the store", job.id)

    def _retire(self, job: Job, started: float | None) -> None:
        finished = job.snapshot().finished_at
        if started is not None and finished is not None:
            self._recent_seconds.append(finished - started)
        with self._lock:
            if job in self._running:
                self._running.remove(job)
            self._finished_ids.append(job.id)
            while len(self._finished_ids) > self._finished_kept:
                self._jobs.pop(self._finished_ids.popleft(), None)
