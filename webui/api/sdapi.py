"""A1111's `/sdapi/v1` routes. Generation goes through the same job queue as the UI.

Errors follow the issue's contract: 422 naming the field and what is allowed, 404 for an unknown checkpoint,
sampler or VAE, never a 500 for bad input. Lists of things we do not have yet (upscalers, LoRAs, scripts, ...)
answer with what we really have: nothing.
"""

from __future__ import annotations

import base64
import binascii
import io
import time
from typing import Any

from fastapi import APIRouter, Depends, HTTPException
from PIL import Image, UnidentifiedImageError
from starlette.concurrency import run_in_threadpool

from webui.api.alwayson import builtin_alwayson_scripts
from webui.api.callers import current_caller, job_owner, may_control, require_admin
from webui.api.extension_routes import sdapi_extension_list
from webui.api.extras import extras_progress, register_extras_routes
from webui.api.face_routes import register_face_routes
from webui.api.generation import generation_request, info_json
from webui.api.models import (
    GenerationFields,
    ImageResponse,
    Img2ImgRequest,
    PngInfoRequest,
    PngInfoResponse,
    Txt2ImgRequest,
)
from webui.api.options_routes import register_options_routes
from webui.api.script_runs import builtin_api_scripts
from webui.api.scripts import ScriptRun, register_script_routes
from webui.app_context import App
from webui.engine.controlnet.options import NO_DETECTMAP
from webui.engine.request import LATENT_UPSCALE_MODES, GenerationRequest
from webui.errors import FieldError
from webui.infotext.parse import parse_infotext
from webui.infotext.png import image_text_items
from webui.jobs.generation import GenerationOutput
from webui.jobs.job import Job, JobKind, JobSnapshot
from webui.jobs.tasks import ModelSwitch, job_result
from webui.security.accounts import Caller

EMPTY_LIST_ROUTES: tuple[str, ...] = ()  # every A1111 list route has its own handler now
HYPERNETWORK_SUFFIXES = (".pt", ".ckpt", ".safetensors")


def decode_image(data: str, field: str = "image") -> Image.Image:
    """base64 or a data: URL → image; a 422 naming the caller's field (`init_images[0]`, `mask`) otherwise."""
    payload = data.split(",", 1)[1] if data.startswith("data:") else data
    try:
        image = Image.open(io.BytesIO(base64.b64decode(payload, validate=True)))
        image.load()
    except Image.DecompressionBombError as error:
        raise FieldError(field, f"too many pixels ({error})") from error
    except (binascii.Error, ValueError) as error:
        raise FieldError(field, f"not valid base64 ({error})") from error
    except UnidentifiedImageError as error:  # PIL's own text names its BytesIO object, nothing the caller sent
        raise FieldError(field, "not an image PIL can read (the data is no PNG, JPEG, WebP, GIF, BMP or TIFF)") \
            from error
    except OSError as error:  # a known format, cut short or damaged: PIL says how
        raise FieldError(field, f"not an image PIL can read ({error})") from error
    return image


