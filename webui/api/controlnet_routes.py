"""sd-webui-controlnet's own routes, at the same paths (`/controlnet/...`) and with the same shapes, so scripts
and clients written for it (webuiapi's ControlNet helpers, Krita/Photoshop plugins) find them."""

from __future__ import annotations

import base64
import io
from typing import Any

import numpy as np
from fastapi import APIRouter, Body, Depends
from PIL import Image
from starlette.concurrency import run_in_threadpool

from webui.api.callers import current_caller
from webui.api.sdapi import decode_image
from webui.app_context import App
from webui.engine.controlnet.service import ControlNetService
from webui.engine.controlnet.unit import unit_count
from webui.errors import FieldError, KestrelError

API_VERSION = 2           # what the extension's /controlnet/version answers


def _png_base64(pixels: np.ndarray) -> str:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _service(app: App) -> ControlNetService:
    service = app.engine.controlnet
    if service is None:
        raise FieldError("controlnet", "ControlNet is not available on this instance")
    return service


def _detect(service: ControlNetService, module: str, images: tuple[str, list[str]], masks: list[str],
            resolution: int, threshold_a: float, threshold_b: float) -> dict[str, Any]:
    """`images` is (the body field they came in, the base64 images), so a bad one is named as the caller sent it."""
    field, images_data = images
    try:
        spec = service.preprocessors.get(module)
    except KestrelError as error:
        raise FieldError("controlnet_module", str(error)) from error
    if not images_data:
        raise FieldError("controlnet_input_images", "no image selected (send at least one base64 image)")
    if spec.uses_mask and len(masks) != len(images_data):
        raise FieldError("controlnet_masks", f"preprocessor {module} needs one mask per image")
    results = []
    for index, data in enumerate(images_data):
        pixels = np.asarray(decode_image(data, f"{field}[{index}]").convert("RGB"))
        mask = None
        if index < len(masks):
            mask = np.asarray(decode_image(masks[index], f"controlnet_masks[{index}]").convert("L"))
        results.append(_png_base64(service.detect(spec.name, pixels, resolution, threshold_a, threshold_b,
                                                  mask=mask)))
    return {"info": "Success", "images": results}


def create_controlnet_router(app: App) -> APIRouter:
    router = APIRouter(prefix="/controlnet", tags=["controlnet"], dependencies=[Depends(current_caller)])

    @router.get("/version")
    def version() -> dict[str, int]:
        return {"version": API_VERSION}

    @router.get("/model_list")
    def model_list(update: bool = True) -> dict[str, list[str]]:
        models = _service(app).models
        if update:
            models.refresh()
        return {"model_list": models.titles()}

    @router.get("/module_list")
    def module_list(alias_names: bool = False) -> dict[str, Any]:
        registry = _service(app).preprocessors
        return {"module_list": registry.module_list(alias_names),
                "module_detail": registry.module_detail(alias_names)}

    @router.get("/control_types")
    def control_types() -> dict[str, Any]:
        service = _service(app)
        return service.preprocessors.control_types(service.models.titles())

    @router.get("/settings")
    def settings() -> dict[str, int]:
        return {"control_net_unit_count": unit_count(app.settings.get)}

    @router.post("/detect")
    async def detect(controlnet_module: str = Body("none"), controlnet_input_images: list[str] = Body([]),
                     controlnet_processor_res: int = Body(-1), controlnet_threshold_a: float = Body(-1),
                     controlnet_threshold_b: float = Body(-1), controlnet_masks: list[str] = Body([]),
                     low_vram: bool = Body(False), controlnet_images: list[str] = Body([])) -> dict[str, Any]:
        """The detected maps as base64 PNGs (decoding and detection run on a pool thread). `controlnet_images` is
        the name webuiapi 0.9.x's controlnet_detect sends; the extension's own name wins when both are given."""
        images = (("controlnet_input_images", controlnet_input_images) if controlnet_input_images or
                  not controlnet_images else ("controlnet_images", controlnet_images))
        return await run_in_threadpool(_detect, _service(app), controlnet_module, images,
                                       controlnet_masks, controlnet_processor_res, controlnet_threshold_a,
                                       controlnet_threshold_b)

    return router
