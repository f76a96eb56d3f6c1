"""Where the security gate leaves the caller of a request: the ASGI scope's `state`, which Starlette, FastAPI and
Gradio requests all read. The UI and the API both look it up here (neither imports the other)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from webui.security.accounts import LOCAL_USER, Caller

CALLER_KEY = "kestrel_caller"


def caller_of_scope(scope: Mapping[str, Any]) -> Caller:
    """The caller the gate admitted (the trusted local user when no gate is installed, e.g. in unit tests)."""
    return scope.get("state", {}).get(CALLER_KEY, LOCAL_USER)
