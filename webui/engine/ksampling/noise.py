"""A1111's per-image noise (`rng.py`): one generator per image seed, variation seeds, seed resize, ENSD.

The first draw of an image's generator is its initial latent; ancestral samplers, DDIM with eta and the churn of
Euler/Heun/DPM2 keep drawing from the same generator (`next()`), so image i of a batch is the image its seed makes
alone. The source decides the generator: "GPU" (A1111's default: torch's generator on the device that runs the
UNet; the CPU when there is no GPU), "CPU" (torch's CPU generator, the same numbers on every machine) and "NV"
(CUDA's stream computed by `philox.py`, so NVIDIA images reproduce anywhere).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from webui.engine.ksampling.philox import PhiloxGenerator
from webui.engine.registry import NamedRegistry

NOISE_SOURCES = ("GPU", "CPU", "NV")
LATENT_FACTOR = 8


class SeededStream:
    """A seeded generator that draws float32 normal tensors of a shape, on the device that asked."""

    def __init__(self, seed: int, draw: Callable[[tuple[int, ...]], torch.Tensor], device: torch.device) -> None:
        self.seed = seed
        self._draw = draw
        self._device = device

    def randn(self, shape: Sequence[int]) -> torch.Tensor:
        return self._draw(tuple(int(side) for side in shape)).to(self._device)


@dataclass(frozen=True)
class NoiseSource:
    name: str
    stream: Callable[[int, torch.device], SeededStream]  # (seed, the sampling device) → a stream
    draws_on: Callable[[torch.device], torch.device]      # where its numbers are made (for the Brownian tree)


def _torch_stream(seed: int, device: torch.device, on: torch.device) -> SeededStream:
    generator = torch.Generator(on).manual_seed(int(seed))
    return SeededStream(seed, lambda shape: torch.randn(shape, generator=generator, device=on), device)


def _philox_stream(seed: int, device: torch.device) -> SeededStream:
    generator = PhiloxGenerator(seed)
    return SeededStream(seed, lambda shape: torch.from_numpy(generator.randn(shape)), device)


def _gpu_device(device: torch.device) -> torch.device:
    return device if device.type == "cuda" else torch.device("cpu")  # A1111: mps and cpu draw on the CPU


def default_noise_sources() -> NamedRegistry[NoiseSource]:
    registry: NamedRegistry[NoiseSource] = NamedRegistry("noise source")
    registry.register("GPU", NoiseSource("GPU", lambda seed, device: _torch_stream(seed, device, _gpu_device(device)),
                                         _gpu_device))
    registry.register("CPU", NoiseSource("CPU", lambda seed, device: _torch_stream(seed, device, torch.device("cpu")),
                                         lambda device: torch.device("cpu")))
    registry.register("NV", NoiseSource("NV", _philox_stream, lambda device: torch.device("cpu")))
    return registry


def slerp(strength: float, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation between the seed's noise (`low`) and the variation seed's (`high`), per channel row
    as A1111 computes it (norms over dim 1 of a [C, H, W] tensor); nearly parallel noise falls back to a lerp."""
    low_unit = low / torch.norm(low, dim=1, keepdim=True)
    high_unit = high / torch.norm(high, dim=1, keepdim=True)
    dot = (low_unit * high_unit).sum(1)
    if dot.mean() > 0.9995:
        return low * strength + high * (1 - strength)
    omega = torch.acos(dot)
    sine = torch.sin(omega)
    return (torch.sin((1.0 - strength) * omega) / sine).unsqueeze(1) * low + \
        (torch.sin(strength * omega) / sine).unsqueeze(1) * high


@dataclass(frozen=True)
class VariationSeeds:
    """A1111's "Extra" seed row for one batch: subseeds per image, strength, and the size the seed was made at."""

    subseeds: tuple[int, ...] = ()
    strength: float = 0.0
    resize_from: tuple[int, int] = (0, 0)   # (width, height); 0 = off

    @property
    def resizes(self) -> bool:
        return self.resize_from[0] > 0 and self.resize_from[1] > 0


def _paste_centred(target: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """Noise made at another size put in the middle of the target's noise (cropped if larger), as A1111 does."""
    dx = (target.shape[2] - noise.shape[2]) // 2
    dy = (target.shape[1] - noise.shape[1]) // 2
    width = noise.shape[2] if dx >= 0 else noise.shape[2] + 2 * dx
    height = noise.shape[1] if dy >= 0 else noise.shape[1] + 2 * dy
    tx, ty = max(dx, 0), max(dy, 0)
    sx, sy = max(-dx, 0), max(-dy, 0)
    target[:, ty:ty + height, tx:tx + width] = noise[:, sy:sy + height, sx:sx + width]
    return target


class ImageNoise:
    """`first()` is the batch's initial noise [B, C, H, W]; `next()` each later draw, per image generator."""

    def __init__(self, shape: Sequence[int], seeds: Sequence[int], source: NoiseSource, device: torch.device,
                 variation: VariationSeeds = VariationSeeds(), seed_delta: int = 0) -> None:
        self.shape = tuple(int(side) for side in shape)
        self.seeds = tuple(seeds)
        self._source = source
        self._device = device
        self._variation = variation
        self._seed_delta = seed_delta
        self._streams = [source.stream(seed, device) for seed in self.seeds]
        self._started = False

    @property
    def source(self) -> NoiseSource:
        return self._source

    def fresh(self, seed: int, shape: Sequence[int]) -> torch.Tensor:
        """The first draw of a new stream for `seed` (A1111's `randn(seed, shape)`)."""
        return self._source.stream(seed, self._device).randn(shape)

    def _noise_shape(self) -> tuple[int, ...]:
        if not self._variation.resizes:
            return self.shape
        width, height = self._variation.resize_from
        return (self.shape[0], height // LATENT_FACTOR, width // LATENT_FACTOR)

    def _first_for(self, index: int, seed: int, stream: SeededStream) -> torch.Tensor:
        variation = self._variation
        noise_shape = self._noise_shape()
        noise = stream.randn(self.shape) if noise_shape == self.shape else self.fresh(seed, noise_shape)
        if variation.subseeds and variation.strength != 0:
            subseed = variation.subseeds[index] if index < len(variation.subseeds) else 0
            noise = slerp(variation.strength, noise, self.fresh(subseed, noise_shape))
        if noise_shape != self.shape:
            noise = _paste_centred(stream.randn(self.shape), noise)
        return noise

    def first(self) -> torch.Tensor:
        noise = torch.stack([self._first_for(index, seed, stream)
                             for index, (seed, stream) in enumerate(zip(self.seeds, self._streams, strict=True))])
        if self._seed_delta:
            # A1111's ENSD: the sampler's later noise comes from generators seeded seed + delta
            self._streams = [self._source.stream(seed + self._seed_delta, self._device) for seed in self.seeds]
        self._started = True
        return noise

    def next(self) -> torch.Tensor:
        if not self._started:
            return self.first()
        return torch.stack([stream.randn(self.shape) for stream in self._streams])

    def sampler_noise(self, sigma, sigma_next) -> torch.Tensor:
        """k-diffusion's `noise_sampler(sigma, sigma_next)` signature, drawing `next()`."""
        return self.next()
