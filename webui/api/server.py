"""The HTTP application: our own routes, A1111's `/sdapi/v1` with --api/--nowebui, and the UI mounted on it."""

from __future__ import annotations

import secrets

from fastapi import Depends, FastAPI, HTTPException
from fastapi.security import HTTPBasic, HTTPBasicCredentials

from webui import __version__
from webui.api.extension_routes import mount_extension_routes
from webui.api.sdapi import create_sdapi_router
from webui.app_context import App
from webui.config.flags import parse_credentials


def basic_auth(credentials_text: str):
    """A FastAPI dependency checking HTTP Basic credentials in constant time (401 + WWW-Authenticate otherwise)."""
    def refuse(message: str) -> None:
        raise ValueError(message)

    allowed = parse_credentials(credentials_text, refuse)
    security = HTTPBasic()

    def check(credentials: HTTPBasicCredentials = Depends(security)) -> str:
        matches = [secrets.compare_digest(credentials.username.encode(), user.encode())
                   & secrets.compare_digest(credentials.password.encode(), password.encode())
                   for user, password in allowed]
        if not any(matches):
            raise HTTPException(401, "incorrect username or password", headers={"WWW-Authenticate": "Basic"})
        return credentials.username

    return check


def create_http_app(app: App, page=None) -> FastAPI:
    """`page` (the UI's Blocks, None with --nowebui) is what A1111 extensions' on_app_started receive."""
    serves_api = app.options.serves_api
    http = FastAPI(title="Kestrel", version=__version__, docs_url="/docs" if serves_api else None,
                   redoc_url=None, openapi_url="/openapi.json" if serves_api else None)

    @http.get("/internal/ping")
    def ping() -> dict:
        """Readiness probe for launchers and tests: answers once the model is loaded and the server is up."""
        loaded = app.models.loaded
        return {"status": "ok", "checkpoint": loaded.record.title if loaded else None}

    dependencies = [Depends(basic_auth(app.options.api_auth))] if app.options.api_auth else []
    if serves_api:
        http.include_router(create_sdapi_router(app), dependencies=dependencies)
    mount_extension_routes(http, app.extensions, dependencies, page)
    return http
