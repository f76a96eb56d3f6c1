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

from webui.infotext.controlnet import units_in
from webui.infotext.parse import parse_infotext

USE_SAME_SAMPLER = "Use same sampler"
USE_SAME_SCHEDULER = "Use same scheduler"
A1111_DEFAULTS = {
    "Clip skip": "1", "Hires resize-1": "0", "Hires resize-2": "0", "Hires sampler": USE_SAME_SAMPLER,
    "Hires schedule type": USE_SAME_SCHEDULER, "Hires checkpoint": "Use same checkpoint", "Hires prompt": "",
    "Hires negative prompt": "", "Mask mode": "Inpaint masked", "Masked content": "original",
    "Inpaint area": "Whole picture", "Masked area padding": "32", "RNG": "GPU", "Schedule type": "Automatic",
    "VAE Encoder": "Full", "VAE Decoder": "Full", "Seed resize from-1": "-1", "Seed resize from-2": "-1",
    # not A1111's (it leaves the control as it was): an infotext without a variation seed was made without one
    "Variation seed strength": "0",
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
    subseed: int | None = None
    subseed_strength: float | None = None
    seed_resize_from_w: int | None = None
    seed_resize_from_h: int | None = None
    settings: tuple[tuple[str, str], ...] = ()   # the infotext's setting keys (ENSD, RNG, Eta, ...) and values
    controlnet: tuple[tuple[int, tuple[tuple[str, object], ...]], ...] = ()  # (unit index, its fields)


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
        model_hash=get("Model hash"), subseed=_typed(parameters, "Variation seed", _whole),
        subseed_strength=_typed(parameters, "Variation seed strength", float),
        seed_resize_from_w=_typed(parameters, "Seed resize from-1", _whole),
        seed_resize_from_h=_typed(parameters, "Seed resize from-2", _whole),
        settings=tuple((key, parameters[key]) for key in INFOTEXT_SETTINGS if key in parameters),
        controlnet=tuple((index, tuple(values.items())) for index, values in sorted(units_in(parameters).items())),
    )


# A1111's infotext keys of settings (shared_options' `infotext=`): pasted into "Override settings", not Settings.
INFOTEXT_SETTINGS = {
    "Eta": "eta_ancestral", "Eta DDIM": "eta_ddim", "Sigma churn": "s_churn", "Sigma tmin": "s_tmin",
    "Sigma tmax": "s_tmax", "Sigma noise": "s_noise", "Schedule min sigma": "sigma_min",
    "Schedule max sigma": "sigma_max", "Schedule rho": "rho", "ENSD": "eta_noise_seed_delta", "RNG": "randn_source",
    "Discard penultimate sigma": "always_discard_next_to_last_sigma", "Beta schedule alpha": "beta_dist_alpha",
    "Beta schedule beta": "beta_dist_beta", "Downcast alphas_cumprod": "use_downcasted_alpha_bar",
}


def _setting_value(text: str, current: object) -> object:
    if isinstance(current, bool):
        return text.strip().lower() == "true"
    if isinstance(current, int):
        return int(float(text))
    if isinstance(current, float):
        return float(text)
    return text


def override_pairs(parameters: dict[str, str], current: Callable[[str], object]) -> list[str]:
    """The "Key: value" entries A1111's paste puts into Override settings: the infotext's setting keys whose value
    differs from this instance's setting (an infotext without "RNG" means A1111's default, GPU)."""
    pairs = []
    for key, setting in INFOTEXT_SETTINGS.items():
        if key not in parameters:
            continue
        try:
            value = _setting_value(parameters[key], current(setting))
        except ValueError:
            continue
        if value != current(setting):
            pairs.append(f"{key}: {parameters[key]}")
    return pairs


def override_settings(pairs: list[str], current: Callable[[str], object]) -> dict[str, object]:
    """Override settings entries ("ENSD: 31337") back to {setting key: typed value}; unknown entries raise."""
    overrides: dict[str, object] = {}
    for pair in pairs:
        key, _, text = pair.partition(": ")
        if key not in INFOTEXT_SETTINGS:
            raise ValueError(f"override setting {pair!r} is unknown; known: {', '.join(INFOTEXT_SETTINGS)}")
        setting = INFOTEXT_SETTINGS[key]
        try:
            overrides[setting] = _setting_value(text, current(setting))
        except ValueError:
            raise ValueError(f"override setting {pair!r}: {text!r} is not a valid value") from None
    return overrides
