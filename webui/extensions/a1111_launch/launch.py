"""A1111's `launch` module as an extension's install.py sees it (run by Kestrel in a subprocess, never imported by
the app): `is_installed`, `run_pip`, `run`, `git_tag`, `python`, `index_url`. `run_pip` installs into the Python
that runs Kestrel, which is what A1111 does, and only ever runs because the admin agreed (the Extensions tab's
button or --install-extension-requirements)."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import shlex
import subprocess
import sys

python = sys.executable
index_url = ""
skip_install = False
dir_repos = "repositories"


def is_installed(package: str) -> bool:
    try:
        importlib.metadata.distribution(package)
        return True
    except importlib.metadata.PackageNotFoundError:
        pass
    try:
        return importlib.util.find_spec(package) is not None
    except (ImportError, ValueError):
        return False


def run(command: str, desc: str | None = None, errdesc: str | None = None, custom_env: dict | None = None,
        live: bool = True) -> str:
    if desc:
        print(desc, flush=True)
    result = subprocess.run(command, shell=True, env=custom_env, capture_output=not live, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{errdesc or 'Error running command'}: {command} (exit code {result.returncode})")
    return result.stdout or ""


def run_pip(command: str, desc: str | None = None, live: bool = True) -> str:
    if skip_install:
        return ""
    return run(f"{shlex.quote(python)} -m pip {command} --prefer-binary", desc=f"Installing {desc}",
               errdesc=f"Couldn't install {desc}", live=live)


def git_tag() -> str:
    return "kestrel"


def commit_hash() -> str:
    return "kestrel"