def _list_routes(router: APIRouter, app: App) -> None:
    @router.get("/samplers")
    def samplers() -> list[dict[str, Any]]:
        # A1111's SamplerItem types options as dict[str, str]: its booleans come out as "True"
        return [{"name": spec.name, "aliases": list(spec.aliases),
                 "options": {key: str(value) for key, value in spec.options.items()}}
                for spec in app.samplers.samplers]

    @router.get("/schedulers")
    def schedulers() -> list[dict[str, Any]]:
        return [{"name": schedule.name, "label": schedule.label,
                 "aliases": list(schedule.aliases) if schedule.aliases else None,
                 "default_rho": schedule.default_rho, "need_inner_model": schedule.need_inner_model}
                for schedule in app.samplers.schedule_types]

    @router.get("/sd-models")
    def sd_models() -> list[dict[str, Any]]:
        return [{"title": record.title, "model_name": record.model_name, "hash": record.short_hash,
                 "sha256": record.sha256, "filename": str(record.path), "config": None}
                for record in app.models.checkpoints()]

    @router.get("/sd-vae")
    def sd_vae() -> list[dict[str, Any]]:
        return [{"model_name": record.model_name, "filename": str(record.path)} for record in app.models.vaes()]

    _network_routes(router, app)

    @router.get("/prompt-styles")
    def prompt_styles() -> list[dict[str, str]]:
        return [{"name": style.name, "prompt": style.prompt, "negative_prompt": style.negative_prompt}
                for style in app.styles.styles()]

    @router.get("/latent-upscale-modes")
    def latent_upscale_modes() -> list[dict[str, str]]:
        return [{"name": name} for name in LATENT_UPSCALE_MODES]

    router.add_api_route("/extensions", lambda: sdapi_extension_list(app.extensions), methods=["GET"],
                         name="extensions")
    for name in EMPTY_LIST_ROUTES:
        router.add_api_route(f"/{name}", lambda: [], methods=["GET"], name=name)


def _network_routes(router: APIRouter, app: App) -> None:
    @router.get("/embeddings")
    def embeddings() -> dict[str, Any]:
        """A1111's shape: loaded = usable with the current model, skipped = the others (name → details)."""
        networks = app.networks
        loaded = app.loaded_model
        if networks is None or loaded is None:
            return {"loaded": {}, "skipped": {}}
        catalogue = networks.embeddings.catalogue(loaded.text_encoder_width)  # file metadata, never the device
        return {"loaded": {name: {"step": None, "sd_checkpoint": None, "sd_checkpoint_name": None,
                                  "shape": shape.width, "vectors": shape.vectors}
                           for name, shape in catalogue.loaded.items()},
                "skipped": {name: {"reason": reason} for name, reason in catalogue.skipped.items()}}

    @router.get("/hypernetworks")
    def hypernetworks() -> list[dict[str, str]]:
        """A1111's list (name = file stem, path) of models/hypernetworks; Kestrel cannot apply them yet, and a
        `<hypernet:…>` tag says so in the job's warnings."""
        folder = app.paths.models / "hypernetworks"
        files = sorted(path for path in folder.rglob("*") if path.suffix.lower() in HYPERNETWORK_SUFFIXES) \
            if folder.is_dir() else []
        return [{"name": path.stem, "path": str(path)} for path in files]

    @router.get("/loras")
    def loras() -> list[dict[str, Any]]:
        networks = app.networks
        records = networks.loras.records if networks else []
        return [{"name": record.name, "alias": record.alias or record.name, "path": str(record.path),
                 "metadata": dict(record.metadata)} for record in records]


def _refresh_routes(router: APIRouter, app: App) -> None:
    @router.post("/refresh-checkpoints")
    def refresh_checkpoints() -> None:
        app.models.refresh()

    @router.post("/refresh-vae")
    def refresh_vae() -> None:
        app.models.refresh()

    @router.post("/refresh-embeddings")
    def refresh_embeddings() -> None:
        app.refresh_networks(loras=False)

    @router.post("/refresh-loras")
    def refresh_loras() -> None:
        app.refresh_networks(embeddings=False)

    @router.post("/unload-checkpoint")
    async def unload_checkpoint(caller: Caller = Depends(current_caller)) -> dict:
        """Frees the memory; the next job (or reload-checkpoint) loads the instance's checkpoint again."""
        require_admin(caller, "POST /sdapi/v1/unload-checkpoint")
        await job_result(app.submit_model_switch(ModelSwitch(unload=True, remember=False), job_owner(caller)))
        return {}

    @router.post("/reload-checkpoint")
    async def reload_checkpoint(caller: Caller = Depends(current_caller)) -> dict:
        require_admin(caller, "POST /sdapi/v1/reload-checkpoint")
        remembered = app.instance_model().checkpoint
        if app.loaded_model is None and remembered:
            await app.switch_checkpoint(remembered, job_owner(caller))
        return {}


