"""Removing what interrupted saves leave behind.

Every save goes through `webui.config.atomic.write_atomically`: a temporary `.<name>.<8 chars>.tmp` beside the
target, renamed over it when complete. Any error removes the temporary file, but a hard kill (`kill -9`, power
loss) mid-write cannot, and nothing would ever remove it (it is hidden, and no sequence number counts it). At start,
before anything saves, `remove_stale_temp_files` deletes exactly those names under the outputs folders — regular
files only, symlinks neither followed nor removed — and nothing else: a user's own `notes.tmp` or `.draft.tmp`
does not have the shape and stays.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterable
from pathlib import Path

from webui.config.atomic import is_atomic_temp_name

log = logging.getLogger(__name__)


def remove_stale_temp_files(folders: Iterable[Path]) -> list[Path]:
    """Delete interrupted atomic saves' temporary files under `folders` (recursively); returns what was removed.
    Call it before any save can start: a save in progress has a file of the same shape. Missing folders are
    skipped; a file that cannot be removed is logged and left."""
    removed: list[Path] = []
    seen: set[Path] = set()
    for folder in folders:
        root = Path(folder)
        if not root.is_dir() or root.resolve() in seen:
            continue
        seen.add(root.resolve())
        for directory, _, names in os.walk(root, followlinks=False):
            for name in names:
                if is_atomic_temp_name(name) and _remove_if_regular(Path(directory) / name):
                    removed.append(Path(directory) / name)
    if removed:
        log.info("removed %d temporary file(s) left by interrupted saves", len(removed))
    return removed


def _remove_if_regular(path: Path) -> bool:
    try:
        if not stat.S_ISREG(path.lstat().st_mode):
            return False
        path.unlink()
    except OSError as error:
        log.warning("could not remove the leftover temporary file %s: %s", path, error)
        return False
    return True
