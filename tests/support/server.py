"""A real server for tests: `app.py` in a subprocess under the network guard, on a free loopback port."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    def __init__(self, data_dir: Path, log_path: Path, extra_flags: tuple[str, ...] = ()) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.support.guarded_app", "--data-dir", str(data_dir), "--port", str(self.port),
             *extra_flags], cwd=ROOT, stdout=log_path.open("w"), stderr=subprocess.STDOUT)

    def ping(self) -> dict:
        with urllib.request.urlopen(f"{self.url}/internal/ping", timeout=5) as response:
            return json.loads(response.read())

    def wait_ready(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"server exited early:\n{self.log_path.read_text()}")
            try:
                self.ping()
                return
            except OSError:
                time.sleep(0.3)
        raise AssertionError(f"server not ready in {timeout} s:\n{self.log_path.read_text()}")

    def stop(self) -> str:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
        return self.log_path.read_text()
