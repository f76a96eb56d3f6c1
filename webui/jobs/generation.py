"""What the worker does with a generation job: run the engine, save each image with its infotext.

Settings that may change while the app runs (infotext options, output folders) are read once per job through a
provider that returns plain values, so this layer never sees the Settings object.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from tqdm import tqdm

from webui.engine.generate import GenerationEngine, InfotextOptions
from webui.engine.model_facts import ModelFacts
from webui.engine.request import GenerationRequest
from webui.infotext.format import add_parameters
from webui.infotext.png import png_bytes_with_infotext
from webui.jobs.hooks import FinishedImage, GenerationHooks, NoHooks
from webui.jobs.job import Job
from webui.storage.outputs import ImageSaver, SaveOptions, encode_png, grid_rows, image_grid


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
    grid: SavedImage | None = None   # A1111's grid of a batch, shown first in the gallery
    request: GenerationRequest | None = None   # the request as it ran (after hooks, with its model facts)
    model: ModelFacts | None = None   # the checkpoint, VAE and clip skip the job really ran with
    skipped: int = 0                  # batches Skip cut short (their images are what they had reached)
    subseed: int = -1                 # the first image's variation seed as the job resolved it
    control_maps: tuple[bytes, ...] = ()  # the ControlNet detected maps as PNG, shown after the images

    @property
    def seeds(self) -> tuple[int, ...]:
        return tuple(image.seed for image in self.images)


@dataclass(frozen=True)
class GridOptions:
    """A1111's grid settings: grid_save, grid_only_if_multiple, n_rows and the grid folders."""

    save: bool = True
    only_if_multiple: bool = True
    rows: int = -1
    txt2img: SaveOptions | None = None
    img2img: SaveOptions | None = None

    def folder_for(self, mode: str) -> SaveOptions | None:
        return self.txt2img if mode == "txt2img" else self.img2img


@dataclass(frozen=True)
class JobOptions:
    infotext: InfotextOptions
    save: SaveOptions                       # txt2img
    save_img2img: SaveOptions | None = None  # img2img and inpaint (None: same as txt2img)
    clip_skip: int = 1                      # CLIP_stop_at_last_layers, for requests that do not set their own
    grids: GridOptions = GridOptions()

    def save_for(self, mode: str) -> SaveOptions:
        return self.save if mode == "txt2img" or self.save_img2img is None else self.save_img2img


class ConsoleProgress:
    """A1111's console bar: one tqdm line per job over all its batches, besides the job's own progress."""

    def __init__(self, job: Job, batch_count: int) -> None:
        self._job = job
        self._batch_count = batch_count
        self._bar: tqdm | None = None

    def __enter__(self) -> ConsoleProgress:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._bar is not None:
            self._bar.close()

    def report(self, batch_index: int, step: int, total_steps: int) -> None:
        self._job.report_progress(batch_index, step, total_steps)
        if self._bar is None:
            self._bar = tqdm(total=total_steps * self._batch_count, desc=f"job {self._job.id[:8]}", unit="step",
                             leave=False, dynamic_ncols=True)
        self._bar.n = batch_index * total_steps + step
        self._bar.refresh()


class GenerationService:
    """Runs one job: generate, encode each image with its infotext, save it when the request says so."""

    def __init__(self, engine: GenerationEngine, saver: ImageSaver, options: Callable[[], JobOptions],
                 hooks: GenerationHooks | None = None) -> None:
        self._engine = engine
        self._saver = saver
        self._options = options
        self._hooks: GenerationHooks = hooks or NoHooks()

    def run(self, job: Job) -> GenerationOutput:
        options = self._options()
        request = self._hooks.before_generation(job.request, job.owner)
        if request.clip_skip is None:
            request = replace(request, clip_skip=options.clip_skip)
        save = options.save_for(request.mode)
        with ConsoleProgress(job, request.batch_count) as console:
            result = self._engine.generate(request, options.infotext, progress=console.report,
                                           cancelled=lambda: job.cancel_requested, skip=job.take_skip,
                                           preview=lambda image: job.set_preview(png_bytes_with_infotext(image,
                                                                                                         None)))
        images = [replace(item, infotext=add_parameters(item.infotext, self._hooks.after_image(
            FinishedImage(item.image, item.seed, index, item.infotext, request, job.owner))))
            for index, item in enumerate(result.images)]
        keep = request.save_images and not job.shutdown_requested  # a stopped job runs again after the restart
        saved = tuple(self._keep(item.image, item.seed, item.infotext, save, keep) for item in images)
        grid = self._grid(images, request, options) if keep else None
        return GenerationOutput(saved, result.interrupted, result.checkpoint_title, result.is_demo_model,
                                result.notes, grid, request, result.model, result.skipped, result.subseed,
                                tuple(png_bytes_with_infotext(image, None) for image in result.control_maps))

    def _grid(self, images, request, options: JobOptions) -> SavedImage | None:
        """Saved images of a batch → one grid file with the first image's infotext (A1111's process_images)."""
        grids = options.grids
        folder = grids.folder_for(request.mode)
        minimum = 2 if grids.only_if_multiple else 1
        if not (grids.save and request.save_images and folder is not None and len(images) >= minimum):
            return None
        grid = image_grid([item.image for item in images], grid_rows(len(images), grids.rows, request.batch_size))
        png = encode_png(grid, images[0].infotext, folder)
        return SavedImage(self._saver.save_grid(png, folder), images[0].seed, images[0].infotext, png)

    def _keep(self, image, seed: int, infotext: str, options: SaveOptions, save: bool) -> SavedImage:
        png = encode_png(image, infotext, options)
        path = self._saver.save_encoded(png, seed, options) if save else None
        return SavedImage(path, seed, infotext, png)