def _options_routes(router: APIRouter, app: App) -> None:
    register_options_routes(router, app)

    @router.get("/memory")
    def memory() -> dict[str, Any]:
        total = _meminfo("MemTotal")
        free = _meminfo("MemAvailable")
        body: dict[str, Any] = {"ram": {"free": free, "used": total - free, "total": total},
                                "cuda": {"error": "no CUDA device"} if app.plan.device != "cuda" else {}}
        if app.workers is not None:  # --workers / --ray-address: each device worker's own memory
            body["workers"] = app.workers.memory()
        return body


def _meminfo(field: str) -> int:
    with open("/proc/meminfo", encoding="ascii") as stream:
        for line in stream:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return 0


def _job_routes(router: APIRouter, app: App) -> None:
    scripts = builtin_alwayson_scripts(app.extensions.alwayson_script_names)
    selectable = builtin_api_scripts(app.upscalers.names())
    register_script_routes(router, selectable, scripts)

    async def run(body: GenerationFields, request: GenerationRequest, warnings: list[str],
                  caller: Caller) -> ImageResponse:
        """Admit and queue the job (on a pool thread: it encodes and stores the payload), then await it holding no
        thread; a client that goes away does not cancel it (it stays in its history). A `script_name` runs the
        script instead, which queues its own jobs the same way."""
        owner = job_owner(caller)

        async def generate(one: GenerationRequest) -> GenerationOutput:
            job: Job = await app.jobs.off_loop(app.submit_generation, one, owner)
            return await job_result(job)

        if body.script_name:
            script = selectable.find(body.script_name, isinstance(body, Img2ImgRequest))
            output = await script.runner(ScriptRun(app, request, owner, list(body.script_args),
                                                   isinstance(body, Img2ImgRequest), warnings, generate))
        else:
            output = await generate(request)
        if body.override_settings and not body.override_settings_restore_afterwards:
            if caller.is_admin:
                await _keep_overrides(app, output.request or request, owner)
            else:
                warnings.append("override_settings_restore_afterwards=false was ignored: changing the settings for "
                                "everyone needs an admin account")
        images = [base64.b64encode(png).decode("ascii") for png in _response_pngs(app, output)] \
            if body.send_images else []
        parameters = body.model_dump(exclude={"init_images", "mask"})
        return ImageResponse(images=images, parameters=parameters,
                             info=info_json(app, body, output.request or request, output, warnings))

    async def prepare(body: GenerationFields) -> tuple[GenerationRequest, list[str]]:
        if body.script_name:  # an unknown script is refused before anything is decoded or queued
            selectable.find(body.script_name, isinstance(body, Img2ImgRequest))
        return await run_in_threadpool(generation_request, app, body, decode_image, scripts)

    @router.post("/txt2img", response_model=ImageResponse)
    async def txt2img(body: Txt2ImgRequest, caller: Caller = Depends(current_caller)) -> ImageResponse:
        return await run(body, *await prepare(body), caller)

    @router.post("/img2img", response_model=ImageResponse)
    async def img2img(body: Img2ImgRequest, caller: Caller = Depends(current_caller)) -> ImageResponse:
        return await run(body, *await prepare(body), caller)  # decoding takes time: on the pool

    _progress_routes(router, app)

    @router.post("/png-info", response_model=PngInfoResponse)
    def png_info(body: PngInfoRequest) -> PngInfoResponse:
        image = decode_image(body.image)
        items = image_text_items(image)  # PNG chunks, or the EXIF UserComment of a JPEG/WebP
        info = items.pop("parameters", "")
        return PngInfoResponse(info=info, items=items, parameters=parse_infotext(info) if info else {})


