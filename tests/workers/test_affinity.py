"""Which worker takes which job (webui/jobs/ray_pool.py): affinity for the loaded checkpoint, bounded by fairness.
Pure bookkeeping: no Ray needed."""

from webui.engine.request import GenerationRequest
from webui.jobs.job import Job, JobKind
from webui.jobs.ray_pool import WorkerFacts, WorkerPool, WorkerState
from webui.jobs.scheduling import RoundRobinByOwner


def job(owner, checkpoint):
    return Job(GenerationRequest(prompt="x", checkpoint=checkpoint), owner)


def pool(*loaded):
    workers = WorkerPool([f"w{index}" for index in range(len(loaded))], frozenset({JobKind.GENERATE}))
    for index, name in enumerate(loaded):
        workers.joined(f"w{index}", WorkerFacts(loaded=name, loaded_names=(name,) if name else ()))
    return workers


def test_the_next_job_goes_to_the_worker_that_has_its_checkpoint():
    workers = pool("a.safetensors", "b.safetensors")
    first = job("alice", "b.safetensors")
    assert workers.choose([first]) is first and workers.take(first.id) == "w1"
    second = job("bob", "b.safetensors")
    assert workers.choose([second]) is second and workers.take(second.id) == "w0"  # only w0 is free: no waiting


def test_an_affine_job_of_the_first_round_may_go_first_but_no_one_waits_more_than_a_round():
    workers = pool("b.safetensors")
    policy = RoundRobinByOwner()
    alice, bob, carol = job("alice", "a.safetensors"), job("bob", "b.safetensors"), job("carol", "c.safetensors")
    queued = [alice, bob, carol]
    chosen = workers.choose(policy.order(queued))
    assert chosen is bob  # w0 has bob's checkpoint: bob's job jumps alice's within the round
    workers.take(bob.id)
    workers.finished("w0", WorkerFacts(loaded="b.safetensors", loaded_names=("b.safetensors",)), counted=True)
    queued.remove(bob)
    policy.started(bob, queued)
    bob_again = job("bob", "b.safetensors")
    queued.append(bob_again)
    order = policy.order(queued)
    assert order[0] is alice and bob_again not in order[:2]  # bob was served: his next job is in the next round
    assert workers.choose(order) is alice  # nothing affine in alice's round: the head goes


def test_the_head_is_passed_over_at_most_once_per_other_owner_in_its_round():
    workers = pool("b.safetensors")
    alice, bob = job("alice", "a.safetensors"), job("bob", "b.safetensors")
    assert workers.choose([alice, bob]) is bob  # alice passed over once (one other owner in the round)
    workers.take(bob.id)
    workers.finished("w0", WorkerFacts(loaded="b.safetensors", loaded_names=("b.safetensors",)), counted=True)
    other_bob = job("bob", "b.safetensors")
    assert workers.choose([alice, other_bob]) is alice  # her bound is reached: she goes now


def test_a_job_lost_on_a_worker_goes_to_another_one_while_one_is_up():
    workers = pool("a.safetensors", "a.safetensors")
    lost = job("alice", "a.safetensors")
    lost.requeue_after_loss("w0")
    assert workers.choose([lost]) is lost and workers.take(lost.id) == "w1"
    again = job("alice", "a.safetensors")
    again.requeue_after_loss("w0")
    assert workers.choose([again]) is None  # w1 is busy, w0 is where it was lost: it waits for w1
    workers.lost("w1")
    assert workers.choose([again]) is again and workers.take(again.id) == "w0"  # no other worker is up


def test_no_free_worker_means_no_choice_and_front_kinds_need_none():
    workers = pool("a.safetensors")
    workers.lost("w0")
    assert workers.choose([job("alice", "a.safetensors")]) is None
    merge = Job(object(), "alice", kind=JobKind.MERGE)
    assert workers.choose([merge]) is merge
    assert [view.state for view in workers.views()] == [WorkerState.DOWN]
