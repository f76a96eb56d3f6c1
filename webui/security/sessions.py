"""Browser sessions after a login: a random token in an HttpOnly cookie, mapped to the account name in memory.

Sessions live in memory only, so a restart asks everyone to log in again; that also ends every session at once when
an account is removed from the flags.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable

SESSION_COOKIE = "kestrel_session"
DEFAULT_LIFETIME = 7 * 24 * 3600.0


class SessionStore:
    def __init__(self, lifetime: float = DEFAULT_LIFETIME, clock: Callable[[], float] = time.monotonic,
                 max_sessions: int = 10_000) -> None:
        self._lifetime = lifetime
        self._clock = clock
        self._max_sessions = max_sessions
        self._sessions: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def open(self, name: str) -> str:
        token = secrets.token_urlsafe(32)
        with self._lock:
            if len(self._sessions) >= self._max_sessions:
                self._sessions.pop(min(self._sessions, key=lambda key: self._sessions[key][1]))
            self._sessions[token] = (name, self._clock() + self._lifetime)
        return token

    def name_for(self, token: str | None) -> str | None:
        if not token:
            return None
        with self._lock:
            entry = self._sessions.get(token)
            if entry is None:
                return None
            name, expires = entry
            if expires <= self._clock():
                del self._sessions[token]
                return None
            return name

    def close(self, token: str | None) -> None:
        with self._lock:
            self._sessions.pop(token or "", None)
