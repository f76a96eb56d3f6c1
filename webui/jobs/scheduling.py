"""Which queued job runs next.

`RoundRobinByOwner` is what a shared instance needs: owners take turns, so one user's twenty queued jobs cannot starve
another user's one; within one owner, jobs run in the order they were submitted. The policy also predicts the whole
order, so every waiting job can show how many jobs are really ahead of it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from webui.jobs.job import Job


class SchedulingPolicy(Protocol):
    def order(self, queued: Sequence[Job]) -> list[Job]:
        """The order the queued jobs would run in if nothing else arrived (first = next)."""

    def started(self, job: Job, still_queued: Sequence[Job]) -> None:
        """`job` left the queue to run; `still_queued` is what waits now."""


class FirstComeFirstServed:
    def order(self, queued: Sequence[Job]) -> list[Job]:
        return list(queued)

    def started(self, job: Job, still_queued: Sequence[Job]) -> None:
        return None


class RoundRobinByOwner:
    """Owners are served in turns, the one served longest ago first; a newcomer goes before everyone served already.

    Only owners with jobs waiting, and the owner served last, are remembered, so the state stays as small as the
    queue. The owner served last is kept even with nothing waiting: whoever just had a turn and submits again is
    not a newcomer (without that, their next job would jump ahead of everyone who was already waiting)."""

    def __init__(self) -> None:
        self._turn = 0
        self._last_served: dict[str, int] = {}

    def order(self, queued: Sequence[Job]) -> list[Job]:
        per_owner: dict[str, list[Job]] = {}
        for job in queued:
            per_owner.setdefault(job.owner, []).append(job)
        owners = sorted(per_owner, key=lambda owner: (self._last_served.get(owner, -1),
                                                      queued.index(per_owner[owner][0])))
        ordered: list[Job] = []
        for round_index in range(max((len(jobs) for jobs in per_owner.values()), default=0)):
            ordered.extend(per_owner[owner][round_index] for owner in owners if round_index < len(per_owner[owner]))
        return ordered

    def started(self, job: Job, still_queued: Sequence[Job]) -> None:
        self._turn += 1
        waiting = {queued.owner for queued in still_queued}
        self._last_served = {owner: turn for owner, turn in self._last_served.items() if owner in waiting}
        self._last_served[job.owner] = self._turn
