"""Start-up: process start → first HTTP 200 from the server, against a bare `import torch, diffusers, gradio`.

Both in fresh processes (medians of N), on the demo model. Goal: ≤ 1.5× the bare imports.
Usage: .venv/bin/python bench/startup.py [--runs 3]
"""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENV = {"GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1",
       "PATH": "/usr/bin:/bin"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def bare_imports() -> float:
    begin = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import torch, diffusers, gradio"], check=True, env=ENV)
    return time.perf_counter() - begin


def server_to_first_200(data_dir: Path) -> float:
    port = free_port()
    begin = time.perf_counter()
    process = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "--port", str(port), "--data-dir",
                                str(data_dir)], env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1) as response:
                    if response.status == 200:
                        return time.perf_counter() - begin
            except OSError:
                time.sleep(0.05)
            if process.poll() is not None:
                raise RuntimeError("the server exited during start-up")
    finally:
        process.terminate()
        process.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    runs = parser.parse_args().runs
    data = Path(tempfile.mkdtemp(prefix="kestrel-startup-"))
    server_to_first_200(data)  # writes the demo model once; later runs start as a user's second start does
    imports = statistics.median(bare_imports() for _ in range(runs))
    server = statistics.median(server_to_first_200(data) for _ in range(runs))
    print(f"bare import torch, diffusers, gradio      {imports:6.2f} s")
    print(f"process start -> first HTTP 200 (page)     {server:6.2f} s  {server / imports:.2f}x (goal <= 1.5)")


if __name__ == "__main__":
    main()
