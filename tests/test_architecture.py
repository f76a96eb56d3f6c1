"""The architecture's rules, checked by reading imports (../shared/design/architecture.md)."""

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
WEBUI = ROOT / "webui"
LAYER_ORDER = ["ui", "api", "jobs", "engine", "model_manager"]  # a layer may import only those after it
# ui and api are siblings at the top; neither imports the other.
FORBIDDEN = {
    "ui": {"api"},
    "api": {"ui"},
    # extensions sit beside ui/api: they may use jobs/engine/model_manager; nothing below may import them
    "extensions": {"ui", "api"},
    "jobs": {"ui", "api", "extensions"},
    "engine": {"ui", "api", "jobs", "extensions"},
    "model_manager": {"ui", "api", "jobs", "engine", "extensions"},
    "infotext": {"ui", "api", "jobs", "engine", "model_manager", "storage", "extensions"},
    "benchmark": {"ui", "api", "jobs", "extensions"},
    "storage": {"ui", "api", "jobs", "engine", "model_manager", "extensions"},
    "config": {"ui", "api", "jobs", "engine", "model_manager", "storage", "extensions"},
    "security": {"ui", "api", "jobs", "engine", "model_manager", "storage", "infotext", "benchmark", "extensions"},
}
PURE_MODULES = ["webui/infotext/format.py", "webui/engine/samplers.py", "webui/engine/request.py",
                "webui/engine/prompt_syntax.py", "webui/engine/prompt_chunks.py", "webui/engine/network_tags.py",
                "webui/infotext/paste.py", "webui/infotext/parse.py", "webui/engine/xyz_plot.py",
                "webui/benchmark/plan.py", "webui/engine/tiling.py", "webui/engine/extras_request.py",
                "webui/model_manager/memory_policy.py", "webui/model_manager/memory_estimate.py",
                "webui/model_manager/probe.py", "webui/engine/interrogate_clip_text.py",
                "webui/model_manager/safetensors_header.py", "webui/config/flags.py",
                "webui/extensions/manifest.py", "webui/extensions/api.py",
                "webui/jobs/scheduling.py", "webui/jobs/ray_pool.py", "webui/errors.py", "webui/engine/model_facts.py",
                "webui/engine/registry.py", "webui/engine/variant_registry.py", "webui/engine/conditioning_steps.py",
                "webui/engine/postprocessors.py", "webui/jobs/sampler_settings.py", "webui/engine/deepbooru_tags.py",
                "webui/engine/controlnet/unit.py", "webui/infotext/controlnet.py",
                *(f"webui/engine/controlnet/preprocessors/{name}.py" for name in (
                    "errors", "spec", "catalogue", "control_types", "pixel_perfect")),
                *(f"webui/security/{name}.py" for name in (
                    "accounts", "passwords", "throttle", "sessions", "setup", "request_caller", "client_address",
                    "quotas", "users_file", "user_admin"))]
HEAVY = {"torch", "gradio", "diffusers", "transformers", "safetensors", "PIL", "numpy"}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def python_files() -> list[Path]:
    return sorted(WEBUI.rglob("*.py"))


def package_of(path: Path) -> str | None:
    parts = path.relative_to(WEBUI).parts
    return parts[0] if len(parts) > 1 else None


@pytest.mark.parametrize("path", python_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_layers_point_one_way(path):
    package = package_of(path)
    forbidden = FORBIDDEN.get(package or "", set())
    offending = sorted(name for name in imported_modules(path)
                       if name.startswith("webui.") and name.split(".")[1] in forbidden)
    assert offending == [], f"{package} may not import {offending}"


def test_only_the_ui_imports_gradio():
    users = [str(path.relative_to(ROOT)) for path in python_files()
             if any(name.split(".")[0] == "gradio" for name in imported_modules(path)) and package_of(path) != "ui"]
    assert users == []


@pytest.mark.parametrize("relative", PURE_MODULES)
def test_pure_modules_import_no_heavy_library(relative):
    heavy = sorted(name for name in imported_modules(ROOT / relative) if name.split(".")[0] in HEAVY)
    assert heavy == []


def test_no_global_statements_and_no_bare_except():
    offenders = []
    for path in [*python_files(), ROOT / "app.py"]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Global) or (isinstance(node, ast.ExceptHandler) and node.type is None):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offenders == []


def test_only_app_py_reads_argv_and_environment():
    offenders = []
    for path in python_files():
        text = path.read_text(encoding="utf-8")
        if "sys.argv" in text or "os.environ" in text or "os.getenv" in text:
            offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []


IMPORT_PROBE = r"""
import importlib, json, os, pkgutil, sys, threading
sys.path.insert(0, sys.argv[1])
attempts = []
watched = ("socket.connect", "socket.getaddrinfo")
sys.addaudithook(lambda event, args: attempts.append(event) if event in watched else None)
before_threads = {t.name for t in threading.enumerate()}
before_files = set(os.listdir("."))
import webui
names = [m.name for m in pkgutil.walk_packages(webui.__path__, "webui.")]
for name in names:
    importlib.import_module(name)
new_threads = {t.name for t in threading.enumerate()} - before_threads
print(json.dumps({"modules": len(names), "threads": sorted(new_threads),
                  "files": sorted(set(os.listdir(".")) - before_files), "network": attempts}))
"""


def test_importing_every_module_creates_no_file_thread_or_connection(tmp_path):
    result = subprocess.run([sys.executable, "-c", IMPORT_PROBE, str(ROOT)], cwd=tmp_path, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["modules"] >= 20
    assert (report["threads"], report["files"], report["network"]) == ([], [], [])
    assert list(tmp_path.iterdir()) == []


DEVICE_THREAD_USES = re.compile(r"\bDeviceThread\b|\.device\.run\(|\bbackend\.call\(|\.backend\.execute\(")
DEEP_APP_CHAIN = re.compile(r"\bapp\.[a-z_]+\.[a-z_]+\.[a-z_]+")
DEVICE_THREAD_ALLOWED = {"webui/app_context.py"}  # the composition root loads the first model before the queue runs


def test_only_the_jobs_layer_touches_the_device_thread():
    """Every device task is a job: nothing outside webui/jobs hands work to the device thread beside the queue."""
    offenders = []
    for path in [*python_files(), ROOT / "app.py"]:
        relative = str(path.relative_to(ROOT))
        if relative.startswith("webui/jobs/") or relative in DEVICE_THREAD_ALLOWED:
            continue
        offenders += [f"{relative}: {match.group(0)}" for match in
                      DEVICE_THREAD_USES.finditer(path.read_text(encoding="utf-8"))]
    assert offenders == []


def test_handlers_do_not_reach_through_the_app():
    """UI and API handlers ask the App for what they need (`app.samplers`), not `app.engine.samplers.resolve`:
    a deep chain ties a handler to the inside of a service."""
    offenders = []
    for path in python_files():
        if package_of(path) not in ("ui", "api"):
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            offenders += [f"{path.relative_to(ROOT)}:{number}: {match.group(0)}"
                          for match in DEEP_APP_CHAIN.finditer(line)]
    assert offenders == []
