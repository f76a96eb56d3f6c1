"""A1111's X/Y/Z plot script (pure): axes, their value syntax, and one `GenerationRequest` per grid cell.

Value syntax as A1111: comma-separated (CSV quoting for values holding commas), numeric ranges `1-5`, `1-5 (+2)`
(step) and `1-10 [4]` (count, evenly spaced). "Prompt S/R" replaces its first value in the prompts with each value
in turn. A seed of -1 is drawn once per plot so every cell of a row really shares it.
"""

from __future__ import annotations

import csv
import io
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from webui.engine.request import MAX_SEED, RANDOM_SEED, GenerationRequest

RANGE = re.compile(r"^\s*([+-]?\d+(?:\.\d*)?)\s*-\s*([+-]?\d+(?:\.\d*)?)(?:\s*\(([+-]?\d+(?:\.\d*)?)\s*\))?\s*$")
COUNT = re.compile(r"^\s*([+-]?\d+(?:\.\d*)?)\s*-\s*([+-]?\d+(?:\.\d*)?)\s*\[(\d+)\]\s*$")
MAX_CELLS = 256


@dataclass(frozen=True)
class AxisType:
    label: str
    kind: type                  # int, float or str: how values are parsed
    apply: Callable[[GenerationRequest, Any], GenerationRequest]
    numeric_ranges: bool = False


def _prompt_sr(request: GenerationRequest, value: str, search: str) -> GenerationRequest:
    return replace(request, prompt=request.prompt.replace(search, value),
                   negative_prompt=request.negative_prompt.replace(search, value))


def _size(request: GenerationRequest, value: str) -> GenerationRequest:
    match = re.fullmatch(r"\s*(\d+)\s*[x×]\s*(\d+)\s*", value)
    if match is None:
        raise ValueError(f"Size value {value!r} is not WIDTHxHEIGHT")
    return replace(request, width=int(match.group(1)), height=int(match.group(2)))


def _denoising(request: GenerationRequest, value: float) -> GenerationRequest:
    if request.img2img is not None:
        return replace(request, img2img=replace(request.img2img, denoising_strength=value))
    if request.hires is not None:
        return replace(request, hires=replace(request.hires, denoising_strength=value))
    raise ValueError("Denoising needs img2img or hires fix")


AXES: dict[str, AxisType] = {axis.label: axis for axis in (
    AxisType("Nothing", str, lambda request, value: request),
    AxisType("Seed", int, lambda request, value: replace(request, seed=value), numeric_ranges=True),
    AxisType("Steps", int, lambda request, value: replace(request, steps=value), numeric_ranges=True),
    AxisType("CFG Scale", float, lambda request, value: replace(request, cfg_scale=value), numeric_ranges=True),
    AxisType("Prompt S/R", str, lambda request, value: request),  # needs the search term: see `cell_requests`
    AxisType("Sampler", str, lambda request, value: replace(request, sampler_name=value)),
    AxisType("Schedule type", str, lambda request, value: replace(request, scheduler=value)),
    AxisType("Checkpoint name", str, lambda request, value: replace(request, checkpoint=value)),
    AxisType("Clip skip", int, lambda request, value: replace(request, clip_skip=value), numeric_ranges=True),
    AxisType("Denoising", float, _denoising, numeric_ranges=True),
    AxisType("Size", str, _size),
)}


def _numbers(text: str, kind: type) -> list:
    if (match := COUNT.match(text)) is not None:
        start, end, count = float(match.group(1)), float(match.group(2)), int(match.group(3))
        if count < 1:
            raise ValueError(f"{text!r}: the count in [] must be at least 1")
        values = [start + (end - start) * index / max(1, count - 1) for index in range(count)]
        return [kind(round(value)) if kind is int else round(value, 6) for value in values]
    if (match := RANGE.match(text)) is not None:
        start, end = float(match.group(1)), float(match.group(2))
        step = float(match.group(3)) if match.group(3) else (1.0 if end >= start else -1.0)
        if step == 0 or (end - start) / step < 0:
            raise ValueError(f"{text!r}: the step {step:g} never reaches {end:g}")
        count = int((end - start) / step + 1e-9) + 1
        return [kind(start + step * index) if kind is int else round(start + step * index, 6) for index in
                range(count)]
    return [kind(text.strip())]


def parse_values(axis: AxisType, text: str) -> list:
    """Axis values from A1111's syntax; bad text raises ValueError naming the axis and the value."""
    items = [item.strip() for row in csv.reader(io.StringIO(text), skipinitialspace=True) for item in row]
    items = [item for item in items if item]
    values: list = []
    for item in items:
        try:
            values += _numbers(item, axis.kind) if axis.numeric_ranges else [axis.kind(item)]
        except ValueError as error:
            reason = {int: "not a whole number", float: "not a number"}.get(axis.kind) if "literal" in str(error) \
                or "convert" in str(error) else str(error)
            raise ValueError(f"{axis.label}: {item!r} is not a valid value ({reason})") from None
    if axis.label != "Nothing" and not values:
        raise ValueError(f"{axis.label}: no values given")
    return values or [None]


def value_label(axis: AxisType, value) -> str:
    if axis.label == "Prompt S/R":
        return str(value)
    text = f"{value:g}" if isinstance(value, float) else str(value)
    return f"{axis.label}: {text}"


@dataclass(frozen=True)
class PlotAxis:
    axis: AxisType
    values: tuple

    @property
    def labels(self) -> list[str]:
        return [value_label(self.axis, value) for value in self.values] if self.axis.label != "Nothing" else [""]


@dataclass(frozen=True)
class PlotCell:
    x: int
    y: int
    z: int
    request: GenerationRequest


def plot_axes(specs: list[tuple[str, str]]) -> list[PlotAxis]:
    axes = []
    for label, text in specs:
        if label not in AXES:
            raise ValueError(f"unknown X/Y/Z axis {label!r}; allowed: {', '.join(AXES)}")
        axis = AXES[label]
        axes.append(PlotAxis(axis, tuple(parse_values(axis, text)) if label != "Nothing" else (None,)))
    return axes


def cell_requests(base: GenerationRequest, axes: list[PlotAxis], rng: random.Random) -> list[PlotCell]:
    """One request per (x, y, z) cell, x fastest, as A1111 orders them; every cell validated up front."""
    x_axis, y_axis, z_axis = axes
    if len(x_axis.values) * len(y_axis.values) * len(z_axis.values) > MAX_CELLS:
        raise ValueError(f"the plot has more than {MAX_CELLS} cells; use fewer values")
    if base.seed == RANDOM_SEED:
        base = replace(base, seed=rng.randrange(MAX_SEED))
    cells = []
    for z, z_value in enumerate(z_axis.values):
        for y, y_value in enumerate(y_axis.values):
            for x, x_value in enumerate(x_axis.values):
                request = base
                for plot_axis, value in ((x_axis, x_value), (y_axis, y_value), (z_axis, z_value)):
                    request = _apply(plot_axis, value, request)
                cells.append(PlotCell(x, y, z, request))
    return cells


def _apply(plot_axis: PlotAxis, value, request: GenerationRequest) -> GenerationRequest:
    if plot_axis.axis.label == "Nothing":
        return request
    if plot_axis.axis.label == "Prompt S/R":
        search = plot_axis.values[0]
        if search not in request.prompt and search not in request.negative_prompt:
            raise ValueError(f"Prompt S/R: {search!r} is not in the prompt")
        return _prompt_sr(request, value, search)
    if plot_axis.axis.label == "Seed" and value == RANDOM_SEED:
        return request
    return plot_axis.axis.apply(request, value)
