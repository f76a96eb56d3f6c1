"""The security gate in front of every route: the page, Gradio's queue and file routes, `/sdapi`, extension routes.

It is one ASGI middleware rather than per-route dependencies because Gradio's own routes have leaked files before
(CVE-2023-51449, CVE-2024-1561): whatever route a library adds later, it is still behind this gate. In order, it
- refuses cross-site writes and WebSockets (a page on another site must not drive a local UI, CVE-2024-11045),
- caps request bodies,
- serves /login and /logout,
- works out the caller (session cookie or HTTP Basic) and refuses anonymous callers when logins are on (429 once an
  address has failed too often),
- lets file routes serve only from Gradio's cache, after decoding the path as often as it is encoded.
The caller is left in the ASGI scope for the routes (`webui/security/request_caller.py`).
"""

from __future__ import annotations

import base64
import binascii
import enum
import json
import math
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, quote, unquote, urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection, Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from webui.api.login_page import login_page, safe_next
from webui.security.accounts import ANONYMOUS, LOCAL_USER, AccountDirectory, Caller
from webui.security.request_caller import CALLER_KEY
from webui.security.sessions import SESSION_COOKIE, SessionStore
from webui.security.throttle import LoginThrottle

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
MAX_LOGIN_FORM_BYTES = 8 * 1024
MAX_TRACKED_SESSIONS = 100_000
SESSION_PATHS = ("/gradio_api/heartbeat/", "/gradio_api/stream/")


class Zone(enum.Enum):
    LOGIN = "login"
    PUBLIC = "public"
    API = "api"
    UI = "ui"


def zone_of(path: str) -> Zone:
    if path in ("/login", "/logout"):
        return Zone.LOGIN
    if path == "/internal/ping":
        return Zone.PUBLIC
    if path.startswith(("/sdapi/", "/ext/")) or path in ("/docs", "/openapi.json"):
        return Zone.API  # extension routes are API routes: --api-auth applies to them as to /sdapi
    return Zone.UI


@dataclass(frozen=True)
class GatePolicy:
    accounts: AccountDirectory
    sessions: SessionStore
    throttle: LoginThrottle
    file_roots: tuple[Path, ...]                 # the only folders a file route may serve from
    allowed_origins: tuple[str, ...] = ()        # --cors-allow-origins
    max_body_bytes: int = 64 * 1024 * 1024


def file_route_target(path: str) -> str | None:
    """The file a Gradio file route would serve (`/gradio_api/file=...`, `/file=...`, `/gradio_api/file/...`)."""
    marker = path.find("/file=")
    if marker >= 0:
        return path[marker + len("/file="):]
    for prefix in ("/gradio_api/file/", "/file/"):
        if path.startswith(prefix):
            return path[len(prefix):]
    return None


def fully_unquoted(text: str, rounds: int = 5) -> str:
    for _ in range(rounds):
        decoded = unquote(text)
        if decoded == text:
            break
        text = decoded
    return text


def file_allowed(target: str, roots: tuple[Path, ...]) -> bool:
    """Only plain absolute paths inside one of `roots` after resolving symlinks: no `..`, no Windows separators or
    drive letters, no NTFS streams, no URLs."""
    decoded = fully_unquoted(target)
    if any(bad in decoded for bad in ("..", "\\", "\0", "::", "://")) or not decoded.startswith("/"):
        return False
    try:
        resolved = Path(decoded).resolve()
    except (OSError, ValueError):
        return False
    return any(resolved.is_relative_to(root) for root in roots)


def gradio_session_of(scope: Scope) -> str | None:
    """The Gradio session hash a request reads from: `queue/data?session_hash=`, `heartbeat/<hash>`,
    `stream/<hash>/...`."""
    path = scope["path"]
    if path.endswith("/queue/data"):
        values = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("session_hash")
        return values[0] if values else None
    for prefix in SESSION_PATHS:
        if path.startswith(prefix):
            return path[len(prefix):].split("/", 1)[0] or None
    return None


def same_origin(origin: str, host: str | None) -> bool:
    parts = urlsplit(origin)
    return bool(host) and parts.scheme in ("http", "https") and parts.netloc.lower() == (host or "").lower()


