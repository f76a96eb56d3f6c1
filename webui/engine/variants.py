"""The built-in pipeline variants: txt2img (with the hires-fix second pass), img2img and inpaint.

Each is registered under the name `GenerationRequest.mode` gives, in `default_variants()`. What happens on
Interrupt and Skip follows A1111 (`processing.py`): the sampler stops and its denoiser's last prediction of the
clean image (A1111's `last_latent`) is decoded and returned, so the batch keeps an image.
The hires pass runs as A1111's `sample_hr_pass`: new noise at the target size from the same seeds, exactly
`hr_second_pass_steps` steps over a schedule stretched by the denoising strength.
Hires fix: A1111's `sample_hr_pass` returns the first pass's samples when the job was interrupted before it began;
we do that for Skip too (A1111 checks only `interrupted` and would start a hires pass that stops at its first step)
and for a stop between two tiles of the hires upscale (the first pass is then complete, so its image is what was
made); a stop during the hires sampling decodes the hires latents reached. img2img and inpaint decode what their
pass reached; inpaint still pastes the result back over the unmasked pixels, as A1111's overlay does for every
image.
"""

from __future__ import annotations

from PIL import Image

from webui.engine.image_cond import inpainting_image_cond, txt2img_image_cond
from webui.engine.img2img import Img2ImgRun
from webui.engine.passes import PassSampler, SamplingSettings, encode_images, sample, upscale_latents
from webui.engine.registry import NamedRegistry
from webui.engine.sampling import PassObserver
from webui.engine.upscale import UpscaleInterrupted
from webui.engine.variant_registry import BatchRun, PipelineVariant, VariantNeeds, variant_registry


class Txt2ImgVariant:
    """The resident `StableDiffusionPipeline`; with hires fix, an img2img pass at the target size on top."""

    needs = VariantNeeds("StableDiffusionPipeline")

    def applies(self, request) -> bool:
        return self.needs.met_by(request)

    def run(self, batch: BatchRun) -> list[Image.Image]:
        request = batch.request
        chosen = PassSampler(batch.plan.sampler, request.sampler_settings)
        image_cond = txt2img_image_cond(batch.pipeline, len(batch.seeds), request.width, request.height)
        latents = sample(batch.pipeline, batch.observer, batch.settings, chosen,
                         batch.noise_for(request.width, request.height), image_cond=image_cond,
                         control=batch.control_for(request.width, request.height))
        if batch.plan.hires_conditioning is None or batch.stopped_or_skipped:
            return batch.decode(latents)  # A1111: no hires pass once interrupted; decode what was reached
        return self._hires_pass(batch, latents)

    def _hires_pass(self, batch: BatchRun, latents) -> list[Image.Image]:
        plan, request = batch.plan, batch.request
        hires = request.hires
        assert hires is not None and plan.hires_conditioning is not None
        width, height = hires.target_size(request.width, request.height)
        pipeline = batch.pipeline
        chosen = PassSampler(plan.hires_sampler or plan.sampler, request.sampler_settings)
        if hires.is_latent:
            init = upscale_latents(latents, hires.upscaler, width, height)
            image_cond = txt2img_image_cond(pipeline, len(batch.seeds), width, height)
        else:
            upscaler = batch.upscalers.get(hires.upscaler)
            control = batch.upscalers.control(cancelled=batch.signals.should_stop)
            first_pass = batch.decode(latents)
            try:
                upscaled = [upscaler.upscale(image, (width, height), control) for image in first_pass]
            except UpscaleInterrupted:
                return first_pass  # stopped between two tiles: the complete first pass is what was made
            init = encode_images(pipeline, upscaled, batch.new_generators())
            image_cond = inpainting_image_cond(pipeline, upscaled, None, init)
        observer = PassObserver(batch.signals, batch.batch_index, plan.hires_conditioning, len(batch.seeds),
                                plan.hires_steps, plan.first_pass_steps, plan.total_steps, (width, height))
        settings = SamplingSettings(hires.steps or request.steps, request.cfg_scale, width, height)
        return batch.decode(sample(pipeline, observer, settings, chosen, batch.noise_for(width, height), init,
                                   hires.denoising_strength, fixed_steps=True, image_cond=image_cond,
                                   control=batch.control_for(width, height, hires=True)))


class Img2ImgVariant:
    """`StableDiffusionImg2ImgPipeline.from_pipe(resident)`: A1111's resize modes and denoising-0 round trip."""

    needs = VariantNeeds("StableDiffusionImg2ImgPipeline", init_image=True)

    def applies(self, request) -> bool:
        return self.needs.met_by(request)

    def run(self, batch: BatchRun) -> list[Image.Image]:
        return Img2ImgRun(batch).img2img()


class InpaintVariant:
    """`StableDiffusionInpaintPipeline.from_pipe(resident)`, for 4- and 9-channel UNets alike."""

    needs = VariantNeeds("StableDiffusionInpaintPipeline", init_image=True, mask=True)

    def applies(self, request) -> bool:
        return self.needs.met_by(request)

    def run(self, batch: BatchRun) -> list[Image.Image]:
        return Img2ImgRun(batch).inpaint()


def default_variants() -> NamedRegistry[PipelineVariant]:
    """The built-ins, each under the `GenerationRequest.mode` it serves."""
    registry = variant_registry()
    registry.register("txt2img", Txt2ImgVariant())
    registry.register("img2img", Img2ImgVariant())
    registry.register("inpaint", InpaintVariant())
    return registry
