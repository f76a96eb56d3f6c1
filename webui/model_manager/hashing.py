"""A1111 model hashes: sha256 of the whole file, shown as its first 10 hex digits.

Hashing a 2 GB checkpoint takes seconds, so results are cached in `cache.json` in the data dir (A1111's file and
"hashes" section) and reused while the file's size and mtime are unchanged. Progress is reported while hashing.

The first load of a never-hashed file hashes *beside* the load (`HashCache.start`): a thread reads the file for
the digest while the loader reads it for the weights, so the disk is read once (the second reader finds the pages
in the page cache) and the two costs overlap instead of adding up (hashlib and safetensors release the GIL).
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path

from webui.config.atomic import write_json_atomically
from webui.errors import DiskFull

log = logging.getLogger(__name__)
BLOCK_SIZE = 1024 * 1024
SHORT_HASH_LENGTH = 10
HashProgress = Callable[[int, int], None]  # (bytes done, bytes total)


def sha256_of_file(path: Path, progress: HashProgress | None = None) -> str:
    digest = hashlib.sha256()
    total = path.stat().st_size
    done = 0
    with path.open("rb") as stream:
        while block := stream.read(BLOCK_SIZE):
            digest.update(block)
            done += len(block)
            if progress is not None:
                progress(done, total)
    return digest.hexdigest()


def short_hash(sha256: str) -> str:
    return sha256[:SHORT_HASH_LENGTH]


class HashCache:
    """sha256 per file, keyed by A1111's "checkpoint/<name>" and valid for one (path, size, mtime)."""

    def __init__(self, cache_file: Path) -> None:
        self._cache_file = cache_file
        self._lock = threading.Lock()
        self._data: dict | None = None  # read once, then kept in step with every write we make

    def _read(self) -> dict:
        """The cache file's content (read on first use only; callers hold the lock)."""
        if self._data is None:
            self._data = self._read_file()
        return self._data

    def _read_file(self) -> dict:
        if not self._cache_file.exists():
            return {}
        try:
            data = json.loads(self._cache_file.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as error:
            log.warning("ignoring unreadable hash cache %s (%s); hashes will be recomputed", self._cache_file, error)
            return {}
        return data if isinstance(data, dict) else {}

    @staticmethod
    def _identity(path: Path) -> dict[str, object]:
        stat = path.stat()
        return {"path": str(path.resolve()), "size": stat.st_size, "mtime": stat.st_mtime}

    def cached(self, path: Path, name: str, kind: str = "checkpoint") -> str | None:
        """The cached sha256 if it is still valid for this exact file, without hashing anything."""
        identity = self._identity(path)
        with self._lock:
            entry = self._read().get("hashes", {}).get(f"{kind}/{name}")
        if isinstance(entry, dict) and all(entry.get(field) == value for field, value in identity.items()):
            return str(entry["sha256"])
        return None

    def start(self, path: Path, name: str, progress: HashProgress | None = None,
              kind: str = "checkpoint") -> Future[str]:
        """`sha256` on its own thread, for hashing while the weights load: the future holds the digest (or the
        error). The thread ends with the read; a caller that stops waiting leaves nothing but a finishing read."""
        future: Future[str] = Future()
        future.set_running_or_notify_cancel()

        def work() -> None:
            try:
                future.set_result(self.sha256(path, name, progress, kind))
            except BaseException as error:  # handed to whoever waits on the future
                future.set_exception(error)

        threading.Thread(target=work, name=f"sha256 {path.name}", daemon=True).start()
        return future

    def sha256(self, path: Path, name: str, progress: HashProgress | None = None, kind: str = "checkpoint") -> str:
        cached = self.cached(path, name, kind)
        if cached is not None:
            return cached
        key = f"{kind}/{name}"
        identity = self._identity(path)
        log.info("calculating sha256 for %s", path.name)
        digest = sha256_of_file(path, progress)
        with self._lock:
            data = self._read()
            data.setdefault("hashes", {})[key] = {**identity, "sha256": digest}
            try:
                write_json_atomically(self._cache_file, data)
            except DiskFull as error:  # the hash is known (and kept in memory); a full disk must not stop a load
                log.warning("could not save the hash cache: %s", error)
        return digest
