"""Browser sessions after a login: signed tokens in an HttpOnly cookie, backed by a server-side store.

The cookie holds `<id>.<signature>`: a random id and an HMAC of it under a key kept in the data dir
(`session-key`, mode 0600), so a forged or truncated cookie is refused before the store is even read. The store
(`sessions.sqlite3` in the data dir) keeps only a digest of the id with the account and the expiry, so sessions
survive a restart while neither file alone lets anyone log in. Sessions expire (`lifetime`, a week by default), and
are revocable: one at a time (log out), all of an account's at once (log out everywhere, a password change, an
account removed or disabled).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

from webui.config.atomic import write_atomically

SESSION_COOKIE = "kestrel_session"
DEFAULT_LIFETIME = 7 * 24 * 3600.0
KEY_BYTES = 32


def load_or_create_key(path: Path) -> bytes:
    """The signing key in `path`, made (0600, atomically) on the first start; deleting it ends every session."""
    try:
        key = path.read_bytes()
        if len(key) >= KEY_BYTES:
            return key
    except OSError:
        pass
    key = secrets.token_bytes(KEY_BYTES)
    write_atomically(path, lambda stream: stream.write(key))
    os.chmod(path, 0o600)
    return key


class SessionStore:
    def __init__(self, database: Path | None = None, key: bytes | None = None, lifetime: float = DEFAULT_LIFETIME,
                 clock: Callable[[], float] = time.time, max_sessions: int = 10_000) -> None:
        self._key = key or secrets.token_bytes(KEY_BYTES)
        self._lifetime = lifetime
        self._clock = clock
        self._max_sessions = max_sessions
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(database) if database else ":memory:", check_same_thread=False,
                                   isolation_level=None)
        self._db.execute("CREATE TABLE IF NOT EXISTS sessions (digest TEXT PRIMARY KEY, name TEXT NOT NULL, "
                         "expires REAL NOT NULL)")
        self._db.execute("CREATE INDEX IF NOT EXISTS sessions_by_name ON sessions (name)")
        self._db.execute("DELETE FROM sessions WHERE expires <= ?", (self._clock(),))
        if database is not None:
            os.chmod(database, 0o600)

    @classmethod
    def in_folder(cls, folder: Path, lifetime: float = DEFAULT_LIFETIME) -> SessionStore:
        """The persistent store of a data dir."""
        return cls(folder / "sessions.sqlite3", load_or_create_key(folder / "session-key"), lifetime)

    @property
    def lifetime(self) -> float:
        return self._lifetime

    def _signature(self, session_id: str) -> str:
        digest = hmac.new(self._key, session_id.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    @staticmethod
    def _digest(session_id: str) -> str:
        return hashlib.sha256(session_id.encode()).hexdigest()

    def _verified_id(self, token: str | None) -> str | None:
        session_id, dot, signature = (token or "").partition(".")
        if not dot or not session_id or not hmac.compare_digest(signature, self._signature(session_id)):
            return None
        return session_id

    def open(self, name: str) -> str:
        session_id = secrets.token_urlsafe(32)
        with self._lock:
            (count,) = self._db.execute("SELECT COUNT(*) FROM sessions").fetchone()
            if count >= self._max_sessions:
                excess = count - self._max_sessions + 1
                self._db.execute("DELETE FROM sessions WHERE digest IN "
                                 "(SELECT digest FROM sessions ORDER BY expires LIMIT ?)", (excess,))
            self._db.execute("INSERT INTO sessions VALUES (?, ?, ?)",
                             (self._digest(session_id), name, self._clock() + self._lifetime))
        return f"{session_id}.{self._signature(session_id)}"

    def name_for(self, token: str | None) -> str | None:
        session_id = self._verified_id(token)
        if session_id is None:
            return None
        with self._lock:
            row = self._db.execute("SELECT name, expires FROM sessions WHERE digest = ?",
                                   (self._digest(session_id),)).fetchone()
            if row is None:
                return None
            if row[1] <= self._clock():
                self._db.execute("DELETE FROM sessions WHERE digest = ?", (self._digest(session_id),))
                return None
            return str(row[0])

    def close(self, token: str | None) -> None:
        session_id = self._verified_id(token)
        if session_id is not None:
            with self._lock:
                self._db.execute("DELETE FROM sessions WHERE digest = ?", (self._digest(session_id),))

    def close_all(self, name: str) -> int:
        """Log `name` out everywhere; how many sessions ended."""
        with self._lock:
            return self._db.execute("DELETE FROM sessions WHERE name = ?", (name,)).rowcount

    def count_of(self, name: str) -> int:
        with self._lock:
            (count,) = self._db.execute("SELECT COUNT(*) FROM sessions WHERE name = ? AND expires > ?",
                                        (name, self._clock())).fetchone()
        return int(count)

    def close_store(self) -> None:
        with self._lock:
            self._db.close()
