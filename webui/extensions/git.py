"""Git for extensions: what a checkout is (remote, branch, commit, date — A1111's fields) and installing one from a
URL with `git clone --depth 1` into a temporary folder that is renamed into place only when the clone succeeded,
so a failed or interrupted install never leaves a half-extension that would be loaded at the next start."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from webui.extensions.registry import GitInfo

GIT_TIMEOUT_SECONDS = 300
FOLDER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


class InstallError(RuntimeError):
    """Installing failed; the message says why (and nothing was left in the extensions folder)."""


def _git(*arguments: str, cwd: Path | None = None, timeout: float = 10) -> str | None:
    try:
        result = subprocess.run(["git", *arguments], cwd=cwd, capture_output=True, text=True, timeout=timeout,
                                stdin=subprocess.DEVNULL, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout.strip() if result.returncode == 0 else None


def read_git_info(folder: Path) -> GitInfo:
    """The checkout's facts, or all None when the folder is not a git checkout of its own (or git is missing)."""
    if not (folder / ".git").exists():
        return GitInfo()
    facts = _git("log", "-1", "--format=%H%n%ct", cwd=folder)
    commit_hash, _, date = (facts or "").partition("\n")
    branch = _git("rev-parse", "--abbrev-ref", "HEAD", cwd=folder)
    return GitInfo(remote=_git("config", "--get", "remote.origin.url", cwd=folder),
                   branch=branch if branch and branch != "HEAD" else None,
                   commit_hash=commit_hash or None, commit_date=int(date) if date.isdigit() else None)


def folder_name_for(url: str) -> str:
    """A1111's default local name: the URL's last path part without `.git`."""
    last = url.rstrip("/").rsplit("/", 1)[-1]
    return last[:-4] if last.endswith(".git") else last


def install_from_url(extensions_folder: Path, url: str, branch: str = "", folder_name: str = "") -> Path:
    """Clone `url` (shallow; `branch` when given) into extensions/<folder_name>; returns the new folder."""
    url, branch = url.strip(), branch.strip()
    if not url:
        raise InstallError("no URL given: enter the extension's git repository URL")
    if url.startswith("-") or branch.startswith("-"):
        raise InstallError(f"URL {url!r} / branch {branch!r} must not start with '-'")
    name = folder_name.strip() or folder_name_for(url)
    if not FOLDER_NAME.match(name):
        raise InstallError(f"local directory name {name!r} must be letters, digits, '.', '-' or '_' (no '/')")
    target = extensions_folder / name
    if target.exists():
        raise InstallError(f"extension directory already exists: {target}")
    extensions_folder.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".install-", dir=extensions_folder))
    checkout = staging / name
    command = ["git", "clone", "--depth", "1", *(["--branch", branch] if branch else []), "--", url, str(checkout)]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=GIT_TIMEOUT_SECONDS,
                                stdin=subprocess.DEVNULL, check=False)
        if result.returncode != 0:
            raise InstallError(f"git clone {url} failed: {result.stderr.strip() or result.stdout.strip()}")
        checkout.rename(target)
    except subprocess.TimeoutExpired as error:
        raise InstallError(f"git clone {url} took more than {GIT_TIMEOUT_SECONDS} s and was stopped") from error
    except OSError as error:
        raise InstallError(f"could not install {url}: {error}") from error
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target
