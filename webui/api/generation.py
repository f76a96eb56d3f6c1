"""Translate an A1111 API txt2img request into our `GenerationRequest`, and our output into A1111's `info`."""

from __future__ import annotations

import json
from datetime import datetime

from fastapi import HTTPException

from webui.api.models import Txt2ImgRequest
from webui.app_context import VERSION_TEXT, App
from webui.engine.request import SIZE_STEP, GenerationRequest
from webui.engine.samplers import SamplerTable
from webui.jobs.generation import GenerationOutput
from webui.model_manager.manager import CheckpointNotFoundError


def split_sampler(name: str, scheduler: str | None, table: SamplerTable) -> tuple[str, str]:
    """A1111's get_sampler_and_scheduler: "DPM++ 2M Karras" means sampler "DPM++ 2M" with the Karras schedule."""
    try:
        return table.sampler(name).name, scheduler or "Automatic"
    except ValueError:
        for schedule in table.schedule_types:
            if name.endswith(" " + schedule.label):
                return table.sampler(name.removesuffix(" " + schedule.label)).name, scheduler or schedule.label
        raise


def generation_request(app: App, body: Txt2ImgRequest) -> tuple[GenerationRequest, list[str]]:
    """The request to queue, plus warnings for fields we accepted but could not honour. 404/422 on bad input."""
    warnings = body.unsupported_warnings()
    try:
        sampler, scheduler = split_sampler(body.sampler_name or body.sampler_index, body.scheduler,
                                           app.engine.samplers)
        app.engine.samplers.resolve(sampler, scheduler)
    except ValueError as error:
        raise HTTPException(404, str(error)) from error
    checkpoint = (body.override_settings or {}).get("sd_model_checkpoint")
    if checkpoint is not None:
        try:
            checkpoint = app.models.find(str(checkpoint)).title
        except CheckpointNotFoundError as error:
            raise HTTPException(404, str(error)) from error
    width, height = body.width - body.width % SIZE_STEP, body.height - body.height % SIZE_STEP
    if (width, height) != (body.width, body.height):
        warnings.append(f"size {body.width}x{body.height} was rounded down to {width}x{height} (multiples of 8)")
    try:
        request = GenerationRequest(
            prompt=body.prompt, negative_prompt=body.negative_prompt, sampler_name=sampler, scheduler=scheduler,
            steps=body.steps, cfg_scale=body.cfg_scale, width=width, height=height, seed=body.seed,
            batch_size=body.batch_size, batch_count=body.n_iter, checkpoint=checkpoint,
            save_images=body.save_images and not body.do_not_save_samples)
    except ValueError as error:
        raise HTTPException(422, str(error)) from error
    return request, warnings


def info_json(app: App, body: Txt2ImgRequest, request: GenerationRequest, output: GenerationOutput,
              warnings: list[str]) -> str:
    """A1111's `Processed.js()`: the JSON string clients parse from the `info` field."""
    loaded = app.models.loaded
    seeds = list(output.seeds)
    count = len(seeds)
    info = {
        "prompt": request.prompt, "all_prompts": [request.prompt] * count,
        "negative_prompt": request.negative_prompt, "all_negative_prompts": [request.negative_prompt] * count,
        "seed": seeds[0] if seeds else request.seed, "all_seeds": seeds, "subseed": -1, "all_subseeds": [-1] * count,
        "subseed_strength": 0, "width": request.width, "height": request.height,
        "sampler_name": request.sampler_name, "cfg_scale": request.cfg_scale, "steps": request.steps,
        "batch_size": request.batch_size, "restore_faces": False, "face_restoration_model": None,
        "sd_model_name": loaded.record.model_name if loaded else None,
        "sd_model_hash": loaded.record.short_hash if loaded else None,
        "sd_vae_name": loaded.vae.model_name if loaded and loaded.vae else None,
        "sd_vae_hash": loaded.vae.short_hash if loaded and loaded.vae else None,
        "seed_resize_from_w": -1, "seed_resize_from_h": -1, "denoising_strength": body.denoising_strength,
        "extra_generation_params": {}, "index_of_first_image": 0,
        "infotexts": [image.infotext for image in output.images], "styles": body.styles or [],
        "job_timestamp": datetime.now().strftime("%Y%m%d%H%M%S"), "clip_skip": 1,
        "is_using_inpainting_conditioning": False, "version": VERSION_TEXT,
        "warnings": warnings + list(output.notes),
    }
    return json.dumps(info, ensure_ascii=False)
