"""Latents → PIL images, with A1111's safety net for fp16 VAEs.

An fp16 VAE sometimes decodes to NaN (a known SD 1.x VAE weakness, hence A1111's --no-half-vae and its automatic
fallback). We decode exactly as diffusers' pipeline does; when the result holds NaN and the VAE runs in half
precision, that decode is redone in fp32 and the caller gets a note saying so.
"""

from __future__ import annotations

import logging

import torch
from PIL import Image

log = logging.getLogger(__name__)
NAN_FALLBACK_NOTE = "the fp16 VAE produced NaN; this image was decoded again in fp32"


def _decode(vae, latents: torch.Tensor) -> torch.Tensor:
    return vae.decode(latents / vae.config.scaling_factor, return_dict=False)[0]


def decode_latents(pipeline, latents: torch.Tensor) -> tuple[list[Image.Image], str | None]:
    vae = pipeline.vae
    decoded = _decode(vae, latents.to(vae.dtype))
    note = None
    if torch.isnan(decoded).any() and vae.dtype in (torch.float16, torch.bfloat16):
        half = vae.dtype
        log.warning("VAE decode in %s produced NaN; decoding again in fp32", half)
        vae.to(torch.float32)
        try:
            decoded = _decode(vae, latents.to(torch.float32))
        finally:
            vae.to(half)
        note = NAN_FALLBACK_NOTE
    images = pipeline.image_processor.postprocess(decoded, output_type="pil",
                                                  do_denormalize=[True] * decoded.shape[0])
    return list(images), note
