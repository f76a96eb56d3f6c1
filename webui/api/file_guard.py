"""File routes serve only Gradio's cache, and with logins on each cached file only to the accounts it was given to.

Gradio serves a file by its path (`/gradio_api/file=<cache>/<content hash>/<name>`), so a URL copied from one user's
gallery used to open the image for any logged-in user: a capability URL. Every image, preview and upload a user sees
reaches their browser inside a Gradio response first (the queue's event stream, the upload answer, `/config`), so the
gate reads those responses as they pass and *grants* each cache folder they name to the account the response goes
to. A file route then serves a cached file only to an account it was granted to, or to an admin; a file nobody was
shown is served to admins only. Grants live in memory (bounded): after a restart a user's old URLs need a new look.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from pathlib import Path
from urllib.parse import unquote

from starlette.types import Message, Scope, Send

from webui.security.accounts import Caller

MAX_GRANTED_FOLDERS = 200_000
SCANNED_TYPES = (b"application/json", b"text/event-stream", b"text/html", b"text/plain")
CARRY_OVER = 1024  # bytes kept from one body chunk to the next, so a path split across two chunks is still seen


def file_route_target(path: str) -> str | None:
    """The file a Gradio file route would serve (`/gradio_api/file=...`, `/file=...`, `/gradio_api/file/...`)."""
    marker = path.find("/file=")
    if marker >= 0:
        return path[marker + len("/file="):]
    for prefix in ("/gradio_api/file/", "/file/"):
        if path.startswith(prefix):
            return path[len(prefix):]
    return None


def fully_unquoted(text: str, rounds: int = 5) -> str:
    for _ in range(rounds):
        decoded = unquote(text)
        if decoded == text:
            break
        text = decoded
    return text


def resolved_target(target: str) -> Path | None:
    """A plain absolute path after resolving symlinks: no `..`, no Windows separators or drive letters, no NTFS
    streams, no URLs; None otherwise."""
    decoded = fully_unquoted(target)
    if any(bad in decoded for bad in ("..", "\\", "\0", "::", "://")) or not decoded.startswith("/"):
        return None
    try:
        return Path(decoded).resolve()
    except (OSError, ValueError):
        return None


def file_allowed(target: str, roots: tuple[Path, ...]) -> bool:
    resolved = resolved_target(target)
    return resolved is not None and any(resolved.is_relative_to(root) for root in roots)


class FileGrants:
    """Which accounts were shown which cache folder (`<cache root>/<content hash>`: one file's copies)."""

    def __init__(self, roots: tuple[Path, ...], max_folders: int = MAX_GRANTED_FOLDERS) -> None:
        self._roots = tuple(root.resolve() for root in roots)
        spellings = sorted({str(root) for root in roots} | {str(root) for root in self._roots}, key=len, reverse=True)
        self._pattern = re.compile(b"(?:" + b"|".join(re.escape(s.encode()) for s in spellings) + rb")/([\w.-]+)")
        self._granted: OrderedDict[str, set[str]] = OrderedDict()
        self._max_folders = max_folders
        self._lock = threading.Lock()

    def folder_of(self, path: Path) -> str | None:
        """The first folder under a cache root (the content hash Gradio names the copy's folder after)."""
        for root in self._roots:
            if path.is_relative_to(root) and path != root:
                return path.relative_to(root).parts[0]
        return None

    def grant(self, folder: str, account: str) -> None:
        with self._lock:
            owners = self._granted.get(folder)
            if owners is None:
                if len(self._granted) >= self._max_folders:
                    self._granted.popitem(last=False)
                owners = self._granted[folder] = set()
            owners.add(account)
            self._granted.move_to_end(folder)

    def grant_named_in(self, body: bytes, account: str) -> None:
        for match in self._pattern.finditer(body):
            self.grant(match.group(1).decode(), account)

    def may_read(self, path: Path, caller: Caller) -> bool:
        if caller.is_admin or caller.name is None:  # admins, and the trusted local user of an instance without logins
            return caller.is_admin
        folder = self.folder_of(path)
        with self._lock:
            return folder is not None and caller.name in self._granted.get(folder, ())

    def watching(self, send: Send, account: str) -> Send:
        """`send`, reading each text body that passes for cache paths and granting them to `account`."""
        state = {"scan": False, "tail": b""}

        async def watched(message: Message) -> None:
            if message["type"] == "http.response.start":
                content_type = dict(message.get("headers", [])).get(b"content-type", b"")
                state["scan"] = content_type.startswith(SCANNED_TYPES)
            elif message["type"] == "http.response.body" and state["scan"]:
                chunk = state["tail"] + message.get("body", b"")
                self.grant_named_in(chunk, account)
                state["tail"] = chunk[-CARRY_OVER:]
            await send(message)
        return watched


def may_serve(scope: Scope, roots: tuple[Path, ...]) -> bool:
    """A file route's target, raw and decoded, must lie inside the cache (checked before anyone is identified)."""
    target = file_route_target(scope["path"])
    if target is None:
        return True
    raw_target = file_route_target(scope.get("raw_path", b"").decode("latin-1"))
    return all(file_allowed(text, roots) for text in (target, raw_target or target))
