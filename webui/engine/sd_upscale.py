"""A1111's "SD upscale" script: upscale the init image, then redraw it tile by tile through img2img.

The image is first enlarged by `scale` with an upscaler (Lanczos, a model, or "None"), then cut into tiles of the
request's width × height that overlap by `overlap` pixels (`tiling.axis_spans` spreads them evenly, as A1111's
`split_grid` does), each tile goes through img2img at the request's settings, and the redrawn tiles are put back
together with linear ramps over the overlaps (`tiling.ramp_weights`), so no seam is a hard cut. This module plans
and blends; running img2img and the upscaler is the job queue's work (see `webui/api/scripts.py`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from webui.engine.tiling import AxisSpan, axis_spans, ramp_weights

OVERLAP_RANGE = (0, 256)
SCALE_RANGE = (1.0, 4.0)


@dataclass(frozen=True)
class SdUpscaleArgs:
    """A1111's script_args for "SD upscale": `[info (ignored), overlap, upscaler (name or index), scale]`."""

    overlap: int = 64
    upscaler: str = "None"
    scale: float = 2.0

    def __post_init__(self) -> None:
        if isinstance(self.overlap, bool) or not isinstance(self.overlap, int):
            raise ValueError(f"script_args[1] (tile overlap) must be a whole number, got {self.overlap!r}")
        if not OVERLAP_RANGE[0] <= self.overlap <= OVERLAP_RANGE[1]:
            raise ValueError(f"script_args[1] (tile overlap) {self.overlap} is out of range; allowed: "
                             f"{OVERLAP_RANGE[0]}–{OVERLAP_RANGE[1]}")
        if not SCALE_RANGE[0] <= self.scale <= SCALE_RANGE[1]:
            raise ValueError(f"script_args[3] (scale factor) {self.scale} is out of range; allowed: "
                             f"{SCALE_RANGE[0]}–{SCALE_RANGE[1]}")


@dataclass(frozen=True)
class UpscaleTile:
    x: AxisSpan
    y: AxisSpan

    @property
    def box(self) -> tuple[int, int, int, int]:
        return self.x.start, self.y.start, self.x.end, self.y.end


def upscaled_size(size: tuple[int, int], scale: float) -> tuple[int, int]:
    """The size the upscaler is asked for (A1111: int(side × scale))."""
    return int(size[0] * scale), int(size[1] * scale)


def plan_upscale_tiles(size: tuple[int, int], tile_width: int, tile_height: int, overlap: int) -> list[UpscaleTile]:
    """Tiles of tile_width × tile_height (a side smaller than a tile is one span) covering `size`, row by row."""
    width, height = size
    columns = axis_spans(width, tile_width, overlap)
    rows = axis_spans(height, tile_height, overlap)
    return [UpscaleTile(column, row) for row in rows for column in columns]


def tile_images(image: Image.Image, tiles: list[UpscaleTile]) -> list[Image.Image]:
    return [image.crop(tile.box) for tile in tiles]


def combine_tiles(size: tuple[int, int], tiles: list[UpscaleTile], redrawn: list[Image.Image]) -> Image.Image:
    """The redrawn tiles back into one image of `size`, overlaps blended with ramps. A tile that came back at
    another size (img2img works at the request's size) is resized to its place first."""
    if len(tiles) != len(redrawn):
        raise ValueError(f"{len(redrawn)} redrawn tiles for {len(tiles)} places")
    width, height = size
    total = np.zeros((height, width, 3), dtype=np.float64)
    weight = np.zeros((height, width, 1), dtype=np.float64)
    for tile, image in zip(tiles, redrawn, strict=True):
        place = (tile.x.length, tile.y.length)
        pixels = np.asarray(image.convert("RGB").resize(place, Image.LANCZOS) if image.size != place
                            else image.convert("RGB"), dtype=np.float64)
        ramp = np.outer(ramp_weights(tile.y, 1), ramp_weights(tile.x, 1))[:, :, None]
        total[tile.y.start:tile.y.end, tile.x.start:tile.x.end] += pixels * ramp
        weight[tile.y.start:tile.y.end, tile.x.start:tile.x.end] += ramp
    combined = np.clip(np.rint(total / np.maximum(weight, 1e-12)), 0, 255).astype(np.uint8)
    return Image.fromarray(combined, "RGB")
