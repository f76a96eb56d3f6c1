"""The HTTP application: our own routes, A1111's `/sdapi/v1` with --api/--nowebui, and the UI mounted on it.

Every route sits behind one `SecurityGate` (webui/api/gate.py): logins, cross-site refusal, body caps and file-route
confinement are decided there, once, for routes Gradio or extensions add later as well.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.middleware.cors import CORSMiddleware

from webui import __version__
from webui.api.controlnet_routes import create_controlnet_router
from webui.api.errors import install_error_handlers
from webui.api.extension_routes import mount_extension_routes
from webui.api.gate import GatePolicy, SecurityGate
from webui.api.job_routes import create_job_router
from webui.api.sdapi import create_sdapi_router
from webui.api.user_routes import create_user_router
from webui.app_context import App
from webui.security.client_address import TrustedProxies, parse_networks
from webui.security.throttle import LoginThrottle


def create_http_app(app: App, page=None) -> FastAPI:
    """`page` (the UI's Blocks, None with --nowebui) is what A1111 extensions' on_app_started receive."""
    serves_api = app.options.serves_api
    http = FastAPI(title="Kestrel", version=__version__, docs_url="/docs" if serves_api else None,
                   redoc_url=None, openapi_url="/openapi.json" if serves_api else None)

    @http.get("/internal/ping")
    def ping() -> dict:
        """Readiness probe for launchers and tests: answers once the model is loaded and the server is up (it is
        public, so it names the checkpoint only on an instance without logins)."""
        loaded = app.models.loaded
        private = app.accounts.ui_login_required or app.accounts.api_login_required
        return {"status": "ok", "checkpoint": loaded.record.title if loaded and not private else None}

    install_error_handlers(http)
    routers = [create_job_router(app), create_user_router(app),
               *([create_sdapi_router(app), create_controlnet_router(app)] if serves_api else [])]
    for router in routers:
        add_method_not_allowed_routes(router)
        http.include_router(router)
    mount_extension_routes(http, app.extensions, page)  # the security gate applies to them like to any route
    add_method_not_allowed_routes(http)
    return http


API_PREFIXES = ("/sdapi/", "/kestrel/", "/internal/")
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def add_method_not_allowed_routes(routes: FastAPI | APIRouter) -> None:
    """A known API path asked with another method is 405 naming the allowed ones. Without these routes the UI
    mounted at "/" (added after) takes the request and answers 404, since a path whose method does not match is
    only a partial match for Starlette. Called on each router before it is included (an included router's routes
    are not in the app's list) and on the app for its own routes."""
    allowed: dict[str, set[str]] = {}
    for route in routes.routes:
        if isinstance(route, APIRoute) and route.path.startswith(API_PREFIXES):
            allowed.setdefault(route.path, set()).update(route.methods or ())
    prefix = routes.prefix if isinstance(routes, APIRouter) else ""
    for path, methods in allowed.items():
        others = [method for method in METHODS if method not in methods]
        if others:
            routes.add_api_route(path.removeprefix(prefix), _not_allowed(", ".join(sorted(methods - {"HEAD"}))),
                                 methods=others, include_in_schema=False, name=f"method_not_allowed:{path}")


def _not_allowed(allow: str):
    async def not_allowed() -> JSONResponse:
        return JSONResponse({"detail": f"Method Not Allowed; allowed: {allow}"}, status_code=405,
                            headers={"Allow": allow})
    return not_allowed


def secure(http, app: App, file_roots: tuple[Path, ...]):
    """Wrap the finished ASGI app (FastAPI + the mounted UI) in the gate, and CORS for the origins the user named."""
    origins = tuple(origin.strip() for origin in (app.options.cors_allow_origins or "").split(",") if origin.strip())
    if origins:
        http.add_middleware(CORSMiddleware, allow_origins=list(origins), allow_credentials=True,
                            allow_methods=["*"], allow_headers=["*"])
    policy = GatePolicy(app.accounts, app.sessions, LoginThrottle(), file_roots, origins,
                        max_body_bytes=app.options.max_upload_mb * 1024 * 1024,
                        proxies=TrustedProxies(parse_networks(app.options.trusted_proxies)), hsts=app.options.tls)
    return SecurityGate(http, policy)


def https_redirect_app(https_port: int):
    """The plain-http listener of `--http-redirect-port`: every request is sent to the same path over https (308
    keeps the method and body); nothing else is served in clear text."""
    async def redirect(scope, receive, send) -> None:
        if scope["type"] != "http":
            return
        host = next((value.decode("latin-1") for key, value in scope["headers"] if key == b"host"), "localhost")
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        query = scope.get("query_string", b"").decode("latin-1")
        target = f"https://{name}:{https_port}{scope.get('raw_path', b'').decode('latin-1') or scope['path']}"
        if query and "?" not in target:
            target += f"?{query}"
        await send({"type": "http.response.start", "status": 308,
                    "headers": [(b"location", target.encode("latin-1")), (b"content-length", b"0")]})
        await send({"type": "http.response.body", "body": b""})
    return redirect
