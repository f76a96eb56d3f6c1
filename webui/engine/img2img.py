"""img2img and inpaint for one batch: prepare the init image and mask as A1111 does, run one sampling pass, put
the result back.

Image preparation (resize modes, mask blur and inversion, the "only masked" crop, "fill") is pure Pillow work in
`img2img_images`; this module does the latent side: A1111's latent mask (blended in by the denoiser and after the
pass), "latent noise" / "latent nothing" masked content, "Just resize (latent upscale)", and the final paste that
keeps unmasked pixels exactly as they were. Denoising 0 still runs A1111's single step at the smallest noise level.
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from webui.engine.image_cond import inpainting_image_cond
from webui.engine.img2img_images import (
    INPAINT_AREAS,
    crop_region,
    expand_to_aspect,
    fill_masked,
    overlay_mask,
    paste_back,
    prepare_mask,
    resize_for_img2img,
)
from webui.engine.ksampling.denoiser import LatentMask
from webui.engine.passes import PassSampler, encode_images, sample, upscale_latents
from webui.engine.request import InpaintMask
from webui.engine.variant_registry import BatchRun

LATENT_UPSCALE_RESIZE = 3  # "Just resize (latent upscale)"


class Img2ImgRun:
    """One batch of an img2img or inpaint job, sampled as A1111's `StableDiffusionProcessingImg2Img` does."""

    def __init__(self, batch: BatchRun) -> None:
        request = batch.request
        assert request.img2img is not None
        self._batch = batch
        self._pipeline = batch.pipeline
        self._request = request
        self._spec = request.img2img
        self._generators = batch.generators
        self._size = (request.width, request.height)

    def img2img(self) -> list[Image.Image]:
        """Interrupted or skipped, the last prediction is decoded all the same (A1111)."""
        source = self._spec.image.convert("RGB")
        if self._spec.resize_mode == LATENT_UPSCALE_RESIZE:
            latents = self._latent_upscaled(source)
            images = None
        else:
            images = [self._init(source)] * len(self._generators)
            latents = encode_images(self._pipeline, images, self._generators)
        image_cond = inpainting_image_cond(self._pipeline, images or [source.resize(self._size)], None, latents)
        return self._decode(self._sample(latents, None, image_cond))

    def inpaint(self) -> list[Image.Image]:
        assert self._spec.mask is not None
        return self._inpaint(self._init(self._spec.image.convert("RGB")), self._spec.mask)

    def _sample(self, latents: torch.Tensor, mask: LatentMask | None, image_cond: torch.Tensor | None
                ) -> torch.Tensor:
        batch = self._batch
        chosen = PassSampler(batch.plan.sampler, self._request.sampler_settings)
        return sample(self._pipeline, batch.observer, batch.settings, chosen, batch.noise_for(*self._size), latents,
                      self._spec.denoising_strength, mask=mask, image_cond=image_cond,
                      control=batch.control_for(*self._size))

    def _init(self, source: Image.Image) -> Image.Image:
        return resize_for_img2img(source, self._spec.resize_mode, *self._size)

    def _latent_upscaled(self, source: Image.Image) -> torch.Tensor:
        """A1111's latent-upscale resize: encode at the source size (rounded to 8), scale the latents."""
        width, height = (max(8, side - side % 8) for side in source.size)
        latents = encode_images(self._pipeline, [source.resize((width, height))] * len(self._generators),
                                self._generators)
        return upscale_latents(latents, "Latent", *self._size)

    def _inpaint(self, init: Image.Image, spec: InpaintMask) -> list[Image.Image]:
        mask_source = resize_for_img2img(spec.mask, self._spec.resize_mode % LATENT_UPSCALE_RESIZE, *self._size)
        soft_mask = prepare_mask(mask_source, spec.invert, spec.blur)
        hard_mask = prepare_mask(mask_source, spec.invert, 0)
        region = None
        work_image, work_mask, work_hard = init, soft_mask, hard_mask
        if spec.only_masked:
            region = expand_to_aspect(crop_region(hard_mask, spec.padding), *self._size, *init.size)
            work_image, work_mask, work_hard = (
                picture.crop(region).resize(self._size, Image.Resampling.LANCZOS)
                for picture in (init, soft_mask, hard_mask))
        if spec.fill == "fill":
            work_image = fill_masked(work_image, work_hard)
        count = len(self._generators)
        latents = encode_images(self._pipeline, [work_image] * count, self._generators)
        mask = _latent_mask(work_mask, latents)
        if spec.fill == "latent noise":
            noise = self._batch.noise_for(*self._size).first().to(latents.device, latents.dtype)
            latents = latents * mask.keep + noise * mask.repaint
        elif spec.fill == "latent nothing":
            latents = latents * mask.keep
        mask.init_latents = latents
        image_cond = inpainting_image_cond(self._pipeline, [work_image] * count, work_mask, latents)
        generated = self._decode(self._sample(latents, mask, image_cond))  # interrupted: pasted back all the same
        overlay = overlay_mask(soft_mask, INPAINT_AREAS[1] if spec.only_masked else INPAINT_AREAS[0])
        return [paste_back(init, image, overlay, region) for image in generated]

    def _decode(self, latents: torch.Tensor) -> list[Image.Image]:
        return self._batch.decode(latents)


def _latent_mask(mask: Image.Image, latents: torch.Tensor) -> LatentMask:
    """A1111's p.mask / p.nmask: the (blurred) mask resized to the latent size with Pillow's default filter and
    rounded to 0/1 (A1111's mask_round, on by default)."""
    height, width = latents.shape[-2:]
    small = np.asarray(mask.convert("RGB").resize((width, height)), dtype=np.float32)[..., 0] / 255.0
    repaint = torch.from_numpy(np.around(small)).to(latents.device, latents.dtype)[None, None]
    repaint = repaint.expand(latents.shape[0], latents.shape[1], -1, -1)
    return LatentMask(latents, 1.0 - repaint, repaint)
