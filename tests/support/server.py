"""A real server for tests: `app.py` in its own process under the network guard, on a free loopback port.

A cold start spends ~15 s of its ~17 s importing torch, diffusers, transformers and gradio. So servers are forked
from a preloader: one process per test session (started when the collected tests need a server, see
tests/conftest.py) that installs the network guard, imports what `app.py`'s `serve` imports and then forks one
child per server. Each child takes its own argv, environment, working directory and log (stdin from /dev/null,
stdout and stderr to the log) and runs `app.py` as `__main__` exactly as `python -m tests.support.guarded_app`
does. Nothing of the app is built before the fork: the project's modules do nothing at import time, so a child
starts from the state of a fresh process, in ~2 s instead of ~17. `gc.freeze()` before each fork keeps the
child's garbage collections (and its exit) from touching, and so copying, every imported object.

`run_app` runs the other commands (`app.py convert`, `merge`) the same way. One difference to a fresh process
remains: the preloaded modules are already imported, so a command that forgot an import which `serve` makes would
not fail here (tests/test_architecture.py still imports every module in a fresh process).

A cold subprocess is used instead when the environment differs from the preloader's (something read at import
time could differ), when KESTREL_TEST_COLD_SERVERS=1, or when the preloader cannot start.
"""

from __future__ import annotations

