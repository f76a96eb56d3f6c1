"""Who is using the page: the logged-in account (Gradio learns it from the security gate through
`auth_dependency`), or, on an instance without logins, the browser session."""

from __future__ import annotations

import gradio as gr

from webui.app_context import App
from webui.security.accounts import LOCAL_USER, Caller


def ui_caller(app: App, request: gr.Request) -> Caller:
    if not app.accounts.ui_login_required:
        return LOCAL_USER
    caller = app.accounts.caller_named(request.username or "")
    if caller is None:  # the gate admits no anonymous UI request when logins are on; refuse rather than guess
        raise gr.Error("You are not logged in (or your account was removed); reload the page to log in.")
    return caller


def ui_owner(app: App, request: gr.Request) -> str:
    """Jobs belong to the account, or to this browser session when there are no logins."""
    caller = ui_caller(app, request)
    return caller.name if caller.name is not None else (request.session_hash or "anonymous")


def require_admin(app: App, request: gr.Request, action: str) -> None:
    caller = ui_caller(app, request)
    if not caller.is_admin:
        raise gr.Error(f"{action} changes the server for everyone and needs an admin account.")
