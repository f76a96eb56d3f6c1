"""A1111's Extras API: `/extra-single-image`, `/extra-batch-images`, `/upscalers`, `/realesrgan-models`.

Request and response fields are A1111's (`modules/api/models.py`, ExtrasBaseRequest). As in A1111 the API does
not save the results (only the tab does) and returns each image as base64 PNG carrying its chunks. Face
restoration (GFPGAN, CodeFormer visibility and weight) runs after the upscale, as A1111's; its weights missing is a
422 naming the file. An unknown upscaler is a 422 listing the allowed names.
"""

from __future__ import annotations

import base64
import html
from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from webui.api.callers import current_caller, job_owner
from webui.app_context import App
from webui.engine.extras_request import ExtrasRequest
from webui.engine.upscale import UnknownUpscalerError
from webui.jobs.extras import ExtrasInput, ExtrasResult, ExtrasSpec
from webui.jobs.job import JobSnapshot
from webui.jobs.tasks import JobFailed, job_result
from webui.security.accounts import Caller

Decoder = Any  # str → PIL image, 422 on bad data (sdapi.decode_image)


class ExtrasBaseRequest(BaseModel):
    resize_mode: Literal[0, 1] = 0
    show_extras_results: bool = True
    gfpgan_visibility: float = Field(0, ge=0, le=1, allow_inf_nan=False)
    codeformer_visibility: float = Field(0, ge=0, le=1, allow_inf_nan=False)
    codeformer_weight: float = Field(0, ge=0, le=1, allow_inf_nan=False)
    upscaling_resize: float = Field(2, ge=1, le=8, allow_inf_nan=False)
    upscaling_resize_w: int = Field(512, ge=1)
    upscaling_resize_h: int = Field(512, ge=1)
    upscaling_crop: bool = True
    upscaler_1: str = "None"
    upscaler_2: str = "None"
    extras_upscaler_2_visibility: float = Field(0, ge=0, le=1, allow_inf_nan=False)
    upscale_first: bool = False  # accepted; A1111 v1.10 ignores it too (the steps' order decides)

    def extras_request(self) -> ExtrasRequest:
        try:
            return ExtrasRequest(resize_mode=self.resize_mode, upscaling_resize=self.upscaling_resize,
                                 upscaling_resize_w=self.upscaling_resize_w,
                                 upscaling_resize_h=self.upscaling_resize_h, upscaling_crop=self.upscaling_crop,
                                 upscaler_1=self.upscaler_1, upscaler_2=self.upscaler_2,
                                 upscaler_2_visibility=self.extras_upscaler_2_visibility,
                                 gfpgan_visibility=self.gfpgan_visibility,
                                 codeformer_visibility=self.codeformer_visibility,
                                 codeformer_weight=self.codeformer_weight)
        except ValueError as error:
            raise HTTPException(422, str(error)) from error


class ExtrasSingleImageRequest(ExtrasBaseRequest):
    image: str = ""


class FileData(BaseModel):
    data: str
    name: str


class ExtrasBatchImagesRequest(ExtrasBaseRequest):
    imageList: list[FileData]  # noqa: N815 (A1111's field name)


class ExtrasSingleImageResponse(BaseModel):
    html_info: str
    image: str | None = None


class ExtrasBatchImagesResponse(BaseModel):
    html_info: str
    images: list[str]


def plaintext_html(text: str) -> str:
    return "<p>" + "<br>\n".join(html.escape(line) for line in text.split("\n")) + "</p>"


async def _run(app: App, request: ExtrasRequest, inputs: list[ExtrasInput], owner: str) -> ExtrasResult:
    """Queue an Extras job in the shared queue (fair turns, ownership, limits) and await it holding no thread."""
    try:
        app.upscalers.require(request.upscaler_1, "upscaler_1")  # the client's field names in the message
        if request.blends_second:
            app.upscalers.require(request.upscaler_2, "upscaler_2")
        job = app.submit_extras(ExtrasSpec(request, tuple(inputs), save=False), owner)
    except UnknownUpscalerError as error:
        raise HTTPException(422, str(error)) from error
    try:
        result: ExtrasResult = await job_result(job)
    except JobFailed as error:  # e.g. an upscaler file that cannot be used: 422 naming it
        raise HTTPException(422, f"extras failed: {job.snapshot().error}") from error
    if result.interrupted and not result.outputs:
        raise HTTPException(409, "extras interrupted before any image was finished")
    return result


