"""Device workers on Ray behind the one queue: the `ExecutionBackend` for `--workers N` and `--ray-address`.

The front process keeps everything but the device: the queue and its fair order, ownership, limits, the job store,
logins, the API, the extension hooks and the saving of files (one outputs/ folder, one numbering). Generation jobs
go to a worker: the front's own `GenerationService` runs them with a `RemoteEngine` in place of the engine, so the
hooks, the infotext, the grid and the saving are the in-process code, and only `engine.generate` crosses to the
worker. Every other kind (Extras, merges, conversions, benchmarks, model switches: they read or write files here)
runs on the front's `LocalBackend` as before; a model switch changes the instance's setting, and each worker loads
that checkpoint when its next job's plan names it.

Faults: a worker whose process dies mid-job raises `WorkerLost`; the queue queues the job again, first in line and
for another worker (`ray_pool.py`), once. Ray restarts the actor, and a watcher thread puts it back in the pool
when it answers again.
"""

from __future__ import annotations

import logging
import statistics
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from typing import Any

from webui.engine.generate import GenerationResult, InfotextOptions
from webui.engine.request import GenerationRequest
from webui.jobs.backend import LocalBackend, Runner, WorkerLost
from webui.jobs.job import Job, JobKind
from webui.jobs.ray_cluster import RayCluster
from webui.jobs.ray_pool import WorkerFacts, WorkerPool, WorkerState, WorkerView
from webui.jobs.ray_worker import PollReply, RemoteFailure, decode_png

log = logging.getLogger(__name__)
POLL_SECONDS = 0.1        # progress and previews while a job runs (ray.wait returns at once when it ends)
CALL_SECONDS = 10.0       # one small call (poll, status); a generation itself is waited on in POLL_SECONDS steps
JOIN_SECONDS = 600.0      # a worker (re)starting: imports, its engine; then it is reported as lost for good
REMOTE_KINDS = frozenset({JobKind.GENERATE})


def _lost_errors() -> tuple[type[BaseException], ...]:
    from ray.exceptions import ObjectLostError, RayActorError, WorkerCrashedError

    return RayActorError, ObjectLostError, WorkerCrashedError


class RemoteEngine:
    """In place of `GenerationEngine` inside the front's `GenerationService`: `generate` runs on one worker,
    streaming its progress and previews into the callbacks and its Interrupt/Skip the other way."""

    def __init__(self, name: str, actor: Any, released: Callable[[str, WorkerFacts], None]) -> None:
        self.name = name
        self._actor = actor
        self._released = released  # the worker is free again: the front decodes and saves while it takes the next
        self.overheads: deque[float] = deque(maxlen=100)  # seconds per job beyond engine.generate (Ray's cost)

    def generate(self, request: GenerationRequest, options: InfotextOptions, progress=None, cancelled=None,
                 skip=None, preview=None) -> GenerationResult:
        import ray

        call_id = uuid.uuid4().hex
        seen, cancel_sent = -1, False
        started = time.perf_counter()
        try:
            ref = self._actor.generate.remote(call_id, request, options)
            while not ray.wait([ref], timeout=POLL_SECONDS)[0]:
                if cancelled is not None and not cancel_sent and cancelled():
                    self._actor.signal.remote(call_id, "cancel")
                    cancel_sent = True
                if skip is not None and skip():
                    self._actor.signal.remote(call_id, "skip")
                seen = self._poll(call_id, seen, progress, preview)
            reply = ray.get(ref, timeout=CALL_SECONDS)
        except _lost_errors() as error:
            raise WorkerLost(self.name, str(error).strip().splitlines()[0] if str(error) else type(error).__name__) \
                from None
        if isinstance(reply, RemoteFailure):
            raise reply.rebuild()
        self._released(self.name, reply.facts)
        result = reply.to_result()
        self.overheads.append(time.perf_counter() - started - reply.engine_seconds)
        return result

    def _poll(self, call_id: str, seen: int, progress, preview) -> int:
        import ray
        from ray.exceptions import GetTimeoutError

        quiet: tuple[type[BaseException], ...] = (GetTimeoutError, *_lost_errors())
        try:
            reply: PollReply | None = ray.get(self._actor.poll.remote(call_id, seen), timeout=CALL_SECONDS)
        except quiet:
            return seen  # the generation's own reference says whether the worker is gone
        if reply is None or reply.version <= seen:
            return seen
        if progress is not None and reply.total_steps:
            progress(reply.batch_index, reply.step, reply.total_steps)
        if preview is not None and reply.preview is not None:
            preview(decode_png(reply.preview))
        return reply.version


