"""img2img and inpaint for one batch: prepare the init image and mask as A1111 does, run one diffusers pass, put
the result back.

Image preparation (resize modes, mask blur and inversion, the "only masked" crop, "fill") is pure Pillow work in
`img2img_images`; this module does the latent side: A1111's "latent noise" / "latent nothing" masked content,
"Just resize (latent upscale)", denoising 0 (a VAE round trip, no sampling) and the final paste that keeps unmasked
pixels exactly as they were.
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from webui.engine.decode import decode_latents
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
from webui.engine.passes import (
    SamplingSettings,
    encode_images,
    img2img_pass,
    inpaint_pass,
    run_steps,
    upscale_latents,
)
from webui.engine.request import GenerationRequest, InpaintMask
from webui.engine.sampling import PassObserver

LATENT_UPSCALE_RESIZE = 3  # "Just resize (latent upscale)"


class Img2ImgRun:
    def __init__(self, pipeline, request: GenerationRequest, generators: list[torch.Generator]) -> None:
        assert request.img2img is not None
        self._pipeline = pipeline
        self._request = request
        self._spec = request.img2img
        self._generators = generators
        self._size = (request.width, request.height)

    def img2img(self, observer: PassObserver, settings: SamplingSettings, notes: list[str]) -> list[Image.Image]:
        """Interrupted or skipped, the latents the pass reached are decoded all the same (A1111)."""
        source = self._spec.image.convert("RGB")
        start: list[Image.Image] | torch.Tensor = [self._init(source)] * len(self._generators)
        if self._spec.resize_mode == LATENT_UPSCALE_RESIZE:
            start = self._latent_upscaled(source)
        if run_steps(self._request.steps, self._spec.denoising_strength) < 1:
            return self._decode(self._as_latents(start), notes)
        latents = img2img_pass(self._pipeline, observer, settings, self._generators, start,
                               self._spec.denoising_strength)
        return self._decode(latents, notes)

    def inpaint(self, observer: PassObserver, settings: SamplingSettings, notes: list[str]) -> list[Image.Image]:
        assert self._spec.mask is not None
        return self._inpaint(self._init(self._spec.image.convert("RGB")), self._spec.mask, observer, settings, notes)

    def _init(self, source: Image.Image) -> Image.Image:
        return resize_for_img2img(source, self._spec.resize_mode, *self._size)

    def _latent_upscaled(self, source: Image.Image) -> torch.Tensor:
        """A1111's latent-upscale resize: encode at the source size (rounded to 8), scale the latents."""
        width, height = (max(8, side - side % 8) for side in source.size)
        latents = encode_images(self._pipeline, [source.resize((width, height))] * len(self._generators),
                                self._generators)
        return upscale_latents(latents, "Latent", *self._size)

    def _as_latents(self, start: list[Image.Image] | torch.Tensor) -> torch.Tensor:
        return start if isinstance(start, torch.Tensor) else encode_images(self._pipeline, start, self._generators)

    def _inpaint(self, init: Image.Image, spec: InpaintMask, observer: PassObserver, settings: SamplingSettings,
                 notes: list[str]) -> list[Image.Image]:
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
        strength = self._spec.denoising_strength
        if run_steps(self._request.steps, strength) < 1:
            generated = self._decode(self._as_latents([work_image] * len(self._generators)), notes)
        else:
            start, masked_latents = self._inpaint_start(work_image, work_hard, spec.fill)
            latents = inpaint_pass(self._pipeline, observer, settings, self._generators, start, work_mask,
                                   strength, masked_latents)  # interrupted: what it reached, pasted back below
            generated = self._decode(latents, notes)
        overlay = overlay_mask(soft_mask, INPAINT_AREAS[1] if spec.only_masked else INPAINT_AREAS[0])
        return [paste_back(init, image, overlay, region) for image in generated]

    def _inpaint_start(self, image: Image.Image, hard_mask: Image.Image,
                       fill: str) -> tuple[list[Image.Image] | torch.Tensor, torch.Tensor | None]:
        """Pixels for "fill"/"original"; for "latent noise"/"latent nothing" the encoded image with its masked
        latents replaced by noise or zeros (and, for 9-channel models, the masked image's latents, which diffusers
        would otherwise derive from pixels)."""
        count = len(self._generators)
        if fill not in ("latent noise", "latent nothing"):
            return [image] * count, None
        latents = encode_images(self._pipeline, [image] * count, self._generators)
        mask = _latent_mask(hard_mask, latents)
        if fill == "latent noise":
            noise = torch.cat([torch.randn(latents.shape[1:], generator=generator, device=generator.device)
                               .to(latents.device, latents.dtype).unsqueeze(0) for generator in self._generators])
            latents = latents * (1 - mask) + noise * mask
        else:
            latents = latents * (1 - mask)
        # diffusers derives the masked image from pixels unless given its latents; only 9-channel UNets read them
        masked_latents = latents
        if self._pipeline.unet.config.in_channels == 9:
            grey = Image.new("RGB", image.size, (128, 128, 128))  # 0 in the VAE's [-1, 1] range, as diffusers masks
            kept = Image.composite(grey, image, hard_mask)
            masked_latents = encode_images(self._pipeline, [kept] * count, self._generators)
        return latents, masked_latents

    def _decode(self, latents: torch.Tensor, notes: list[str]) -> list[Image.Image]:
        images, note = decode_latents(self._pipeline, latents)
        if note and note not in notes:
            notes.append(note)
        return images


def _latent_mask(mask: Image.Image, latents: torch.Tensor) -> torch.Tensor:
    height, width = latents.shape[-2:]
    small = np.asarray(mask.convert("L").resize((width, height), Image.Resampling.BILINEAR), dtype=np.float32)
    return torch.from_numpy(small / 255.0).to(latents.device, latents.dtype)[None, None]
