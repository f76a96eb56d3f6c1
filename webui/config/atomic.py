"""Atomic file writes: write a temporary file beside the target, then rename over it.

A crash or a full disk mid-write leaves the old file intact, and a reader never sees half a file. This matters
for config.json and cache.json, for saved images, and for checkpoints (a loaded checkpoint is memory-mapped, so it
must never be rewritten in place).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any


def write_atomically(target: Path, write: Callable[[IO[bytes]], object]) -> None:
    """Call `write` with a binary file object; the result replaces `target` only if `write` succeeds."""
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
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
