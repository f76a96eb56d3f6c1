"""The shared-instance load test at full size: 40 API clients (40 accounts) x 5 jobs each on the demo model, 64 px,
2 steps, against `app.py` with logins in a subprocess; beside them, clients polling `/sdapi/v1/progress` and clients
that go away while their job waits.

One long job runs first, so every job waits together and the order they come back in is the queue's. Prints: jobs
done / lost / duplicated; how evenly turns were shared (the largest number of jobs any one user had back before every
user had one: round-robin gives 1); `/progress` latency while they wait (p50 / p95 / max) and the most jobs the
server held at once; whether the jobs of the clients that went away still ran and are in their owner's history; the
server's threads, open fds and RSS before, at the peak and after; wall time.

Waiting must hold no server thread: if it did, ~40 waiting clients take every thread of the server's pool, and
`/progress` waits for one (tens of seconds), the queue holds no more jobs than there are threads, and turns follow
whichever thread frees first.

Usage: .venv/bin/python bench/lan_load.py [--users 40] [--jobs 5] [--pollers 4] [--leavers 4] [--small]
(--small is the CI size: 6 users x 3 jobs, 1 poller, 2 leavers). 127.0.0.1 only; every loop is bounded.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from bench.load_probes import (  # noqa: E402
    Latencies,
    ProcessSample,
    ProcessWatch,
    ProgressPoller,
    busiest_before_everyone_had_one,
    concurrent_burst,
)
from tests.support.server import Server  # noqa: E402

BODY = {"prompt": "load", "steps": 2, "width": 64, "height": 64, "sampler_name": "Euler a"}
BLOCKER_SEED = 999_999
LEAVER_SEED = 500_000


def password(user: str) -> str:
    return f"pw-{user}"


def gradio_auth(users: Sequence[str]) -> str:
    """The `--gradio-auth` value giving each of these accounts its bench password."""
    return ",".join(f"{user}:{password(user)}" for user in users)


def leaver_names(count: int) -> list[str]:
    return [f"gone{index:02d}" for index in range(count)]


@dataclass(frozen=True)
class LoadReport:
    expected: int
    done: int
    failures: tuple[str, ...]
    duplicated: int
    lost: int
    busiest_first_round: int   # jobs back for the busiest user before every user had one back
    rss_ratio: float
    rss_before: int
    wall_seconds: float
    progress: Latencies = Latencies.of(())   # /sdapi/v1/progress while the jobs waited
    peak_job_count: int = 0                  # the most jobs (running + queued) /progress reported at once
    burst: Latencies = Latencies.of(())      # 20 /progress calls sent at once while the jobs wait
    before: ProcessSample = ProcessSample(0, 0, 0)
    after: ProcessSample = ProcessSample(0, 0, 0)
    peak_threads: int = 0
    peak_fds: int = 0
    leavers: int = 0            # clients that sent one job and went away before it came back
    left_waiting: int = 0       # of them, how many had their job queued or running when they went away
    leavers_in_history: int = 0  # of them, how many jobs were done later and listed in their owner's history

    def lines(self) -> list[str]:
        return [f"{self.done}/{self.expected} jobs done, {len(self.failures)} failed, {self.duplicated} duplicated, "
                f"{self.lost} lost",
                f"before every user had one job back, the busiest user had {self.busiest_first_round} back "
                f"(round-robin: 1)",
                self.progress.line("/sdapi/v1/progress while they waited"),
                f"{self.burst.answered + self.burst.failed} /progress calls at once while they waited: "
                f"max {self.burst.max * 1000:.0f} ms, {self.burst.failed} failed",
                f"most jobs held at once (running + queued, from /progress): {self.peak_job_count} "
                f"of {self.expected + self.leavers + 1} sent",
                f"clients that went away: {self.leavers} ({self.left_waiting} while their job waited), "
                f"{self.leavers_in_history} of their jobs done and in their history",
                f"server threads before / peak / after: {self.before.threads} / {self.peak_threads} / "
                f"{self.after.threads}; open fds {self.before.fds} / {self.peak_fds} / {self.after.fds}",
                f"server RSS after/before: {self.rss_ratio:.3f} ({self.rss_before / 2**20:.0f} MiB before); "
                f"wall {self.wall_seconds:.1f} s, {self.expected / self.wall_seconds:.2f} jobs/s",
                *(f"   {failure}" for failure in self.failures[:5])]


def rss_bytes(pid: int) -> int:
    return ProcessSample.of(pid).rss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=40)
    parser.add_argument("--jobs", type=int, default=5, help="jobs per user, all sent at once")
    parser.add_argument("--pollers", type=int, default=4, help="clients polling /sdapi/v1/progress")
    parser.add_argument("--leavers", type=int, default=4, help="clients that go away while their job waits")
    parser.add_argument("--blocker-steps", type=int, default=150, help="steps of the long first job (128 px)")
    parser.add_argument("--small", action="store_true", help="CI size: 6 users x 3 jobs, 1 poller, 2 leavers")
    args = parser.parse_args()
    if args.small:
        args.users, args.jobs, args.pollers, args.leavers = 6, 3, 1, 2
    users = [f"user{index:02d}" for index in range(args.users)]
    leavers = leaver_names(args.leavers)
    with tempfile.TemporaryDirectory() as data:
        server = Server(Path(data), Path(data) / "server.log",
                        ("--api", "--gradio-auth", gradio_auth(users + leavers), "--queue-per-user", str(args.jobs)))
        server.wait_ready()
        try:
            report = run(server, users, args.jobs, pollers=args.pollers, leavers=leavers,
                         blocker_steps=args.blocker_steps)
        finally:
            server.stop()
    print(f"{args.users} users x {args.jobs} jobs, {args.pollers} pollers, {args.leavers} clients that go away")
    print("\n".join(report.lines()))


@dataclass
class _Results:
    """What the client threads record (under `lock`): completions in the order they came back, and failures."""

    lock: threading.Lock
    finished: list[tuple[str, int]]
    failures: list[str]
    went_away: list[tuple[str, bool]]  # (user, whether its job was queued or running when it went away)


def run(server: Server, users: list[str], jobs_per_user: int, *, pollers: int = 0, leavers: Sequence[str] = (),
        blocker_steps: int = 150, job_fields: dict | None = None, time_limit: float = 600.0) -> LoadReport:
    """Each user's jobs are sent at once (one connection per job) while a long job of the first user runs; `pollers`
    clients poll /progress meanwhile and each of `leavers` (accounts with the bench password) sends one job and goes
    away after 3 s. Once they have gone and every job waits, the long job is cancelled. `job_fields` change the
    jobs' body (BODY: 64 px, 2 steps). Every request and loop is bounded by `time_limit` seconds."""
    pid = server.process.pid
    _warm_up(server, [*users, *leavers], time_limit)
    # one client (connection pool) per user, made before anything is measured: making 200 at once costs the
    # bench's own threads the GIL for a second, and the pollers would count that as the server's latency
    sessions = {user: _client(server, user, time_limit) for user in users}
    try:
        return _load(server, pid, sessions, jobs_per_user, pollers, leavers, blocker_steps, job_fields, time_limit)
    finally:
        for http in sessions.values():
            http.close()


