"""Errors as types, raised where the fault is found and mapped to a status once, at the edge.

Every layer may raise these (the module is pure: no torch, no gradio, no I/O). The API maps each to its HTTP
status (`http_status`), the UI to a `gr.Error` with the same message. Anything else that escapes a job becomes a
500 naming the job id, with the traceback in the log.
"""

from __future__ import annotations

from collections.abc import Sequence


class KestrelError(Exception):
    """Base of the errors a caller can act on; `http_status` is what the API answers with."""

    http_status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class FieldError(KestrelError, ValueError):
    """A request field has a bad value. `field` is the *caller's* name for it (`n_iter`, `mask`, not ours)."""

    http_status = 422

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message if message.startswith(f"{field} ") else f"{field}: {message}")
        self.field = field
        self.reason = message


class CheckpointRefused(KestrelError, ValueError):
    """A model file cannot be used (corrupt, truncated, unsafe, unsupported); the loaded model keeps serving."""

    http_status = 422

    def __init__(self, file: str, reason: str) -> None:
        super().__init__(f"{file}: {reason}")
        self.file = file
        self.reason = reason


class ModelMissing(KestrelError, LookupError):
    """A model named by a request is not installed; the message lists what is."""

    http_status = 404

    def __init__(self, kind: str, name: str, available: Sequence[str] = (), where: str = "") -> None:
        listed = ", ".join(available[:50]) or "none"
        place = f" in {where}" if where else ""
        super().__init__(f"{kind} {name!r} not found{place}; installed: {listed}")
        self.kind = kind
        self.name = name
        self.available = tuple(available)


class DiskFull(KestrelError, OSError):
    """A write failed for lack of space; `path` names the disk (folder or file) that is full."""

    http_status = 507

    def __init__(self, path: str, detail: str = "") -> None:
        super().__init__(f"no space left on the disk holding {path}" + (f" ({detail})" if detail else ""))
        self.path = path


class ShuttingDown(KestrelError):
    """The server is stopping. `kept`: the job is stored and will run after the restart (its images saved)."""

    http_status = 503

    def __init__(self, kept: bool) -> None:
        message = ("the server is shutting down; this job is kept and will run after the restart (its images will "
                   "be saved to the outputs folder)" if kept else
                   "the server is shutting down; no new jobs are accepted")
        super().__init__(message)
        self.kept = kept
