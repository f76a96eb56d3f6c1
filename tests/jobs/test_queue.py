"""The job queue: one worker, FIFO, progress, cancel, and a failing job that does not stop the others."""

import threading
import time

import pytest

from webui.engine.request import GenerationRequest
from webui.errors import ShuttingDown
from webui.jobs.job import JobState
from webui.jobs.queue import JobQueue, QueueFullError


class ScriptedRunner:
    """Runs fake jobs: records order and concurrency, steps until released or cancelled."""

    def __init__(self) -> None:
        self.order: list[str] = []
        self.active = 0
        self.max_active = 0
        self.release = threading.Event()
        self.lock = threading.Lock()

    def __call__(self, job):
        with self.lock:
            self.active += 1
            self.max_active = max(self.max_active, self.active)
        try:
            self.order.append(job.request.prompt)
            if job.request.prompt == "boom":
                raise RuntimeError("sampler exploded")
            for step in range(1, job.request.steps + 1):
                if job.cancel_requested:
                    return "stopped"
                job.report_progress(0, step, job.request.steps)
                if job.request.prompt == "hold":
                    self.release.wait(5)
            return f"done {job.request.prompt}"
        finally:
            with self.lock:
                self.active -= 1


def wait_finished(job, timeout=10.0):
    deadline = time.monotonic() + timeout
    snapshot = job.snapshot()
    while not snapshot.state.finished and time.monotonic() < deadline:
        snapshot = job.wait_for_update(snapshot.version, timeout=0.5)
    return snapshot


@pytest.fixture
def queue():
    runner = ScriptedRunner()
    queue = JobQueue(runner, max_queued=3)
    queue.runner = runner
    yield queue
    runner.release.set()
    queue.stop()


def request(prompt: str, steps: int = 2) -> GenerationRequest:
    return GenerationRequest(prompt=prompt, steps=steps)


def test_jobs_run_one_at_a_time_in_arrival_order(queue):
    jobs = [queue.submit(request(f"job{i}"), owner="alice") for i in range(3)]
    assert [job.snapshot().queue_position for job in jobs] == [0, 1, 2]
    queue.start()
    results = [wait_finished(job) for job in jobs]
    assert [snapshot.state for snapshot in results] == [JobState.DONE] * 3
    assert [snapshot.result for snapshot in results] == ["done job0", "done job1", "done job2"]
    assert queue.runner.order == ["job0", "job1", "job2"] and queue.runner.max_active == 1
    assert results[0].progress.fraction == 1.0


def test_a_failing_job_reports_its_error_and_the_worker_goes_on(queue):
    queue.start()
    bad, good = queue.submit(request("boom"), "bob"), queue.submit(request("fine"), "bob")
    assert wait_finished(bad).error == "sampler exploded"
    assert wait_finished(bad).state is JobState.FAILED
    assert wait_finished(good).state is JobState.DONE


def test_cancel_a_queued_job_and_interrupt_the_running_one(queue):
    queue.start()
    running = queue.submit(request("hold", steps=50), "carol")
    while running.snapshot().state is not JobState.RUNNING:
        time.sleep(0.01)
    waiting = queue.submit(request("later"), "carol")
    assert waiting.snapshot().queue_position == 0
    assert queue.cancel(waiting.id)
    assert waiting.snapshot().state is JobState.CANCELLED
    assert queue.cancel(running.id)
    queue.runner.release.set()
    assert wait_finished(running).result == "stopped"
    assert queue.runner.order == ["hold"]
    assert not queue.cancel(running.id)  # finished jobs cannot be cancelled again


def test_cancel_owned_by_only_touches_that_owners_jobs(queue):
    queue.start()
    mine = queue.submit(request("hold", steps=50), "dave")
    while mine.snapshot().state is not JobState.RUNNING:
        time.sleep(0.01)
    theirs = queue.submit(request("theirs"), "erin")
    assert queue.cancel_owned_by("dave") == 1
    queue.runner.release.set()
    assert wait_finished(mine).result == "stopped"
    assert wait_finished(theirs).result == "done theirs"


