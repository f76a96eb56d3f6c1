"""Prompt styles in A1111's `styles.csv` (columns name, prompt, negative_prompt; rows whose name starts with "#"
are comments), shared with A1111 installs as they are.

A style's text goes where its `{prompt}` placeholder is, or after the user's prompt joined by ", ". The file is
read when it changes on disk and written atomically, so a crash never leaves half a file.
"""

from __future__ import annotations

import csv
import io
import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from webui.config.atomic import write_atomically

log = logging.getLogger(__name__)
FIELDS = ("name", "prompt", "negative_prompt")
PLACEHOLDER = "{prompt}"


@dataclass(frozen=True)
class PromptStyle:
    name: str
    prompt: str = ""
    negative_prompt: str = ""


def merge_prompt(style_text: str, prompt: str) -> str:
    if PLACEHOLDER in style_text:
        return style_text.replace(PLACEHOLDER, prompt)
    return ", ".join(part for part in (prompt.strip(), style_text.strip()) if part)


class StyleStore:
    def __init__(self, path: Path) -> None:
        self._path = path
        self._lock = threading.Lock()
        self._styles: dict[str, PromptStyle] = {}
        self._stamp: tuple[int, float] | None = None

    def styles(self) -> list[PromptStyle]:
        with self._lock:
            self._reload_if_changed()
            return list(self._styles.values())

    def names(self) -> list[str]:
        return [style.name for style in self.styles()]

    def apply(self, prompt: str, negative_prompt: str, names: list[str]) -> tuple[str, str]:
        """The prompts with the chosen styles applied in order; an unknown name fails, naming the known ones."""
        known = {style.name: style for style in self.styles()}
        for name in names:
            if name not in known:
                raise ValueError(f"style {name!r} is not in styles.csv; known styles: {', '.join(known) or 'none'}")
            prompt = merge_prompt(known[name].prompt, prompt)
            negative_prompt = merge_prompt(known[name].negative_prompt, negative_prompt)
        return prompt, negative_prompt

    def save(self, style: PromptStyle) -> None:
        """Add or replace a style and write the whole file atomically."""
        if not style.name.strip() or style.name.startswith("#"):
            raise ValueError(f"style name {style.name!r} is not allowed: give a name that does not start with #")
        with self._lock:
            self._reload_if_changed()
            self._styles[style.name] = style
            buffer = io.StringIO()
            writer = csv.DictWriter(buffer, fieldnames=FIELDS, lineterminator="\n")
            writer.writeheader()
            for item in self._styles.values():
                writer.writerow({"name": item.name, "prompt": item.prompt, "negative_prompt": item.negative_prompt})
            data = buffer.getvalue().encode("utf-8")
            write_atomically(self._path, lambda handle: handle.write(data))
            self._stamp = self._file_stamp()

    def _file_stamp(self) -> tuple[int, float] | None:
        try:
            stat = self._path.stat()
        except FileNotFoundError:
            return None
        return stat.st_size, stat.st_mtime

    def _reload_if_changed(self) -> None:
        stamp = self._file_stamp()
        if stamp == self._stamp:
            return
        self._stamp = stamp
        self._styles = {}
        if stamp is None:
            return
        try:
            with self._path.open(encoding="utf-8-sig", newline="") as handle:
                for row in csv.DictReader(handle, skipinitialspace=True):
                    name = (row.get("name") or "").strip()
                    if name and not name.startswith("#"):
                        self._styles[name] = PromptStyle(name, row.get("prompt") or "",
                                                         row.get("negative_prompt") or "")
        except (OSError, csv.Error, UnicodeDecodeError) as error:
            log.warning("could not read %s (%s); no styles are available until it is fixed", self._path, error)
