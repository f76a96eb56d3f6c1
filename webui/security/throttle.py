"""Failed logins are rate-limited per client address (Gradio has no limit of its own).

After `max_failures` failures inside `window` seconds an address is refused for `lockout` seconds: the server answers
429 with Retry-After without even checking the password, so guessing costs the attacker time and us nothing.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable


class LoginThrottle:
    def __init__(self, max_failures: int = 5, window: float = 60.0, lockout: float = 60.0,
                 clock: Callable[[], float] = time.monotonic, max_tracked: int = 10_000) -> None:
        self._max_failures = max_failures
        self._window = window
        self._lockout = lockout
        self._clock = clock
        self._max_tracked = max_tracked  # a flood of spoofed addresses must not grow memory without bound
        self._failures: dict[str, deque[float]] = {}
        self._locked_until: dict[str, float] = {}
        self._lock = threading.Lock()

    def retry_after(self, address: str) -> float | None:
        """Seconds this address must wait before another attempt is even checked; None if it may try now."""
        with self._lock:
            until = self._locked_until.get(address)
            if until is None:
                return None
            remaining = until - self._clock()
            if remaining <= 0:
                del self._locked_until[address]
                return None
            return remaining

    def record_failure(self, address: str) -> None:
        now = self._clock()
        with self._lock:
            if address not in self._failures and len(self._failures) >= self._max_tracked:
                self._failures.pop(next(iter(self._failures)))
            failures = self._failures.setdefault(address, deque())
            failures.append(now)
            while failures and failures[0] <= now - self._window:
                failures.popleft()
            if len(failures) >= self._max_failures:
                self._locked_until[address] = now + self._lockout
                failures.clear()

    def record_success(self, address: str) -> None:
        with self._lock:
            self._failures.pop(address, None)
