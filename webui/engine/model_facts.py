"""The model facts a job actually ran with, recorded on its result.

The API's `info` and anything else that reports a finished job read these instead of asking the model manager what
is loaded *now* — by the time a client reads the answer another job may have switched checkpoint, VAE or clip skip.
Kept pure (no torch) so the API and jobs layers can hold and test them anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass

INPAINTING_UNET_CHANNELS = 9  # latents 4 + mask 1 + masked-image latents 4: an SD 1.x inpainting checkpoint


@dataclass(frozen=True)
class ModelFacts:
    checkpoint_title: str          # "name [shorthash]" as the dropdown and /sd-models show it
    model_name: str                # file name without folder or extension (infotext "Model")
    model_short_hash: str | None   # None under --no-hashing
    vae_name: str | None           # None: the checkpoint's own VAE
    vae_short_hash: str | None
    clip_skip: int                 # the value the job encoded its prompts with (1 = none)
    inpainting_conditioning: bool  # A1111's is_using_inpainting_conditioning: a 9-channel UNet and a mask
    is_demo: bool                  # the built-in random-weight demo model


def uses_inpainting_conditioning(unet_in_channels: int, has_mask: bool) -> bool:
    """A1111 feeds the masked image as extra UNet channels only when the model has them and the job has a mask."""
    return unet_in_channels == INPAINTING_UNET_CHANNELS and has_mask
