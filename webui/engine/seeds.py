"""Seeds as A1111 uses them: -1 draws one; image i of a job uses seed + i (with a variation seed every image keeps
the seed and the subseeds count up); each batch gets A1111's ImageRNG at a size (`batch_noise`)."""

from __future__ import annotations

import random

import torch

from webui.engine.ksampling.noise import ImageNoise, VariationSeeds, default_noise_sources
from webui.engine.request import MAX_SEED, RANDOM_SEED, GenerationRequest

LATENT_CHANNELS = 4


def resolve_seed(seed: int, rng: random.Random) -> int:
    """-1 draws a seed the way A1111 does; any other value is used as it is."""
    return rng.randrange(MAX_SEED) if seed == RANDOM_SEED else seed


def batch_seeds(first_seed: int, batch_index: int, batch_size: int) -> list[int]:
    start = first_seed + batch_index * batch_size
    return [(start + offset) % (MAX_SEED + 1) for offset in range(batch_size)]


def image_seeds(request: GenerationRequest, batch_index: int) -> list[int]:
    """A1111: image i uses seed + i — except with a variation seed, where every image keeps the seed and the
    subseeds count up instead."""
    if request.subseed_strength > 0:
        return [request.seed] * request.batch_size
    return batch_seeds(request.seed, batch_index, request.batch_size)


def batch_noise(request: GenerationRequest, seeds: list[int], batch_index: int, width: int, height: int,
                device: torch.device) -> ImageNoise:
    """A1111's ImageRNG for one batch at a size: the seeds, their variation seeds, the noise source and ENSD."""
    variation = VariationSeeds(
        tuple(batch_seeds(request.subseed, batch_index, len(seeds))) if request.subseed_strength else (),
        request.subseed_strength, (request.seed_resize_from_w, request.seed_resize_from_h))
    source = default_noise_sources().get(request.sampler_settings.randn_source)
    return ImageNoise((LATENT_CHANNELS, height // 8, width // 8), seeds, source, device, variation,
                      request.sampler_settings.eta_noise_seed_delta)
