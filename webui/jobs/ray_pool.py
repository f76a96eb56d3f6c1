"""Which device worker takes which waiting job: model affinity, bounded by fairness.

The queue's policy orders the waiting jobs fairly (round-robin between owners); a free worker takes the first of
them, except that a job of the *first round* (the next job of each owner) whose checkpoint that worker already has
loaded may go first, so a LAN with mixed checkpoints does not reload on every job. The bound: each waiting job
remembers whose jobs jumped it, and the same owner cannot jump it twice, so no user waits more than one round for
someone else's affinity. A job whose worker was lost goes to another worker when one is up. Pure bookkeeping: no
Ray, no torch, so the rules are tested without a cluster.
"""

from __future__ import annotations

import enum
import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace

from webui.jobs.job import Job, JobKind


class WorkerState(enum.StrEnum):
    STARTING = "starting"
    IDLE = "idle"
    BUSY = "busy"
    DOWN = "down"        # died; Ray restarts it and it rejoins


@dataclass(frozen=True)
class WorkerFacts:
    """What a worker says about itself (its status call), for the System tab and /sdapi/v1/memory."""

    node: str = ""
    pid: int = 0
    device: str = ""
    threads: int = 0
    ram_bytes: int = 0                  # the worker process's resident memory
    vram_total: int | None = None       # bytes; None on a CPU worker
    vram_used: int | None = None
    loaded: str | None = None           # the loaded checkpoint's title
    loaded_names: tuple[str, ...] = ()  # every name a request may use for it: title, file name, stem, hashes


@dataclass(frozen=True)
class WorkerView:
    name: str
    state: WorkerState
    facts: WorkerFacts
    jobs_done: int
    job: str | None          # the id of the job it runs now
    restarts: int


def _wanted(job: Job) -> str | None:
    checkpoint = getattr(job.spec, "checkpoint", None) if job.kind is JobKind.GENERATE else None
    return checkpoint if isinstance(checkpoint, str) and checkpoint else None


def holds(facts: WorkerFacts, checkpoint: str | None) -> bool:
    return checkpoint is not None and checkpoint in facts.loaded_names


class WorkerPool:
    """The workers' states, what each has loaded, and which job each was given (all under one small lock)."""

    def __init__(self, names: Sequence[str], remote_kinds: frozenset[JobKind]) -> None:
        self._lock = threading.Lock()
        self._remote_kinds = remote_kinds
        self._views = {name: WorkerView(name, WorkerState.STARTING, WorkerFacts(), 0, None, 0) for name in names}
        self._placed: dict[str, str] = {}    # job id → worker name, from choose() to execute()
        self._passed: dict[str, set[str]] = {}  # job id → owners whose job went first for affinity

    def views(self) -> list[WorkerView]:
        with self._lock:
            return list(self._views.values())

    def runs_remotely(self, job: Job) -> bool:
        return job.kind in self._remote_kinds

    def choose(self, ordered: Sequence[Job]) -> Job | None:
        """The job a free worker takes now (and that worker is reserved for it); None when none is free. Jobs that
        run in the front process (not a remote kind) go when they are first in line."""
        if not ordered:
            return None
        if not self.runs_remotely(ordered[0]):
            return ordered[0]
        with self._lock:
            idle = [view for view in self._views.values() if view.state is WorkerState.IDLE]
            up = {view.name for view in self._views.values() if view.state is not WorkerState.DOWN}
            waiting = {job.id for job in ordered}
            self._passed = {job_id: count for job_id, count in self._passed.items() if job_id in waiting}
            placed = self._pick(ordered, idle, up)
            if placed is None:
                return None
            job, worker = placed
            self._views[worker] = replace(self._views[worker], state=WorkerState.BUSY, job=job.id)
            self._placed[job.id] = worker
            self._passed.pop(job.id, None)
            return job

    def _pick(self, ordered: Sequence[Job], idle: list[WorkerView], up: set[str]) -> tuple[Job, str] | None:
        remote = [job for job in ordered if self.runs_remotely(job)]
        head = remote[0]
        allowed = [view for view in idle if self._allowed(head, view.name, up)]
        affine = next((view.name for view in allowed if holds(view.facts, _wanted(head))), None)
        if affine is not None:
            return head, affine
        for job in self._first_round(remote)[1:]:
            ahead = remote[:remote.index(job)]
            if any(job.owner in self._passed.get(passed.id, set()) for passed in ahead):
                break  # it jumped one of them already: they go first now (no one waits more than a round)
            worker = next((view.name for view in idle
                           if holds(view.facts, _wanted(job)) and self._allowed(job, view.name, up)), None)
            if worker is not None:
                for passed in ahead:
                    self._passed.setdefault(passed.id, set()).add(job.owner)
                return job, worker
        if not allowed:
            return None
        wanted = {_wanted(job) for job in remote}
        spare = [view for view in allowed if not any(holds(view.facts, name) for name in wanted)]  # least needed
        return head, (spare or allowed)[0].name

    @staticmethod
    def _first_round(remote: list[Job]) -> list[Job]:
        seen: set[str] = set()
        first = []
        for job in remote:
            if job.owner not in seen:
                seen.add(job.owner)
                first.append(job)
        return first

    @staticmethod
    def _allowed(job: Job, worker: str, up: set[str]) -> bool:
        """Not back to the worker it was lost on, unless no other worker is up."""
        lost_on = set(job.snapshot().retried_from)
        return worker not in lost_on or not (up - lost_on)

    def take(self, job_id: str) -> str:
        with self._lock:
            return self._placed.pop(job_id)

    def finished(self, worker: str, facts: WorkerFacts | None, counted: bool) -> None:
        with self._lock:
            view = self._views[worker]
            if view.state is WorkerState.DOWN:
                return
            self._views[worker] = replace(view, state=WorkerState.IDLE, job=None, facts=facts or view.facts,
                                          jobs_done=view.jobs_done + counted)

    def holds_job(self, worker: str, job_id: str) -> bool:
        with self._lock:
            return self._views[worker].job == job_id

    def lost(self, worker: str) -> None:
        with self._lock:
            view = self._views[worker]
            self._views[worker] = replace(view, state=WorkerState.DOWN, job=None, restarts=view.restarts + 1)

    def joined(self, worker: str, facts: WorkerFacts) -> None:
        """A worker started, or came back after a restart."""
        with self._lock:
            view = self._views[worker]
            self._views[worker] = replace(view, state=WorkerState.IDLE, job=None, facts=facts)

    def update_facts(self, worker: str, facts: WorkerFacts) -> None:
        with self._lock:
            self._views[worker] = replace(self._views[worker], facts=facts)
