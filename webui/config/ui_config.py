"""A1111's `ui-config.json`: the default value of each UI control, keyed "<tab>/<label>/value", editable by the
user so the page starts with their steps, size and sampler.

Read once when the page is built; keys the page has but the file lacks are added (written atomically), as A1111
does, so the file always lists what can be set. A value of the wrong type, or a broken file, is reported and the
built-in default used.
"""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path
from typing import Any

from webui.config.atomic import write_json_atomically

log = logging.getLogger(__name__)


class UiConfig:
    def __init__(self, path: Path) -> None:
        self._path = path
        self._lock = threading.Lock()
        self._values: dict[str, Any] = {}
        self._missing: dict[str, Any] = {}
        self.problem: str | None = None
        self._load()

    def _load(self) -> None:
        if not self._path.exists():
            return
        try:
            data = json.loads(self._path.read_text(encoding="utf-8"))
            if not isinstance(data, dict):
                raise ValueError(f"it holds a JSON {type(data).__name__}, not an object")
        except (OSError, ValueError) as error:
            self.problem = f"{self._path.name} could not be read ({error}); the built-in defaults are used"
            log.error(self.problem)
            return
        self._values = data

    def value(self, tab: str, label: str, default: Any) -> Any:
        """The user's default for this control, or `default` (remembered, to be written if the file lacks it)."""
        key = f"{tab}/{label}/value"
        with self._lock:
            if key not in self._values:
                self._missing[key] = default
                return default
            chosen = self._values[key]
        if default is not None and not isinstance(chosen, type(default)) and not (
                isinstance(default, float) and isinstance(chosen, int)):
            log.warning("%s: %s should be a %s, got %r; using %r", self._path.name, key, type(default).__name__,
                        chosen, default)
            return default
        return chosen

    def save_missing(self) -> None:
        """Add the keys the page asked for and the file did not have (never rewrites a broken file)."""
        with self._lock:
            if not self._missing or self.problem:
                return
            self._values.update(self._missing)
            self._missing = {}
            write_json_atomically(self._path, self._values)
