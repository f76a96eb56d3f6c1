"""Queued jobs kept on disk, so a restart does not lose them.

A job is written when it is queued and deleted when it finishes; whatever is still there at the next start (waiting,
or running when the server died) is queued again, in its old order and for its old owner. The request is stored as
JSON (`request_codec.py`), images as PNG. SQLite gives atomic commits, so a crash mid-write leaves the old state.

A full disk makes `add`/`remove` raise `webui.errors.DiskFull` naming the database file (the edge answers 507);
the failed statement is rolled back and the connection stays usable, so the next write succeeds once space
returns.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from webui.engine.request import GenerationRequest
from webui.errors import DiskFull
from webui.jobs.request_codec import decode_request, encode_request

log = logging.getLogger(__name__)
# SQLite reports a write that found no room as SQLITE_FULL (ENOSPC/EDQUOT, or max_page_count reached); growing
# the WAL's shared-memory file on a full disk fails as SQLITE_IOERR_SHMSIZE.
DISK_FULL_CODES = frozenset({sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR_SHMSIZE})


@dataclass(frozen=True)
class StoredJob:
    id: str
    owner: str
    request: GenerationRequest


class JobStore(Protocol):
    def add(self, job_id: str, owner: str, request: GenerationRequest) -> None: ...
    def remove(self, job_id: str) -> None: ...
    def pending(self) -> list[StoredJob]: ...


class NoJobStore:
    """Nothing survives a restart (tests, and `--nowebui` tools that build an App briefly)."""

    def add(self, job_id: str, owner: str, request: GenerationRequest) -> None:
        return None

    def remove(self, job_id: str) -> None:
        return None

    def pending(self) -> list[StoredJob]:
        return []


class SqliteJobStore:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._path = path
        self._lock = threading.Lock()
        self._connection = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._connection.execute("PRAGMA journal_mode=WAL")
        self._connection.execute("CREATE TABLE IF NOT EXISTS jobs (id TEXT PRIMARY KEY, owner TEXT NOT NULL, "
                                 "queued_at REAL NOT NULL, request TEXT NOT NULL)")

    def add(self, job_id: str, owner: str, request: GenerationRequest) -> None:
        payload = encode_request(request)
        with self._lock, self._writing():
            self._connection.execute("INSERT OR REPLACE INTO jobs VALUES (?, ?, ?, ?)",
                                     (job_id, owner, time.time(), payload))

    def remove(self, job_id: str) -> None:
        with self._lock, self._writing():
            self._connection.execute("DELETE FROM jobs WHERE id = ?", (job_id,))

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """A full disk becomes `DiskFull(<database file>)`; whatever the failed statement began is rolled back,
        so the connection is clean for the next write (called with `_lock` held)."""
        try:
            yield
        except sqlite3.Error as error:
            if self._connection.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    self._connection.execute("ROLLBACK")
            if _is_disk_full(error):
                raise DiskFull(str(self._path), str(error)) from error
            raise

    def pending(self) -> list[StoredJob]:
        """The stored jobs in queue order; a row that no longer decodes (e.g. a setting that is gone) is dropped
        with its reason logged rather than blocking the queue forever."""
        with self._lock:
            rows = self._connection.execute("SELECT id, owner, request FROM jobs ORDER BY queued_at, rowid").fetchall()
        restored = []
        for job_id, owner, payload in rows:
            try:
                restored.append(StoredJob(job_id, owner, decode_request(payload)))
            except (ValueError, TypeError, KeyError) as error:
                log.warning("dropping stored job %s of %s: %s", job_id, owner, error)
                try:
                    self.remove(job_id)
                except DiskFull as full:  # it is skipped again at the next start; a full disk must not stop this one
                    log.warning("could not drop stored job %s: %s", job_id, full)
        return restored

    def close(self) -> None:
        with self._lock:
            self._connection.close()


def _is_disk_full(error: sqlite3.Error) -> bool:
    code = getattr(error, "sqlite_errorcode", None)
    if code is not None:
        return code in DISK_FULL_CODES
    return "database or disk is full" in str(error)
