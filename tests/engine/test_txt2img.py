"""Our txt2img equals diffusers' own pipeline call; seeds behave like A1111's; every sampler runs."""

import random

import numpy as np
import pytest

from webui.engine.generate import GenerationEngine, InfotextOptions
from webui.engine.request import GenerationRequest
from webui.engine.samplers import default_sampler_table

OPTIONS = InfotextOptions(version="kestrel-test")


@pytest.fixture(scope="module")
def engine(loaded_manager):
    return GenerationEngine(loaded_manager, default_sampler_table(), rng=random.Random(5))


def pixels(image) -> np.ndarray:
    return np.asarray(image, dtype=np.int16)


def test_batch_images_use_seed_plus_index_and_reproduce_alone(engine):
    batch = engine.generate(GenerationRequest(prompt="x", sampler_name="Euler a", steps=2, width=64, height=64,
                                              seed=100, batch_size=2, batch_count=2), OPTIONS)
    assert [image.seed for image in batch.images] == [100, 101, 102, 103]
    alone = engine.generate(GenerationRequest(prompt="x", sampler_name="Euler a", steps=2, width=64, height=64,
                                              seed=103), OPTIONS)
    # Batched float maths rounds a little differently from a batch of one (as in A1111); the noise is the same.
    difference = np.abs(pixels(batch.images[3].image) - pixels(alone.images[0].image))
    assert difference.max() <= 2 and difference.mean() < 0.1
    assert np.abs(pixels(batch.images[0].image) - pixels(batch.images[1].image)).mean() > 5
    assert not np.array_equal(pixels(batch.images[0].image), pixels(batch.images[1].image))
    assert "Seed: 103," in batch.images[3].infotext


def test_random_seed_is_drawn_and_recorded(engine):
    result = engine.generate(GenerationRequest(prompt="x", steps=1, width=64, height=64, seed=-1), OPTIONS)
    seed = result.images[0].seed
    assert 0 <= seed < 4294967294
    again = engine.generate(GenerationRequest(prompt="x", steps=1, width=64, height=64, seed=seed), OPTIONS)
    assert np.array_equal(pixels(result.images[0].image), pixels(again.images[0].image))


def test_infotext_records_the_resolved_sampler_and_model(engine, loaded_manager):
    result = engine.generate(GenerationRequest(prompt="a cat", negative_prompt="", steps=2, width=64, height=96,
                                               seed=7, cfg_scale=7.0), OPTIONS)
    record = loaded_manager.loaded.record
    assert result.images[0].infotext == (
        f"a cat\nSteps: 2, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7, Seed: 7, Size: 64x96, "
        f"Model hash: {record.short_hash}, Model: tiny-anything, Version: kestrel-test")
    assert result.images[0].image.size == (64, 96)


@pytest.mark.parametrize("name", [spec.name for spec in default_sampler_table().samplers])
def test_every_sampler_samples_and_repeats_itself(engine, name):
    request = GenerationRequest(prompt="x", sampler_name=name, steps=3, width=64, height=64, seed=1)
    first = pixels(engine.generate(request, OPTIONS).images[0].image)
    assert first.shape == (64, 64, 3) and first.std() > 0
    assert np.array_equal(first, pixels(engine.generate(request, OPTIONS).images[0].image))  # SDE ones too


def test_cancel_stops_at_the_next_step_and_reports_progress(engine):
    steps_seen = []

    def progress(batch_index, step, total):
        steps_seen.append((batch_index, step, total))

    result = engine.generate(GenerationRequest(prompt="x", steps=10, width=64, height=64, seed=1, batch_count=3),
                             OPTIONS, progress=progress, cancelled=lambda: len(steps_seen) >= 3)
    assert result.interrupted and [image.seed for image in result.images] == [1]  # what batch 1 had reached
    assert steps_seen[:3] == [(0, 1, 10), (0, 2, 10), (0, 3, 10)] and len(steps_seen) <= 4


def test_skip_cuts_only_the_current_batch_short_and_keeps_its_image(engine):
    presses = iter([False, True])  # Skip pressed during the second step of the first batch

    def skip() -> bool:
        return next(presses, False)

    result = engine.generate(GenerationRequest(prompt="x", steps=3, width=64, height=64, seed=50, batch_count=3),
                             OPTIONS, skip=skip)
    assert not result.interrupted
    assert [image.seed for image in result.images] == [50, 51, 52]
    assert result.notes == ("batch 1 of 3 skipped",) and result.skipped == 1


def test_live_previews_every_n_steps_are_cheap_approximations(engine):
    from dataclasses import replace

    previews = []
    result = engine.generate(GenerationRequest(prompt="x", steps=6, width=64, height=96, seed=4),
                             replace(OPTIONS, preview_every=2), preview=previews.append)
    assert len(previews) == 3 and all(image.size == (64, 96) and image.mode == "RGB" for image in previews)
    assert np.asarray(previews[-1]).std() > 0 and len(result.images) == 1
    assert engine.generate(GenerationRequest(prompt="x", steps=2, width=64, height=64, seed=4), OPTIONS,
                           preview=previews.append).images and len(previews) == 3  # preview_every 0: none
