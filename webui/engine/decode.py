"""Latents → PIL images, with A1111's safety net for fp16 VAEs.

An fp16 VAE sometimes decodes to NaN (a known SD 1.x VAE weakness, hence A1111's --no-half-vae and its automatic
fallback). We decode as A1111 does (truncating to 8 bits); when the result holds NaN and the VAE runs in half
precision, that decode is redone in fp32 and the caller gets a note saying so.
"""

from __future__ import annotations

import logging

import numpy as np
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
    return to_pil_images(decoded), note


def to_pil_images(decoded: torch.Tensor) -> list[Image.Image]:
    """A1111's conversion: 255 · clamp((x + 1) / 2, 0, 1), truncated (not rounded) to uint8."""
    unit = torch.clamp((decoded.float() + 1.0) / 2.0, min=0.0, max=1.0)
    arrays = (255.0 * unit.permute(0, 2, 3, 1).cpu().numpy()).astype(np.uint8)
    return [Image.fromarray(array) for array in arrays]
