"""The Extras tab's runs: upscale one image or a batch as an EXTRAS job, save each with A1111's chunks.

A run is a job in the shared queue like a generation, so it takes its fair turn, belongs to its owner, shows
progress (image i of n, tile t of m) and is interrupted between tiles by its owner or an admin.

Saved files carry the source image's own text chunks (its `parameters`, if any) plus the post-processing infotext
under A1111's two keys, `postprocessing` and `extras`; with `enable_pnginfo` off they carry none.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from webui.engine.extras_request import ExtrasRequest
from webui.engine.postprocess import postprocess_image
from webui.engine.upscale import UpscaleInterrupted, UpscalerRegistry
from webui.infotext.png import EXTRAS_KEY, POSTPROCESSING_KEY, image_text_items, png_bytes_with_text_chunks
from webui.jobs.job import Job
from webui.storage.extras_files import ExtrasSaver

log = logging.getLogger(__name__)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")


@dataclass(frozen=True)
class ExtrasInput:
    image: Image.Image
    name: str | None = None   # the source file's name (a batch keeps it for the output when asked)


@dataclass(frozen=True)
class ExtrasOptions:
    """This moment's settings as plain values (read once per run)."""

    folder: Path                     # outdir_extras_samples
    embed_infotext: bool = True      # enable_pnginfo
    use_original_name: bool = True   # use_original_name_batch


@dataclass(frozen=True)
class ExtrasOutput:
    image: Image.Image
    png: bytes                        # what is (or would be) on disk, chunks included
    infotext: str
    path: Path | None


def images_in_folder(folder: Path) -> list[ExtrasInput]:
    """A1111's "Batch from directory": every image file in the folder (not its subfolders), by name. Files that
    are not images are skipped, as there."""
    if not folder.is_dir():
        raise ValueError(f"input directory {str(folder)!r} does not exist or is not a directory")
    inputs = []
    for path in sorted(folder.iterdir()):
        if not path.is_file() or path.suffix.lower() not in IMAGE_SUFFIXES:
            continue
        try:
            with Image.open(path) as image:
                image.load()
                inputs.append(ExtrasInput(image.copy(), path.name))
        except (UnidentifiedImageError, OSError) as error:
            log.warning("extras: skipped %s (%s)", path, error)
    if not inputs:
        raise ValueError(f"input directory {str(folder)!r} holds no images ({', '.join(IMAGE_SUFFIXES)})")
    return inputs


@dataclass(frozen=True)
class ExtrasSpec:
    """One Extras run: the upscale settings, the images, and whether (and where) to save the results."""

    request: ExtrasRequest
    inputs: tuple[ExtrasInput, ...]
    save: bool = True
    output_folder: Path | None = None   # "Batch from directory" output directory; None = outdir_extras_samples


@dataclass(frozen=True)
class ExtrasResult:
    outputs: tuple[ExtrasOutput, ...]
    interrupted: bool


class ExtrasService:
    """The runner of EXTRAS jobs (on the device worker): image i of n, tile t of m is the job's progress, and
    Interrupt (the job's cancel) stops between tiles, keeping the images already finished."""

    def __init__(self, upscalers: UpscalerRegistry, options: Callable[[], ExtrasOptions],
                 saver: ExtrasSaver | None = None, steps: Callable[[], list] | None = None) -> None:
        self._upscalers = upscalers
        self._options = options
        self._saver = saver or ExtrasSaver()
        self._steps = steps  # the post-processors in force (the built-in upscale plus extensions' steps)

    def check(self, request: ExtrasRequest) -> None:
        """Unknown upscaler names fail here, before anything is queued (LookupError listing the allowed ones)."""
        self._upscalers.get(request.upscaler_1)
        if request.blends_second:
            self._upscalers.get(request.upscaler_2)

    def run(self, job: Job) -> ExtrasResult:
        spec: ExtrasSpec = job.spec
        options = self._options()
        folder = spec.output_folder or options.folder
        control = self._upscalers.control(cancelled=lambda: job.cancel_requested)
        outputs: list[ExtrasOutput] = []
        total = len(spec.inputs)
        for index, item in enumerate(spec.inputs):
            job.report_progress(index, 0, 0, batch_count=total)

            def tile_done(_pass: int, done: int, tiles: int, image_index: int = index) -> None:
                job.report_progress(image_index, done, tiles, batch_count=total)

            try:
                result = postprocess_image(item.image, spec.request, self._upscalers, control, progress=tile_done,
                                           steps=self._steps() if self._steps is not None else None)
            except UpscaleInterrupted:
                return ExtrasResult(tuple(outputs), True)
            chunks = {**image_text_items(item.image), POSTPROCESSING_KEY: result.infotext,
                      EXTRAS_KEY: result.infotext} if options.embed_infotext else {}
            png = png_bytes_with_text_chunks(result.image, chunks)
            name = item.name if options.use_original_name else None
            path = self._saver.save(png, folder, name) if spec.save and not job.shutdown_requested else None
            outputs.append(ExtrasOutput(result.image, png, result.infotext, path))
        job.report_progress(total, 0, 0, batch_count=total)
        return ExtrasResult(tuple(outputs), job.cancel_requested)
