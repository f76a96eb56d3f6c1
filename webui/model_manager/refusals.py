"""A refused model file as one typed error (`webui.errors.CheckpointRefused`), whatever found the fault.

The readers and probes raise their own errors, worded with the file's base name (`CheckpointFormatError`,
`UnsafeCheckpointError`, `UnsupportedArchitectureError`). The model manager turns each into a `CheckpointRefused`
naming the file as the user knows it (its name relative to its model folder, never a server path) and the reason,
so the edge answers a 4xx with both. The refusal is *also* an instance of the original error class, so code and
tests that catch `CheckpointFormatError` or `UnsupportedArchitectureError` keep working; the original is the
`__cause__`.

Pure: no torch, no I/O beyond resolving paths.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from webui.errors import CheckpointRefused
from webui.model_manager.probe import UnsupportedArchitectureError
from webui.model_manager.safetensors_header import CheckpointFormatError


class RefusedFile(CheckpointRefused, CheckpointFormatError):
    """Corrupt, truncated, unsafe or unreadable: the file itself is the problem."""


class RefusedArchitecture(CheckpointRefused, UnsupportedArchitectureError):
    """A readable checkpoint of an architecture we cannot run (SD 2.x, SDXL, SD 3, ...)."""


def refusal(file: str, error: Exception, path: Path | None = None) -> CheckpointRefused:
    """The typed refusal for `error`, raised about the file the user calls `file` and that lies at `path`
    (raise it `from error`)."""
    if isinstance(error, CheckpointRefused):
        return error
    reason = _reason_of(error, {Path(file).name, *((path.name,) if path else ())})
    if isinstance(error, UnsupportedArchitectureError):
        return RefusedArchitecture(file, reason)
    return RefusedFile(file, reason)


def _reason_of(error: Exception, base_names: set[str]) -> str:
    """The message without the "<base name>: " the low-level readers put in front (the refusal adds the user's
    name for the file instead); an OSError says what the system said, without the server path."""
    if isinstance(error, OSError) and error.strerror:
        return f"cannot be read: {error.strerror}"
    message = str(error)
    for name in base_names:
        if message.startswith(f"{name}: "):  # "model.safetensors: corrupt ..." → "corrupt ..."
            return message.removeprefix(f"{name}: ")
    return message


def check_location(file: str, path: Path, folders: Iterable[Path], allowed_files: Iterable[Path] = ()) -> None:
    """Refuse a file that resolves outside the model folders: a symlink (or a link in a subfolder) pointing
    elsewhere on the server would let anyone who can drop a link into a model folder make the server read, hash
    and parse any file. Files named on the command line (`--ckpt`) are allowed where they are."""
    resolved = path.resolve()
    if any(resolved == allowed.resolve() for allowed in allowed_files):
        return
    if any(resolved.is_relative_to(folder.resolve()) for folder in folders):
        return
    raise RefusedFile(file, "refused: it is a link to a file outside the model folders; put the file itself in a "
                            "model folder, or add its folder with --ckpt-dir")


def check_not_empty(file: str, path: Path) -> None:
    try:
        size = path.stat().st_size
    except OSError as error:
        raise refusal(file, error) from error
    if size == 0:
        raise RefusedFile(file, "the file is empty")
