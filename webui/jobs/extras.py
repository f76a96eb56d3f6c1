"""The Extras tab's runs: upscale one image or a batch on the device thread, save each with A1111's chunks.

A run is started from any thread and does its work through `DeviceThread.run`, so it takes its turn with the
generation jobs and never runs a model beside them. Each run can be watched (image i of n, tile t of m) and
interrupted between tiles; `/sdapi/v1/interrupt` stops every run, a tab's Interrupt only that browser's.

Saved files carry the source image's own text chunks (its `parameters`, if any) plus the post-processing infotext
under A1111's two keys, `postprocessing` and `extras`; with `enable_pnginfo` off they carry none.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from webui.engine.extras_request import ExtrasRequest
from webui.engine.postprocess import postprocess_image
from webui.engine.upscale import UpscaleInterrupted, UpscalerRegistry
from webui.infotext.png import EXTRAS_KEY, POSTPROCESSING_KEY, image_text_items, png_bytes_with_text_chunks
from webui.jobs.device import DeviceThread
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


@dataclass(frozen=True)
class ExtrasProgress:
    image_index: int = 0              # images finished
    image_count: int = 0
    tile: int = 0                     # tiles finished in the current upscaler pass
    tiles: int = 0

    @property
    def fraction(self) -> float:
        if self.image_count <= 0:
            return 0.0
        within = self.tile / self.tiles if self.tiles else 0.0
        return min(1.0, (self.image_index + within) / self.image_count)


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


@dataclass
class ExtrasRun:
    request: ExtrasRequest
    inputs: Sequence[ExtrasInput]
    owner: str
    save: bool = True
    output_folder: Path | None = None   # "Batch from directory" output directory; None = outdir_extras_samples
    _condition: threading.Condition = field(default_factory=threading.Condition, repr=False)
    _cancel: threading.Event = field(default_factory=threading.Event, repr=False)
    progress: ExtrasProgress = ExtrasProgress()
    outputs: tuple[ExtrasOutput, ...] = ()
    error: str | None = None
    error_is_input: bool = False        # the error comes from what was asked (a file or value), not from a bug
    finished: bool = False
    interrupted: bool = False
    version: int = 0

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def cancel_requested(self) -> bool:
        return self._cancel.is_set()

    def update(self, **changes: object) -> None:
        with self._condition:
            for name, value in changes.items():
                setattr(self, name, value)
            self.version += 1
            self._condition.notify_all()

    def wait_for_update(self, seen_version: int, timeout: float) -> None:
        with self._condition:
            self._condition.wait_for(lambda: self.version > seen_version or self.finished, timeout=timeout)


class ExtrasService:
    def __init__(self, upscalers: UpscalerRegistry, device: DeviceThread, options: Callable[[], ExtrasOptions],
                 saver: ExtrasSaver | None = None) -> None:
        self._upscalers = upscalers
        self._device = device
        self._options = options
        self._saver = saver or ExtrasSaver()
        self._lock = threading.Lock()
        self._active: list[ExtrasRun] = []

    def check(self, request: ExtrasRequest) -> None:
        """Unknown upscaler names fail here, before anything is queued (LookupError listing the allowed ones)."""
        self._upscalers.get(request.upscaler_1)
        if request.blends_second:
            self._upscalers.get(request.upscaler_2)

    def start(self, run: ExtrasRun) -> ExtrasRun:
        """Run in the background (the caller watches `run`); the work itself happens on the device thread."""
        self.check(request=run.request)
        with self._lock:
            self._active.append(run)
        threading.Thread(target=self._execute, args=(run,), name="extras", daemon=True).start()
        return run

    def run(self, run: ExtrasRun) -> ExtrasRun:
        """Run and wait for the end (the API's way)."""
        self.start(run)
        while not run.finished:
            run.wait_for_update(run.version, timeout=1.0)
        return run

    def interrupt(self, owner: str | None = None) -> int:
        with self._lock:
            runs = [run for run in self._active if owner is None or run.owner == owner]
        for run in runs:
            run.cancel()
        return len(runs)

    def active(self) -> list[ExtrasRun]:
        with self._lock:
            return list(self._active)

    def _execute(self, run: ExtrasRun) -> None:
        outcome: dict[str, object] = {}
        try:
            outputs, interrupted = self._device.run(self._process, run)
            outcome = {"outputs": outputs, "interrupted": interrupted}
        except Exception as error:  # the owner sees the error; the service stays up
            log.exception("extras run failed")
            outcome = {"error": str(error) or type(error).__name__, "error_is_input": isinstance(error, ValueError)}
        finally:
            with self._lock:
                self._active.remove(run)
            run.update(**outcome, finished=True)  # after leaving the active list: a waiter sees a settled service

    def _process(self, run: ExtrasRun) -> tuple[tuple[ExtrasOutput, ...], bool]:
        options = self._options()
        folder = run.output_folder or options.folder
        control = self._upscalers.control(cancelled=lambda: run.cancel_requested)
        outputs: list[ExtrasOutput] = []
        total = len(run.inputs)
        for index, item in enumerate(run.inputs):
            run.update(progress=ExtrasProgress(index, total))

            def tile_done(_pass: int, done: int, tiles: int, image_index: int = index) -> None:
                run.update(progress=replace(run.progress, image_index=image_index, tile=done, tiles=tiles))

            try:
                result = postprocess_image(item.image, run.request, self._upscalers, control, progress=tile_done)
            except UpscaleInterrupted:
                return tuple(outputs), True
            chunks = {**image_text_items(item.image), POSTPROCESSING_KEY: result.infotext,
                      EXTRAS_KEY: result.infotext} if options.embed_infotext else {}
            png = png_bytes_with_text_chunks(result.image, chunks)
            name = item.name if options.use_original_name else None
            path = self._saver.save(png, folder, name) if run.save else None
            outputs.append(ExtrasOutput(result.image, png, result.infotext, path))
        run.update(progress=ExtrasProgress(total, total))
        return tuple(outputs), run.cancel_requested