class RayBackend:
    """N device workers (Ray actors) plus the front's own device thread for the kinds that stay here."""

    def __init__(self, local: LocalBackend, cluster: RayCluster,
                 service_for: Callable[[Any], Runner] | None = None) -> None:
        self._local = local
        self._cluster = cluster
        self._service_for = service_for
        self._engines: dict[str, RemoteEngine] = {}
        self._runners: dict[str, Runner] = {}
        self._pool = WorkerPool((), REMOTE_KINDS)
        self._wakeups: list[Callable[[], None]] = []  # each queue's dispatchers (a restarted queue adds its own)
        self._on_job = threading.local()
        self._closing = threading.Event()

    def serve_generation(self, service_for: Callable[[Any], Runner]) -> None:
        """The composition root's generation runner over a worker's engine: the front's GenerationService, given a
        RemoteEngine where it expects a GenerationEngine (it calls `generate` only)."""
        self._service_for = service_for

    def start(self) -> None:
        """Start or join the cluster and the workers (before the queue starts: its dispatchers are one per slot)."""
        if self._engines:
            return
        if self._service_for is None:
            raise RuntimeError("serve_generation must be called before start")
        actors = self._cluster.start()
        self._engines = {name: RemoteEngine(name, actor, self._release) for name, actor in actors.items()}
        self._runners = {name: self._service_for(engine) for name, engine in self._engines.items()}
        self._pool = WorkerPool(tuple(actors), REMOTE_KINDS)
        for name in actors:
            self._watch(name)

    # ---- the ExecutionBackend
    @property
    def slots(self) -> int:
        """Two dispatchers per worker (one saves the last job's images while the worker runs the next) and one
        for the jobs that run in the front process."""
        return 2 * len(self._engines) + 1

    def choose(self, ordered: list[Job]) -> Job | None:
        return self._pool.choose(ordered)

    def set_wakeup(self, wake: Callable[[], None]) -> None:
        self._wakeups.append(wake)

    def _wakeup(self) -> None:
        for wake in list(self._wakeups):
            wake()

    @property
    def on_worker(self) -> bool:
        return self._local.on_worker or bool(getattr(self._on_job, "active", False))

    def execute(self, job: Job) -> Any:
        if not self._pool.runs_remotely(job):
            return self._local.execute(job)
        name = self._pool.take(job.id)
        job.set_worker(name)
        self._on_job.active = True
        try:
            return self._runners[name](job)
        except WorkerLost:
            self._pool.lost(name)
            self._watch(name)
            raise
        finally:
            self._on_job.active = False
            if self._pool.holds_job(name, job.id):  # it failed before the worker answered (a hook, a bad request)
                self._pool.finished(name, None, counted=False)
                self._wakeup()

    def _release(self, name: str, facts: WorkerFacts) -> None:
        self._pool.finished(name, facts, counted=True)
        self._wakeup()

    # ---- what the System tab and the API show
    def workers(self) -> list[WorkerView]:
        return self._pool.views()

    def refresh(self) -> list[WorkerView]:
        """Ask every worker that is up for its facts now (memory, loaded checkpoint); a slow one keeps its last."""
        import ray

        asked = {view.name: self._cluster.actors[view.name].status.remote() for view in self._pool.views()
                 if view.state in (WorkerState.IDLE, WorkerState.BUSY)}
        for name, ref in asked.items():
            try:
                self._pool.update_facts(name, ray.get(ref, timeout=CALL_SECONDS / 2))
            except Exception:  # a worker dying right now: its job's own call reports it
                log.debug("worker %s did not answer its status", name, exc_info=True)
        return self._pool.views()

    def overhead_ms(self) -> float | None:
        """The median of what the last jobs cost beyond their generation (the call, polls, PNG encode on the worker,
        the transfer, the decode here): what Ray adds per job over the in-process worker."""
        seconds = [value for engine in self._engines.values() for value in engine.overheads]
        return statistics.median(seconds) * 1000 if seconds else None

    def memory(self) -> dict[str, dict[str, Any]]:
        """/sdapi/v1/memory's per-worker part, in A1111's shape for each worker's process."""
        report = {}
        for view in self.refresh():
            facts = view.facts
            cuda: dict[str, Any] = {"error": "no CUDA device"} if facts.vram_total is None else {
                "system": {"total": facts.vram_total, "used": facts.vram_used or 0,
                           "free": facts.vram_total - (facts.vram_used or 0)}}
            report[view.name] = {"node": facts.node, "state": view.state.value, "checkpoint": facts.loaded,
                                 "ram": {"used": facts.ram_bytes}, "cuda": cuda}
        return report

    def wait_ready(self, timeout: float) -> bool:
        """Block until every worker answers (tools, the benchmark and tests; the server does not wait)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(view.state is not WorkerState.STARTING for view in self._pool.views()):
                return True
            time.sleep(0.1)
        return False

    def shutdown(self) -> None:
        self._closing.set()
        self._local.shutdown()
        self._cluster.shutdown()

    def _watch(self, name: str) -> None:
        """Put the worker in the pool once it answers (at the start, and after Ray restarted it)."""
        thread = threading.Thread(target=self._join, args=(name,), name=f"worker-join-{name}", daemon=True)
        thread.start()

    def _join(self, name: str) -> None:
        import ray
        from ray.exceptions import GetTimeoutError

        deadline = time.monotonic() + JOIN_SECONDS
        while not self._closing.is_set() and time.monotonic() < deadline:
            try:
                facts = ray.get(self._cluster.actors[name].status.remote(), timeout=CALL_SECONDS)
            except GetTimeoutError:
                continue
            except Exception:  # restarting: its calls fail until the new process is up
                self._closing.wait(0.5)
                continue
            self._pool.joined(name, facts)
            log.info("worker %s is up (pid %d on %s)", name, facts.pid, facts.node)
            self._wakeup()
            return
        if not self._closing.is_set():
            log.error("worker %s did not come back within %.0f s", name, JOIN_SECONDS)
