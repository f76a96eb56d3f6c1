"""txt2img: a `GenerationRequest` in, images with A1111 infotext out.

The engine composes diffusers' own `StableDiffusionPipeline` call; it never reimplements the sampling loop.
Samplers are swapped with `Scheduler.from_config`, progress and interruption go through `callback_on_step_end`
(setting the pipeline's documented `_interrupt` flag). Seeds follow A1111: image i of a job uses seed + i, each
from its own generator, so any image of a batch can be reproduced alone.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import diffusers
import torch
from PIL import Image

from webui.engine.request import MAX_SEED, RANDOM_SEED, GenerationRequest
from webui.engine.samplers import ResolvedSampler, SamplerTable
from webui.infotext.format import Txt2ImgInfo
from webui.model_manager.manager import LoadedModel, ModelManager

ProgressCallback = Callable[[int, int, int], None]  # (batch index, step, total steps)
CancelCheck = Callable[[], bool]


@dataclass(frozen=True)
class InfotextOptions:
    """A1111's infotext settings, passed in as values for each job."""

    add_model_hash: bool = True
    add_model_name: bool = True
    version: str | None = None


@dataclass(frozen=True)
class GeneratedImage:
    image: Image.Image
    seed: int
    infotext: str


@dataclass(frozen=True)
class GenerationResult:
    images: tuple[GeneratedImage, ...]
    interrupted: bool
    checkpoint_title: str
    is_demo_model: bool


def resolve_seed(seed: int, rng: random.Random) -> int:
    """-1 draws a seed the way A1111 does; any other value is used as it is."""
    return rng.randrange(MAX_SEED) if seed == RANDOM_SEED else seed


def build_scheduler(base_config: Mapping[str, Any], sampler: ResolvedSampler):
    scheduler_class = getattr(diffusers, sampler.scheduler_class)
    return scheduler_class.from_config(dict(base_config), **dict(sampler.config_overrides))


def batch_seeds(first_seed: int, batch_index: int, batch_size: int) -> list[int]:
    start = first_seed + batch_index * batch_size
    return [(start + offset) % (MAX_SEED + 1) for offset in range(batch_size)]


class Txt2ImgEngine:
    def __init__(self, models: ModelManager, samplers: SamplerTable, rng: random.Random | None = None) -> None:
        self._models = models
        self._samplers = samplers
        self._rng = rng or random.Random()

    @property
    def samplers(self) -> SamplerTable:
        return self._samplers

    def generate(self, request: GenerationRequest, options: InfotextOptions,
                 progress: ProgressCallback | None = None, cancelled: CancelCheck | None = None) -> GenerationResult:
        sampler = self._samplers.resolve(request.sampler_name, request.scheduler)  # fails before any work
        first_seed = resolve_seed(request.seed, self._rng)
        images: list[GeneratedImage] = []
        interrupted = False
        with self._models.use(request.checkpoint) as loaded:
            loaded.pipeline.scheduler = build_scheduler(loaded.scheduler_config, sampler)
            for batch_index in range(request.batch_count):
                if cancelled is not None and cancelled():
                    interrupted = True
                    break
                seeds = batch_seeds(first_seed, batch_index, request.batch_size)
                batch, stopped = self._run_batch(loaded, request, seeds, batch_index, progress, cancelled)
                if stopped:
                    interrupted = True
                    break
                images.extend(GeneratedImage(image, seed, self._infotext(request, sampler, seed, loaded, options))
                              for image, seed in zip(batch, seeds, strict=True))
        return GenerationResult(tuple(images), interrupted, loaded.record.title, loaded.is_demo)

    def _run_batch(self, loaded: LoadedModel, request: GenerationRequest, seeds: list[int], batch_index: int,
                   progress: ProgressCallback | None, cancelled: CancelCheck | None) -> tuple[list[Image.Image], bool]:
        pipeline = loaded.pipeline
        stopped = [False]

        def on_step_end(pipe, step: int, timestep, callback_kwargs: dict) -> dict:
            if progress is not None:
                progress(batch_index, step + 1, request.steps)
            if cancelled is not None and cancelled():
                stopped[0] = True
                pipe._interrupt = True  # diffusers' documented way to stop the denoising loop
            return callback_kwargs

        device = "cpu" if loaded.plan.offload != "none" else loaded.plan.device
        generators = [torch.Generator(device=device).manual_seed(seed) for seed in seeds]
        with torch.inference_mode():
            output = pipeline(
                prompt=[request.prompt] * len(seeds), negative_prompt=[request.negative_prompt] * len(seeds),
                num_inference_steps=request.steps, guidance_scale=request.cfg_scale,
                width=request.width, height=request.height, generator=generators,
                callback_on_step_end=on_step_end, output_type="pil",
            )
        return list(output.images), stopped[0]

    def _infotext(self, request: GenerationRequest, sampler: ResolvedSampler, seed: int, loaded: LoadedModel,
                  options: InfotextOptions) -> str:
        return Txt2ImgInfo(
            prompt=request.prompt, negative_prompt=request.negative_prompt, steps=request.steps,
            sampler=sampler.sampler.name, schedule_type=sampler.schedule_label, cfg_scale=request.cfg_scale,
            seed=seed, width=request.width, height=request.height,
            model_hash=loaded.record.short_hash if options.add_model_hash else None,
            model_name=loaded.record.model_name if options.add_model_name else None,
            version=options.version,
        ).text()
