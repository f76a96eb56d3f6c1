"""The denoising passes a job is made of: A1111's sampling (`ksampling`) over the loaded pipeline's UNet, with the
pipeline's VAE for encoding and decoding. Conditioning is always ours, see `conditioning.py`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as functional
from PIL import Image

from webui.engine.ksampling.denoiser import LatentMask
from webui.engine.ksampling.noise import ImageNoise
from webui.engine.ksampling.run import SamplingPass, a1111_alphas_cumprod, run_pass
from webui.engine.request import SamplerParameters
from webui.engine.samplers import ResolvedSampler
from webui.engine.sampling import PassObserver

if TYPE_CHECKING:
    from webui.engine.controlnet.hook import ControlPassHook

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


@dataclass(frozen=True)
class PassSampler:
    """The sampler of one pass and the settings it runs with."""

    sampler: ResolvedSampler
    parameters: SamplerParameters


def sampling_device(pipeline) -> torch.device:
    """Where the UNet runs (its execution device under offload, which diffusers' hooks expose)."""
    device = getattr(pipeline, "_execution_device", None) or pipeline.unet.device
    return torch.device(device)


def sample(pipeline, observer: PassObserver, settings: SamplingSettings, chosen: PassSampler, noise: ImageNoise,
           init_latents: torch.Tensor | None = None, strength: float = 1.0, fixed_steps: bool = False,
           mask: LatentMask | None = None, image_cond: torch.Tensor | None = None,
           control: ControlPassHook | None = None) -> torch.Tensor:
    """One pass (txt2img from noise, or img2img from `init_latents` at `strength`) → latents; when stopped, the
    last x0 prediction (see `ksampling.run`)."""
    device = sampling_device(pipeline)
    job = SamplingPass(
        unet=pipeline.unet, sampler=chosen.sampler, steps=settings.steps, cfg_scale=settings.cfg_scale, noise=noise,
        alphas_cumprod=a1111_alphas_cumprod(dict(pipeline.scheduler.config),
                                            chosen.parameters.downcast_alphas_cumprod),
        conditioning=observer.conditioning_at, parameters=chosen.parameters, should_stop=observer.should_stop,
        on_step=observer.on_step, device=device,
        init_latents=None if init_latents is None else init_latents.to(device, torch.float32),
        denoising_strength=strength, fixed_steps=fixed_steps, mask=mask,
        image_cond=None if image_cond is None else image_cond.to(device, torch.float32), control=control)
    with torch.inference_mode():
        return run_pass(job, dict(pipeline.scheduler.config))


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
