"""Where the tiles of a tiled upscale go and how their overlaps are blended (pure: no torch, no numpy).

A 4x model on a 1024² image needs its activations at 4096² — more than a 4 GB card holds — so the image is cut into
tiles of `tile` pixels (A1111's `ESRGAN_tile`) that overlap by at least `overlap` pixels (`ESRGAN_tile_overlap`).
Tiles are spread evenly, so every overlap is about the same width. In each overlap the tiles' outputs are mixed
with linear ramps (a tile's weight rises from near 0 at its edge towards 1), and the sum is divided by the total
weight, so no pixel is a hard cut between two tiles: the seams where the tiles' borders (zero-padded inside the
model) differ are hidden.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

MIN_TILE = 16


@dataclass(frozen=True)
class AxisSpan:
    """One tile's extent along an axis (input pixels) and how much it shares with the tiles before and after."""

    start: int
    length: int
    overlap_before: int
    overlap_after: int

    @property
    def end(self) -> int:
        return self.start + self.length


@dataclass(frozen=True)
class Tile:
    x: AxisSpan
    y: AxisSpan


@dataclass(frozen=True)
class TilePlan:
    width: int
    height: int
    tile: int        # 0 = one tile (the whole image)
    overlap: int
    tiles: tuple[Tile, ...]

    @property
    def count(self) -> int:
        return len(self.tiles)


def axis_spans(length: int, tile: int, overlap: int) -> tuple[AxisSpan, ...]:
    """Evenly spread tiles of `tile` pixels covering `length`, neighbours sharing at least `overlap` pixels."""
    if length <= 0:
        raise ValueError(f"image side {length} must be positive")
    if tile <= 0 or tile >= length:
        return (AxisSpan(0, length, 0, 0),)
    overlap = max(0, min(overlap, tile // 2))
    count = math.ceil((length - overlap) / (tile - overlap))
    starts = [round(index * (length - tile) / (count - 1)) for index in range(count)]
    spans = []
    for index, start in enumerate(starts):
        before = starts[index - 1] + tile - start if index > 0 else 0
        after = start + tile - starts[index + 1] if index + 1 < count else 0
        spans.append(AxisSpan(start, tile, before, after))
    return tuple(spans)


def plan_tiles(width: int, height: int, tile: int, overlap: int) -> TilePlan:
    """The tiles of a width×height image, row by row. `tile` <= 0 (or larger than the image) means one tile."""
    if tile and tile < MIN_TILE:
        raise ValueError(f"tile size {tile} is too small; allowed: 0 (no tiling) or at least {MIN_TILE}")
    if overlap < 0:
        raise ValueError(f"tile overlap {overlap} must not be negative")
    rows = axis_spans(height, tile, overlap)
    columns = axis_spans(width, tile, overlap)
    return TilePlan(width, height, tile, overlap, tuple(Tile(x, y) for y in rows for x in columns))


def ramp_weights(span: AxisSpan, scale: int) -> list[float]:
    """Blend weights along one axis of a tile's output (span.length × scale values): 1 in its own part, a linear
    ramp over each side it shares with a neighbour, never 0 (every output pixel is covered by some weight)."""
    size = span.length * scale
    before = span.overlap_before * scale
    after = span.overlap_after * scale
    weights = []
    for position in range(size):
        weight = 1.0
        if before:
            weight = min(weight, (position + 1) / (before + 1))
        if after:
            weight = min(weight, (size - position) / (after + 1))
        weights.append(weight)
    return weights
