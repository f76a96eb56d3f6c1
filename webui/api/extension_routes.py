"""Every HTTP route an extension adds, mounted in one place (the security gate covers them like any route).

Our API's routes live under `/ext/<name>/`; an A1111 extension's `on_app_started(demo, app)` callbacks receive a
FastAPI `APIRouter` standing in for the app (its `add_api_route`, `get`, `post`, ... work as there), so the paths
they choose are kept and the server's logins apply to them too. Also A1111's `GET /sdapi/v1/extensions` listing.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI

from webui.extensions.registry import Extensions

A1111_OPTS_PATH = "/kestrel/v1/a1111/opts"  # the page's `opts` for A1111 extension scripts (behind the login)


def mount_extension_routes(http: FastAPI, extensions: Extensions, page: Any = None) -> None:
    """Include the extensions' routes in `http` (call before the Gradio page is mounted at "/", which would
    otherwise answer first). `page` is the UI's Blocks for A1111's on_app_started (None with --nowebui)."""
    ours = APIRouter()
    for route in extensions.routes():
        ours.add_api_route(f"/ext/{route.extension}{route.path}", route.endpoint, methods=list(route.methods),
                           name=f"{route.extension}:{route.path}", tags=[f"extension {route.extension}"])
    ours.add_api_route(A1111_OPTS_PATH, lambda: a1111_opts(extensions), methods=["GET"], name="a1111:opts",
                       include_in_schema=False)
    http.include_router(ours)
    for name, shim in extensions.a1111_shims():
        theirs = APIRouter()
        try:
            shim.call_app_started(page, theirs)
        except Exception:
            extensions.record_failure(name, "on_app_started")
            continue
        http.include_router(theirs)


def a1111_opts(extensions: Extensions) -> dict[str, Any]:
    """Every setting's value, as A1111's page keeps them in `opts` for extension scripts ({} without any A1111
    extension loaded: nothing on the page reads it then)."""
    shims = extensions.a1111_shims()
    return shims[0][1].settings.values() if shims else {}


def sdapi_extension_list(extensions: Extensions) -> list[dict[str, Any]]:
    """A1111's fields (`version` is the manifest's for our extensions and the short commit for A1111 ones), then
    Kestrel's: `status` (loaded, failed, unsupported, needs install, disabled), `message`, `kind`, what an A1111
    extension asked for that Kestrel does not offer, its requirements, the Gradio 3 keywords adapted for it and
    the stages that failed, so a client can tell a working extension from one that is only listed."""
    shims = dict(extensions.a1111_shims())
    listed = []
    for record in extensions.records():
        git = record.git
        version = record.version or (git.commit_hash[:8] if git.commit_hash else None)
        shim = shims.get(record.name)
        listed.append({"name": record.name, "remote": git.remote, "branch": git.branch,
                       "commit_hash": git.commit_hash, "commit_date": git.commit_date, "version": version,
                       "enabled": record.enabled, "status": record.status.value, "message": record.message,
                       "kind": record.kind, "unsupported": list(record.asked_for),
                       "requirements": list(record.requirements),
                       "adapted": list(shim.adapter_notes) if shim is not None else [],
                       "failures": [failure.stage for failure in record.failures]})
    return listed
