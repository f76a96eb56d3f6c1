"""Per-user limits on a shared instance: steps, pixels, batch size × count, jobs per hour.

`--user-quota steps=50,pixels=262144,batch=4,jobs_per_hour=60` sets them for every non-admin account; an account's
own quota in auth.json (the Users section) overrides field by field. Admins have none. A request over a size limit
is refused with 403 naming the limit; one over the hourly count with 429 and Retry-After (it will fit later).
The hourly count is a sliding window kept in memory (a restart forgets it).
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, fields, replace

from webui.errors import KestrelError

QUOTA_FIELDS = {"steps": "max_steps", "pixels": "max_pixels", "batch": "max_batch", "jobs_per_hour": "jobs_per_hour"}
HOUR = 3600.0


class QuotaExceeded(KestrelError):
    """A request over the caller's quota; `limit` is the quota field's public name (steps, pixels, ...)."""

    def __init__(self, message: str, limit: str, http_status: int = 403, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.limit = limit
        self.http_status = http_status
        self.retry_after = retry_after


@dataclass(frozen=True)
class Quota:
    max_steps: int | None = None
    max_pixels: int | None = None      # width × height of the largest image the job makes (hires included)
    max_batch: int | None = None       # batch size × batch count
    jobs_per_hour: int | None = None

    @property
    def empty(self) -> bool:
        return all(getattr(self, item.name) is None for item in fields(self))

    def over(self, base: Quota) -> Quota:
        """This quota's fields where set, `base`'s elsewhere."""
        return replace(base, **{item.name: getattr(self, item.name) for item in fields(self)
                                if getattr(self, item.name) is not None})

    def as_text(self) -> str:
        return ",".join(f"{public}={getattr(self, name)}" for public, name in QUOTA_FIELDS.items()
                        if getattr(self, name) is not None)

    def as_json(self) -> dict[str, int]:
        return {public: getattr(self, name) for public, name in QUOTA_FIELDS.items() if getattr(self, name) is not None}


def parse_quota(text: str | None, where: str = "--user-quota") -> Quota:
    """`steps=50,pixels=262144,batch=4,jobs_per_hour=60` (any subset); ValueError names a bad entry."""
    values: dict[str, int] = {}
    for entry in (part.strip() for part in (text or "").split(",") if part.strip()):
        key, separator, number = entry.partition("=")
        key = key.strip()
        if key not in QUOTA_FIELDS or not separator:
            raise ValueError(f"{where}: {entry!r} is not a limit; use {', '.join(f'{k}=N' for k in QUOTA_FIELDS)}")
        if not number.strip().isdigit() or int(number) < 1:
            raise ValueError(f"{where}: {key}={number.strip()!r} must be a whole number, 1 or more")
        values[QUOTA_FIELDS[key]] = int(number)
    return Quota(**values)


def quota_from_json(data: object, where: str) -> Quota | None:
    if data is None:
        return None
    if not isinstance(data, dict):
        raise ValueError(f"{where}: the quota must be an object like {{\"steps\": 30}}")
    return parse_quota(",".join(f"{key}={value}" for key, value in data.items()), where)


@dataclass(frozen=True)
class JobSize:
    """What a generation request asks for, in the quota's terms (mapped by the caller from its request type)."""

    steps: int
    pixels: int
    batch: int


class QuotaBook:
    """Checks requests against quotas and counts each account's admitted jobs for the hourly limit."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._admitted: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def admit(self, owner: str, quota: Quota, size: JobSize) -> None:
        """Raise QuotaExceeded naming the first limit `size` is over; else count the job against the hour."""
        for limit, allowed, asked in (("steps", quota.max_steps, size.steps), ("pixels", quota.max_pixels, size.pixels),
                                      ("batch", quota.max_batch, size.batch)):
            if allowed is not None and asked > allowed:
                raise QuotaExceeded(f"over your quota: {limit} {asked} is more than the {allowed} allowed to "
                                    f"{owner!r} ({limit}={allowed}; ask an admin to raise it)", limit)
        now = self._clock()
        with self._lock:
            times = self._admitted.setdefault(owner, deque())
            while times and times[0] <= now - HOUR:
                times.popleft()
            if quota.jobs_per_hour is not None and len(times) >= quota.jobs_per_hour:
                wait = max(1, math.ceil(times[0] + HOUR - now))
                raise QuotaExceeded(f"over your quota: {quota.jobs_per_hour} jobs per hour for {owner!r} "
                                    f"(jobs_per_hour={quota.jobs_per_hour}); try again in {wait} s",
                                    "jobs_per_hour", http_status=429, retry_after=wait)
            times.append(now)

    def refund(self, owner: str) -> None:
        """The last admitted job of `owner` was not queued after all (the queue refused it): uncount it."""
        with self._lock:
            times = self._admitted.get(owner)
            if times:
                times.pop()
