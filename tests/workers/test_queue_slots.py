"""The queue with a backend of several workers (no Ray): one dispatcher per slot, the backend's choice, and a job
whose worker is lost queued again once, first in line."""

import threading

import pytest

from webui.jobs.backend import WorkerLost
from webui.jobs.job import Job, JobState
from webui.jobs.queue import JobQueue
from webui.jobs.scheduling import RoundRobinByOwner
from webui.jobs.tasks import wait_result


class TwoWorkers:
    """A backend with two slots; `lose` names job specs whose first (or every) run loses its worker."""

    slots = 2

    def __init__(self, lose=(), always=False):
        self.lose, self.always = set(lose), always
        self.runs: list[tuple[str, str]] = []
        self.gate = threading.Barrier(2, timeout=10)
        self.lock = threading.Lock()

    def choose(self, ordered):
        return ordered[0]

    @property
    def on_worker(self):
        return False

    def execute(self, job: Job):
        with self.lock:
            self.runs.append((job.spec, threading.current_thread().name))
        if job.spec in self.lose and (self.always or not job.snapshot().retried_from):
            raise WorkerLost("worker-1", "killed")
        if job.spec.startswith("pair"):
            self.gate.wait()  # both pair jobs run at the same time, or this times out
        return job.spec.upper()


def test_two_slots_run_two_jobs_at_once():
    backend = TwoWorkers()
    queue = JobQueue(backend, policy=RoundRobinByOwner())
    queue.start()
    try:
        jobs = [queue.submit("pair-a", "alice"), queue.submit("pair-b", "bob")]
        assert [wait_result(job, 20) for job in jobs] == ["PAIR-A", "PAIR-B"]
        assert len({thread for _, thread in backend.runs}) == 2
    finally:
        queue.stop()


def test_a_lost_job_runs_again_once_and_its_history_says_where():
    backend = TwoWorkers(lose={"lost"})
    queue = JobQueue(backend, policy=RoundRobinByOwner())
    queue.start()
    try:
        job = queue.submit("lost", "alice")
        assert wait_result(job, 20) == "LOST"
        snapshot = job.snapshot()
        assert snapshot.retried_from == ("worker-1",) and snapshot.state is JobState.DONE
        assert [spec for spec, _ in backend.runs] == ["lost", "lost"]
    finally:
        queue.stop()


def test_a_job_lost_twice_fails_with_the_worker_named():
    backend = TwoWorkers(lose={"doomed"}, always=True)
    queue = JobQueue(backend, policy=RoundRobinByOwner())
    queue.start()
    try:
        job = queue.submit("doomed", "alice")
        with pytest.raises(WorkerLost, match="worker worker-1 was lost"):
            wait_result(job, 20)
        assert len(backend.runs) == 2
    finally:
        queue.stop()