import gc
import json
import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "app.py"
PRELOADED = ("gradio", "uvicorn", "webui.config.flags", "webui.api.server", "webui.app_context", "webui.ui.blocks")
PR_SET_PDEATHSIG = 1
# Variables that change in the test process without bearing on a server's start: pytest's own; torch's inductor
# cache folder, which torch sets in whichever process first reaches its compiler (read only when compiling); and the
# network-silence switches, which app.py sets itself (a test of extensions changed HF_HUB_DISABLE_TELEMETRY, and
# every later server of the suite started cold: ~15 s each)
IGNORED_ENVIRONMENT = {"PYTEST_CURRENT_TEST", "TORCHINDUCTOR_CACHE_DIR", "GRADIO_ANALYTICS_ENABLED", "HF_HUB_OFFLINE",
                       "HF_HUB_DISABLE_TELEMETRY", "DO_NOT_TRACK"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _environment() -> dict[str, str]:
    return {name: value for name, value in os.environ.items() if name not in IGNORED_ENVIRONMENT}


class ForkedProcess:
    """The parts of `subprocess.Popen` that `Server` uses, for a child of the preloader."""

    def __init__(self, preloader: Preloader, pid: int) -> None:
        self.preloader = preloader
        self.pid = pid

    @property
    def returncode(self) -> int | None:
        return self.preloader.exit_code(self.pid)

    def poll(self) -> int | None:
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        code = self.preloader.wait_exit(self.pid, timeout)
        if code is None:
            raise subprocess.TimeoutExpired(f"server pid {self.pid}", timeout or 0)
        return code

    def send_signal(self, number: int) -> None:
        if not self.preloader.has_exited(self.pid):  # an unreaped pid cannot have been reused
            try:
                os.kill(self.pid, number)
            except ProcessLookupError:
                pass

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


class Preloader:
    """The pytest side of the preloader: sends start requests, learns the children's pids and exit codes."""

    def __init__(self, log_path: Path) -> None:
        self.log_path = log_path
        self.environment = _environment()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.support.server"], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=log_path.open("w"), env=self.environment)
        self.changed = threading.Condition()
        self.replies: dict[int, int] = {}  # request number → pid
        self.exits: dict[int, int] = {}  # pid → exit code
        self.ready = False
        self.imported_environment: dict[str, str] = {}  # the preloader's, after its imports
        self.requests = 0
        threading.Thread(target=self._read_replies, name="server-preloader-replies", daemon=True).start()

    def _read_replies(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            message = json.loads(line)
            with self.changed:
                if "ready" in message:
                    self.imported_environment = message["environment"]
                    self.ready = True
                elif "started" in message:
                    self.replies[message["started"]] = message["pid"]
                elif "exited" in message:
                    self.exits[message["exited"]] = message["code"]
                self.changed.notify_all()
        with self.changed:
            self.changed.notify_all()

    def serves(self, environment: dict[str, str]) -> bool:
        """Whether a child forked now sees what a fresh process with `environment` would: the same variables as
        when the preloader started, except those its imports set themselves, to the same values (e.g. torch's
        TORCHINDUCTOR_CACHE_DIR, which the tests' own imports set in pytest's process too)."""
        changed = {name for name, _ in set(self.environment.items()) ^ set(environment.items())}
        return all(environment.get(name) == self.imported_environment.get(name) for name in changed)

    def differences(self, environment: dict[str, str]) -> list[str]:
        changed = {name for name, _ in set(self.environment.items()) ^ set(environment.items())}
        return sorted(name for name in changed if environment.get(name) != self.imported_environment.get(name))

    def alive(self) -> bool:
        return self.process.poll() is None

    def _wait_for(self, condition, timeout: float) -> bool:
        with self.changed:
            return self.changed.wait_for(lambda: condition() or not self.alive(), timeout) and condition()

    def wait_ready(self, timeout: float = 180.0) -> bool:
        return self._wait_for(lambda: self.ready, timeout)

    def start(self, arguments: list[str], log_path: Path, error_path: Path | None = None,
              cwd: Path = ROOT) -> ForkedProcess:
        """Fork `app.py ARGUMENTS`: stdout to `log_path`, stderr there too unless `error_path` is given."""
        with self.changed:
            self.requests += 1
            number = self.requests
        request = {"number": number, "arguments": arguments, "stdout": str(log_path),
                   "stderr": str(error_path or log_path), "cwd": str(cwd), "environment": _environment()}
        assert self.process.stdin is not None
        with self.changed:
            self.process.stdin.write((json.dumps(request) + "\n").encode())
            self.process.stdin.flush()
        if not self._wait_for(lambda: number in self.replies, 60):
            raise AssertionError(f"the server preloader did not fork:\n{self.log_path.read_text()}")
        return ForkedProcess(self, self.replies[number])

    def has_exited(self, pid: int) -> bool:
        with self.changed:
            return pid in self.exits

    def exit_code(self, pid: int) -> int | None:
        with self.changed:
            if pid not in self.exits and not self.alive():
                return -signal.SIGTERM  # the preloader is gone, and its children were told to go with it
            return self.exits.get(pid)

    def wait_exit(self, pid: int, timeout: float | None) -> int | None:
        self._wait_for(lambda: pid in self.exits, timeout if timeout is not None else 1e9)
        return self.exit_code(pid)


class _Slot:
    """The session's one preloader, started once even when the first server and the early start race."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.tried = False
        self.preloader: Preloader | None = None


_SLOT = _Slot()


def stop_preloader() -> str | None:
    """End the session's preloader (and any server still running under it); its log, or None if none started."""
    with _SLOT.lock:
        started = _SLOT.preloader
    if started is None:
        return None
    if started.alive():
        assert started.process.stdin is not None
        started.process.stdin.close()
        try:
            started.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            started.process.kill()
    return started.log_path.read_text()


def preloader() -> Preloader | None:
    """The session's preloader, started at the first call (None: start servers cold)."""
    with _SLOT.lock:
        if not _SLOT.tried and os.environ.get("KESTREL_TEST_COLD_SERVERS") != "1":
            _SLOT.tried = True
            log_folder = Path(os.environ.get("KESTREL_TEST_PRELOADER_LOG_DIR") or tempfile.gettempdir())
            _SLOT.preloader = Preloader(log_folder / f"kestrel-server-preloader-{os.getpid()}.log")
        started = _SLOT.preloader
    if started is None:
        return None
    if not started.wait_ready():
        print(f"the server preloader did not start; servers start cold:\n{started.log_path.read_text()}",
              file=sys.stderr)
        started.process.kill()
        with _SLOT.lock:
            _SLOT.preloader = None
        return None
    return started


class Server:
    def __init__(self, data_dir: Path, log_path: Path, extra_flags: tuple[str, ...] = ()) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        arguments = ["--data-dir", str(data_dir), "--port", str(self.port), *extra_flags]
        warm = preloader()
        self.process: subprocess.Popen | ForkedProcess
        if warm is not None and warm.alive() and warm.serves(_environment()):
            self.process = warm.start(arguments, log_path)
        else:
            if warm is not None:
                # past pytest's capture, so a suite that went slow says why in its log
                print(f"starting a cold server: the environment changed ({warm.differences(_environment())}) or "
                      "the preloader is gone", file=sys.__stderr__)
            self.process = subprocess.Popen([sys.executable, "-m", "tests.support.guarded_app", *arguments], cwd=ROOT,
                                            stdout=log_path.open("w"), stderr=subprocess.STDOUT)

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
                time.sleep(0.1)
        raise AssertionError(f"server not ready in {timeout} s:\n{self.log_path.read_text()}")

    def stop(self) -> str:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=30)
        return self.log_path.read_text()


def run_app(arguments: list[str], timeout: float = 300, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """`python app.py ARGUMENTS` (e.g. the convert and merge commands) as `subprocess.run(..., capture_output=True,
    text=True)` would run it, but forked from the preloader when there is one: the same process, without the
    ~15 s of imports."""
    warm = preloader()
    if warm is None or not warm.alive() or not warm.serves(_environment()):
        return subprocess.run([sys.executable, str(APP), *arguments], capture_output=True, text=True,
                              timeout=timeout, cwd=cwd)
    with tempfile.TemporaryDirectory(prefix="kestrel-app-run-") as folder:
        out, err = Path(folder) / "stdout", Path(folder) / "stderr"
        child = warm.start(arguments, out, err, cwd)
        try:
            code = child.wait(timeout)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait(30)
            raise
        return subprocess.CompletedProcess([sys.executable, str(APP), *arguments], code,
                                           out.read_text(encoding="utf-8"), err.read_text(encoding="utf-8"))


# The preloader process itself (`python -m tests.support.server`): stdin carries start requests, stdout replies.

def _reply(message: dict) -> None:
    os.write(1, (json.dumps(message) + "\n").encode())


def _reap(children: set[int]) -> None:
    while children:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        children.discard(pid)
        _reply({"exited": pid, "code": os.waitstatus_to_exitcode(status)})


def _become_the_server(request: dict, set_by_imports: dict[str, str]) -> None:
    """In the forked child: take the request's log, environment, directory and argv (the app's own state is
    built by app.py from here on, as in a fresh process)."""
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    for number, path in ((1, request["stdout"]), (2, request["stderr"])):
        if number == 2 and path == request["stdout"]:
            os.dup2(1, 2)
            continue
        opened = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(opened, number)
        os.close(opened)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["environment"])
    for name, value in set_by_imports.items():  # what the imports set in a fresh process too
        os.environ.setdefault(name, value)
    sys.argv = [str(APP), *request["arguments"]]
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    import ctypes

    ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)  # no server outlives its preloader


