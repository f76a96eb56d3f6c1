"""Device workers on a local Ray cluster (2 CPU workers, loopback, small resources): one App for the module.

What #20 must show: jobs spread over both workers; a worker SIGKILLed mid-job → its job completes on the other,
once (one image saved, marked in the job's history); fairness and ownership as with one worker; a restart keeps the
waiting jobs. Skipped where Ray is not installed (`requirements-ray.txt`; CI installs it).
"""

import importlib.util
import os
import shutil
import signal
import time

import pytest

if importlib.util.find_spec("ray") is None:  # found, not imported: its settings are read from the environment at import
    pytest.skip("Ray is not installed (requirements-ray.txt)", allow_module_level=True)

from webui.app_context import build_app  # noqa: E402
from webui.config.flags import CommandLineOptions  # noqa: E402
from webui.engine.request import GenerationRequest  # noqa: E402
from webui.jobs.job import JobState  # noqa: E402
from webui.jobs.queue import JobQueue  # noqa: E402
from webui.jobs.ray_pool import WorkerState  # noqa: E402
from webui.jobs.scheduling import RoundRobinByOwner  # noqa: E402
from webui.jobs.store import SqliteJobStore  # noqa: E402
from webui.jobs.tasks import wait_result  # noqa: E402

SMALL = {"prompt": "a cat", "sampler_name": "Euler", "steps": 2, "width": 64, "height": 64, "seed": 3}
TIMEOUT = 120.0
STARTUP = 300.0  # two workers importing torch and diffusers at once on a shared 2-core machine


@pytest.fixture(scope="module")
def app(tmp_path_factory, tiny_checkpoint):
    data = tmp_path_factory.mktemp("workers-data")
    folder = data / "models" / "Stable-diffusion"
    folder.mkdir(parents=True)
    shutil.copy(tiny_checkpoint, folder / tiny_checkpoint.name)
    shutil.copy(tiny_checkpoint.with_suffix(".yaml"), folder / tiny_checkpoint.with_suffix(".yaml").name)
    with pytest.MonkeyPatch.context() as environment:
        environment.setenv("RAY_USAGE_STATS_ENABLED", "0")
        environment.setenv("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # what app.py sets for --workers: loopback only
        app = build_app(CommandLineOptions(data_dir=data, device="cpu", workers=2, worker_threads=1),
                        default_data_dir=data)
        app.start()
        try:
            assert app.workers is not None and app.workers.wait_ready(STARTUP)
            yield app
        finally:
            app.stop()


def outputs(app):
    return sorted(path.name for path in (app.paths.outputs / "txt2img-images").rglob("*.png"))


def submit(app, owner, **fields):
    return app.submit_generation(GenerationRequest(**(SMALL | fields)), owner)


def test_jobs_spread_over_both_workers_and_the_front_saves_them(app):
    import ray

    assert ray.util.get_node_ip_address() == "127.0.0.1"  # the cluster's servers bind loopback only
    before = len(outputs(app))
    jobs = [submit(app, owner, save_images=True, seed=index)
            for index, owner in enumerate(["alice", "bob"] * 3)]
    results = [wait_result(job, TIMEOUT) for job in jobs]
    assert {job.snapshot().worker for job in jobs} == {"worker-1", "worker-2"}
    assert all(len(result.images) == 1 and result.images[0].path is not None for result in results)
    names = outputs(app)
    assert len(names) == before + 6 and len(set(names)) == len(names)  # one numbering, in one outputs/
    assert "Seed: 0" in results[0].images[0].infotext and results[0].model is not None
    views = {view.name: view for view in app.workers.refresh()}
    assert sum(view.jobs_done for view in views.values()) >= 6
    assert all(view.facts.loaded and view.facts.device == "cpu" for view in views.values())
    assert 0 < app.workers.overhead_ms() < 10_000  # measured per job: the call, polls, PNGs there and back


def test_owners_take_turns_and_own_their_jobs_as_with_one_worker(app):
    dora = [submit(app, "dora", steps=3, seed=index) for index in range(4)]
    deadline = time.monotonic() + TIMEOUT
    while len(app.jobs.snapshots_running()) < 2:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    eve = [submit(app, "eve", steps=3, seed=index) for index in range(2)]
    assert app.jobs.skip_running("carol") is False
    assert {snapshot.id for snapshot in app.jobs.snapshots_of("eve")} == {job.id for job in eve}
    for job in dora + eve:
        wait_result(job, TIMEOUT)
    started = sorted(dora[2:] + eve, key=lambda job: job.snapshot().started_at)
    assert [job.owner for job in started] == ["eve", "dora", "eve", "dora"]


def test_a_restart_keeps_the_waiting_jobs(app, tmp_path):
    store_path = tmp_path / "queue.sqlite3"
    first = JobQueue(app.workers, policy=RoundRobinByOwner(), store=SqliteJobStore(store_path))
    first.start()
    jobs = [first.submit(app.admit(GenerationRequest(**(SMALL | {"steps": 3, "seed": index}))), "alice")
            for index in range(5)]
    first.stop()
    assert all(job.snapshot().state is JobState.FAILED for job in jobs)  # stopped, ended with 'kept'
    kept = {job.id for job in jobs}
    before = len(outputs(app))
    second = JobQueue(app.workers, policy=RoundRobinByOwner(), store=SqliteJobStore(store_path))
    second.start()
    try:
        restored = [second.get(job_id) for job_id in kept]
        assert all(job is not None for job in restored)
        for job in restored:
            wait_result(job, TIMEOUT)
        assert len(outputs(app)) == before + 5  # restored jobs save their images, each once
    finally:
        second.stop()


def test_a_worker_killed_mid_job_hands_it_to_the_other_once(app):
    before = len(outputs(app))
    job = submit(app, "alice", save_images=True, steps=60, seed=11)
    deadline = time.monotonic() + TIMEOUT
    while (snapshot := job.snapshot()).progress.step < 2:
        assert time.monotonic() < deadline and not snapshot.state.finished
        time.sleep(0.05)
    lost = snapshot.worker
    views = {view.name: view for view in app.workers.refresh()}
    os.kill(views[lost].facts.pid, signal.SIGKILL)
    result = wait_result(job, TIMEOUT)
    final = job.snapshot()
    assert final.state is JobState.DONE and final.retried_from == (lost,) and final.worker not in (None, lost)
    assert len(result.images) == 1 and len(outputs(app)) == before + 1  # ran to completion once, saved once
    while (view := {v.name: v for v in app.workers.workers()}[lost]).state is not WorkerState.IDLE:
        assert time.monotonic() < deadline + TIMEOUT, view
        time.sleep(0.2)
    assert view.restarts == 1 and view.facts.pid != views[lost].facts.pid  # it came back and rejoined
    again = [submit(app, "alice", seed=index) for index in range(4)]
    for item in again:
        wait_result(item, TIMEOUT)
    assert lost in {item.snapshot().worker for item in again}
