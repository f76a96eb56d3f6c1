"""The Extras tab's work on one image: upscale with upscaler 1, blend upscaler 2 over it, crop to fit.

A1111's order and arithmetic (`scripts/postprocessing_upscale.py`): both upscalers upscale the source to the same
size, the second is mixed in with `Image.blend` at its visibility, and "Crop to fit" centres the result on a canvas
of the requested size. The infotext is A1111's post-processing line, e.g.
`Postprocess upscale by: 2, Postprocess upscaler: R-ESRGAN 4x+ Anime6B`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from PIL import Image

from webui.engine.extras_request import ExtrasRequest, plan_upscale
from webui.engine.upscale import UpscaleControl, UpscalerRegistry
from webui.infotext.format import parameters_line

TileProgress = Callable[[int, int, int], None]  # (upscaler pass 0 or 1, tile done, tile count)


@dataclass(frozen=True)
class PostprocessedImage:
    image: Image.Image
    infotext: str   # "" when nothing was done (upscaler 1 is None)


def postprocess_image(image: Image.Image, request: ExtrasRequest, upscalers: UpscalerRegistry,
                      control: UpscaleControl, progress: TileProgress | None = None) -> PostprocessedImage:
    """Unknown upscaler names fail before any work (the message lists the allowed ones)."""
    first = upscalers.get(request.upscaler_1)
    second = upscalers.get(request.upscaler_2) if request.blends_second else None
    source = image.convert("RGB")
    if not request.upscales:
        return PostprocessedImage(source, "")
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
    return PostprocessedImage(result, parameters_line(plan.info))
