"""A1111's `/sdapi/v1/options` and `/cmd-flags`.

GET lists every A1111 option key (the ones Kestrel honours and the catalogued rest, `config/a1111_options_catalog`)
with its value. POST checks the whole body before changing anything: an unknown key is 422 naming it (A1111 fails
on one too), a bad value 422 naming the key and what is allowed. Keys Kestrel knows but does not act on yet are
stored (an A1111 client reads back what it wrote) and listed in the answer's `warnings` when they ask for something
other than A1111's default; with nothing to say the answer is A1111's `null`.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException

from webui.api.callers import current_caller, job_owner, require_admin
from webui.app_context import App
from webui.errors import FieldError
from webui.model_manager.manager import CheckpointNotFoundError
from webui.security.accounts import Caller

SECRET_FLAGS = ("gradio_auth", "api_auth", "gradio_auth_path", "tls_keyfile")
HIDDEN = "(hidden)"
MODEL_KEYS = ("sd_model_checkpoint", "sd_vae")


def checked_options(app: App, body: dict[str, Any]) -> dict[str, Any]:
    """The settings to write (coerced), or a FieldError naming the first unknown key or bad value."""
    settings = app.settings
    for key in body:
        if not settings.knows(key):
            raise FieldError(key, "unknown option (GET /sdapi/v1/options lists every key)")
    checked = {}
    for key, value in body.items():
        if key in MODEL_KEYS:
            continue
        try:
            checked[key] = settings.spec(key).coerce(value) if value is not None else None
        except ValueError as error:
            raise FieldError(key, str(error).removeprefix(f"setting {key}: ")) from error
    return checked


def not_honoured(app: App, values: dict[str, Any]) -> list[str]:
    return [key for key, value in values.items()
            if not app.settings.spec(key).honoured and value != app.settings.spec(key).default]


def register_options_routes(router: APIRouter, app: App) -> None:
    @router.get("/options")
    def get_options() -> dict[str, Any]:
        return app.settings.values() | {"sd_vae": app.models.vae_choice}

    @router.post("/options")
    async def set_options(body: dict[str, Any], caller: Caller = Depends(current_caller)) -> dict[str, Any] | None:
        require_admin(caller, "POST /sdapi/v1/options")
        other = checked_options(app, body)
        if "sd_model_checkpoint" in body:
            try:
                await app.switch_checkpoint(str(body["sd_model_checkpoint"]), job_owner(caller))
            except CheckpointNotFoundError as error:
                raise HTTPException(404, str(error)) from error
        if "sd_vae" in body:
            try:
                await app.switch_vae(str(body["sd_vae"]), job_owner(caller))
            except LookupError as error:
                raise HTTPException(404, str(error)) from error
        if other:
            app.settings.update(other)
        ignored = not_honoured(app, other)
        if not ignored:
            return None
        return {"warnings": [f"stored, but Kestrel does not act on these options yet: {', '.join(ignored)}"]}

    @router.get("/cmd-flags")
    def cmd_flags() -> dict[str, Any]:
        """The flags as A1111 lists them, except credentials: any logged-in user may read this route."""
        return {key: HIDDEN if key in SECRET_FLAGS and value else str(value) if hasattr(value, "__fspath__") else value
                for key, value in vars(app.options).items()}
