"""Live previews from latents, without a VAE decode: A1111's "Approx cheap" method.

Each SD 1.x latent channel maps roughly linearly to RGB; a 4×3 matrix gives a recognisable, blurry preview of the
image being sampled for almost no cost, so it can run every few steps even on a 4 GB card.
"""

from __future__ import annotations

import torch
from PIL import Image

# SD 1.x latent channel → (R, G, B) weights, the factors A1111's cheap approximation uses.
SD1_LATENT_TO_RGB = ((0.298, 0.207, 0.208), (0.187, 0.286, 0.173), (-0.158, 0.189, 0.264), (-0.184, -0.271, -0.473))


def cheap_preview(latents: torch.Tensor, size: tuple[int, int]) -> Image.Image:
    """The first image of a latent batch as a rough RGB picture of `size` (width, height)."""
    factors = torch.tensor(SD1_LATENT_TO_RGB, dtype=torch.float32)
    rgb = torch.einsum("chw,cr->hwr", latents[0].detach().float().cpu(), factors)
    pixels = ((rgb + 1.0) / 2.0).clamp(0.0, 1.0).mul(255).round().to(torch.uint8).numpy()
    return Image.fromarray(pixels, mode="RGB").resize(size, Image.Resampling.BILINEAR)
