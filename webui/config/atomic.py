"""Atomic file writes: write a temporary file beside the target, then rename over it.

A crash or a full disk mid-write leaves the old file intact, and a reader never sees half a file. This matters
for config.json and cache.json, for saved images, and for checkpoints (a loaded checkpoint is memory-mapped, so it
must never be rewritten in place). A full disk is raised as `webui.errors.DiskFull` naming the folder, with the
temporary file removed; only a hard kill mid-write can leave one, and `is_atomic_temp_name` recognises it.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from webui.errors import DiskFull

TEMP_SUFFIX = ".tmp"
DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
# What `tempfile.mkstemp(prefix=".<name>.", suffix=".tmp")` makes: a dot, the target's name, a dot, 8 characters
# of tempfile's alphabet (lower-case letters, digits, "_"), ".tmp". Nothing else we or a user write has it.
ATOMIC_TEMP_NAME = re.compile(r"^\.(?P<target>.+)\.[a-z0-9_]{8}" + re.escape(TEMP_SUFFIX) + "$")


def is_disk_full(error: BaseException) -> bool:
    return isinstance(error, OSError) and error.errno in DISK_FULL_ERRNOS


@contextlib.contextmanager
def disk_full_as_typed_error(path: Path) -> Iterator[None]:
    """Turn ENOSPC/EDQUOT raised inside into `DiskFull(path)`, so the edge answers 507 naming the disk."""
    try:
        yield
    except OSError as error:
        if is_disk_full(error) and not isinstance(error, DiskFull):
            raise DiskFull(str(path), error.strerror or "") from error
        raise


def is_atomic_temp_name(name: str) -> bool:
    """Whether a file name is one of `write_atomically`'s temporary files (left behind only by a hard kill)."""
    return ATOMIC_TEMP_NAME.match(name) is not None


def current_umask() -> int:
    """The process's umask, read without changing it where the system says it (Linux's /proc): `os.umask` can only
    be read by setting it, which would race with other threads creating files."""
    try:
        for line in Path("/proc/self/status").read_text(encoding="ascii").splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_atomically(target: Path, write: Callable[[IO[bytes]], object]) -> None:
    """Call `write` with a binary file object; the result replaces `target` only if `write` succeeds. A full
    disk raises `DiskFull` naming the target's folder, and no temporary file stays."""
    with disk_full_as_typed_error(target.parent):
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, temp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=TEMP_SUFFIX, dir=target.parent)
        try:
            # mkstemp makes 0600 files; the result gets the mode open() would give it (0666 less the umask), so
            # other accounts read the outputs as they read A1111's
            os.fchmod(handle, 0o666 & ~current_umask())
            with os.fdopen(handle, "wb") as stream:
                write(stream)
                stream.flush()
                os.fsync(stream.fileno())
            os.replace(temp_name, target)
        except BaseException:
            Path(temp_name).unlink(missing_ok=True)
            raise


def write_json_atomically(target: Path, data: Any) -> None:
    payload = json.dumps(data, indent=4, ensure_ascii=False).encode("utf-8")
    write_atomically(target, lambda stream: stream.write(payload))
