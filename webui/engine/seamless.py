"""Tiling (A1111's "Tiling", seamless textures): the UNet's and the VAE's 2-D convolutions pad circularly for a job.

With circular padding a convolution at the left border reads the pixels of the right border (and top/bottom
likewise), so the latents — and the decoded image — wrap around: the picture tiles without a seam. Each
`torch.nn.Conv2d` keeps its padding mode as its own attribute (`padding_mode`, which its forward reads), so
this sets that attribute on the job's modules and puts every old value back when the job ends, whether it
finished, was interrupted or failed. Nothing in torch itself is changed.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import torch

CIRCULAR = "circular"


def padded_convolutions(modules: Iterable[torch.nn.Module | None]) -> list[torch.nn.Conv2d]:
    """Every Conv2d inside `modules` that pads at all (a 1×1 conv with padding 0 has no border to wrap)."""
    found: list[torch.nn.Conv2d] = []
    for module in modules:
        if module is None:
            continue
        found += [layer for layer in module.modules()
                  if isinstance(layer, torch.nn.Conv2d) and any(side > 0 for side in _padding(layer))]
    return found


def _padding(layer: torch.nn.Conv2d) -> tuple[int, ...]:
    padding = layer.padding
    if isinstance(padding, str):  # "same" / "valid": torch refuses circular with a string padding
        return ()
    return tuple(int(side) for side in padding)


@contextmanager
def circular_padding(modules: Iterable[torch.nn.Module | None], enabled: bool = True) -> Iterator[int]:
    """Within the block the convolutions of `modules` pad circularly; yields how many were switched. Restored
    after, even when the block raises (an interrupted or failed job leaves no tiled model behind)."""
    if not enabled:
        yield 0
        return
    layers = padded_convolutions(modules)
    previous = [layer.padding_mode for layer in layers]
    try:
        for layer in layers:
            layer.padding_mode = CIRCULAR
        yield len(layers)
    finally:
        for layer, mode in zip(layers, previous, strict=True):
            layer.padding_mode = mode


def pipeline_tiling(pipeline, enabled: bool):
    """`circular_padding` over a diffusers pipeline's UNet and VAE (what A1111 tiles)."""
    return circular_padding((getattr(pipeline, "unet", None), getattr(pipeline, "vae", None)), enabled)
