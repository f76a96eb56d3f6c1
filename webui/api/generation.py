"""Translate an A1111 API txt2img/img2img request into our `GenerationRequest`, and our output into A1111's
`info`."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from fastapi import HTTPException
from PIL import Image

from webui.api.alwayson import AlwaysOnScripts
from webui.api.models import GenerationFields, Img2ImgRequest, Txt2ImgRequest
from webui.app_context import App
from webui.app_options import VERSION_TEXT
from webui.engine.request import (
    INPAINT_FILL_MODES,
    SIZE_RANGE,
    SIZE_STEP,
    GenerationRequest,
    HiresFix,
    Img2ImgInput,
    InpaintMask,
)
from webui.errors import FieldError
from webui.jobs.generation import GenerationOutput
from webui.jobs.sampler_settings import sampler_parameters, with_request_values
from webui.model_manager.manager import CheckpointNotFoundError

ImageDecoder = Callable[[str, str], Image.Image]  # (base64 or data URL, the caller's field name) → image
# Our field names → A1111's, so an error names the field the client sent.
API_FIELD_NAMES = {"batch_count": "n_iter", "CLIP_stop_at_last_layers": "override_settings.CLIP_stop_at_last_layers",
                   "face_restoration_model": "override_settings.face_restoration_model",
                   "code_former_weight": "override_settings.code_former_weight"}


def generation_request(app: App, body: GenerationFields, decode: ImageDecoder | None = None,
                       scripts: AlwaysOnScripts | None = None) -> tuple[GenerationRequest, list[str]]:
    """The request to queue, plus warnings for fields we accepted but could not honour. 404/422 on bad input
    (an `alwayson_scripts` entry no registered script handles is one)."""
    warnings = body.unsupported_warnings()
    script_fields = (scripts or AlwaysOnScripts()).request_fields(
        app, body.alwayson_scripts, decode, isinstance(body, Img2ImgRequest))
    sampler, scheduler = _sampler(app, body.sampler_name or body.sampler_index, body.scheduler,
                                  "sampler_name" if body.sampler_name else "sampler_index")
    overrides = body.override_settings or {}
    checkpoint = overrides.get("sd_model_checkpoint")
    if checkpoint is not None:
        try:
            checkpoint = app.models.find(str(checkpoint)).title
        except CheckpointNotFoundError as error:
            raise HTTPException(404, str(error)) from error
    for name in ("width", "height"):  # checked as sent: the message names the client's value, not the rounded one
        value = getattr(body, name)
        if not SIZE_RANGE[0] <= value <= SIZE_RANGE[1]:
            raise FieldError(name, f"{name} {value} is out of range; allowed: {SIZE_RANGE[0]}–{SIZE_RANGE[1]}")
    width, height = body.width - body.width % SIZE_STEP, body.height - body.height % SIZE_STEP
    if (width, height) != (body.width, body.height):
        warnings.append(f"size {body.width}x{body.height} was rounded down to {width}x{height} (multiples of 8)")
    try:
        styles = _known_styles(app, body, warnings)
        prompt, negative_prompt = app.styles.apply(body.prompt, body.negative_prompt, styles)
        clip_skip = _whole_number(overrides.get("CLIP_stop_at_last_layers"),
                                  "override_settings.CLIP_stop_at_last_layers")
        sampling = with_request_values(sampler_parameters(app.settings.get, overrides), eta=body.eta,
                                       s_churn=body.s_churn, s_tmin=body.s_tmin, s_tmax=body.s_tmax,
                                       s_noise=body.s_noise)
        request = GenerationRequest(
            prompt=prompt, negative_prompt=negative_prompt, sampler_name=sampler, scheduler=scheduler,
            steps=body.steps, cfg_scale=body.cfg_scale, width=width, height=height, seed=body.seed,
            batch_size=body.batch_size, batch_count=body.n_iter, checkpoint=checkpoint,
            save_images=body.save_images and not body.do_not_save_samples,
            clip_skip=clip_skip,
            hires=_hires(app, body, sampler, scheduler) if isinstance(body, Txt2ImgRequest) else None,
            subseed=body.subseed, subseed_strength=body.subseed_strength, seed_resize_from_w=body.seed_resize_from_w,
            seed_resize_from_h=body.seed_resize_from_h, sampling=sampling, **_face_fields(body, overrides),
            img2img=_img2img(body, decode) if isinstance(body, Img2ImgRequest) else None, tiling=bool(body.tiling),
            **script_fields)
        app.engine.check_hires_upscaler(request)  # model upscalers come and go with their files
    except FieldError:
        raise
    except (ValueError, TypeError) as error:
        raise FieldError(*_caller_field(str(error))) from error
    return request, warnings


def _face_fields(body: GenerationFields, overrides: dict[str, Any]) -> dict[str, Any]:
    """restore_faces (else A1111's `face_restoration` in override_settings) and the restorer and CodeFormer weight
    the job's override_settings choose; None = the instance's settings, filled in at admission."""
    restore = body.restore_faces
    if restore is None and "face_restoration" in overrides:
        restore = overrides["face_restoration"]
        if not isinstance(restore, bool):
            raise FieldError("override_settings.face_restoration",
                             f"override_settings.face_restoration must be true or false, got {restore!r}")
    return {"restore_faces": restore, "face_restoration_model": overrides.get("face_restoration_model"),
            "code_former_weight": overrides.get("code_former_weight")}


def _known_styles(app: App, body: GenerationFields, warnings: list[str]) -> list[str]:
    """A1111 skips a style it does not have; so do we, and say so in the warnings."""
    known = {style.name for style in app.styles.styles()}
    missing = [name for name in body.styles or [] if name not in known]
    if missing:
        warnings.append(f"styles not found in styles.csv, skipped: {', '.join(missing)}")
    return [name for name in body.styles or [] if name in known]


def _whole_number(value: object, field: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise FieldError(field, f"{field} must be a whole number, got {value!r}")
    try:
        number = float(value)
    except ValueError:
        raise FieldError(field, f"{field} must be a whole number, got {value!r}") from None
    if not number.is_integer():
        raise FieldError(field, f"{field} must be a whole number, got {value!r}")
    return int(number)


def _caller_field(message: str) -> tuple[str, str]:
    """(field, message) with our field name (the message's first word) replaced by A1111's."""
    first, _, rest = message.partition(" ")
    field = API_FIELD_NAMES.get(first, first)
    return field, f"{field} {rest}" if rest else message


def _sampler(app: App, name: str, scheduler: str | None, field: str,
             scheduler_field: str = "scheduler") -> tuple[str, str]:
    """A1111 answers 404 for an unknown sampler; the message names the client's field."""
    try:
        sampler, scheduler = app.samplers.split_legacy_name(name, scheduler)
        app.samplers.resolve(sampler, scheduler)
    except ValueError as error:
        named = scheduler_field if "schedule" in str(error) else field
        raise HTTPException(404, f"{named}: {error}") from error
    return sampler, scheduler


def _hires(app: App, body: Txt2ImgRequest, sampler: str, scheduler: str) -> HiresFix | None:
    if not body.enable_hr:
        return None
    hires_sampler = None
    hires_scheduler = None
    if body.hr_sampler_name not in (None, "", "Use same sampler"):
        hires_sampler, hires_scheduler = _sampler(app, str(body.hr_sampler_name), None, "hr_sampler_name",
                                                  "hr_scheduler")
    if body.hr_scheduler not in (None, "", "Use same scheduler"):
        hires_scheduler = body.hr_scheduler
    return HiresFix(
        upscaler=body.hr_upscaler or "Latent", scale=body.hr_scale, resize_width=body.hr_resize_x,
        resize_height=body.hr_resize_y, steps=body.hr_second_pass_steps,
        denoising_strength=body.denoising_strength if body.denoising_strength is not None else 0.7,
        sampler_name=hires_sampler, scheduler=hires_scheduler,
        prompt=body.hr_prompt, negative_prompt=body.hr_negative_prompt)


def _img2img(body: Img2ImgRequest, decode: ImageDecoder | None) -> Img2ImgInput:
    """A1111 answers 404 when init_images is missing; the mask fields use A1111's API defaults."""
    if not body.init_images:
        raise HTTPException(404, "init_images: at least one init image is required")
    if decode is None:
        raise ValueError("no image decoder")
    if not 0 <= body.inpainting_fill < len(INPAINT_FILL_MODES):
        raise ValueError(f"inpainting_fill {body.inpainting_fill} is not one of 0–{len(INPAINT_FILL_MODES) - 1} "
                         f"({', '.join(INPAINT_FILL_MODES)})")
    mask = None
    if body.mask:
        blur = body.mask_blur if body.mask_blur is not None else max(body.mask_blur_x, body.mask_blur_y)
        mask = InpaintMask(mask=decode(body.mask, "mask"), blur=blur, invert=bool(body.inpainting_mask_invert),
                           fill=INPAINT_FILL_MODES[body.inpainting_fill], only_masked=body.inpaint_full_res,
                           padding=body.inpaint_full_res_padding)
    denoising = body.denoising_strength if body.denoising_strength is not None else 0.75
    return Img2ImgInput(image=decode(body.init_images[0], "init_images[0]"), resize_mode=body.resize_mode,
                        denoising_strength=denoising, mask=mask)


def info_json(app: App, body: GenerationFields, request: GenerationRequest, output: GenerationOutput,
              warnings: list[str]) -> str:
    """A1111's `Processed.js()`: the JSON string clients parse from the `info` field."""
    facts = output.model
    seeds = list(output.seeds)
    count = len(seeds)
    info = {
        "prompt": request.prompt, "all_prompts": [request.prompt] * count,
        "negative_prompt": request.negative_prompt, "all_negative_prompts": [request.negative_prompt] * count,
        "seed": seeds[0] if seeds else request.seed, "all_seeds": seeds, "subseed": output.subseed,
        "all_subseeds": [output.subseed + index for index in range(count)],
        "subseed_strength": request.subseed_strength, "width": request.width, "height": request.height,
        "sampler_name": request.sampler_name, "cfg_scale": request.cfg_scale, "steps": request.steps,
        "batch_size": request.batch_size, "restore_faces": bool(request.restore_faces),
        "face_restoration_model": str(app.settings.get("face_restoration_model")) if request.restore_faces else None,
        "sd_model_name": facts.model_name if facts else None,   # what this job ran with, not what is live now
        "sd_model_hash": facts.model_short_hash if facts else None,
        "sd_vae_name": facts.vae_name if facts else None,
        "sd_vae_hash": facts.vae_short_hash if facts else None,
        "seed_resize_from_w": request.seed_resize_from_w or -1, "seed_resize_from_h": request.seed_resize_from_h or -1,
        "denoising_strength": _denoising(request),
        "extra_generation_params": {}, "index_of_first_image": 0,
        "infotexts": [image.infotext for image in output.images], "styles": body.styles or [],
        "job_timestamp": datetime.now().strftime("%Y%m%d%H%M%S"),
        "clip_skip": facts.clip_skip if facts else request.clip_skip or app.instance_model().clip_skip,
        "is_using_inpainting_conditioning": bool(facts and facts.inpainting_conditioning),
        "version": VERSION_TEXT,
        "warnings": warnings + list(output.notes),
    }
    return json.dumps(info, ensure_ascii=False)


def _denoising(request: GenerationRequest) -> float | None:
    if request.img2img is not None:
        return request.img2img.denoising_strength
    return request.hires.denoising_strength if request.hires is not None else None
