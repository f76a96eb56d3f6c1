"""Checkpoint discovery with A1111's folders, names and titles.

Folders are walked recursively (`--ckpt-dir` first, then `models/Stable-diffusion`), keeping `.safetensors` and
`.ckpt` but not `*.vae.*`. A checkpoint's `name` is its path relative to its folder; its `title` is
"name [shorthash]" once the hash is known (A1111's dropdown and API title); `model_name` is the file name without
folder or extension, as the infotext's "Model:" records it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from webui.model_manager.hashing import short_hash

CHECKPOINT_EXTENSIONS = (".safetensors", ".ckpt")


@dataclass(frozen=True)
class CheckpointRecord:
    path: Path
    name: str
    sha256: str | None = None

    @property
    def model_name(self) -> str:
        return Path(self.name).stem

    @property
    def short_hash(self) -> str | None:
        return short_hash(self.sha256) if self.sha256 else None

    @property
    def title(self) -> str:
        return f"{self.name} [{self.short_hash}]" if self.sha256 else self.name

    def with_sha256(self, sha256: str) -> CheckpointRecord:
        return replace(self, sha256=sha256)

    def matches(self, query: str) -> bool:
        """A1111's aliases: title, name, model name, short hash, full sha256, "name [hash]"."""
        aliases = {self.title, self.name, self.model_name, str(self.path)}
        if self.sha256:
            aliases |= {self.sha256, self.short_hash or "", f"{self.model_name} [{self.short_hash}]"}
        return query in aliases


def _is_checkpoint(path: Path) -> bool:
    lower = path.name.lower()
    return path.is_file() and lower.endswith(CHECKPOINT_EXTENSIONS) and ".vae." not in lower


def scan_checkpoints(folders: Iterable[Path], extra_files: Iterable[Path] = ()) -> list[CheckpointRecord]:
    """Checkpoints in `folders` (recursively, sorted by name) plus explicitly given files, without duplicates."""
    records: list[CheckpointRecord] = []
    seen: set[Path] = set()
    for file in extra_files:
        resolved = file.resolve()
        if not resolved.is_file():
            raise FileNotFoundError(f"checkpoint file {file} does not exist")
        seen.add(resolved)
        records.append(CheckpointRecord(resolved, file.name))
    for folder in folders:
        if not folder.is_dir():
            continue
        found = sorted((path for path in folder.rglob("*") if _is_checkpoint(path)),
                       key=lambda path: path.relative_to(folder).as_posix().lower())
        for path in found:
            if path.resolve() in seen:
                continue
            seen.add(path.resolve())
            records.append(CheckpointRecord(path.resolve(), path.relative_to(folder).as_posix()))
    return records
