"""Queued jobs kept on disk, so a restart does not lose them.

A job is written when it is queued and deleted when it finishes; whatever is still there at the next start (waiting,
or running when the server died) is queued again, in its old order and for its old owner. The request is stored as
JSON (`request_codec.py`), images as PNG. SQLite gives atomic commits, so a crash mid-write leaves the old state.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from webui.engine.request import GenerationRequest
from webui.jobs.request_codec import decode_request, encode_request

log = logging.getLogger(__name__)


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
        with self._lock:
            self._connection.execute("INSERT OR REPLACE INTO jobs VALUES (?, ?, ?, ?)",
                                     (job_id, owner, time.time(), payload))

    def remove(self, job_id: str) -> None:
        with self._lock:
            self._connection.execute("DELETE FROM jobs WHERE id = ?", (job_id,))

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
                self.remove(job_id)
        return restored

    def close(self) -> None:
        with self._lock:
            self._connection.close()
