"""Checking passwords under the login throttle, and the /login, /logout and /logout-everywhere routes.

Both ways to log in (the form, and HTTP Basic on any request) go through `LoginDesk.check`, so both are throttled
by account and by address alike (`webui/security/throttle.py`). The session cookie is HttpOnly, SameSite=Lax, and
Secure whenever the browser came over https (TLS here, or a trusted proxy that says so).
"""

from __future__ import annotations

import json
import math
from urllib.parse import parse_qs

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from webui.api.login_page import login_page, safe_next
from webui.security.accounts import AccountDirectory, Caller
from webui.security.sessions import SESSION_COOKIE, SessionStore
from webui.security.throttle import LoginThrottle

MAX_LOGIN_FORM_BYTES = 8 * 1024
LOGIN_PATHS = ("/login", "/logout", "/logout-everywhere")


class TooManyFailures(Exception):
    def __init__(self, wait: float) -> None:
        super().__init__(f"too many failed logins; try again in {math.ceil(wait)} s")
        self.wait = wait


def json_response(status: int, detail: str, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps({"detail": detail}), status_code=status, media_type="application/json",
                    headers=headers)


def too_many(wait: float, page: bytes | None = None) -> Response:
    headers = {"Retry-After": str(max(1, math.ceil(wait)))}
    if page is not None:
        return HTMLResponse(page, status_code=429, headers=headers)
    return json_response(429, f"too many failed logins; try again in {math.ceil(wait)} s", headers)


class LoginDesk:
    def __init__(self, accounts: AccountDirectory, sessions: SessionStore, throttle: LoginThrottle) -> None:
        self.accounts = accounts
        self.sessions = sessions
        self.throttle = throttle

    def check(self, address: str, name: str, password: str, api: bool) -> Caller | None:
        """The caller for these credentials, None if wrong; raises TooManyFailures (without checking the password)
        while the account or the address is refused. Runs scrypt: call it off the event loop."""
        wait = self.throttle.retry_after(address, name)
        if wait is not None:
            raise TooManyFailures(wait)
        caller = self.accounts.check_api(name, password) if api else self.accounts.check_ui(name, password)
        if caller is None or caller.name is None:
            self.throttle.record_failure(address, name)
            return None
        self.throttle.record_success(address, name)
        return caller

    async def serve(self, request: Request, address: str) -> Response:
        path = request.url.path
        if not self.accounts.ui_login_required:
            return RedirectResponse("/", status_code=303)
        if path == "/logout-everywhere":
            return self._logout_everywhere(request)
        if path == "/logout":
            self.sessions.close(request.cookies.get(SESSION_COOKIE))
            return self._logged_out()
        if request.method == "POST":
            return await self._login(request, address)
        return HTMLResponse(login_page(safe_next(request.query_params.get("next"))))

    def _logged_out(self) -> Response:
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    def _logout_everywhere(self, request: Request) -> Response:
        """POST only (a cross-site form cannot post here: the gate refuses foreign origins)."""
        if request.method != "POST":
            return json_response(405, "log out everywhere with POST /logout-everywhere", {"Allow": "POST"})
        name = self.sessions.name_for(request.cookies.get(SESSION_COOKIE))
        if name is not None:
            self.sessions.close_all(name)
        return self._logged_out()

    async def _login(self, request: Request, address: str) -> Response:
        body = await _read_limited(request, MAX_LOGIN_FORM_BYTES)
        form = {key: values[0] for key, values in parse_qs(body.decode("utf-8", "replace")).items()}
        next_path = safe_next(form.get("next"))
        try:
            caller = await run_in_threadpool(self.check, address, form.get("username", ""),
                                             form.get("password", ""), False)
        except TooManyFailures as refused:
            return too_many(refused.wait, page=login_page(next_path, f"Too many failed logins; try again in "
                                                                     f"{math.ceil(refused.wait)} s."))
        if caller is None or caller.name is None:
            return HTMLResponse(login_page(next_path, "Incorrect username or password."), status_code=401)
        response = RedirectResponse(next_path, status_code=303)
        response.set_cookie(SESSION_COOKIE, self.sessions.open(caller.name), httponly=True, samesite="lax",
                            secure=request.url.scheme == "https", path="/",
                            max_age=int(self.sessions.lifetime))
        return response


async def _read_limited(request: Request, limit: int) -> bytes:
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            break
    return body[:limit]
