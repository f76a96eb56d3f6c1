"""Failed logins are rate-limited per account and, much more loosely, per client address (Gradio has none).

Two counters, and neither is ever cleared by *another* account's success (the old per-address counter was, so four
guesses at alice's password and then bob's correct login, repeated, were all checked):

- per account: after `free_failures` failures an account is refused for `base_lockout` seconds, doubling with each
  further failure up to `max_lockout` (exponential back-off). Only that account's own correct password, given while
  it is not refused, clears it. A refused account is refused from every address: guessing alice's password from
  many machines is as slow as from one.
- per address: `address_failures` failures inside `address_window` seconds, whatever the accounts, lock the address
  for `address_lockout` seconds. The bound is high so that one user's typos behind a NAT or a reverse proxy never
  lock out the others (their own accounts are not refused), while one machine guessing across many names still is.

A refused attempt is answered 429 with Retry-After without checking the password, so guessing costs the attacker
time and the server nothing. Memory is bounded: a flood of made-up names or spoofed addresses evicts the oldest.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ThrottlePolicy:
    free_failures: int = 5           # failures an account may have before it is refused at all
    base_lockout: float = 30.0       # the first refusal; it doubles with every further failure
    max_lockout: float = 15 * 60.0
    forget_after: float = 24 * 3600.0  # an account's failures are forgotten this long after the last one
    address_failures: int = 50       # failures from one address (any accounts) inside the window ...
    address_window: float = 10 * 60.0
    address_lockout: float = 10 * 60.0  # ... lock that address for this long
    max_tracked: int = 10_000


@dataclass
class _AccountRecord:
    failures: int = 0
    last_failure: float = 0.0
    refused_until: float = 0.0


class LoginThrottle:
    def __init__(self, policy: ThrottlePolicy | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.policy = policy or ThrottlePolicy()
        self._clock = clock
        self._accounts: OrderedDict[str, _AccountRecord] = OrderedDict()
        self._addresses: OrderedDict[str, deque[float]] = OrderedDict()
        self._address_refused_until: dict[str, float] = {}
        self._lock = threading.Lock()

    def retry_after(self, address: str, account: str) -> float | None:
        """Seconds before an attempt for `account` from `address` is even checked; None if it may be tried now."""
        now = self._clock()
        with self._lock:
            waits = [self._address_refused_until.get(address, 0.0) - now]
            record = self._accounts.get(account)
            if record is not None:
                waits.append(record.refused_until - now)
        wait = max(waits)
        return wait if wait > 0 else None

    def record_failure(self, address: str, account: str) -> None:
        now = self._clock()
        policy = self.policy
        with self._lock:
            record = self._account(account, now)
            record.failures += 1
            record.last_failure = now
            over = record.failures - policy.free_failures
            if over >= 0:
                record.refused_until = now + min(policy.max_lockout, policy.base_lockout * 2 ** min(over, 40))
            failures = self._address(address)
            failures.append(now)
            while failures and failures[0] <= now - policy.address_window:
                failures.popleft()
            address_locked = len(failures) >= policy.address_failures
            if address_locked:
                self._address_refused_until[address] = now + policy.address_lockout
                failures.clear()
            refused_for = record.refused_until - now
        log.info("failed login for %r from %s (%d in a row for that account)", account, address, record.failures)
        if over >= 0:
            log.warning("login throttle: account %r refused for %.0f s after %d failed logins (last from %s)",
                        account, refused_for, record.failures, address)
        if address_locked:
            log.warning("login throttle: address %s refused for %.0f s after %d failed logins in %.0f s",
                        address, policy.address_lockout, policy.address_failures, policy.address_window)

    def record_success(self, address: str, account: str) -> None:
        """Only the account's own failures are forgotten; the address's count stays (other accounts' guesses)."""
        with self._lock:
            self._accounts.pop(account, None)

    def _account(self, account: str, now: float) -> _AccountRecord:
        record = self._accounts.get(account)
        if record is not None and now - record.last_failure > self.policy.forget_after and record.refused_until < now:
            record = None
        if record is None:
            if len(self._accounts) >= self.policy.max_tracked:
                self._accounts.popitem(last=False)
            record = self._accounts[account] = _AccountRecord()
        self._accounts.move_to_end(account)
        return record

    def _address(self, address: str) -> deque[float]:
        failures = self._addresses.get(address)
        if failures is None:
            if len(self._addresses) >= self.policy.max_tracked:
                evicted, _ = self._addresses.popitem(last=False)
                self._address_refused_until.pop(evicted, None)
            failures = self._addresses[address] = deque()
        self._addresses.move_to_end(address)
        return failures