def _progress_routes(router: APIRouter, app: App) -> None:
    @router.get("/progress")
    async def progress(skip_current_image: bool = False, caller: Caller = Depends(current_caller)) -> dict[str, Any]:
        """The running job in detail if it is the caller's (or the caller is an admin); otherwise only how many jobs
        are ahead of the caller's own. Answered on the event loop: it never waits for a thread."""
        running = next((job for job in app.jobs.snapshots_running() if may_control(caller, job.owner)),
                       app.jobs.snapshot_running())  # with device workers, several run: the caller's first
        if running is not None and running.kind is JobKind.EXTRAS and may_control(caller, running.owner):
            return extras_progress(app, running)
        if running is None or not may_control(caller, running.owner):
            return _idle_progress(app, caller, running)
        fraction = min(1.0, 0.01 + running.progress.fraction)
        elapsed = time.monotonic() - (running.started_at or time.monotonic())
        state = {"skipped": False, "interrupted": running.cancel_requested, "stopping_generation": False,
                 "job": running.id, "job_count": 1 + app.jobs.queued_count(), "job_timestamp": "0",
                 "job_no": running.progress.batch_index, "sampling_step": running.progress.step,
                 "sampling_steps": running.progress.total_steps, "worker": running.worker}
        current_image = None
        if running.preview is not None and not skip_current_image:
            current_image = base64.b64encode(running.preview).decode("ascii")
        return {"progress": fraction, "eta_relative": elapsed / fraction - elapsed, "state": state,
                "current_image": current_image, "textinfo": None}

    @router.post("/interrupt")
    async def interrupt(caller: Caller = Depends(current_caller)) -> dict:
        """Stop the running job if it is the caller's (an admin may stop anyone's); 403 for someone else's. The
        interrupted job still answers its client with what it made (A1111)."""
        running = app.jobs.snapshot_running()
        if running is not None:
            _check_control(caller, running)
            app.jobs.cancel(running.id)
        return {}

    @router.post("/skip")
    async def skip(caller: Caller = Depends(current_caller)) -> None:
        running = app.jobs.snapshot_running()
        if running is not None:
            _check_control(caller, running)
            app.jobs.skip_running(owner=running.owner)


def _check_control(caller: Caller, running: JobSnapshot) -> None:
    if not may_control(caller, running.owner):
        raise HTTPException(403, "the running job belongs to another user; only its owner or an admin may stop it")


def _idle_progress(app: App, caller: Caller, running: JobSnapshot | None) -> dict[str, Any]:
    ahead = app.jobs.ahead_of(job_owner(caller))
    state = {"skipped": False, "interrupted": False, "stopping_generation": False, "job": "",
             "job_count": app.jobs.queued_count() + (running is not None), "job_timestamp": "0", "job_no": 0,
             "sampling_step": 0, "sampling_steps": 0}
    textinfo = f"{ahead} ahead of you" if ahead is not None else None
    return {"progress": 0.0, "eta_relative": 0.0, "state": state, "current_image": None, "textinfo": textinfo}


def _response_pngs(app: App, output: GenerationOutput) -> list[bytes]:
    """The images, then the ControlNet detected maps, as the extension appends them (unless its setting
    `control_net_no_detectmap` is on; a unit's `save_detected_map: false` already left its map out)."""
    maps = () if app.settings.get(NO_DETECTMAP) else output.control_maps
    return [*(image.png for image in output.images), *maps]


async def _keep_overrides(app: App, request: GenerationRequest, owner: str) -> None:
    """A1111's override_settings_restore_afterwards=false: the job's overrides become the settings."""
    if request.checkpoint is not None:
        await app.switch_checkpoint(request.checkpoint, owner)
    if request.clip_skip is not None:
        app.settings.set("CLIP_stop_at_last_layers", request.clip_skip)


def create_sdapi_router(app: App) -> APIRouter:
    router = APIRouter(prefix="/sdapi/v1", tags=["sdapi"])
    _list_routes(router, app)
    _refresh_routes(router, app)
    _options_routes(router, app)
    _job_routes(router, app)
    register_extras_routes(router, app, decode_image)
    register_face_routes(router, app, decode_image)
    return router

