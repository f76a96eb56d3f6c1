"""An extension's `requirements.txt` and A1111's `install.py`: what they would install, and installing it — only
with the admin's consent (the Extensions tab's button, refused where installing extensions from the page is, or
the `--install-extension-requirements` flag), shown and logged. Nothing is ever installed on its own.

A1111 runs every extension's install.py at each start; here it runs once per consent, in a subprocess with
A1111's `launch` module (`is_installed`, `run_pip`, ...) on its path, and a marker in the extension's data folder
remembers which requirements.txt / install.py the admin agreed to (a changed file asks again).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import logging
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement

from webui.config.atomic import write_json_atomically

log = logging.getLogger(__name__)
REQUIREMENTS_FILE = "requirements.txt"
INSTALL_SCRIPT = "install.py"
MARKER_FILE = "kestrel-install.json"
LAUNCH_FOLDER = Path(__file__).parent / "a1111_launch"
INSTALL_TIMEOUT_SECONDS = 1800


@dataclass(frozen=True)
class InstallPlan:
    """What one extension asks to have installed, and whether this Python already has it."""

    extension: str
    folder: Path
    marker: Path
    requirements: tuple[str, ...]
    missing: tuple[str, ...]
    has_install_script: bool
    fingerprint: str
    consented: bool

    @property
    def needed(self) -> bool:
        return bool(self.missing) or (self.has_install_script and not self.consented)

    def describe(self) -> str:
        parts = []
        if self.missing:
            parts.append(f"{REQUIREMENTS_FILE}: {', '.join(self.missing)} not installed")
        if self.has_install_script and not self.consented:
            parts.append(f"its {INSTALL_SCRIPT} has not run")
        return "; ".join(parts)


@dataclass(frozen=True)
class InstallResult:
    ok: bool
    log: str


def _requirement_lines(path: Path) -> tuple[str, ...]:
    if not path.is_file():
        return ()
    lines = (line.split("#", 1)[0].strip() for line in path.read_text(encoding="utf-8").splitlines())
    return tuple(line for line in lines if line and not line.startswith("-"))


def is_satisfied(line: str) -> bool:
    """A requirement line this Python already meets (an unreadable line counts as unmet: pip will say why)."""
    try:
        requirement = Requirement(line)
    except InvalidRequirement:
        return False
    if requirement.marker is not None and not requirement.marker.evaluate():
        return True
    try:
        version = importlib.metadata.version(requirement.name)
    except importlib.metadata.PackageNotFoundError:
        return False
    return not requirement.specifier or requirement.specifier.contains(version, prereleases=True)


def _fingerprint(folder: Path) -> str:
    digest = hashlib.sha256()
    for name in (REQUIREMENTS_FILE, INSTALL_SCRIPT):
        path = folder / name
        digest.update(name.encode() + b"\0" + (path.read_bytes() if path.is_file() else b"") + b"\0")
    return digest.hexdigest()


def read_plan(extension: str, folder: Path, data_folder: Path) -> InstallPlan | None:
    """None when the extension has neither file."""
    has_script = (folder / INSTALL_SCRIPT).is_file()
    requirements = _requirement_lines(folder / REQUIREMENTS_FILE)
    if not has_script and not (folder / REQUIREMENTS_FILE).is_file():
        return None
    marker = data_folder / MARKER_FILE
    fingerprint = _fingerprint(folder)
    try:
        consented = json.loads(marker.read_text(encoding="utf-8")).get("fingerprint") == fingerprint
    except (OSError, ValueError, AttributeError):
        consented = False
    missing = tuple(line for line in requirements if not is_satisfied(line))
    return InstallPlan(extension, folder, marker, requirements, missing, has_script, fingerprint, consented)


Runner = Callable[..., subprocess.CompletedProcess]


def install(plan: InstallPlan, consent: str, runner: Runner = subprocess.run) -> InstallResult:
    """pip install -r requirements.txt, then install.py (A1111's order), into this Python; `consent` says who
    agreed ("the admin <name> in the Extensions tab", "--install-extension-requirements") and is logged."""
    log.warning("installing the requirements of extension %s (%s), as %s agreed", plan.extension, plan.describe(),
                consent)
    commands = []
    if plan.requirements:
        commands.append([sys.executable, "-m", "pip", "install", "-r", str(plan.folder / REQUIREMENTS_FILE)])
    if plan.has_install_script:  # A1111's `launch` and the extension's folder importable, as there
        search_path = [str(LAUNCH_FOLDER), str(plan.folder)]
        commands.append([sys.executable, "-c", f"import runpy, sys; sys.path[:0] = {search_path!r}; "
                                               f"runpy.run_path({INSTALL_SCRIPT!r}, run_name='__main__')"])
    output = []
    for command in commands:
        output.append(f"$ {' '.join(command)}")
        try:
            done = runner(command, cwd=plan.folder, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_SECONDS)
        except (OSError, subprocess.TimeoutExpired) as error:
            output.append(f"failed: {error}")
            return _finish(plan, False, output)
        output.append((done.stdout or "") + (done.stderr or ""))
        if done.returncode != 0:
            output.append(f"exit code {done.returncode}")
            return _finish(plan, False, output)
    plan.marker.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomically(plan.marker, {"fingerprint": plan.fingerprint, "consent": consent,
                                        "installed_at": time.strftime("%Y-%m-%d %H:%M:%S")})
    return _finish(plan, True, output)


def _finish(plan: InstallPlan, ok: bool, output: list[str]) -> InstallResult:
    text = "\n".join(output)
    (log.info if ok else log.error)("extension %s requirements %s:\n%s", plan.extension,
                                    "installed" if ok else "NOT installed", text)
    return InstallResult(ok, text)