def _load(server: Server, pid: int, sessions: dict[str, httpx.Client], jobs_per_user: int, pollers: int,
          leavers: Sequence[str], blocker_steps: int, job_fields: dict | None, time_limit: float) -> LoadReport:
    users = list(sessions)
    before = ProcessSample.of(pid)
    watch = ProcessWatch(pid, limit_seconds=time_limit).start()
    results = _Results(threading.Lock(), [], [], [])
    cancelled = _Results(threading.Lock(), [], [], [])  # how the long job ends (cancelled) is not measured
    blocker = _thread(_send, sessions[users[0]], users[0], BLOCKER_SEED, cancelled,
                      {"steps": blocker_steps, "width": 128, "height": 128})
    blocker_id = _wait_until_running(server, users[0], time_limit)
    probes = [ProgressPoller(server.url, (user, password(user)), limit_seconds=time_limit).start()
              for user in (users[index % len(users)] for index in range(pollers))]
    started = time.monotonic()
    gone = [_thread(_leave, server, user, LEAVER_SEED + index, results, time_limit)
            for index, user in enumerate(leavers)]
    clients = [_thread(_send, sessions[user], user, 1000 * index + job, results, job_fields)
               for index, user in enumerate(users) for job in range(jobs_per_user)]
    bursts: list[Latencies] = []
    # late enough that every request has reached the server (sending 200 at once takes the bench a few seconds)
    burster = _thread(_burst_later, server, users[-1], 2.0 + 0.02 * len(clients), 20, time_limit, bursts)
    for thread in gone:
        thread.join(time_limit)
    held = _cancel_when_all_wait(server, users[0], blocker_id, 1 + len(leavers) + len(clients), time_limit)
    for thread in [blocker, *clients, burster]:
        thread.join(max(1.0, started + time_limit - time.monotonic()))
    wall = time.monotonic() - started
    for probe in probes:
        probe.stop()
    watch.stop()
    in_history = sum(_in_history(server, user, LEAVER_SEED + list(leavers).index(user), time_limit)
                     for user, _ in results.went_away)
    for http in sessions.values():
        http.close()
    after = _after(pid, before)
    report = _report(users, jobs_per_user, results, wall, probes, held, before, after, watch, in_history)
    return replace(report, burst=bursts[0] if bursts else Latencies.of(()))


