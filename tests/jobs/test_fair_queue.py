"""A shared instance's queue: round-robin between owners, limits with Retry-After, and jobs kept across a restart."""

import threading
import time

import pytest
from PIL import Image

from tests.jobs.test_queue import ScriptedRunner, wait_finished
from webui.engine.request import GenerationRequest, HiresFix, Img2ImgInput, InpaintMask
from webui.jobs.job import Job, JobState
from webui.jobs.queue import JobQueue, QueueFullError
from webui.jobs.request_codec import decode_request, encode_request
from webui.jobs.scheduling import RoundRobinByOwner
from webui.jobs.store import SqliteJobStore


def request(prompt: str, steps: int = 1) -> GenerationRequest:
    return GenerationRequest(prompt=prompt, steps=steps, width=64, height=64)


def wait_running(job, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while job.snapshot().state is JobState.QUEUED and time.monotonic() < deadline:
        time.sleep(0.005)
    assert job.snapshot().state is JobState.RUNNING


def test_round_robin_order_is_predicted_and_followed():
    runner = ScriptedRunner()
    queue = JobQueue(runner, policy=RoundRobinByOwner(), max_queued=50)
    queue.start()
    try:
        blocker = queue.submit(request("hold", steps=3), "alice")
        wait_running(blocker)  # alice has been served: the turns below are decided from that
        greedy = [queue.submit(request(f"alice{i}"), "alice") for i in range(4)]
        bob = queue.submit(request("bob0"), "bob")
        carol = [queue.submit(request(f"carol{i}"), "carol") for i in range(2)]
        # alice was served last (the blocker), so bob and carol go first, then turns alternate
        expected = ["bob0", "carol0", "alice0", "carol1", "alice1", "alice2", "alice3"]
        predicted = sorted([*greedy, bob, *carol], key=lambda job: job.snapshot().queue_position)
        assert [job.request.prompt for job in predicted] == expected
        assert queue.ahead_of("bob") == 1  # the running job of alice
        runner.release.set()
        for job in [blocker, *greedy, bob, *carol]:
            wait_finished(job)
        assert runner.order == ["hold", *expected]
    finally:
        runner.release.set()
        queue.stop()


def test_a_newcomer_goes_before_an_owner_who_has_had_turns():
    policy = RoundRobinByOwner()
    queued = [Job(request(f"a{i}"), "a") for i in range(3)]
    policy.started(queued[0], queued[1:])
    later = [*queued[1:], Job(request("b0"), "b")]
    assert [job.request.prompt for job in policy.order(later)] == ["b0", "a1", "a2"]


def test_per_user_and_total_limits_say_when_to_retry():
    runner = ScriptedRunner()
    queue = JobQueue(runner, policy=RoundRobinByOwner(), max_queued=4, max_per_owner=2)
    for index in range(2):
        queue.submit(request(f"a{index}"), "alice")
    with pytest.raises(QueueFullError, match="you already have 2 jobs waiting \\(the limit per user is 2\\)") as full:
        queue.submit(request("a2"), "alice")
    assert full.value.retry_after >= 1
    queue.submit(request("b0"), "bob")  # another user still gets in
    queue.submit(request("c0"), "carol")
    with pytest.raises(QueueFullError, match="queue is full \\(4 jobs waiting\\)"):
        queue.submit(request("d0"), "dave")


def test_requests_round_trip_through_the_codec_with_images():
    init = Image.new("RGB", (64, 48), (10, 200, 30))
    mask = Image.new("L", (64, 48), 255)
    original = GenerationRequest(prompt="a (cat:1.2)", negative_prompt="dog", seed=7, width=64, height=64,
                                 checkpoint="demo", clip_skip=2,
                                 img2img=Img2ImgInput(init, 1, 0.4, InpaintMask(mask, blur=2, invert=True)))
    restored = decode_request(encode_request(original))
    assert restored.img2img is not None and restored.img2img.mask is not None
    assert restored.img2img.image.tobytes() == init.tobytes()
    assert restored.img2img.mask.mask.tobytes() == mask.tobytes()
    assert (restored.prompt, restored.seed, restored.clip_skip, restored.img2img.mask.invert) == \
        ("a (cat:1.2)", 7, 2, True)
    hires = GenerationRequest(hires=HiresFix(upscaler="Latent (nearest)", scale=1.5), width=64, height=64)
    assert decode_request(encode_request(hires)) == hires
    scripted = GenerationRequest(width=64, height=64, restore_faces=True, face_restoration_model="GFPGAN",
                                 code_former_weight=0.2, alwayson_args=(("prompt rewriter", ("at dawn", 2)),))
    assert decode_request(encode_request(scripted)) == scripted


def test_a_stored_request_that_is_no_longer_valid_is_refused_by_its_constructor():
    payload = encode_request(request("x")).replace('"steps": 1', '"steps": 100000')
    with pytest.raises(ValueError, match="steps 100000 is out of range"):
        decode_request(payload)


def test_waiting_and_interrupted_jobs_survive_a_restart(tmp_path):
    store_path = tmp_path / "queue.sqlite3"
    runner = ScriptedRunner()
    queue = JobQueue(runner, policy=RoundRobinByOwner(), store=SqliteJobStore(store_path))
    queue.start()
    running = queue.submit(request("hold", steps=50), "alice")
    waiting = [queue.submit(request("w1"), "bob"), queue.submit(request("w2"), "alice")]
    finished_before = queue.submit(request("quick"), "carol")
    queue.cancel(finished_before.id)  # a job cancelled by its owner is gone for good
    while running.snapshot().progress.step == 0:
        threading.Event().wait(0.01)
    queue.stop()  # the shutdown interrupts "hold" and cancels the waiting ones

    second_runner = ScriptedRunner()
    second_runner.release.set()
    restarted = JobQueue(second_runner, policy=RoundRobinByOwner(), store=SqliteJobStore(store_path))
    restarted.start()
    try:
        restored = [restarted.get(job.id) for job in [running, *waiting]]
        assert all(job is not None for job in restored)
        assert restarted.get(finished_before.id) is None
        assert [job.owner for job in restored] == ["alice", "bob", "alice"]
        assert all(job.request.save_images for job in restored)
        for job in restored:
            assert wait_finished(job).state.value == "done"
        assert sorted(second_runner.order) == ["hold", "w1", "w2"]
        assert SqliteJobStore(store_path).pending() == []
    finally:
        restarted.stop()


def test_a_tool_that_starts_the_queue_without_restoring_leaves_stored_jobs_for_the_server(tmp_path):
    store_path = tmp_path / "queue.sqlite3"
    SqliteJobStore(store_path).add("waiting-job", "alice", request("kept"))
    runner = ScriptedRunner()
    queue = JobQueue(runner, store=SqliteJobStore(store_path))
    queue.start(restore=False)  # what `app.py benchmark` does
    try:
        assert queue.get("waiting-job") is None and queue.queued_count() == 0
    finally:
        queue.stop()
    assert [stored.id for stored in SqliteJobStore(store_path).pending()] == ["waiting-job"]
    assert runner.order == []