def _upscaler_entries(app: App) -> list[dict[str, Any]]:
    """A1111's shape; model_name is the upscaler family (the folder). A model's scale is what spandrel reads from
    its weights (loaded once per file version to find out); a file that cannot be read gets scale None and the
    reason in model_url's place, rather than failing the whole list."""
    registry = app.upscalers
    entries: list[dict[str, Any]] = [{"name": name, "model_name": None, "model_path": None, "model_url": None,
                                      "scale": 1 if name == "None" else 4} for name in ("None", "Lanczos", "Nearest")]
    library = registry.library
    if library is None:
        return entries
    for record in library.refresh():
        scale: int | None = None
        problem: str | None = None
        try:
            scale = library.details(record).scale
        except (ValueError, OSError) as error:  # refused or unreadable files stay listed, with the reason
            problem = f"unusable: {error}"
        entries.append({"name": record.name, "model_name": record.folder, "model_path": str(record.path),
                        "model_url": problem, "scale": scale})
    return entries


def register_extras_routes(router: APIRouter, app: App, decode: Decoder) -> None:
    @router.get("/upscalers")
    def upscalers() -> list[dict[str, Any]]:
        return _upscaler_entries(app)

    @router.get("/realesrgan-models")
    def realesrgan_models() -> list[dict[str, Any]]:
        return [{"name": entry["name"], "path": entry["model_path"], "scale": entry["scale"]}
                for entry in _upscaler_entries(app) if entry["model_name"] == "RealESRGAN"]

    @router.post("/extra-single-image", response_model=ExtrasSingleImageResponse)
    async def extra_single_image(body: ExtrasSingleImageRequest,
                           caller: Caller = Depends(current_caller)) -> ExtrasSingleImageResponse:
        request = body.extras_request()
        if not body.image:
            raise HTTPException(422, "image: an image (base64 or a data URL) is required")
        image = await run_in_threadpool(decode, body.image)
        run = await _run(app, request, [ExtrasInput(image)], job_owner(caller))
        output = run.outputs[0]
        return ExtrasSingleImageResponse(html_info=plaintext_html(output.infotext),
                                         image=base64.b64encode(output.png).decode("ascii"))

    @router.post("/extra-batch-images", response_model=ExtrasBatchImagesResponse)
    async def extra_batch_images(body: ExtrasBatchImagesRequest,
                           caller: Caller = Depends(current_caller)) -> ExtrasBatchImagesResponse:
        request = body.extras_request()
        if not body.imageList:
            raise HTTPException(422, "imageList: at least one image is required")
        images = await run_in_threadpool(lambda: [decode(item.data, f"imageList[{index}].data")
                                                   for index, item in enumerate(body.imageList)])
        inputs = [ExtrasInput(image, item.name) for image, item in zip(images, body.imageList, strict=True)]
        run = await _run(app, request, inputs, job_owner(caller))
        infotext = run.outputs[-1].infotext if run.outputs else ""
        return ExtrasBatchImagesResponse(html_info=plaintext_html(infotext),
                                         images=[base64.b64encode(output.png).decode("ascii")
                                                 for output in run.outputs])


def extras_progress(app: App, running: JobSnapshot) -> dict[str, Any]:
    """/progress while the caller's Extras job runs (anyone's, for an admin): A1111's shape, job "extras"."""
    progress = running.progress
    state = {"skipped": False, "interrupted": running.cancel_requested, "stopping_generation": False,
             "job": "extras", "job_count": 1 + app.jobs.queued_count(), "job_timestamp": "0",
             "job_no": progress.batch_index, "sampling_step": progress.step, "sampling_steps": progress.total_steps}
    count = progress.batch_count
    return {"progress": progress.fraction, "eta_relative": 0.0, "state": state, "current_image": None,
            "textinfo": f"image {min(progress.batch_index + 1, count)} of {count}"}