def _report(users: list[str], jobs_per_user: int, results: _Results, wall: float, probes: list[ProgressPoller],
            held: int, before: ProcessSample, after: ProcessSample, watch: ProcessWatch, in_history: int) -> LoadReport:
    finished = results.finished
    expected = len(users) * jobs_per_user
    seeds = [seed for _, seed in finished]
    fairness = busiest_before_everyone_had_one([user for user, _ in finished], users)
    progress = Latencies.of([latency for probe in probes for latency in probe.latencies],
                            answered=sum(probe.answered for probe in probes),
                            failed=sum(probe.failed for probe in probes))
    return LoadReport(expected, len(finished), tuple(results.failures), len(seeds) - len(set(seeds)),
                      expected - len(set(seeds)), fairness, after.rss / before.rss, before.rss, wall,
                      progress=progress, peak_job_count=max([held, *(probe.peak_job_count for probe in probes)]),
                      before=before, after=after, peak_threads=watch.peak_threads, peak_fds=watch.peak_fds,
                      leavers=len(results.went_away),
                      left_waiting=sum(waiting for _, waiting in results.went_away), leavers_in_history=in_history)


def _after(pid: int, before: ProcessSample, settle: float = 3.0) -> ProcessSample:
    """The server once every client has closed its connections: the server closes its side when it reads the end,
    so this waits (up to `settle` s) for the open fds to come back down to where they were."""
    deadline = time.monotonic() + settle
    sample = ProcessSample.of(pid)
    while sample.fds > before.fds and time.monotonic() < deadline:
        time.sleep(0.1)
        sample = ProcessSample.of(pid)
    return sample


def _thread(target, *args) -> threading.Thread:
    thread = threading.Thread(target=target, args=args, daemon=True)
    thread.start()
    return thread


def _client(server: Server, user: str, timeout: float | httpx.Timeout) -> httpx.Client:
    return httpx.Client(base_url=server.url, auth=(user, password(user)), timeout=timeout)


def _warm_up(server: Server, accounts: list[str], time_limit: float) -> None:
    """One job (the model's first run is slow), then one cheap request per account, so that checking each account's
    password the first time (scrypt, tens of ms) happens before anything is measured."""
    with _client(server, accounts[0], time_limit) as http:
        http.post("/sdapi/v1/txt2img", json=BODY | {"seed": 0}).raise_for_status()
    for user in accounts:
        with _client(server, user, time_limit) as http:
            http.get("/kestrel/v1/jobs").raise_for_status()


