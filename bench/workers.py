"""Device workers on Ray: throughput with --workers 1 vs --workers 2, and what Ray adds per job (#20).

One run, three set-ups on the same data folder (the tiny demo model, CPU, 1 torch thread per worker):
- in-process: the default worker (no Ray), the jobs one after another;
- --workers 1: one Ray worker — the difference to in-process is Ray's per-job cost (the request pickled to the
  actor, polls for progress, the PNGs back through the object store, decoded and saved in the front);
- --workers 2: two Ray workers — the throughput ratio to --workers 1 (goal >= 0.9 x N = 1.8 on 2 cores).

Each set-up warms up (one job per worker: the checkpoint load) and then times N jobs (16 jobs of 128², 12 steps,
from two owners). A second, tiny batch (1 step, 64²) isolates the per-job overhead (goal <= 50 ms).
Usage: PYTHONPATH=<ray's folder> .venv/bin/python bench/workers.py [--jobs 16] [--size 128] [--steps 12]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
for name, value in {"GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1",
                    "RAY_USAGE_STATS_ENABLED": "0", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}.items():
    os.environ.setdefault(name, value)

import torch  # noqa: E402

from webui.app_context import build_app  # noqa: E402
from webui.config.flags import CommandLineOptions  # noqa: E402
from webui.engine.request import GenerationRequest  # noqa: E402
from webui.jobs.tasks import wait_result  # noqa: E402


def timed_jobs(app, count: int, size: int, steps: int) -> float:
    """Seconds for `count` jobs submitted at once (two owners, alternating), until the last one ends."""
    started = time.perf_counter()
    jobs = [app.submit_generation(GenerationRequest(prompt="a lighthouse at dusk", sampler_name="Euler", steps=steps,
                                                    width=size, height=size, seed=index, save_images=False),
                                  ("alice", "bob")[index % 2]) for index in range(count)]
    for job in jobs:
        wait_result(job, 1800)
    return time.perf_counter() - started


def measure(data: Path, workers: int, args) -> tuple[float, float]:
    """(seconds for the big batch, seconds for the tiny batch) with `workers` Ray workers (0: in-process)."""
    options = CommandLineOptions(data_dir=data, device="cpu", workers=workers, worker_threads=1 if workers else None)
    app = build_app(options, default_data_dir=data)
    app.start()
    try:
        if app.workers is not None and not app.workers.wait_ready(600):
            raise SystemExit("the workers did not start within 600 s")
        if app.workers is None:  # torch's threads are per calling thread: set them where the jobs run, as a worker
            app.backend.call(torch.set_num_threads, 1)
        timed_jobs(app, max(1, workers) * 2, args.size, 1)  # warm-up: every worker loads the checkpoint
        big = timed_jobs(app, args.jobs, args.size, args.steps)
        overhead = app.workers.overhead_ms() if app.workers is not None else None
        tiny = timed_jobs(app, args.jobs, 64, 1)
    finally:
        app.stop()
    label = f"--workers {workers}" if workers else "in-process"
    measured = f"   Ray's cost per job (median, beyond engine.generate): {overhead:.1f} ms" if overhead else ""
    print(f"{label:12s} {args.jobs} jobs {args.size}² x {args.steps} steps: {big:7.2f} s  "
          f"({big / args.jobs * 1000:6.0f} ms/job)   {args.jobs} jobs 64² x 1 step: {tiny:6.2f} s{measured}",
          flush=True)
    return big, tiny


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=16)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=12)
    args = parser.parse_args()
    torch.set_num_threads(1)  # the in-process worker at 1 thread too, as each Ray worker
    with tempfile.TemporaryDirectory(prefix="kestrel-workers-bench-") as folder:
        data = Path(folder)
        local_big, local_tiny = measure(data, 0, args)
        one_big, one_tiny = measure(data, 1, args)
        two_big, _ = measure(data, 2, args)
    print(f"throughput --workers 2 / --workers 1: {one_big / two_big:.2f}x (goal >= 1.8 on 2 cores)")
    print(f"Ray per-job overhead vs in-process, from wall times: {(one_tiny - local_tiny) / args.jobs * 1000:.0f} ms "
          f"(1-step jobs), {(one_big - local_big) / args.jobs * 1000:.0f} ms ({args.steps}-step jobs) (goal <= 50 ms; "
          "on a shared machine the measured cost per job above is the steadier figure)")


if __name__ == "__main__":
    main()
