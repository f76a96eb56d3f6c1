"""An ordered name → item registry, the shape every engine seam (pipeline variants, post-processors, conditioning
steps) shares: registering a name twice raises, iteration keeps registration order, and each entry may carry a
failure report.

The failure report is what makes a contribution *isolated*: built-in entries have none, so their errors propagate
as errors of the job; an extension's entry has one (it records the traceback on that extension), and the engine
then skips the entry for that call and the job goes on. The engine, not the extension layer, decides what
"skipped" means at each seam (keep the image, keep the conditioning, fall back to the built-in variant).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

FailureReport = Callable[[str], None]  # receives the formatted traceback of the failure it reports

Item = TypeVar("Item")


class DuplicateRegistration(ValueError):
    """A name was registered twice in one registry."""


@dataclass(frozen=True)
class Entry(Generic[Item]):
    name: str
    item: Item
    on_failure: FailureReport | None = None   # None: a built-in, whose errors are the job's errors

    @property
    def isolated(self) -> bool:
        return self.on_failure is not None


class NamedRegistry(Generic[Item]):
    """Entries in registration order. `kind` names the registry in error messages ("pipeline variant", ...)."""

    def __init__(self, kind: str) -> None:
        self._kind = kind
        self._entries: dict[str, Entry[Item]] = {}

    def register(self, name: str, item: Item, on_failure: FailureReport | None = None) -> None:
        if not name or not name.strip():
            raise ValueError(f"a {self._kind} needs a non-empty name")
        if name in self._entries:
            raise DuplicateRegistration(f"{self._kind} {name!r} is already registered; choose another name")
        self._entries[name] = Entry(name, item, on_failure)

    def get(self, name: str) -> Item:
        try:
            return self._entries[name].item
        except KeyError:
            raise KeyError(f"no {self._kind} named {name!r}; registered: {', '.join(self._entries)}") from None

    def names(self) -> list[str]:
        return list(self._entries)

    def entries(self) -> list[Entry[Item]]:
        return list(self._entries.values())

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[Entry[Item]]:
        return iter(self.entries())

    def __len__(self) -> int:
        return len(self._entries)
