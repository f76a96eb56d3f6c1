"""Who is calling an API route, as the security gate admitted them, and what that caller may do."""

from __future__ import annotations

from fastapi import HTTPException, Request

from webui.security.accounts import Caller
from webui.security.request_caller import caller_of_scope

LOCAL_API_OWNER = "local-api"  # the owner of API jobs on an instance without logins


async def current_caller(request: Request) -> Caller:
    """FastAPI dependency: the caller of this request (async: it only reads the scope, so it borrows no pool
    thread, and a waiting route holds none)."""
    return caller_of_scope(request.scope)


def job_owner(caller: Caller) -> str:
    """Jobs belong to the account; without logins, API jobs share one local owner."""
    return caller.name if caller.name is not None else LOCAL_API_OWNER


def require_admin(caller: Caller, action: str) -> None:
    if not caller.is_admin:
        raise HTTPException(403, f"{action} changes the server for everyone and needs an admin account; "
                                 f"{caller.name!r} is not one")


def may_control(caller: Caller, owner: str) -> bool:
    """Only a job's owner or an admin may interrupt, skip or cancel it."""
    return caller.is_admin or job_owner(caller) == owner
