"""The Extras tab's work on one image: upscale with upscaler 1, blend upscaler 2 over it, crop to fit.

A1111's order and arithmetic (`scripts/postprocessing_upscale.py`): both upscalers upscale the source to the same
size, the second is mixed in with `Image.blend` at its visibility, and "Crop to fit" centres the result on a canvas
of the requested size. The infotext is A1111's post-processing line, e.g.
`Postprocess upscale by: 2, Postprocess upscaler: R-ESRGAN 4x+ Anime6B`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from PIL import Image

from webui.engine.extras_request import ExtrasRequest, plan_upscale
from webui.engine.postprocessors import (
    PostprocessInput,
    PostProcessor,
    PostprocessResult,
    TileProgress,
    postprocessor_registry,
    register_step,
    run_postprocessors,
)
from webui.engine.registry import Entry, NamedRegistry
from webui.engine.upscale import UpscaleControl, UpscalerRegistry
from webui.infotext.format import parameters_line

UPSCALE_ORDER = 2000  # after extensions' steps of the default order; GFPGAN and CodeFormer follow (A1111's order)

__all__ = ["PostprocessedImage", "TileProgress", "extras_postprocessors", "postprocess_image", "upscale_step"]


@dataclass(frozen=True)
class PostprocessedImage:
    image: Image.Image
    infotext: str   # "" when nothing was done (upscaler 1 is None)


def upscale_step(target: PostprocessInput) -> PostprocessResult | None:
    """The Extras upscale (A1111's `postprocessing_upscale.py`); applies to Extras requests that upscale."""
    request, upscalers, control = target.extras, target.upscalers, target.control
    if request is None or not request.upscales or upscalers is None or control is None:
        return None
    first = upscalers.get(request.upscaler_1)
    second = upscalers.get(request.upscaler_2) if request.blends_second else None
    source, progress = target.image, target.progress
    plan = plan_upscale(request, source.width, source.height)

    def with_progress(which: int) -> UpscaleControl:
        report = None if progress is None else (lambda done, total: progress(which, done, total))
        return UpscaleControl(control.tile, control.overlap, control.free_vram_mb, report, control.cancelled)

    result = first.upscale(source, plan.size, with_progress(0))
    if second is not None:
        other = second.upscale(source, plan.size, with_progress(1)).convert(result.mode)
        result = Image.blend(result, other, request.upscaler_2_visibility)
    if plan.crop_to is not None:
        canvas = Image.new("RGB", plan.crop_to)
        canvas.paste(result, (plan.crop_to[0] // 2 - result.width // 2, plan.crop_to[1] // 2 - result.height // 2))
        result = canvas
    return PostprocessResult(result, tuple(plan.info.items()))


def extras_postprocessors() -> NamedRegistry[PostProcessor]:
    """The Extras tab's built-in steps (today: upscale)."""
    registry = postprocessor_registry()
    register_step(registry, "upscale", upscale_step, order=UPSCALE_ORDER)
    return registry


def postprocess_image(image: Image.Image, request: ExtrasRequest, upscalers: UpscalerRegistry,
                      control: UpscaleControl, progress: TileProgress | None = None,
                      steps: Sequence[Entry[PostProcessor]] | None = None) -> PostprocessedImage:
    """Unknown upscaler names fail before any work (the message lists the allowed ones). `steps` defaults to
    the built-ins; pass `engine.seams.extras_entries()` to include extensions' post-processors."""
    upscalers.get(request.upscaler_1)
    if request.blends_second:
        upscalers.get(request.upscaler_2)
    entries = extras_postprocessors().entries() if steps is None else steps
    outcome = run_postprocessors(entries, PostprocessInput(image.convert("RGB"), extras=request,
                                                           upscalers=upscalers, control=control, progress=progress))
    return PostprocessedImage(outcome.image, parameters_line(dict(outcome.fields)) if outcome.fields else "")
