"""The extra UNet input of 9-channel inpainting checkpoints (A1111's `c_concat`): [mask, masked-image latents].

A1111 builds it for every pass of such a model: in txt2img (and a latent hires pass) the whole image is masked
(mask 1, image 0.5 grey, which is 0 in the VAE's [-1, 1]); in img2img/inpaint the init image with the masked area
set to 0, next to the hard (rounded) mask scaled to the latent size with nearest-neighbour. 4-channel models get
None. The masked image is encoded with the VAE's mean: A1111 samples it from torch's global generator, whose state
depends on earlier jobs, so no seed reproduces that draw.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as functional
from PIL import Image

INPAINTING_IN_CHANNELS = 9


def _encode_mean(pipeline, pixels: torch.Tensor) -> torch.Tensor:
    vae = pipeline.vae
    latents = vae.encode(pixels.to(vae.device, vae.dtype)).latent_dist.mode()
    return latents.float() * vae.config.scaling_factor


def is_inpainting_model(pipeline) -> bool:
    return int(pipeline.unet.config.in_channels) == INPAINTING_IN_CHANNELS


def txt2img_image_cond(pipeline, count: int, width: int, height: int) -> torch.Tensor | None:
    if not is_inpainting_model(pipeline):
        return None
    with torch.inference_mode():
        latents = _encode_mean(pipeline, torch.zeros(1, 3, height, width)).expand(count, -1, -1, -1)
    return functional.pad(latents, (0, 0, 0, 0, 1, 0), value=1.0)


def inpainting_image_cond(pipeline, images: list[Image.Image], hard_mask: Image.Image | None,
                          latents: torch.Tensor) -> torch.Tensor | None:
    """`images` are the init pixels of each image of the batch, `hard_mask` white where to repaint (None: all)."""
    if not is_inpainting_model(pipeline):
        return None
    pixels = torch.stack([torch.from_numpy(np.asarray(image.convert("RGB"), dtype=np.float32) / 127.5 - 1.0)
                          .permute(2, 0, 1) for image in images])
    if hard_mask is None:
        mask = torch.ones(1, 1, *pixels.shape[-2:])
    else:
        mask = torch.round(torch.from_numpy(np.asarray(hard_mask.convert("L"), dtype=np.float32) / 255.0)[None, None])
    with torch.inference_mode():
        masked = _encode_mean(pipeline, pixels * (1.0 - mask))
    small_mask = functional.interpolate(mask, size=latents.shape[-2:]).expand(masked.shape[0], -1, -1, -1)
    return torch.cat([small_mask.to(masked.device), masked], dim=1)
