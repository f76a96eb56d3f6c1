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

from webui.engine.decode import decode_latents
from webui.engine.preview import cheap_preview
from webui.engine.request import MAX_SEED, RANDOM_SEED, GenerationRequest
from webui.engine.samplers import ResolvedSampler, SamplerTable
from webui.infotext.format import Txt2ImgInfo
from webui.model_manager.manager import LoadedModel, ModelManager

ProgressCallback = Callable[[int, int, int], None]  # (batch index, step, total steps)
CancelCheck = Callable[[], bool]
SkipCheck = Callable[[], bool]  # True once per Skip press: abandon the current batch, go on with the next
PreviewCallback = Callable[[Image.Image], None]


@dataclass(frozen=True)
class InfotextOptions:
    """A1111's infotext settings, passed in as values for each job."""

    add_model_hash: bool = True
    add_model_name: bool = True
    version: str | None = None
    preview_every: int = 0  # A1111's show_progress_every_n_steps when live previews are on; 0 = none


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
    notes: tuple[str, ...] = ()  # things the user should know (NaN fallback, out-of-memory retry)


def resolve_seed(seed: int, rng: random.Random) -> int:
    """-1 draws a seed the way A1111 does; any other value is used as it is."""
    return rng.randrange(MAX_SEED) if seed == RANDOM_SEED else seed


def build_scheduler(base_config: Mapping[str, Any], sampler: ResolvedSampler):
    scheduler_class = getattr(diffusers, sampler.scheduler_class)
    return scheduler_class.from_config(dict(base_config), **dict(sampler.config_overrides))


def batch_seeds(first_seed: int, batch_index: int, batch_size: int) -> list[int]:
    start = first_seed + batch_index * batch_size
    return [(start + offset) % (MAX_SEED + 1) for offset in range(batch_size)]


class GenerationOutOfMemory(RuntimeError):
    """Still out of memory after the retry with a leaner memory plan."""


@dataclass
class _BatchRun:
    """What one batch needs; `stopped` turns true when the job was cancelled mid-batch, `skipped` when this
    batch alone was abandoned (A1111's Skip)."""

    request: GenerationRequest
    seeds: list[int]
    batch_index: int
    progress: ProgressCallback | None
    cancelled: CancelCheck | None
    skip: SkipCheck | None = None
    preview: PreviewCallback | None = None
    preview_every: int = 0
    stopped: bool = False
    skipped: bool = False

    def on_step_end(self, pipe, step: int, timestep, callback_kwargs: dict) -> dict:
        if self.progress is not None:
            self.progress(self.batch_index, step + 1, self.request.steps)
        if self.preview is not None and self.preview_every > 0 and (step + 1) % self.preview_every == 0:
            size = (self.request.width, self.request.height)
            self.preview(cheap_preview(callback_kwargs["latents"], size))
        if self.cancelled is not None and self.cancelled():
            self.stopped = True
        elif self.skip is not None and self.skip():
            self.skipped = True
        if self.stopped or self.skipped:
            pipe._interrupt = True  # diffusers' documented way to stop the denoising loop
        return callback_kwargs


class Txt2ImgEngine:
    def __init__(self, models: ModelManager, samplers: SamplerTable, rng: random.Random | None = None) -> None:
        self._models = models
        self._samplers = samplers
        self._rng = rng or random.Random()

    @property
    def samplers(self) -> SamplerTable:
        return self._samplers

    def generate(self, request: GenerationRequest, options: InfotextOptions,
                 progress: ProgressCallback | None = None, cancelled: CancelCheck | None = None,
                 skip: SkipCheck | None = None, preview: PreviewCallback | None = None) -> GenerationResult:
        sampler = self._samplers.resolve(request.sampler_name, request.scheduler)  # fails before any work
        first_seed = resolve_seed(request.seed, self._rng)
        images: list[GeneratedImage] = []
        notes: list[str] = []
        interrupted = False
        with self._models.use(request.checkpoint) as loaded:
            loaded.pipeline.scheduler = build_scheduler(loaded.scheduler_config, sampler)
            for batch_index in range(request.batch_count):
                run = _BatchRun(request, batch_seeds(first_seed, batch_index, request.batch_size), batch_index,
                                progress, cancelled, skip, preview, options.preview_every)
                if cancelled is not None and cancelled():
                    interrupted = True
                    break
                loaded, batch = self._run_with_memory_retry(loaded, run, notes)
                if run.stopped:
                    interrupted = True
                    break
                if run.skipped:
                    notes.append(f"batch {batch_index + 1} of {request.batch_count} skipped")
                    continue
                images.extend(GeneratedImage(image, seed, self._infotext(request, sampler, seed, loaded, options))
                              for image, seed in zip(batch, run.seeds, strict=True))
        return GenerationResult(tuple(images), interrupted, loaded.record.title, loaded.is_demo, tuple(notes))

    def _run_with_memory_retry(self, loaded: LoadedModel, run: _BatchRun,
                               notes: list[str]) -> tuple[LoadedModel, list[Image.Image]]:
        """Out of memory → retry this batch once with the next leaner plan; the server never dies of it."""
        try:
            return loaded, self._run_batch(loaded, run, notes)
        except torch.OutOfMemoryError as error:
            leaner = self._models.use_leaner_plan()
            if leaner is None:
                raise GenerationOutOfMemory(
                    f"out of memory with {loaded.plan.describe()} and no leaner plan is left; "
                    "use a smaller size or batch") from error
            notes.append(f"out of memory; retried with {leaner.plan.reasons[-1].removeprefix('out of memory: ')}")
        try:
            return leaner, self._run_batch(leaner, run, notes)
        except torch.OutOfMemoryError as error:
            raise GenerationOutOfMemory(
                f"out of memory again with {leaner.plan.describe()}; use a smaller size or batch") from error

    def _run_batch(self, loaded: LoadedModel, run: _BatchRun, notes: list[str]) -> list[Image.Image]:
        request = run.request
        device = "cpu" if loaded.plan.offload != "none" else loaded.plan.device
        generators = [torch.Generator(device=device).manual_seed(seed) for seed in run.seeds]
        with torch.inference_mode():
            latents = loaded.pipeline(
                prompt=[request.prompt] * len(run.seeds), negative_prompt=[request.negative_prompt] * len(run.seeds),
                num_inference_steps=request.steps, guidance_scale=request.cfg_scale,
                width=request.width, height=request.height, generator=generators,
                callback_on_step_end=run.on_step_end, output_type="latent",
            ).images
            images, note = decode_latents(loaded.pipeline, latents)
        if note and note not in notes:
            notes.append(note)
        return images

    def _infotext(self, request: GenerationRequest, sampler: ResolvedSampler, seed: int, loaded: LoadedModel,
                  options: InfotextOptions) -> str:
        return Txt2ImgInfo(
            prompt=request.prompt, negative_prompt=request.negative_prompt, steps=request.steps,
            sampler=sampler.sampler.name, schedule_type=sampler.schedule_label, cfg_scale=request.cfg_scale,
            seed=seed, width=request.width, height=request.height,
            model_hash=loaded.record.short_hash if options.add_model_hash else None,
            model_name=loaded.record.model_name if options.add_model_name else None,
            version=options.version,
            vae_hash=loaded.vae.short_hash if loaded.vae and options.add_model_hash else None,
            vae_name=loaded.vae.model_name if loaded.vae and options.add_model_name else None,
        ).text()
