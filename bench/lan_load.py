"""The shared-instance load test at full size: 20 API clients (20 accounts) x 5 jobs each on the demo model,
64 px, 2 steps, against `app.py` with logins in a subprocess.

Prints: jobs done / lost / duplicated, how evenly turns were shared (the largest number of jobs any one user had
finished before every user had one finished; all jobs wait together behind one long job, so the order is the
queue's), the server's RSS before and after (ratio), and wall time.
Usage: .venv/bin/python bench/lan_load.py [--users 20] [--jobs 5]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from tests.support.server import Server  # noqa: E402


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

    def lines(self) -> list[str]:
        return [f"{self.done}/{self.expected} jobs done, {len(self.failures)} failed, {self.duplicated} duplicated, "
                f"{self.lost} lost",
                f"before every user had one job back, the busiest user had {self.busiest_first_round} back "
                f"(round-robin: 1-2)",
                f"server RSS after/before: {self.rss_ratio:.3f} ({self.rss_before / 2**20:.0f} MiB before); "
                f"wall {self.wall_seconds:.1f} s, {self.expected / self.wall_seconds:.2f} jobs/s",
                *(f"   {failure}" for failure in self.failures[:5])]


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=5)
    args = parser.parse_args()
    users = [f"user{index:02d}" for index in range(args.users)]
    credentials = ",".join(f"{user}:pw-{user}" for user in users)
    with tempfile.TemporaryDirectory() as data:
        server = Server(Path(data), Path(data) / "server.log",
                        ("--api", "--gradio-auth", credentials, "--queue-per-user", str(args.jobs)))
        server.wait_ready()
        try:
            report = run(server, users, args.jobs)
        finally:
            server.stop()
    print("\n".join(report.lines()))


def run(server: Server, users: list[str], jobs_per_user: int) -> LoadReport:
    """Each user's jobs are sent at once (one connection per job) after a long job of the first user started."""
    body = {"prompt": "load", "steps": 2, "width": 64, "height": 64, "sampler_name": "Euler a"}
    with httpx.Client(base_url=server.url, auth=(users[0], f"pw-{users[0]}"), timeout=600) as warm:
        warm.post("/sdapi/v1/txt2img", json=body | {"seed": 0})
    rss_before = rss_bytes(server.process.pid)
    finished: list[tuple[str, int]] = []
    failures: list[str] = []
    lock = threading.Lock()

    def client(user: str) -> None:
        with httpx.Client(base_url=server.url, auth=(user, f"pw-{user}"), timeout=600) as http:
            requests = [threading.Thread(target=one, args=(http, user, index)) for index in range(jobs_per_user)]
            for request in requests:
                request.start()
            for request in requests:
                request.join()

    def one(http: httpx.Client, user: str, index: int) -> None:
        seed = 1000 * users.index(user) + index
        response = http.post("/sdapi/v1/txt2img", json=body | {"seed": seed})
        with lock:
            if response.status_code == 200 and response.json()["parameters"]["seed"] == seed:
                finished.append((user, seed))
            else:
                failures.append(f"{user} {seed}: {response.status_code} {response.text[:120]}")

    # one long job first, so that every client's jobs are waiting together and the order is the queue's choice
    blocker = threading.Thread(target=lambda: httpx.post(
        f"{server.url}/sdapi/v1/txt2img", auth=(users[0], f"pw-{users[0]}"), timeout=600,
        json=body | {"steps": 150, "width": 128, "height": 128, "seed": 999_999}))
    blocker.start()
    time.sleep(1.0)
    started = time.monotonic()
    threads = [threading.Thread(target=client, args=(user,)) for user in users]
    for thread in threads:
        thread.start()
    for thread in [blocker, *threads]:
        thread.join()
    wall = time.monotonic() - started
    expected = len(users) * jobs_per_user
    seeds = [seed for _, seed in finished]
    first_round_done = next((i for i in range(len(finished))
                             if {user for user, _ in finished[:i + 1]} == set(users)), len(finished))
    most = max(sum(user == name for user, _ in finished[:first_round_done + 1]) for name in users)
    return LoadReport(expected, len(finished), tuple(failures), len(seeds) - len(set(seeds)),
                      expected - len(set(seeds)), most, rss_bytes(server.process.pid) / rss_before, rss_before, wall)


if __name__ == "__main__":
    main()
