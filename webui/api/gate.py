"""The security gate in front of every route: the page, Gradio's queue and file routes, `/sdapi`, extension routes.

It is one ASGI middleware rather than per-route dependencies because Gradio's own routes have leaked files before
(CVE-2023-51449, CVE-2024-1561): whatever route a library adds later, it is still behind this gate. In order, it
- works out the client's address (`X-Forwarded-For` only from `--trusted-proxies`),
- refuses cross-site writes and WebSockets (a page on another site must not drive a local UI, CVE-2024-11045),
- caps request bodies,
- serves /login, /logout and /logout-everywhere (`login_routes.py`),
- works out the caller (session cookie or HTTP Basic) and refuses anonymous callers when logins are on (429 while
  the account or the address has failed too often),
- lets file routes serve only from Gradio's cache, after decoding the path as often as it is encoded, and each
  cached file only to the accounts it was shown to, or admins (`file_guard.py`),
- adds HSTS when the server speaks TLS.
The caller is left in the ASGI scope for the routes (`webui/security/request_caller.py`).
"""

from __future__ import annotations

import base64
import binascii
import enum
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection, Request
from starlette.responses import RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from webui.api.file_guard import FileGrants, file_allowed, file_route_target, may_serve, resolved_target
from webui.api.login_routes import LOGIN_PATHS, LoginDesk, TooManyFailures, json_response, too_many
from webui.security.accounts import ANONYMOUS, LOCAL_USER, AccountDirectory, Caller
from webui.security.client_address import TrustedProxies
from webui.security.request_caller import CALLER_KEY
from webui.security.sessions import SESSION_COOKIE, SessionStore
from webui.security.throttle import LoginThrottle

__all__ = ["GatePolicy", "SecurityGate", "Zone", "file_allowed", "zone_of"]

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
MAX_TRACKED_SESSIONS = 100_000
SESSION_PATHS = ("/gradio_api/heartbeat/", "/gradio_api/stream/")
SESSION_QUERY_PATHS = ("/queue/data", "/gradio_api/deep_link")  # they name the Gradio session in the query
HSTS = (b"strict-transport-security", b"max-age=31536000")


class Zone(enum.Enum):
    LOGIN = "login"
    PUBLIC = "public"
    API = "api"
    UI = "ui"


def zone_of(path: str) -> Zone:
    if path in LOGIN_PATHS:
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
    proxies: TrustedProxies = TrustedProxies()  # --trusted-proxies: whose X-Forwarded-For is believed
    hsts: bool = False                           # the server speaks TLS: browsers should never use plain http


def gradio_session_of(scope: Scope) -> str | None:
    """The Gradio session hash a request reads from: `queue/data?session_hash=`, `heartbeat/<hash>`,
    `stream/<hash>/...`."""
    path = scope["path"]
    if path.endswith(SESSION_QUERY_PATHS):
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
        self.grants = FileGrants(policy.file_roots)
        self.desk = LoginDesk(policy.accounts, policy.sessions, policy.throttle)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        self._find_client(scope)
        if self.policy.hsts:
            send = _with_hsts(send)
        refusal = self._refusal(scope)
        if refusal is not None:
            await self._refuse(scope, receive, send, refusal)
            return
        zone = zone_of(scope["path"])
        if zone is Zone.LOGIN:
            response = await self.desk.serve(Request(scope, receive), _address(scope))
            await response(scope, receive, send)
            return
        outcome = await self._identify(scope, zone)
        if isinstance(outcome, Response):
            await self._refuse(scope, receive, send, outcome)
            return
        refusal = self._refusal_for(scope, outcome)
        if refusal is not None:
            await self._refuse(scope, receive, send, refusal)
            return
        scope.setdefault("state", {})[CALLER_KEY] = outcome
        if scope["type"] == "http" and _streams_body_without_length(scope):
            buffered = await self._buffered(receive)
            if buffered is None:
                await json_response(413, self._too_large)(scope, receive, send)
                return
            receive = buffered
        if outcome.name is not None and scope["type"] == "http":
            send = self.grants.watching(send, outcome.name)
        await self.app(scope, receive, send)

    def _find_client(self, scope: Scope) -> None:
        """Behind a trusted proxy, the client (and its scheme) are the ones the proxy names; everyone downstream,
        Gradio included, reads the rewritten scope."""
        client = scope.get("client")
        if not client or not self.policy.proxies.networks:
            return
        headers = {key.lower(): value.decode("latin-1") for key, value in scope["headers"]}
        peer = client[0]
        scope["client"] = (self.policy.proxies.client_of(peer, headers.get(b"x-forwarded-for")), client[1])
        scope["scheme"] = self.policy.proxies.scheme_of(peer, scope.get("scheme", "http"),
                                                        headers.get(b"x-forwarded-proto"))

    # -- checks that need no caller ---------------------------------------------------------------------------------

    def _refusal(self, scope: Scope) -> Response | None:
        headers = {key.decode("latin-1").lower(): value.decode("latin-1") for key, value in scope["headers"]}
        writes = scope["type"] == "websocket" or scope.get("method") not in SAFE_METHODS
        origin = headers.get("origin")
        if writes and origin is not None and origin not in self.policy.allowed_origins \
                and not same_origin(origin, headers.get("host")):
            return json_response(403, f"cross-origin request from {origin} refused (see --cors-allow-origins)")
        length = headers.get("content-length", "0")
        if not length.isdigit() or int(length) > self.policy.max_body_bytes:
            return json_response(413, self._too_large)
        if not may_serve(scope, self._roots):
            return json_response(403, "this file is not served")
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
            return await run_in_threadpool(self._check_password, scope, zone, *basic)
        if zone is Zone.UI and scope["type"] == "http" and scope["method"] == "GET" \
                and "text/html" in request.headers.get("accept", ""):
            next_path = scope["path"] + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"/login?next={quote(next_path, safe='')}", status_code=303)
        return json_response(401, "login required",
                             {"WWW-Authenticate": 'Basic realm="Kestrel"'} if zone is Zone.API else {})

    def _check_password(self, scope: Scope, zone: Zone, name: str, password: str) -> Caller | Response:
        try:
            caller = self.desk.check(_address(scope), name, password, api=zone is Zone.API)
        except TooManyFailures as refused:
            return too_many(refused.wait)
        if caller is None:
            return json_response(401, "incorrect username or password", {"WWW-Authenticate": 'Basic realm="Kestrel"'})
        return caller

    # -- checks that need the caller --------------------------------------------------------------------------------

    def _refusal_for(self, scope: Scope, caller: Caller) -> Response | None:
        if not self._session_belongs_to(scope, caller):
            return json_response(403, "this Gradio session belongs to another user")
        target = file_route_target(scope["path"])
        if target is not None and self.policy.accounts.ui_login_required:
            resolved = resolved_target(target)
            if resolved is None or not self.grants.may_read(resolved, caller):
                return json_response(403, f"this file was not shown to {caller.name!r}: images are served only "
                                          f"to the account that made or uploaded them, and to admins")
        return None

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

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, response: Response) -> None:
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        await response(scope, receive, send)


def _address(scope: Scope) -> str:
    client = scope.get("client")
    return client[0] if client else "unknown"


def _with_hsts(send: Send) -> Send:
    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), HSTS]}
        await send(message)
    return sending


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
