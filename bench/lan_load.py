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
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from tests.support.server import Server  # noqa: E402


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
            run(server, users, args.jobs)
        finally:
            server.stop()


def run(server: Server, users: list[str], jobs_per_user: int) -> None:
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
    print(f"{len(finished)}/{expected} jobs done, {len(failures)} failed, "
          f"{len(seeds) - len(set(seeds))} duplicated, {expected - len(set(seeds))} lost")
    print(f"before every user had one job back, the busiest user had {most} back (round-robin: 1-2)")
    print(f"server RSS after/before: {rss_bytes(server.process.pid) / rss_before:.3f} "
          f"({rss_before / 2**20:.0f} MiB before); wall {wall:.1f} s, {expected / wall:.2f} jobs/s")
    for failure in failures[:5]:
        print("  ", failure)


if __name__ == "__main__":
    main()