def test_a_full_queue_refuses_with_a_clear_error(queue):
    for index in range(3):
        queue.submit(request(f"q{index}"), "frank")
    with pytest.raises(QueueFullError, match="queue is full \\(3 jobs waiting\\)"):
        queue.submit(request("one too many"), "frank")


def test_stop_ends_waiting_jobs_with_a_shutdown_error(queue):
    job = queue.submit(request("never"), "gina")
    queue.stop()
    snapshot = job.snapshot()
    assert snapshot.state is JobState.FAILED and isinstance(snapshot.failure, ShuttingDown)
    assert snapshot.failure.http_status == 503 and not snapshot.failure.kept  # no store here: nothing is kept
    with pytest.raises(ShuttingDown, match="no new jobs are accepted"):
        queue.submit(request("late"), "gina")


def test_skip_reaches_the_running_job_of_its_owner_only(queue):
    queue.start()
    running = queue.submit(request("hold", steps=50), "hana")
    while running.snapshot().state is not JobState.RUNNING:
        time.sleep(0.01)
    assert not queue.skip_running(owner="someone else")
    assert queue.skip_running(owner="hana")
    assert running.take_skip() and not running.take_skip()  # one press, taken once
    queue.runner.release.set()
    assert wait_finished(running).state is JobState.DONE


class BlockingStore:
    """A job store whose `add` blocks until released, as a slow disk or a large img2img payload would."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()

    def add(self, job_id, owner, request):
        self.entered.set()
        assert self.release.wait(10)

    def remove(self, job_id):
        return None

    def pending(self):
        return []


def test_a_slow_store_write_does_not_hold_the_queue_lock():
    store = BlockingStore()
    queue = JobQueue(ScriptedRunner(), store=store)
    submitter = threading.Thread(target=lambda: queue.submit(request("big"), "ivy"))
    submitter.start()
    assert store.entered.wait(5)
    answered = threading.Event()
    reader = threading.Thread(target=lambda: (queue.queued_count(), queue.snapshot_running(),
                                              queue.ahead_of("ivy"), answered.set()))
    reader.start()
    assert answered.wait(2), "readers waited for the store write"  # they would block until release before
    store.release.set()
    submitter.join(5)
    assert queue.queued_count() == 1


def test_waiting_for_jobs_on_an_event_loop_holds_no_thread():
    """200 awaiters on one loop: no thread per waiter, and the worker's finish wakes each of them."""
    import asyncio

    runner = ScriptedRunner()
    queue = JobQueue(runner)
    jobs = [queue.submit(request(f"job {index}", steps=1), f"owner-{index % 7}") for index in range(200)]

    async def wait_all():
        waiters = [asyncio.ensure_future(job.done()) for job in jobs]
        await asyncio.sleep(0.1)
        threads_while_waiting = threading.active_count()
        queue.start()
        snapshots = await asyncio.wait_for(asyncio.gather(*waiters), timeout=60)
        return threads_while_waiting, snapshots

    before = threading.active_count()
    threads_while_waiting, snapshots = asyncio.run(wait_all())
    assert threads_while_waiting == before  # 200 waiting, not one extra thread
    assert [snapshot.state for snapshot in snapshots] == [JobState.DONE] * 200
    assert sorted(snapshot.result for snapshot in snapshots) == sorted(f"done job {index}" for index in range(200))
    queue.stop()


def test_updates_yield_progress_and_always_the_end():
    import asyncio

    runner = ScriptedRunner()
    queue = JobQueue(runner)
    job = queue.submit(request("steps", steps=5), "jo")

    async def collect():
        seen = []
        queue.start()
        async for snapshot in job.updates():
            seen.append(snapshot)
        return seen

    seen = asyncio.run(collect())
    assert seen[-1].state is JobState.DONE and seen[-1].result == "done steps"
    assert [s.version for s in seen] == sorted({s.version for s in seen})  # each update newer than the last
    queue.stop()
