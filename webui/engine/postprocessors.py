"""Post-processors: ordered image → image steps after decode, each recording the infotext fields it wrote.

Two paths run them: every generated image (after decode, before its infotext is final and it is saved) and the
Extras tab (`postprocess.py`, where the upscale step is the built-in). A step says whether it applies to an input
by returning None; face restoration or an extension's watermark are one registration each, in one place.
Steps run by `order` (lower first; A1111 runs face restoration before upscaling), ties in registration order.

Pure at run time (images are only passed along) so the extension API can name these types.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from webui.engine.registry import Entry, FailureReport, NamedRegistry

if TYPE_CHECKING:
    from webui.engine.extras_request import ExtrasRequest
    from webui.engine.request import GenerationRequest
    from webui.engine.upscale import UpscaleControl, UpscalerRegistry

InfotextField = tuple[str, object | None]
TileProgress = Callable[[int, int, int], None]  # (upscaler pass 0 or 1, tile done, tile count)
DEFAULT_ORDER = 1000


@dataclass(frozen=True)
class PostprocessInput:
    """The image to process and where it comes from: exactly one of `generation` and `extras` is set."""

    image: Any                                   # a PIL.Image.Image; return a new one, do not modify it
    generation: GenerationRequest | None = None  # after txt2img / img2img / inpaint
    extras: ExtrasRequest | None = None          # in the Extras tab
    seed: int | None = None                      # the image's seed (generation only)
    index: int = 0                               # 0-based position of the image in its job
    upscalers: UpscalerRegistry | None = None
    control: UpscaleControl | None = None        # tile settings and the stop check
    progress: TileProgress | None = None


@dataclass(frozen=True)
class PostprocessResult:
    image: Any
    fields: tuple[InfotextField, ...] = ()       # ("Face restoration", "CodeFormer"), in infotext order


PostprocessStep = Callable[[PostprocessInput], PostprocessResult | None]  # None: does not apply, image unchanged


@dataclass(frozen=True)
class PostProcessor:
    step: PostprocessStep
    order: int = DEFAULT_ORDER


@dataclass(frozen=True)
class PostprocessOutcome:
    image: Any
    fields: tuple[InfotextField, ...] = ()
    applied: tuple[str, ...] = field(default=())  # names of the steps that returned a result


def postprocessor_registry() -> NamedRegistry[PostProcessor]:
    return NamedRegistry("post-processor")


def register_step(registry: NamedRegistry[PostProcessor], name: str, step: PostprocessStep,
                  order: int = DEFAULT_ORDER, on_failure: FailureReport | None = None) -> None:
    if not callable(step):
        raise TypeError(f"post-processor {name!r} must be callable, got {step!r}")
    registry.register(name, PostProcessor(step, order), on_failure)


def ordered(entries: Sequence[Entry[PostProcessor]]) -> list[Entry[PostProcessor]]:
    return sorted(entries, key=lambda entry: entry.item.order)  # sorted() is stable: ties keep their order


def run_postprocessors(entries: Sequence[Entry[PostProcessor]], start: PostprocessInput) -> PostprocessOutcome:
    """Each step gets the image the previous one left. An isolated (extension) step that raises or returns
    something that is not a PostprocessResult is reported and skipped; a built-in's error is the job's error."""
    current = start
    fields: list[InfotextField] = []
    applied: list[str] = []
    for entry in ordered(entries):
        try:
            result = entry.item.step(current)
            if result is not None and not isinstance(result, PostprocessResult):
                raise TypeError(f"post-processor {entry.name!r} must return PostprocessResult or None, "
                                f"not {type(result).__name__}")
        except Exception:
            if entry.on_failure is None:
                raise
            entry.on_failure(traceback.format_exc())
            continue
        if result is None:
            continue
        current = replace(current, image=result.image)
        fields.extend(result.fields)
        applied.append(entry.name)
    return PostprocessOutcome(current.image, tuple(fields), tuple(applied))
