"""Download a checkpoint on request: resumable, verified, written atomically. Nothing is fetched unless asked.

The file grows as `<name>.part` beside its destination; a dropped connection keeps it, and the next attempt asks
the server for the rest (HTTP Range). The sha256 is computed while the bytes arrive and checked when known; the
file's header must be a readable checkpoint; only then is it renamed to its real name, so the checkpoint list
never shows half a file.
"""

from __future__ import annotations

import errno
import hashlib
import http.client
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from webui.model_manager.catalog import CHECKPOINT_EXTENSIONS
from webui.model_manager.checkpoint_files import CheckpointReaders
from webui.model_manager.probe import UNET_PREFIX
from webui.model_manager.safetensors_header import CheckpointFormatError

CHUNK_BYTES = 1024 * 1024
TIMEOUT_SECONDS = 30
DownloadProgress = Callable[[int, int | None], None]  # (bytes so far, total bytes if known)


class DownloadError(RuntimeError):
    pass


@dataclass(frozen=True)
class KnownCheckpoint:
    key: str
    label: str
    url: str
    sha256: str
    size: int


# A short, verified list (A1111 itself offers SD 1.5 on first start); anything else by URL.
KNOWN_CHECKPOINTS = (
    KnownCheckpoint(
        "sd15", "Stable Diffusion 1.5 (v1-5-pruned-emaonly, fp32, 4.0 GiB)",
        "https://huggingface.co/stable-diffusion-v1-5/stable-diffusion-v1-5/resolve/main/"
        "v1-5-pruned-emaonly.safetensors",
        "6ce0161689b3853acaa03779ec93eafe75a02f4ced659bee03f50797806fa2fa", 4265146304),
)


def known_checkpoint(key_or_label: str) -> KnownCheckpoint | None:
    return next((known for known in KNOWN_CHECKPOINTS if key_or_label in (known.key, known.label)), None)


@dataclass(frozen=True)
class DownloadRequest:
    url: str
    folder: Path
    file_name: str | None = None
    sha256: str | None = None

    @classmethod
    def for_source(cls, source: str, folder: Path, file_name: str | None = None,
                   sha256: str | None = None) -> DownloadRequest:
        """A built-in checkpoint by key or label (its URL and sha256), or any URL as given."""
        known = known_checkpoint(source)
        if known is not None:
            return cls(known.url, folder, file_name, known.sha256)
        return cls(source.strip(), folder, file_name, sha256 or None)

    def destination(self) -> Path:
        parsed = urllib.parse.urlparse(self.url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ValueError(f"bad URL {self.url!r}: only http:// and https:// links can be downloaded")
        name = self.file_name or urllib.parse.unquote(Path(parsed.path).name)
        if not name.lower().endswith(CHECKPOINT_EXTENSIONS) or "/" in name or name.startswith("."):
            raise ValueError(f"file name {name!r} must be a plain name ending in "
                             f"{' or '.join(CHECKPOINT_EXTENSIONS)}; give one explicitly")
        if self.sha256 is not None and (len(self.sha256) != 64 or not all(c in "0123456789abcdef"
                                                                          for c in self.sha256.lower())):
            raise ValueError(f"sha256 {self.sha256!r} must be 64 hexadecimal digits")
        return self.folder / name


def _open(url: str, offset: int):
    request = urllib.request.Request(url, headers={"User-Agent": "kestrel-webui",
                                                   **({"Range": f"bytes={offset}-"} if offset else {})})
    try:
        return urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS)  # noqa: S310 - scheme checked above
    except urllib.error.HTTPError as error:
        if error.code == 416 and offset:
            return None  # the partial file already holds everything
        raise DownloadError(f"the server answered {error.code} {error.reason} for {url}") from error
    except (urllib.error.URLError, OSError) as error:
        raise DownloadError(f"cannot reach {url}: {getattr(error, 'reason', error)}") from error


def _hash_existing(part: Path) -> hashlib._Hash:
    digest = hashlib.sha256()
    with part.open("rb") as stream:
        while block := stream.read(CHUNK_BYTES):
            digest.update(block)
    return digest


def _receive(url: str, part: Path, progress: DownloadProgress | None) -> hashlib._Hash:
    """Fetch into `part`, resuming it; returns the sha256 of the whole file."""
    offset = part.stat().st_size if part.exists() else 0
    response = _open(url, offset)
    if response is None:
        return _hash_existing(part)
    with response:
        resumed = offset > 0 and response.status == 206
        digest = _hash_existing(part) if resumed else hashlib.sha256()
        done = offset if resumed else 0
        length = response.headers.get("Content-Length")
        total = done + int(length) if length is not None else None
        try:
            with part.open("ab" if resumed else "wb") as stream:
                while block := response.read(CHUNK_BYTES):
                    stream.write(block)
                    digest.update(block)
                    done += len(block)
                    if progress is not None:
                        progress(done, total)
        except (OSError, http.client.HTTPException) as error:
            disk_full = getattr(error, "errno", None) == errno.ENOSPC
            reason = "the disk is full" if disk_full else f"the connection dropped: {error!r}"
            raise DownloadError(f"download stopped after {done} bytes ({reason}); "
                                f"{part.name} is kept, run the download again to resume") from error
    if total is not None and done != total:
        raise DownloadError(f"the connection dropped after {done} of {total} bytes; {part.name} is kept, "
                            "run the download again to resume")
    return digest


def download_checkpoint(request: DownloadRequest, progress: DownloadProgress | None = None) -> Path:
    destination = request.destination()
    if destination.exists():
        raise FileExistsError(f"{destination} already exists")
    destination.parent.mkdir(parents=True, exist_ok=True)
    part = destination.with_name(destination.name + ".part")
    digest = _receive(request.url, part, progress)
    actual = digest.hexdigest()
    if request.sha256 is not None and actual != request.sha256.lower():
        part.unlink(missing_ok=True)
        raise DownloadError(f"checksum mismatch for {destination.name}: expected {request.sha256.lower()}, "
                            f"got {actual}; the download was deleted")
    _check_is_checkpoint(part, destination.name)
    os.replace(part, destination)
    return destination


def _check_is_checkpoint(part: Path, name: str) -> None:
    """A server's error page or a LoRA saved under a checkpoint's name must not reach the list (an SD 2 or SDXL
    checkpoint may: it is refused only when someone tries to load it)."""
    try:
        index = CheckpointReaders().for_path(Path(name)).read_index(part)
        if not index.has_prefix(UNET_PREFIX):
            raise CheckpointFormatError(f"no '{UNET_PREFIX}*' weights")
    except CheckpointFormatError as error:
        part.unlink(missing_ok=True)
        raise DownloadError(f"{name} is not a Stable Diffusion checkpoint ({error}); the download was deleted") \
            from error