def _serve_requests(set_by_imports: dict[str, str]) -> dict | None:
    """Fork a child per request; return the request in the child, None in the preloader when pytest is gone."""
    children: set[int] = set()
    pending = b""
    while True:
        readable, _, _ = select.select([0], [], [], 0.05)
        _reap(children)
        if not readable:
            continue
        chunk = os.read(0, 65536)
        if not chunk:
            break
        pending += chunk
        while b"\n" in pending:
            line, pending = pending.split(b"\n", 1)
            request = json.loads(line)
            sys.stdout.flush()
            sys.stderr.flush()
            gc.freeze()  # else the child's collections (and its exit) touch, and so copy, every imported object
            pid = os.fork()
            if pid == 0:
                _become_the_server(request, set_by_imports)
                return request
            children.add(pid)
            _reply({"started": request["number"], "pid": pid})
    for pid in children:
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    while children and time.monotonic() < deadline:
        _reap(children)
        time.sleep(0.1)
    for pid in children:
        os.kill(pid, signal.SIGKILL)
    return None


def _preload_and_serve() -> None:
    import importlib
    import runpy

    from tests.support import netguard

    netguard.install()  # before the imports, as tests.support.guarded_app does; forked children inherit it
    before = dict(os.environ)
    for name in PRELOADED:
        importlib.import_module(name)
    set_by_imports = {name: value for name, value in os.environ.items() if before.get(name) != value}
    _reply({"ready": True, "environment": dict(os.environ)})
    request = _serve_requests(set_by_imports)
    if request is not None:
        runpy.run_path(str(APP), run_name="__main__")


if __name__ == "__main__":
    _preload_and_serve()
