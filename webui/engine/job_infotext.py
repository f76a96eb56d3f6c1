"""The infotext of one job's images: which A1111 keys a request produces, and in which order.

Kept apart from the engine so the key choices (what A1111 writes for hires fix, img2img and inpaint, when it omits a
default) sit in one readable place and are pinned by golden tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from webui.engine.request import GenerationRequest
from webui.infotext.format import GenerationInfo

if TYPE_CHECKING:
    from webui.engine.generate import JobPlan
    from webui.model_manager.manager import LoadedModel


@dataclass(frozen=True)
class InfotextOptions:
    """A1111's infotext settings, passed in as values for each job."""

    add_model_hash: bool = True
    add_model_name: bool = True
    version: str | None = None
    preview_every: int = 0  # A1111's show_progress_every_n_steps when live previews are on; 0 = none


def hires_keys(request: GenerationRequest, plan: JobPlan) -> list[tuple[str, object | None]]:
    hires = request.hires
    if hires is None:
        return []
    resized = bool(hires.resize_width or hires.resize_height)
    keys: list[tuple[str, object | None]] = [
        ("Hires resize", f"{hires.resize_width}x{hires.resize_height}") if resized else ("Hires upscale", hires.scale),
        ("Hires steps", hires.steps or None),
        ("Hires upscaler", hires.upscaler),
    ]
    if plan.hires_sampler is not None:
        if plan.hires_sampler.sampler.name != plan.sampler.sampler.name:
            keys.append(("Hires sampler", plan.hires_sampler.sampler.name))
        if plan.hires_sampler.schedule_label != plan.sampler.schedule_label:
            keys.append(("Hires schedule type", plan.hires_sampler.schedule_label))
    if hires.prompt and hires.prompt != request.prompt:
        keys.append(("Hires prompt", hires.prompt))
    if hires.negative_prompt and hires.negative_prompt != request.negative_prompt:
        keys.append(("Hires negative prompt", hires.negative_prompt))
    return keys


def img2img_keys(request: GenerationRequest) -> list[tuple[str, object | None]]:
    img2img = request.img2img
    if img2img is None:
        return []
    keys: list[tuple[str, object | None]] = []
    mask = img2img.mask
    if mask is not None:
        keys += [  # A1111 writes the blur, and the other controls only when they differ from its defaults
            ("Mask blur", mask.blur),
            ("Mask mode", "Inpaint not masked" if mask.invert else None),
            ("Inpaint area", "Only masked" if mask.only_masked else None),
            ("Masked area padding", mask.padding if mask.only_masked else None),
            ("Masked content", mask.fill if mask.fill != "original" else None),
        ]
    return keys


class JobInfotext:
    """Builds each image's infotext; only the seed differs between the images of a job."""

    def __init__(self, request: GenerationRequest, plan: JobPlan, loaded: LoadedModel, options: InfotextOptions,
                 extra_keys: tuple[tuple[str, object | None], ...] = ()) -> None:
        self._request = request
        self._plan = plan
        self._loaded = loaded
        self._options = options
        self._extra_keys = extra_keys

    def for_seed(self, seed: int) -> str:
        request, loaded, options = self._request, self._loaded, self._options
        denoising = None
        if request.img2img is not None:
            denoising = request.img2img.denoising_strength
        elif request.hires is not None:
            denoising = request.hires.denoising_strength
        return GenerationInfo(
            prompt=request.prompt, negative_prompt=request.negative_prompt, steps=request.steps,
            sampler=self._plan.sampler.sampler.name, schedule_type=self._plan.sampler.schedule_label,
            cfg_scale=request.cfg_scale, seed=seed, width=request.width, height=request.height,
            model_hash=loaded.record.short_hash if options.add_model_hash else None,
            model_name=loaded.record.model_name if options.add_model_name else None,
            version=options.version,
            vae_hash=loaded.vae.short_hash if loaded.vae and options.add_model_hash else None,
            vae_name=loaded.vae.model_name if loaded.vae and options.add_model_name else None,
            denoising_strength=denoising, clip_skip=request.clip_skip or 1,
            extras=(*hires_keys(request, self._plan), *img2img_keys(request), *self._extra_keys),
        ).text()
