"""GenerationRequest validation names the bad value and what is allowed."""

import dataclasses

import pytest

from webui.engine.request import GenerationRequest


def test_defaults_are_a1111s():
    request = GenerationRequest()
    assert (request.steps, request.cfg_scale, request.width, request.height, request.seed) == (20, 7.0, 512, 512, -1)
    assert (request.sampler_name, request.scheduler, request.batch_size, request.batch_count) == \
        ("DPM++ 2M", "Automatic", 1, 1)


def test_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        GenerationRequest().steps = 3  # type: ignore[misc]


@pytest.mark.parametrize("field, value, message", [
    ("width", 500, "width 500 must be a multiple of 8"),
    ("height", 4096, "height 4096 is out of range; allowed: 64–2048"),
    ("steps", 0, "steps 0 is out of range; allowed: 1–150"),
    ("cfg_scale", 31.0, "cfg_scale 31.0 is out of range; allowed: 1.0–30.0"),
    ("batch_size", 9, "batch_size 9 is out of range; allowed: 1–8"),
    ("seed", -5, "seed -5 is out of range"),
    ("steps", 2.5, "steps must be a whole number, got 2.5"),
])
def test_bad_values_are_named(field, value, message):
    with pytest.raises(ValueError) as error:
        GenerationRequest(**{field: value})
    assert message in str(error.value)


def test_image_count():
    assert GenerationRequest(batch_size=3, batch_count=2).image_count == 6
