"""The denoising passes a job is made of, each one call of a diffusers pipeline returning latents.

txt2img uses the loaded `StableDiffusionPipeline`; img2img, inpaint and the hires-fix second pass use
`StableDiffusionImg2ImgPipeline` / `StableDiffusionInpaintPipeline` built with `from_pipe`, which shares the loaded
components (no copy, no reload). Conditioning is always ours (`prompt_embeds`), see `conditioning.py`.
"""

from __future__ import annotations

from dataclasses import dataclass

import diffusers
import torch
import torch.nn.functional as functional
from PIL import Image

from webui.engine.sampling import PassObserver

# A1111's latent upscale modes → torch interpolation (mode, antialias).
LATENT_INTERPOLATION = {
    "Latent": ("bilinear", False),
    "Latent (antialiased)": ("bilinear", True),
    "Latent (bicubic)": ("bicubic", False),
    "Latent (bicubic antialiased)": ("bicubic", True),
    "Latent (nearest)": ("nearest", False),
    "Latent (nearest-exact)": ("nearest-exact", False),
}


@dataclass(frozen=True)
class SamplingSettings:
    steps: int
    cfg_scale: float
    width: int
    height: int


def _common(observer: PassObserver, settings: SamplingSettings, generators: list[torch.Generator]) -> dict:
    cond, uncond = observer.initial_embeds()
    return {
        "prompt_embeds": cond, "negative_prompt_embeds": uncond,
        "num_inference_steps": settings.steps, "guidance_scale": settings.cfg_scale,
        "width": settings.width, "height": settings.height, "generator": generators,
        "callback_on_step_end": observer, "callback_on_step_end_tensor_inputs": observer.tensor_inputs,
        "output_type": "latent",
    }


def txt2img_pass(pipeline, observer: PassObserver, settings: SamplingSettings,
                 generators: list[torch.Generator]) -> torch.Tensor:
    return pipeline(**_common(observer, settings, generators)).images


def img2img_pass(pipeline, observer: PassObserver, settings: SamplingSettings, generators: list[torch.Generator],
                 init: list[Image.Image] | torch.Tensor, strength: float) -> torch.Tensor:
    """`init` is one image per seed (encoded by the pipeline) or latents already scaled by the VAE factor."""
    img2img = diffusers.StableDiffusionImg2ImgPipeline.from_pipe(pipeline)
    img2img.set_progress_bar_config(disable=True)  # the job's console bar reports progress
    return img2img(image=_batched(init, len(generators)), strength=strength,
                   **_common(observer, settings, generators)).images


def inpaint_pass(pipeline, observer: PassObserver, settings: SamplingSettings, generators: list[torch.Generator],
                 init: list[Image.Image] | torch.Tensor, mask: Image.Image, strength: float,
                 masked_image_latents: torch.Tensor | None = None) -> torch.Tensor:
    """4-channel models blend the known latents back every step; 9-channel inpainting models get the masked image
    as extra input channels — diffusers' inpaint pipeline does either, depending on the UNet."""
    inpaint = diffusers.StableDiffusionInpaintPipeline.from_pipe(pipeline)
    inpaint.set_progress_bar_config(disable=True)
    extra = {} if masked_image_latents is None else {"masked_image_latents": masked_image_latents}
    return inpaint(image=_batched(init, len(generators)), mask_image=mask, strength=strength, **extra,
                   **_common(observer, settings, generators)).images


def _batched(init: list[Image.Image] | torch.Tensor, count: int):
    if isinstance(init, torch.Tensor):
        return init if init.shape[0] == count else init.expand(count, -1, -1, -1)
    return init if len(init) == count else init * count


def run_steps(steps: int, strength: float) -> int:
    """How many steps an img2img pass really runs (diffusers and A1111 both run int(steps × strength))."""
    return min(steps, int(steps * strength))


def upscale_latents(latents: torch.Tensor, mode: str, width: int, height: int) -> torch.Tensor:
    interpolation, antialias = LATENT_INTERPOLATION[mode]
    size = (height // 8, width // 8)
    if interpolation in ("nearest", "nearest-exact"):
        return functional.interpolate(latents, size=size, mode=interpolation)
    return functional.interpolate(latents, size=size, mode=interpolation, antialias=antialias)


def encode_images(pipeline, images: list[Image.Image], generators: list[torch.Generator]) -> torch.Tensor:
    """Pixels → latents scaled by the VAE factor (one sample of the latent distribution per image seed)."""
    vae = pipeline.vae
    pixels = pipeline.image_processor.preprocess(images).to(device=vae.device, dtype=vae.dtype)
    latents = [vae.encode(pixels[index:index + 1]).latent_dist.sample(generator)
               for index, generator in enumerate(generators)]
    return torch.cat(latents) * vae.config.scaling_factor
