"""Shared fixtures. Nothing here downloads: models are tiny, built from the real diffusers/transformers classes and
written as real A1111 single files. The network guard fails the session on any non-loopback connection attempt."""

from __future__ import annotations

import itertools
import os

for _name, _value in {"GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1",
                      "DO_NOT_TRACK": "1"}.items():
    os.environ[_name] = _value

# Under pytest-xdist (`./launch.sh --run-tests` runs two workers) each worker's torch would start one compute thread
# per core, and so would every server and subprocess it starts: two workers on two cores then fight over them. Split
# the cores between the workers instead, before anything imports torch (its thread pool reads this when it starts);
# the servers, the preloader and the subprocesses inherit it. An explicit OMP_NUM_THREADS is left alone.
if int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")) > 1:
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) //
                                                     int(os.environ["PYTEST_XDIST_WORKER_COUNT"]))))

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from tests.support import netguard  # noqa: E402

GUARD = netguard.install()


def _start_preloader_in_background() -> None:
    import threading

    from tests.support.server import preloader

    threading.Thread(target=preloader, name="server-preloader-start", daemon=True).start()


def pytest_sessionstart(session: pytest.Session) -> None:
    """A run of the whole suite (CI) starts the server preloader (tests/support/server.py) at once: its ~15 s of
    imports then overlap the collection, which imports the same libraries."""
    if session.config.pluginmanager.has_plugin("dsession"):
        return  # the pytest-xdist controller runs no test: each of its workers starts its own preloader
    tests = Path(__file__).resolve().parent
    here = session.config.invocation_params.dir
    if any((here / arg.split("::")[0]).resolve() in (tests, tests.parent) for arg in session.config.args):
        _start_preloader_in_background()


# Source text that marks a test file as slow: it starts servers, processes or a Ray cluster.
SLOW_FILE_CALLS = ("Server(", "run_app(", "subprocess", "workers=")


def _slow_files_first(items: list) -> None:
    """Under pytest-xdist (`--dist loadfile --no-loadscope-reorder`) the workers take whole files in this order:
    the browser files alternating with the others (those that start servers or processes first), each group in
    its usual order. The long files start early and the short ones fill the end, instead of one worker finishing a
    3-minute browser file while the other waits; and the two workers seldom run two browsers with their servers at
    once. Deterministic, so every worker collects the same order (xdist checks that)."""
    sources: dict[Path, str] = {}

    def rank(item) -> int:
        if item.get_closest_marker("browser"):
            return 0
        path = Path(item.path)
        if path not in sources:
            sources[path] = path.read_text("utf-8") if path.suffix == ".py" else ""
        return 1 if any(call in sources[path] for call in SLOW_FILE_CALLS) else 2

    file_rank: dict[Path, int] = {}
    for item in items:
        file_rank[Path(item.path)] = min(file_rank.get(Path(item.path), 2), rank(item))
    browser = [path for path, value in file_rank.items() if value == 0]
    others = sorted((path for path, value in file_rank.items() if value > 0), key=file_rank.__getitem__)
    order = [path for pair in itertools.zip_longest(browser, others) for path in pair if path is not None]
    position = {path: index for index, path in enumerate(order)}
    items.sort(key=lambda item: position[Path(item.path)])  # stable: each file keeps its own order


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list) -> None:
    """Otherwise the preloader starts once the collected tests are known to need a real server."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        _slow_files_first(items)
    paths = {item.path for item in items if getattr(item, "path", None) is not None}
    starts = ("Server(", "run_app(")
    if any({"start_server", "start_module_server"} & set(getattr(item, "fixturenames", ())) for item in items) or any(
            path.suffix == ".py" and any(call in path.read_text("utf-8") for call in starts) for path in paths):
        _start_preloader_in_background()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    from tests.support.netguard import MARKER
    from tests.support.server import stop_preloader

    preloader_log = stop_preloader()
    if preloader_log is not None and MARKER in preloader_log:
        print(f"\nthe server preloader tried to reach the network:\n{preloader_log}")
        session.exitstatus = 1
    if GUARD.blocked:
        print(f"\nnon-loopback network attempts during the tests: {GUARD.blocked}")
        session.exitstatus = 1


@pytest.fixture(scope="session")
def tiny_spec():
    from webui.model_manager.demo import TinySD1Spec

    return TinySD1Spec()


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory, tiny_spec) -> Path:
    """A tiny SD 1.x A1111 single file (fp16, with its .yaml) in a models/Stable-diffusion folder."""
    from webui.model_manager.demo import write_tiny_checkpoint

    folder = tmp_path_factory.mktemp("data") / "models" / "Stable-diffusion"
    folder.mkdir(parents=True)
    return write_tiny_checkpoint(folder / "tiny-anything.safetensors", tiny_spec)


@pytest.fixture(scope="session")
def cpu_plan():
    from webui.model_manager.memory_policy import DeviceInfo, PrecisionFlags, plan_memory

    return plan_memory(DeviceInfo("cpu"), PrecisionFlags())


@pytest.fixture(scope="session")
def loaded_manager(tiny_checkpoint, cpu_plan, tmp_path_factory):
    """A model manager with the tiny checkpoint loaded (shared: loading is the slow part)."""
    from webui.model_manager.hashing import HashCache
    from webui.model_manager.manager import ModelManager, ModelSources

    cache = HashCache(tmp_path_factory.mktemp("cache") / "cache.json")
    manager = ModelManager(ModelSources((tiny_checkpoint.parent,)), cpu_plan, cache)
    manager.refresh()
    manager.load(tiny_checkpoint.name)
    return manager


def _server_starter(log_folder: Path):
    """Start real servers (`app.py` under the network guard); each is stopped and its log checked at the end."""
    from tests.support.netguard import MARKER
    from tests.support.server import Server

    servers: list = []

    def start(data_dir: Path, *flags: str):
        server = Server(data_dir, log_folder / f"server-{len(servers)}.log", flags)
        servers.append(server)
        server.wait_ready()
        return server

    yield start
    for server in servers:
        log = server.stop()
        assert MARKER not in log, f"the server tried to reach the network:\n{log}"


@pytest.fixture
def start_server(tmp_path):
    """A fresh server for this test only (a restart, its own flags or data read at start)."""
    yield from _server_starter(tmp_path)


@pytest.fixture(scope="module")
def start_module_server(tmp_path_factory):
    """A server shared by the tests of one module: each test then resets what it changed and counts only the files
    it made (tests/ui/conftest.py `new_files`), so the tests pass in any order."""
    yield from _server_starter(tmp_path_factory.mktemp("module-servers"))


@pytest.fixture(scope="session")
def init_image():
    """A 64² img2img source: a yellow disc on blue."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (64, 64), (30, 90, 200))
    ImageDraw.Draw(image).ellipse((16, 16, 48, 48), fill=(240, 200, 40))
    return image
