"""`/kestrel/v1/users` (admins) and `/kestrel/v1/me` (everyone): the Users section's service over HTTP.

Scripts and tests manage accounts here the same way the page's Users section does; both call `UserAdmin`
(webui/security/user_admin.py), which writes auth.json and ends the sessions a change invalidates.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from pydantic import BaseModel, Field

from webui.api.callers import current_caller, require_admin
from webui.app_context import App
from webui.security.accounts import Caller
from webui.security.quotas import Quota, quota_from_json
from webui.security.sessions import SESSION_COOKIE
from webui.security.user_admin import UserAdmin, UserError


class NewUser(BaseModel):
    name: str = Field(description="1-64 letters, digits, '_', '.', '@' or '-'")
    password: str = Field(description="at least 8 characters")
    admin: bool = False
    quota: dict[str, int] | None = Field(None, description='e.g. {"steps": 30, "jobs_per_hour": 20}')


class UserChange(BaseModel):
    admin: bool | None = None
    disabled: bool | None = None
    quota: dict[str, int] | None = Field(None, description="{} clears the account's own quota")


class NewPassword(BaseModel):
    password: str


class OwnPasswordChange(BaseModel):
    current: str
    new: str


def _quota(data: dict[str, int] | None) -> Quota | None:
    try:
        return quota_from_json(data, "quota")
    except ValueError as error:
        raise UserError(str(error)) from error


def create_user_router(app: App) -> APIRouter:
    router = APIRouter(prefix="/kestrel/v1", tags=["users"])

    def service(caller: Caller, action: str | None) -> UserAdmin:
        if app.users is None or not app.accounts.ui_login_required:
            raise HTTPException(404, "this instance has no logins, so no accounts to manage "
                                     "(start it with --gradio-auth or --listen)")
        if action is not None:
            require_admin(caller, action)
        return app.users

    @router.get("/users")
    def list_users(caller: Caller = Depends(current_caller)) -> list[dict[str, Any]]:
        return [vars(view) for view in service(caller, "listing users").views()]

    @router.post("/users", status_code=201)
    def add_user(body: NewUser, caller: Caller = Depends(current_caller)) -> dict[str, str]:
        service(caller, "adding a user").add(body.name, body.password, body.admin, _quota(body.quota))
        return {"added": body.name}

    @router.patch("/users/{name}")
    def change_user(name: str, body: UserChange, caller: Caller = Depends(current_caller)) -> dict[str, str]:
        service(caller, "changing a user").update(name, body.admin, body.disabled, _quota(body.quota))
        return {"changed": name}

    @router.post("/users/{name}/password")
    def reset_password(name: str, body: NewPassword, caller: Caller = Depends(current_caller)) -> dict[str, str]:
        service(caller, "resetting a password").reset_password(name, body.password)
        return {"reset": name}

    @router.delete("/users/{name}")
    def remove_user(name: str, caller: Caller = Depends(current_caller)) -> dict[str, str]:
        service(caller, "removing a user").remove(name)
        return {"removed": name}

    @router.get("/me")
    def me(caller: Caller = Depends(current_caller)) -> dict[str, Any]:
        quota = app.users.quota_for(caller.name) if app.users is not None and caller.name else None
        return {"name": caller.name, "admin": caller.is_admin, "quota": quota.as_json() if quota else {}}

    @router.post("/me/password")
    def change_own_password(body: OwnPasswordChange, request: Request, response: Response,
                            caller: Caller = Depends(current_caller)) -> dict[str, Any]:
        """Every session of the account ends; this browser gets a new one."""
        if caller.name is None:
            raise HTTPException(404, "log in first: only an account has a password to change")
        service(caller, None).change_own_password(caller.name, body.current, body.new)
        response.set_cookie(SESSION_COOKIE, app.sessions.open(caller.name), httponly=True, samesite="lax",
                            secure=request.url.scheme == "https", path="/", max_age=int(app.sessions.lifetime))
        return {"changed": caller.name}

    return router
