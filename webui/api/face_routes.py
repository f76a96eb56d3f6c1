"""`GET /sdapi/v1/face-restorers` and `POST /sdapi/v1/interrogate`, in A1111's shapes.

`/face-restorers` lists the restorers whose weights are installed, as A1111's `[{"name", "cmd_dir"}]` (cmd_dir:
the folder the weights were found in). `/interrogate` takes `{image, model}` and answers `{caption}`; A1111's
404s for a missing image or an unknown model, and 422 naming the files when the model is not installed; the work
itself is a queued job (JobKind.INTERROGATE) on the device thread.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from webui.api.callers import current_caller, job_owner
from webui.app_context import App
from webui.engine.interrogate import CLIP
from webui.engine.interrogators import InterrogateSpec
from webui.jobs.tasks import job_result
from webui.security.accounts import Caller

Decoder = Any  # str, field → PIL image, 422 on bad data (sdapi.decode_image)


class InterrogateRequest(BaseModel):
    image: str = ""
    model: str = CLIP


class InterrogateResponse(BaseModel):
    caption: str | None = None


def face_restorer_entries(app: App) -> list[dict[str, str | None]]:
    faces = app.faces
    if faces is None:
        return []
    return [{"name": name, "cmd_dir": str(faces.folders.restorer_folder(name))} for name in faces.installed()]


def register_face_routes(router: APIRouter, app: App, decode: Decoder) -> None:
    @router.get("/face-restorers")
    def face_restorers() -> list[dict[str, str | None]]:
        return face_restorer_entries(app)

    @router.post("/interrogate", response_model=InterrogateResponse)
    async def interrogate(body: InterrogateRequest, caller: Caller = Depends(current_caller)) -> InterrogateResponse:
        """A1111's 404s for no image or an unknown model; 422 naming missing files; else the caption, made in
        the queue's turn (a job of the caller's, as A1111 takes its queue lock)."""
        if not body.image:
            raise HTTPException(404, "Image not found")  # A1111's answer
        image = await run_in_threadpool(decode, body.image)
        job = app.submit_interrogate(InterrogateSpec(image, body.model), job_owner(caller))
        return InterrogateResponse(caption=str(await job_result(job)))