class SecurityGate:
    def __init__(self, app: ASGIApp, policy: GatePolicy) -> None:
        self.app = app
        self.policy = policy
        self._roots = tuple(root.resolve() for root in policy.file_roots)
        self._session_owners: dict[str, str] = {}  # Gradio session hash → the account that first used it

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        refusal = self._refusal(scope)
        if refusal is not None:
            await self._refuse(scope, receive, send, refusal)
            return
        zone = zone_of(scope["path"])
        if zone is Zone.LOGIN:
            await self._login_route(scope, receive, send)
            return
        outcome = await self._identify(scope, zone)
        if isinstance(outcome, Response):
            await self._refuse(scope, receive, send, outcome)
            return
        if not self._session_belongs_to(scope, outcome):
            await self._refuse(scope, receive, send, _json(403, "this Gradio session belongs to another user"))
            return
        scope.setdefault("state", {})[CALLER_KEY] = outcome
        if scope["type"] == "http" and _streams_body_without_length(scope):
            buffered = await self._buffered(receive)
            if buffered is None:
                await _json(413, self._too_large)(scope, receive, send)
                return
            receive = buffered
        await self.app(scope, receive, send)

    # -- checks that need no caller ---------------------------------------------------------------------------------

    def _refusal(self, scope: Scope) -> Response | None:
        headers = {key.decode("latin-1").lower(): value.decode("latin-1") for key, value in scope["headers"]}
        writes = scope["type"] == "websocket" or scope.get("method") not in SAFE_METHODS
        origin = headers.get("origin")
        if writes and origin is not None and origin not in self.policy.allowed_origins \
                and not same_origin(origin, headers.get("host")):
            return _json(403, f"cross-origin request from {origin} refused (see --cors-allow-origins)")
        length = headers.get("content-length", "0")
        if not length.isdigit() or int(length) > self.policy.max_body_bytes:
            return _json(413, self._too_large)
        target = file_route_target(scope["path"])
        raw_target = file_route_target(scope.get("raw_path", b"").decode("latin-1")) if target is not None else None
        if target is not None and not all(file_allowed(text, self._roots) for text in (target, raw_target or target)):
            return _json(403, "this file is not served")
        return None

    @property
    def _too_large(self) -> str:
        return f"request body larger than the {self.policy.max_body_bytes // 2**20} MiB allowed (--max-upload-mb)"

    async def _buffered(self, receive: Receive) -> Receive | None:
        """A chunked body (no Content-Length) is read up to the cap first, then replayed; None if it is too big."""
        messages, size = [], 0
        while True:
            message = await receive()
            messages.append(message)
            size += len(message.get("body", b""))
            if size > self.policy.max_body_bytes:
                return None
            if message["type"] != "http.request" or not message.get("more_body", False):
                break
        pending = iter(messages)

        async def replay():
            return next(pending, None) or await receive()
        return replay

    # -- who is calling ---------------------------------------------------------------------------------------------

    async def _identify(self, scope: Scope, zone: Zone) -> Caller | Response:
        accounts = self.policy.accounts
        required = accounts.api_login_required if zone is Zone.API else accounts.ui_login_required
        if not required:
            return LOCAL_USER
        if zone is Zone.PUBLIC:
            return ANONYMOUS
        request = HTTPConnection(scope)  # a WebSocket too (Request is for plain HTTP only)
        if zone is Zone.UI or not accounts.separate_api_accounts:
            name = self.policy.sessions.name_for(request.cookies.get(SESSION_COOKIE))
            caller = accounts.caller_named(name) if name else None
            if caller is not None:
                return caller
        basic = _basic_credentials(request.headers.get("authorization"))
        if basic is not None:  # scrypt takes ~50 ms when not remembered: on a pool thread, never on the event loop
            return await run_in_threadpool(self._check_password, request, zone, *basic)
        if zone is Zone.UI and scope["type"] == "http" and scope["method"] == "GET" \
                and "text/html" in request.headers.get("accept", ""):
            next_path = scope["path"] + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"/login?next={quote(next_path, safe='')}", status_code=303)
        return _json(401, "login required", {"WWW-Authenticate": 'Basic realm="Kestrel"'} if zone is Zone.API else {})

    def _check_password(self, request: HTTPConnection, zone: Zone, name: str, password: str) -> Caller | Response:
        address = request.client.host if request.client else "unknown"
        wait = self.policy.throttle.retry_after(address)
        if wait is not None:
            return _too_many(wait)
        accounts = self.policy.accounts
        caller = accounts.check_api(name, password) if zone is Zone.API else accounts.check_ui(name, password)
        if caller is None:
            self.policy.throttle.record_failure(address)
            return _json(401, "incorrect username or password", {"WWW-Authenticate": 'Basic realm="Kestrel"'})
        self.policy.throttle.record_success(address)
        return caller

    def _session_belongs_to(self, scope: Scope, caller: Caller) -> bool:
        """Gradio streams a page's results to whoever names its session hash; with logins on, a session hash is
        bound to the first account that uses it, so another user cannot read someone else's images or progress."""
        if caller.name is None:
            return True
        session = gradio_session_of(scope)
        if session is None:
            return True
        owner = self._session_owners.setdefault(session, caller.name)
        if len(self._session_owners) > MAX_TRACKED_SESSIONS:
            self._session_owners.pop(next(iter(self._session_owners)))
        return owner == caller.name

    # -- /login and /logout -----------------------------------------------------------------------------------------

    async def _login_route(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        if not self.policy.accounts.ui_login_required:
            response: Response = RedirectResponse("/", status_code=303)
        elif scope["path"] == "/logout":
            self.policy.sessions.close(request.cookies.get(SESSION_COOKIE))
            response = RedirectResponse("/login", status_code=303)
            response.delete_cookie(SESSION_COOKIE, path="/")
        elif scope["method"] == "POST":
            response = await self._login(request)
        else:
            response = HTMLResponse(login_page(safe_next(request.query_params.get("next"))))
        await response(scope, receive, send)

    async def _login(self, request: Request) -> Response:
        body = await _read_limited(request, MAX_LOGIN_FORM_BYTES)
        form = {key: values[0] for key, values in parse_qs(body.decode("utf-8", "replace")).items()}
        next_path = safe_next(form.get("next"))
        address = request.client.host if request.client else "unknown"
        wait = self.policy.throttle.retry_after(address)
        if wait is not None:
            return _too_many(wait, page=login_page(next_path, f"Too many failed logins; try again in "
                                                               f"{math.ceil(wait)} s."))
        caller = await run_in_threadpool(self.policy.accounts.check_ui, form.get("username", ""),
                                         form.get("password", ""))
        if caller is None or caller.name is None:
            self.policy.throttle.record_failure(address)
            return HTMLResponse(login_page(next_path, "Incorrect username or password."), status_code=401)
        self.policy.throttle.record_success(address)
        response = RedirectResponse(next_path, status_code=303)
        response.set_cookie(SESSION_COOKIE, self.policy.sessions.open(caller.name), httponly=True, samesite="lax",
                            secure=request.url.scheme == "https", path="/")
        return response

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, response: Response) -> None:
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        await response(scope, receive, send)


def _streams_body_without_length(scope: Scope) -> bool:
    names = {key.lower() for key, _ in scope["headers"]}
    return b"content-length" not in names and b"transfer-encoding" in names


def _basic_credentials(header: str | None) -> tuple[str, str] | None:
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        name, _, password = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return ("", "")
    return name, password


async def _read_limited(request: Request, limit: int) -> bytes:
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            break
    return body[:limit]


def _json(status: int, detail: str, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps({"detail": detail}), status_code=status, media_type="application/json",
                    headers=headers)


def _too_many(wait: float, page: bytes | None = None) -> Response:
    headers = {"Retry-After": str(max(1, math.ceil(wait)))}
    if page is not None:
        return HTMLResponse(page, status_code=429, headers=headers)
    return _json(429, f"too many failed logins; try again in {math.ceil(wait)} s", headers)
