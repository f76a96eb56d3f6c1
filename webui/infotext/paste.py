"""From an infotext back to the generation controls (pure), as A1111's PNG Info / paste button does.

`generation_parameters` is A1111's parse_generation_parameters: the parsed keys plus the defaults A1111 fills for
missing ones (so an old infotext without "Clip skip" resets the control to 1, not to whatever it was).
`pasted_fields` turns those strings into typed values for the controls; a value that is absent or unreadable is
None, which leaves its control alone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from webui.infotext.parse import parse_infotext

USE_SAME_SAMPLER = "Use same sampler"
USE_SAME_SCHEDULER = "Use same scheduler"
A1111_DEFAULTS = {
    "Clip skip": "1", "Hires resize-1": "0", "Hires resize-2": "0", "Hires sampler": USE_SAME_SAMPLER,
    "Hires schedule type": USE_SAME_SCHEDULER, "Hires checkpoint": "Use same checkpoint", "Hires prompt": "",
    "Hires negative prompt": "", "Mask mode": "Inpaint masked", "Masked content": "original",
    "Inpaint area": "Whole picture", "Masked area padding": "32", "RNG": "GPU", "Schedule type": "Automatic",
    "VAE Encoder": "Full", "VAE Decoder": "Full",
}
T = TypeVar("T")


def generation_parameters(text: str) -> dict[str, str]:
    parameters = parse_infotext(text)
    for key, value in A1111_DEFAULTS.items():
        parameters.setdefault(key, value)
    return parameters


def _typed(parameters: dict[str, str], key: str, convert: Callable[[str], T]) -> T | None:
    value = parameters.get(key)
    if value is None:
        return None
    try:
        return convert(value)
    except ValueError:
        return None


def _whole(text: str) -> int:
    return int(float(text))


@dataclass(frozen=True)
class PastedFields:
    prompt: str
    negative_prompt: str
    steps: int | None
    sampler: str | None
    schedule_type: str | None
    cfg_scale: float | None
    seed: int | None
    width: int | None
    height: int | None
    clip_skip: int | None
    denoising_strength: float | None
    enable_hr: bool
    hr_scale: float | None
    hr_upscaler: str | None
    hr_steps: int | None
    hr_resize_x: int | None
    hr_resize_y: int | None
    hr_sampler: str | None
    hr_scheduler: str | None
    hr_prompt: str | None
    hr_negative_prompt: str | None
    mask_blur: int | None
    model_hash: str | None


def pasted_fields(parameters: dict[str, str]) -> PastedFields:
    """A1111's paste-field mapping (Size-1 → width, Hires upscale → hr_scale, ...) with typed values."""
    get = parameters.get
    hires_resized = (_typed(parameters, "Hires resize-1", _whole) or 0) > 0
    enable_hr = "Denoising strength" in parameters and (
        "Hires upscale" in parameters or "Hires upscaler" in parameters or hires_resized)
    return PastedFields(
        prompt=get("Prompt", ""), negative_prompt=get("Negative prompt", ""),
        steps=_typed(parameters, "Steps", _whole), sampler=get("Sampler"), schedule_type=get("Schedule type"),
        cfg_scale=_typed(parameters, "CFG scale", float), seed=_typed(parameters, "Seed", _whole),
        width=_typed(parameters, "Size-1", _whole), height=_typed(parameters, "Size-2", _whole),
        clip_skip=_typed(parameters, "Clip skip", _whole),
        denoising_strength=_typed(parameters, "Denoising strength", float), enable_hr=enable_hr,
        hr_scale=_typed(parameters, "Hires upscale", float), hr_upscaler=get("Hires upscaler"),
        hr_steps=_typed(parameters, "Hires steps", _whole),
        hr_resize_x=_typed(parameters, "Hires resize-1", _whole),
        hr_resize_y=_typed(parameters, "Hires resize-2", _whole),
        hr_sampler=get("Hires sampler"), hr_scheduler=get("Hires schedule type"), hr_prompt=get("Hires prompt"),
        hr_negative_prompt=get("Hires negative prompt"), mask_blur=_typed(parameters, "Mask blur", _whole),
        model_hash=get("Model hash"),
    )
