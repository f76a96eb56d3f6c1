"""What the worker does with a generation job: run the engine, save each image with its infotext.

Settings that may change while the app runs (infotext options, output folders) are read once per job through a
provider that returns plain values, so this layer never sees the Settings object.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from webui.engine.generate import GenerationEngine, InfotextOptions
from webui.infotext.png import png_bytes_with_infotext
from webui.jobs.job import Job
from webui.storage.outputs import ImageSaver, SaveOptions, encode_png


@dataclass(frozen=True)
class SavedImage:
    path: Path | None      # None when the request asked not to save (A1111's API default)
    seed: int
    infotext: str
    png: bytes             # the encoded image, infotext included


@dataclass(frozen=True)
class GenerationOutput:
    images: tuple[SavedImage, ...]
    interrupted: bool
    checkpoint_title: str
    is_demo_model: bool
    notes: tuple[str, ...] = ()

    @property
    def seeds(self) -> tuple[int, ...]:
        return tuple(image.seed for image in self.images)


@dataclass(frozen=True)
class JobOptions:
    infotext: InfotextOptions
    save: SaveOptions                       # txt2img
    save_img2img: SaveOptions | None = None  # img2img and inpaint (None: same as txt2img)
    clip_skip: int = 1                      # CLIP_stop_at_last_layers, for requests that do not set their own

    def save_for(self, mode: str) -> SaveOptions:
        return self.save if mode == "txt2img" or self.save_img2img is None else self.save_img2img


class GenerationService:
    """Runs one job: generate, encode each image with its infotext, save it when the request says so."""

    def __init__(self, engine: GenerationEngine, saver: ImageSaver, options: Callable[[], JobOptions]) -> None:
        self._engine = engine
        self._saver = saver
        self._options = options

    def run(self, job: Job) -> GenerationOutput:
        options = self._options()
        request = job.request
        if request.clip_skip is None:
            request = replace(request, clip_skip=options.clip_skip)
        save = options.save_for(request.mode)
        result = self._engine.generate(request, options.infotext, progress=job.report_progress,
                                       cancelled=lambda: job.cancel_requested, skip=job.take_skip,
                                       preview=lambda image: job.set_preview(png_bytes_with_infotext(image, None)))
        saved = tuple(self._keep(item.image, item.seed, item.infotext, save, request.save_images)
                      for item in result.images)
        return GenerationOutput(saved, result.interrupted, result.checkpoint_title, result.is_demo_model,
                                result.notes)

    def _keep(self, image, seed: int, infotext: str, options: SaveOptions, save: bool) -> SavedImage:
        png = encode_png(image, infotext, options)
        path = self._saver.save_encoded(png, seed, options) if save else None
        return SavedImage(path, seed, infotext, png)
