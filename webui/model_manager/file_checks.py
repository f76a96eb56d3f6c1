"""Checking a checkpoint file before anything is queued: where it lives, its header, its architecture.

This is what lets the jobs layer refuse a bad file at admission, on the request's own thread: no device, no
weights read for `.safetensors` (the header alone, bounded in size and entries), no lock the generation thread
holds. The result is cached per file version (path, size, mtime), so the load that follows (and every later
admission naming the same file) does not parse the header again; a refusal is cached too, so a header bomb is
read once. Thread-safe: the cache has its own lock, held only to look up and store, never while reading a file.

A `.ckpt` has no header: its index comes from a weights-only, memory-mapped `torch.load` on the caller's thread
(the pickle program only; tensor data is not read for the zip format), once per file version.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from webui.errors import CheckpointRefused
from webui.model_manager.checkpoint_files import CheckpointReaders
from webui.model_manager.probe import Architecture, Probe, UnsupportedArchitectureError, identify
from webui.model_manager.refusals import check_location, check_not_empty, refusal
from webui.model_manager.safetensors_header import CheckpointFormatError

FileVersion = tuple[str, int, float]  # (resolved path, size, mtime)


@dataclass(frozen=True)
class CheckedFile:
    """What the header told us about an accepted checkpoint."""

    architecture: Architecture
    metadata: Mapping[str, str]


def file_version(path: Path) -> FileVersion:
    stat = path.stat()
    return str(path), stat.st_size, stat.st_mtime


class FileChecks:
    """Cached header checks of checkpoint files (see the module docstring)."""

    def __init__(self, readers: CheckpointReaders, probes: tuple[Probe, ...], max_entries: int = 256) -> None:
        self._readers = readers
        self._probes = probes
        self._max_entries = max_entries
        self._lock = threading.Lock()
        self._results: dict[FileVersion, CheckedFile | CheckpointRefused] = {}

    def check(self, file: str, path: Path, folders: Iterable[Path], allowed_files: Iterable[Path] = ()) -> CheckedFile:
        """The architecture of the checkpoint the user calls `file`, or `CheckpointRefused` saying why not."""
        check_location(file, path, folders, allowed_files)
        check_not_empty(file, path)
        try:
            version = file_version(path)
        except OSError as error:
            raise refusal(file, error) from error
        with self._lock:
            known = self._results.get(version)
        if known is None:
            known = self._inspect(file, path)
            with self._lock:
                if len(self._results) >= self._max_entries:
                    self._results.clear()  # a crude bound: versions pile up only as files change
                self._results[version] = known
        if isinstance(known, CheckpointRefused):  # a fresh instance each time: a raised one collects tracebacks
            raise type(known)(file, known.reason) from known.__cause__
        return known

    def _inspect(self, file: str, path: Path) -> CheckedFile | CheckpointRefused:
        try:
            index = self._readers.read_index(path)
            architecture = identify(index, self._probes, path.name)
        except (CheckpointFormatError, UnsupportedArchitectureError, OSError) as error:
            refused = refusal(file, error, path)
            refused.__cause__ = error
            return refused
        return CheckedFile(architecture, dict(index.metadata))
