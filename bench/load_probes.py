"""What `lan_load.py` watches while a server is under load: the server process (threads, open files, RSS) and how
long `/sdapi/v1/progress` takes to answer, and how turns were shared.

Waiting API calls must hold no server thread: if they did, a few dozen of them would take every thread of the
server's pool and `/progress` (and every other synchronous route) would wait for one. So the probes measure exactly
that from outside, through `/proc` and over HTTP, without knowing how the server is built.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx


@dataclass(frozen=True)
class ProcessSample:
    """One reading of a process from /proc: thread count, open file descriptors, resident memory."""

    threads: int
    fds: int
    rss: int

    @staticmethod
    def of(pid: int) -> ProcessSample:
        fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                      if ":" in line)
        return ProcessSample(threads=int(fields["Threads"].strip()), fds=len(os.listdir(f"/proc/{pid}/fd")),
                             rss=int(fields["VmRSS"].split()[0]) * 1024)


class ProcessWatch:
    """Samples a process every `interval` seconds from a background thread and keeps the peaks (bounded: it stops
    at `stop()` or after `limit_seconds`)."""

    def __init__(self, pid: int, interval: float = 0.1, limit_seconds: float = 900.0) -> None:
        self._pid = pid
        self._interval = interval
        self._limit = limit_seconds
        self._stop = threading.Event()
        self.peak_threads = 0
        self.peak_fds = 0
        self._thread = threading.Thread(target=self._sample, name="process-watch", daemon=True)

    def start(self) -> ProcessWatch:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _sample(self) -> None:
        deadline = time.monotonic() + self._limit
        while not self._stop.is_set() and time.monotonic() < deadline:
            try:
                sample = ProcessSample.of(self._pid)
            except (OSError, KeyError, ValueError):  # the process ended, or /proc raced with a thread exiting
                return
            self.peak_threads = max(self.peak_threads, sample.threads)
            self.peak_fds = max(self.peak_fds, sample.fds)
            self._stop.wait(self._interval)


@dataclass(frozen=True)
class Latencies:
    """Percentiles of request latencies in seconds over `samples` (see `ProgressPoller` for what a sample is);
    `answered` requests came back 200, `failed` timed out or were not 200."""

    answered: int
    samples: int
    p50: float
    p95: float
    max: float
    failed: int

    @staticmethod
    def of(seconds: Sequence[float], answered: int = 0, failed: int = 0) -> Latencies:
        ordered = sorted(seconds)
        if not ordered:
            return Latencies(answered, 0, math.nan, math.nan, math.nan, failed)
        return Latencies(answered, len(ordered), percentile(ordered, 50), percentile(ordered, 95), ordered[-1],
                         failed)

    def line(self, what: str) -> str:
        return (f"{what}: p50 {self.p50 * 1000:.0f} ms, p95 {self.p95 * 1000:.0f} ms, max {self.max * 1000:.0f} ms "
                f"({self.answered} answered, {self.failed} failed or timed out; {self.samples} samples as a client "
                f"asking every 0.1 s sees them)")


def percentile(ordered: Sequence[float], percent: float) -> float:
    """Nearest-rank percentile of an already sorted sequence."""
    rank = max(1, math.ceil(percent / 100 * len(ordered)))
    return ordered[rank - 1]


class ProgressPoller:
    """Polls `/sdapi/v1/progress` as one logged-in client would while it waits for a job: one request at a time,
    `interval` seconds apart, until `stop()`, `max_polls` or `limit_seconds`. Records each answer's latency and the
    largest `job_count` seen (running + queued jobs: how many jobs the server holds at once).

    A poller that waits 60 s for one answer sends one request where it meant to send 600, so its raw latencies
    would hide the stall (coordinated omission). `latencies` therefore also holds, for every answer slower than
    `interval`, the latencies the requests it could not send would have seen (L - interval, L - 2 interval, ...):
    the figures are those of a client asking every `interval` seconds. A request that times out counts with the time
    it waited (and in `failed`)."""

    def __init__(self, url: str, auth: tuple[str, str], interval: float = 0.1, max_polls: int = 5000,
                 limit_seconds: float = 600.0, request_timeout: float = 120.0) -> None:
        self._url, self._auth = url, auth
        self._interval, self._max_polls, self._limit, self._timeout = interval, max_polls, limit_seconds, \
            request_timeout
        self._stop = threading.Event()
        self.latencies: list[float] = []
        self.answered = 0
        self.failed = 0
        self.peak_job_count = 0
        self._thread = threading.Thread(target=self._poll, name="progress-poller", daemon=True)

    def start(self) -> ProgressPoller:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(self._timeout + 5)

    def _poll(self) -> None:
        deadline = time.monotonic() + self._limit
        with httpx.Client(base_url=self._url, auth=self._auth, timeout=self._timeout) as http:
            for _ in range(self._max_polls):
                if self._stop.is_set() or time.monotonic() >= deadline:
                    return
                self._one(http)
                self._stop.wait(self._interval)

    def _one(self, http: httpx.Client) -> None:
        started = time.monotonic()
        try:
            response = http.get("/sdapi/v1/progress", params={"skip_current_image": "true"})
        except httpx.TimeoutException:
            self.failed += 1
            self._record(time.monotonic() - started)
            return
        except httpx.HTTPError:
            self.failed += 1
            return
        if response.status_code != 200:
            self.failed += 1
            return
        self.answered += 1
        self._record(time.monotonic() - started)
        self.peak_job_count = max(self.peak_job_count, int(response.json()["state"].get("job_count", 0)))

    def _record(self, latency: float) -> None:
        self.latencies.append(latency)
        missed = latency - self._interval
        while missed > self._interval:  # the requests a client asking every `interval` s would have waiting
            self.latencies.append(missed)
            missed -= self._interval


def concurrent_burst(http: httpx.Client, path: str, count: int) -> Latencies:
    """`count` GETs of `path` sent at the same moment through one client (its pool opens a connection each): what
    `count` browser tabs or API clients asking at once see. A server whose worker threads are all held by waiting
    calls answers none of them until one frees."""
    latencies: list[float] = []
    failures: list[float] = []
    lock = threading.Lock()
    go = threading.Event()

    def one() -> None:
        go.wait()
        started = time.monotonic()
        try:
            answered = http.get(path).status_code == 200
        except httpx.HTTPError:
            answered = False
        with lock:
            (latencies if answered else failures).append(time.monotonic() - started)

    threads = [threading.Thread(target=one, daemon=True) for _ in range(count)]
    for thread in threads:
        thread.start()
    go.set()
    for thread in threads:
        thread.join()
    return Latencies.of(latencies, answered=len(latencies), failed=len(failures))


def busiest_before_everyone_had_one(order: Sequence[str], users: Sequence[str]) -> int:
    """How many jobs the busiest user had back when the last user got their first one back (round-robin: 1).

    If some user never got one back, it counts over every completion."""
    seen: set[str] = set()
    counts: dict[str, int] = {}
    for user in order:
        counts[user] = counts.get(user, 0) + 1
        seen.add(user)
        if seen >= set(users):
            break
    return max(counts.values(), default=0)
