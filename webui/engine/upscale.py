"""Image upscalers by A1111 name: Lanczos and Nearest always, plus every model file the `UpscalerLibrary` found.

One registry serves the Extras tab, its API routes and the hires fix, so a name means the same thing everywhere
and an unknown one fails with the list of what is allowed. A model upscale runs the network tile by tile
(`tiling.py`): the tile size comes from the memory policy, each tile reports progress, and an Interrupt is honoured
between tiles. Like A1111, a model is applied up to three times until the image reaches the target (a 4x model for
an 8x request), then Lanczos brings it to the exact size.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy
import torch
from PIL import Image

from webui.engine.tiling import TilePlan, plan_tiles, ramp_weights
from webui.model_manager.memory_policy import upscale_tile_size
from webui.model_manager.upscalers import LoadedUpscaler, UpscalerLibrary, UpscalerRecord

NONE = "None"
RESAMPLING = {"Lanczos": Image.Resampling.LANCZOS, "Nearest": Image.Resampling.NEAREST}
BUILTIN_UPSCALERS = (NONE, *RESAMPLING)
MAX_MODEL_PASSES = 3
MODES_BY_CHANNELS = {1: "L", 3: "RGB"}


class UpscaleInterrupted(RuntimeError):
    """Interrupt was pressed between two tiles."""


class UnknownUpscalerError(LookupError):
    pass


@dataclass(frozen=True)
class UpscaleControl:
    """How to run one upscale: the Settings' tile size and overlap, the card's free memory (None on the CPU), and
    the caller's progress report (tile done, tile count) and stop check."""

    tile: int = 192
    overlap: int = 8
    free_vram_mb: int | None = None
    progress: Callable[[int, int], None] | None = None
    cancelled: Callable[[], bool] | None = None

    def check_cancelled(self) -> None:
        if self.cancelled is not None and self.cancelled():
            raise UpscaleInterrupted("interrupted")


class ImageUpscaler(Protocol):
    @property
    def name(self) -> str: ...

    def upscale(self, image: Image.Image, size: tuple[int, int], control: UpscaleControl) -> Image.Image: ...


@dataclass(frozen=True)
class ResampleUpscaler:
    """A1111's Lanczos and Nearest (and "None", which resizes with Lanczos where a resize must happen)."""

    name: str
    resample: Image.Resampling

    def upscale(self, image: Image.Image, size: tuple[int, int], control: UpscaleControl) -> Image.Image:
        control.check_cancelled()
        return image.resize(size, self.resample)


@dataclass(frozen=True)
class ModelUpscaler:
    name: str
    record: UpscalerRecord
    library: UpscalerLibrary

    def upscale(self, image: Image.Image, size: tuple[int, int], control: UpscaleControl) -> Image.Image:
        control.check_cancelled()
        loaded = self.library.load(self.record)
        current = image
        for _ in range(MAX_MODEL_PASSES):
            if current.width >= size[0] and current.height >= size[1]:
                break
            current = run_model_tiled(loaded, current, control)
        if current.size != size:
            current = current.resize(size, Image.Resampling.LANCZOS)
        return current