def _wait_until_running(server: Server, user: str, time_limit: float) -> str:
    """Until the long first job samples (bounded), so every later job waits behind it; returns its job id."""
    deadline = time.monotonic() + min(60.0, time_limit)
    with _client(server, user, time_limit) as http:
        while time.monotonic() < deadline:
            state = http.get("/sdapi/v1/progress").json()["state"]
            if state["sampling_step"] > 0:
                return str(state["job"])
            time.sleep(0.05)
    raise AssertionError("the long first job did not start within 60 s")


def _cancel_when_all_wait(server: Server, user: str, blocker_id: str, sent: int, time_limit: float,
                          settle: float = 3.0) -> int:
    """Cancel the long first job once the server holds every job sent (or the count stopped growing for `settle`
    seconds: a server whose waiting requests hold threads never holds them all), so the run is not longer than the
    load needs. Cancelling by id never touches another job; a server that has no thread free answers late.
    Returns the most jobs the server said it held."""
    deadline = time.monotonic() + time_limit
    held, peak, changed = 0, 0, time.monotonic()
    with _client(server, user, time_limit) as http:
        while time.monotonic() < deadline:
            count = int(http.get("/sdapi/v1/progress").json()["state"].get("job_count", 0))
            if count != held:
                held, peak, changed = count, max(peak, count), time.monotonic()
            if held >= sent or time.monotonic() - changed > settle:
                break
            time.sleep(0.05)
        http.delete(f"/kestrel/v1/jobs/{blocker_id}")
    return peak


def _burst_later(server: Server, user: str, delay: float, count: int, time_limit: float,
                 into: list[Latencies]) -> None:
    """`delay` s after the jobs were sent (while they wait), `count` /progress calls at once."""
    with _client(server, user, time_limit) as http:
        time.sleep(delay)
        into.append(concurrent_burst(http, "/sdapi/v1/progress?skip_current_image=true", count))


def _send(http: httpx.Client, user: str, seed: int, results: _Results, fields: dict | None = None) -> None:
    try:
        response = http.post("/sdapi/v1/txt2img", json=BODY | (fields or {}) | {"seed": seed})
    except httpx.HTTPError as error:
        with results.lock:
            results.failures.append(f"{user} {seed}: {type(error).__name__} {error}")
        return
    with results.lock:
        if response.status_code == 200 and response.json()["parameters"]["seed"] == seed:
            results.finished.append((user, seed))
        else:
            results.failures.append(f"{user} {seed}: {response.status_code} {response.text[:120]}")


def _leave(server: Server, user: str, seed: int, results: _Results, time_limit: float,
           patience: float = 3.0) -> None:
    """Send one job and close the connection after `patience` seconds without an answer (a client that goes away);
    note whether the job was waiting in the server at that moment."""
    try:
        with _client(server, user, httpx.Timeout(time_limit, read=patience)) as http:
            http.post("/sdapi/v1/txt2img", json=BODY | {"seed": seed})
        return  # it came back before the client gave up: not a client that went away
    except httpx.ReadTimeout:
        pass
    with _client(server, user, time_limit) as http:
        waiting = [job for job in http.get("/kestrel/v1/jobs").json() if job["state"] in ("queued", "running")]
    with results.lock:
        results.went_away.append((user, bool(waiting)))


def _in_history(server: Server, user: str, seed: int, time_limit: float) -> bool:
    """Whether the job with this seed is done and listed in its owner's history (waiting for it, bounded)."""
    deadline = time.monotonic() + min(60.0, time_limit)
    with _client(server, user, time_limit) as http:
        while time.monotonic() < deadline:
            for listed in http.get("/kestrel/v1/jobs").json():
                if listed["state"] == "done" and listed["image_count"] == 1:
                    job = http.get(f"/kestrel/v1/jobs/{listed['id']}").json()
                    if any(f"Seed: {seed}," in text for text in job.get("infotexts", [])):
                        return True
            time.sleep(0.2)
    return False


if __name__ == "__main__":
    main()
