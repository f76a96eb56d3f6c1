"""The HTTP application the UI is mounted on. Routes of our own and, later, A1111's `/sdapi/v1` live here."""

from __future__ import annotations

from fastapi import FastAPI

from webui import __version__
from webui.app_context import App


def create_http_app(app: App) -> FastAPI:
    http = FastAPI(title="Kestrel", version=__version__, docs_url=None, redoc_url=None, openapi_url=None)

    @http.get("/internal/ping")
    def ping() -> dict:
        """Readiness probe for launchers and tests: answers once the model is loaded and the server is up."""
        loaded = app.models.loaded
        return {"status": "ok", "checkpoint": loaded.record.title if loaded else None}

    return http
