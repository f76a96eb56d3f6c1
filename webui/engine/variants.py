"""The built-in pipeline variants: txt2img (with the hires-fix second pass), img2img and inpaint.

Each is registered under the name `GenerationRequest.mode` gives, in `default_variants()`. What happens on
Interrupt and Skip follows A1111 (`processing.py`): the sampler stops and what the batch reached is decoded and
returned, so the batch keeps an image. One difference: A1111 decodes its denoiser's last prediction of the clean
image (`last_latent`), diffusers hands back the latents of the step reached, so an early stop looks noisier here.
Hires fix: A1111's `sample_hr_pass` returns the first pass's samples when the job was interrupted before it began;
we do that for Skip too (A1111 checks only `interrupted` and would start a hires pass that stops at its first step)
and for a stop between two tiles of the hires upscale (the first pass is then complete, so its image is what was
made); a stop during the hires sampling decodes the hires latents reached. img2img and inpaint decode what their
pass reached; inpaint still pastes the result back over the unmasked pixels, as A1111's overlay does for every
image.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import diffusers
from PIL import Image

from webui.engine.img2img import Img2ImgRun
from webui.engine.passes import SamplingSettings, img2img_pass, txt2img_pass, upscale_latents
from webui.engine.registry import NamedRegistry
from webui.engine.samplers import ResolvedSampler
from webui.engine.sampling import PassObserver
from webui.engine.upscale import UpscaleInterrupted
from webui.engine.variant_registry import BatchRun, PipelineVariant, VariantNeeds, variant_registry


def build_scheduler(base_config: Mapping[str, Any], sampler: ResolvedSampler):
    scheduler_class = getattr(diffusers, sampler.scheduler_class)
    return scheduler_class.from_config(dict(base_config), **dict(sampler.config_overrides))


class Txt2ImgVariant:
    """The resident `StableDiffusionPipeline`; with hires fix, an img2img pass at the target size on top."""

    needs = VariantNeeds("StableDiffusionPipeline")

    def applies(self, request) -> bool:
        return self.needs.met_by(request)

    def run(self, batch: BatchRun) -> list[Image.Image]:
        latents = txt2img_pass(batch.pipeline, batch.observer, batch.settings, batch.generators)
        if batch.plan.hires_conditioning is None or batch.stopped_or_skipped:
            return batch.decode(latents)  # A1111: no hires pass once interrupted; decode what was reached
        return self._hires_pass(batch, latents)

    def _hires_pass(self, batch: BatchRun, latents) -> list[Image.Image]:
        plan, request = batch.plan, batch.request
        hires = request.hires
        assert hires is not None and plan.hires_conditioning is not None
        width, height = hires.target_size(request.width, request.height)
        pipeline = batch.pipeline
        if plan.hires_sampler is not None:
            pipeline.scheduler = build_scheduler(batch.loaded.scheduler_config, plan.hires_sampler)
        if hires.is_latent:
            init: list[Image.Image] | Any = upscale_latents(latents, hires.upscaler, width, height)
        else:
            upscaler = batch.upscalers.get(hires.upscaler)
            control = batch.upscalers.control(cancelled=batch.signals.should_stop)
            first_pass = batch.decode(latents)
            try:
                init = [upscaler.upscale(image, (width, height), control) for image in first_pass]
            except UpscaleInterrupted:
                return first_pass  # stopped between two tiles: the complete first pass is what was made
        observer = PassObserver(batch.signals, batch.batch_index, plan.hires_conditioning, len(batch.seeds),
                                plan.hires_steps, plan.first_pass_steps, plan.total_steps, (width, height))
        settings = SamplingSettings(hires.steps or request.steps, request.cfg_scale, width, height)
        return batch.decode(img2img_pass(pipeline, observer, settings, batch.new_generators(), init,
                                         hires.denoising_strength))


class Img2ImgVariant:
    """`StableDiffusionImg2ImgPipeline.from_pipe(resident)`: A1111's resize modes and denoising-0 round trip."""

    needs = VariantNeeds("StableDiffusionImg2ImgPipeline", init_image=True)

    def applies(self, request) -> bool:
        return self.needs.met_by(request)

    def run(self, batch: BatchRun) -> list[Image.Image]:
        return Img2ImgRun(batch.pipeline, batch.request, batch.generators).img2img(
            batch.observer, batch.settings, batch.notes)


class InpaintVariant:
    """`StableDiffusionInpaintPipeline.from_pipe(resident)`, for 4- and 9-channel UNets alike."""

    needs = VariantNeeds("StableDiffusionInpaintPipeline", init_image=True, mask=True)

    def applies(self, request) -> bool:
        return self.needs.met_by(request)

    def run(self, batch: BatchRun) -> list[Image.Image]:
        return Img2ImgRun(batch.pipeline, batch.request, batch.generators).inpaint(
            batch.observer, batch.settings, batch.notes)


def default_variants() -> NamedRegistry[PipelineVariant]:
    """The built-ins, each under the `GenerationRequest.mode` it serves."""
    registry = variant_registry()
    registry.register("txt2img", Txt2ImgVariant())
    registry.register("img2img", Img2ImgVariant())
    registry.register("inpaint", InpaintVariant())
    return registry
