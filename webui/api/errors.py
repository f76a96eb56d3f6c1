"""The API's edge for typed errors: each `webui.errors.KestrelError` becomes its status, once, for every route.

The body keeps FastAPI's `detail` (what A1111 clients read) and adds A1111's `error` (the type name); a 429 says
when to retry. The connection stays usable: nothing here raises past Starlette's error middleware.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from webui.errors import KestrelError
from webui.jobs.queue import QueueFullError

log = logging.getLogger(__name__)


def error_kind(error: KestrelError) -> str:
    """The public name of the error: the first of its classes that `webui.errors` (or the queue) defines, so a
    lower layer's subclass does not leak its own name into the API's contract."""
    public = next((cls for cls in type(error).__mro__ if cls.__module__ in ("webui.errors", "webui.jobs.queue")),
                  type(error))
    return public.__name__


def error_response(error: KestrelError) -> JSONResponse:
    headers = {"Retry-After": str(error.retry_after)} if isinstance(error, QueueFullError) else None
    return JSONResponse({"detail": str(error), "error": error_kind(error)}, status_code=error.http_status,
                        headers=headers)


def install_error_handlers(http: FastAPI) -> None:
    async def handle(_request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, KestrelError)
        if error.http_status >= 500:
            log.warning("%s: %s", type(error).__name__, error)
        return error_response(error)

    http.add_exception_handler(KestrelError, handle)