def image_to_tensor(image: Image.Image, channels: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    mode = MODES_BY_CHANNELS.get(channels)
    if mode is None:
        raise ValueError(f"upscaler models with {channels} input channels are not supported; allowed: 1 or 3")
    array = numpy.asarray(image.convert(mode), dtype=numpy.float32) / 255.0
    tensor = torch.from_numpy(array.reshape(array.shape[0], array.shape[1], channels)).permute(2, 0, 1)
    return tensor.unsqueeze(0).to(device=device, dtype=dtype)


def tensor_to_image(tensor: torch.Tensor) -> Image.Image:
    array = (tensor[0].float().clamp(0, 1).permute(1, 2, 0).cpu().numpy() * 255.0).round().astype(numpy.uint8)
    return Image.fromarray(array[:, :, 0] if array.shape[2] == 1 else array, MODES_BY_CHANNELS[array.shape[2]])


def model_tile_plan(loaded: LoadedUpscaler, width: int, height: int, control: UpscaleControl) -> TilePlan:
    details = loaded.details
    dtype_bytes = 2 if loaded.model.dtype == torch.float16 else 4
    tile = upscale_tile_size(control.tile, control.free_vram_mb, details.scale, details.features, dtype_bytes)
    return plan_tiles(width, height, tile, control.overlap)


def run_model_tiled(loaded: LoadedUpscaler, image: Image.Image, control: UpscaleControl) -> Image.Image:
    """One pass of the model over the image, tile by tile, overlaps blended with ramps (see tiling.py)."""
    model = loaded.model
    scale = loaded.details.scale
    source = image_to_tensor(image, loaded.details.input_channels, model.device, model.dtype)
    plan = model_tile_plan(loaded, image.width, image.height, control)
    with torch.inference_mode():
        if plan.count == 1:
            control.check_cancelled()
            output = model(source)
            if control.progress is not None:
                control.progress(1, 1)
            return tensor_to_image(output)
        channels = loaded.details.output_channels
        total = torch.zeros((1, channels, image.height * scale, image.width * scale), device=model.device)
        weights = torch.zeros((1, 1, image.height * scale, image.width * scale), device=model.device)
        for index, tile in enumerate(plan.tiles):
            control.check_cancelled()
            piece = source[:, :, tile.y.start:tile.y.end, tile.x.start:tile.x.end]
            result = model(piece).float()
            ramp = (torch.tensor(ramp_weights(tile.y, scale), device=model.device)[:, None]
                    * torch.tensor(ramp_weights(tile.x, scale), device=model.device)[None, :])
            rows = slice(tile.y.start * scale, tile.y.end * scale)
            columns = slice(tile.x.start * scale, tile.x.end * scale)
            total[:, :, rows, columns] += result * ramp
            weights[:, :, rows, columns] += ramp
            if control.progress is not None:
                control.progress(index + 1, plan.count)
        return tensor_to_image(total / weights)


TileSettings = Callable[[], tuple[int, int]]  # (ESRGAN_tile, ESRGAN_tile_overlap), read when an upscale starts


class UpscalerRegistry:
    """A1111 upscaler names → upscalers: the built-ins first, then the model files in their folders' order."""

    def __init__(self, library: UpscalerLibrary | None = None, tile_settings: TileSettings | None = None,
                 device: str = "cpu") -> None:
        self._library = library
        self._tile_settings = tile_settings or (lambda: (192, 8))
        self._device = device
        self._builtins = {NONE: ResampleUpscaler(NONE, Image.Resampling.LANCZOS),
                          **{name: ResampleUpscaler(name, resample) for name, resample in RESAMPLING.items()}}

    @property
    def library(self) -> UpscalerLibrary | None:
        return self._library

    def model_records(self) -> list[UpscalerRecord]:
        return self._library.records if self._library is not None else []

    def names(self) -> list[str]:
        return [*self._builtins, *(record.name for record in self.model_records())]

    def get(self, name: str) -> ImageUpscaler:
        if name in self._builtins:
            return self._builtins[name]
        record = self._library.find(name) if self._library is not None else None
        if record is None or self._library is None:
            raise UnknownUpscalerError(f"upscaler {name!r} is not one of: {', '.join(self.names())}")
        return ModelUpscaler(name, record, self._library)

    def control(self, progress: Callable[[int, int], None] | None = None,
                cancelled: Callable[[], bool] | None = None) -> UpscaleControl:
        """This moment's tile settings and free card memory, with the caller's progress and stop check."""
        tile, overlap = self._tile_settings()
        return UpscaleControl(tile, overlap, free_vram_mb(self._device), progress, cancelled)

    def require(self, name: str, field: str = "upscaler") -> None:
        """Fail early (before a job is queued) with the list of allowed names."""
        try:
            self.get(name)
        except UnknownUpscalerError as error:
            raise UnknownUpscalerError(f"{field} {name!r} is not one of: {', '.join(self.names())}") from error


def free_vram_mb(device: str) -> int | None:
    """Free memory on the card the upscaler runs on, for the tile-size policy; None on the CPU (no cap).

    `device` is the memory plan's (which already knows a card is there); this is a live reading of how much of it
    is free right now, not a device property, so it is the one query the engine still makes."""
    if device != "cuda":
        return None
    free, _total = torch.cuda.mem_get_info()
    return free // (1024 * 1024)
