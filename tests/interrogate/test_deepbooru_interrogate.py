"""Interrogate DeepBooru end to end through the tiny file: A1111's preprocessing (RGB, "Resize and fill" to 512²,
0..1), the network's 179 convolutions, and A1111's formatting, with exact answers; lazy loading and unloading."""

from __future__ import annotations

import numpy
import pytest
import torch
from PIL import Image

from tests.interrogate.deepbooru_fixtures import tiny_deepbooru_state_dict, write_tiny_deepbooru
from webui.engine.deepbooru_tags import DeepBooruOptions
from webui.engine.img2img_images import resize_for_img2img
from webui.engine.interrogate import InterrogateModelMissing
from webui.engine.interrogate_deepbooru import DeepBooruInterrogator, deepbooru_input
from webui.model_manager.deepbooru_model import DEEPBOORU_FILE, DEEPBOORU_FOLDER, load_deepbooru

TAGS = ["1girl", "long_hair", "smile", "rating:safe", "hat_(mine)", "solo"]
HIGH = ["smile", "long_hair", "rating:safe", "hat_(mine)"]  # scores 0.95, 0.82, 0.68, 0.55; the others 0.1
CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    return write_tiny_deepbooru(tmp_path_factory.mktemp("models") / DEEPBOORU_FOLDER / DEEPBOORU_FILE, TAGS, HIGH)


@pytest.fixture(scope="module")
def interrogator(weights):
    return DeepBooruInterrogator(weights, CPU, torch.float32)


def picture(width: int, height: int, mode: str = "RGB") -> Image.Image:
    pixels = numpy.random.default_rng(width * height).integers(0, 256, (height, width, 4), dtype=numpy.uint8)
    return Image.fromarray(pixels, "RGBA").convert(mode)


def test_a_small_image_is_tagged_with_a1111s_defaults(interrogator):
    # above 0.5, alphabetical, spaces, brackets escaped, rating:safe (0.68) left out
    assert interrogator.interrogate(picture(48, 32), DeepBooruOptions()) == "hat \\(mine\\), long hair, smile"


def test_ranks_by_score_and_the_filter_come_through_exactly(interrogator):
    options = DeepBooruOptions(sort_alpha=False, include_ranks=True, filter_tags="long hair", threshold=0.05,
                               escape=False)
    assert interrogator.interrogate(picture(32, 48, "P"), options) == \
        "(smile:0.950), (hat (mine):0.550), (1girl:0.100), (solo:0.100)"


def test_the_scores_are_the_files_for_every_image(interrogator):
    expected = {"1girl": 0.1, "long_hair": 0.82, "smile": 0.95, "rating:safe": 0.68, "hat_(mine)": 0.55, "solo": 0.1}
    assert interrogator.scores(picture(20, 64, "L")) == pytest.approx(expected, abs=1e-6)


def test_the_image_reaches_the_head_when_the_last_run_is_not_constant(tmp_path):
    state = tiny_deepbooru_state_dict(TAGS, HIGH, seed=1)
    generator = torch.Generator().manual_seed(2)
    for key in [key for key in state if key.startswith(tuple(f"n_Conv_{index}." for index in range(168, 178)))]:
        state[key] = torch.randn(state[key].shape, generator=generator) * 0.3
    path = tmp_path / DEEPBOORU_FOLDER / DEEPBOORU_FILE
    path.parent.mkdir()
    torch.save(state, path)
    network = load_deepbooru(path)
    with torch.inference_mode():
        scores = network(torch.cat([deepbooru_input(picture(32, 32)), deepbooru_input(Image.new("RGB", (8, 8)))]))
    assert not torch.equal(scores[0], scores[1])
    assert bool(((scores > 0) & (scores < 1)).all())


def test_preprocessing_is_rgb_resize_and_fill_to_512_scaled_to_one():
    image = picture(64, 32, "RGBA")
    pixels = deepbooru_input(image)
    assert pixels.shape == (1, 3, 512, 512) and pixels.dtype == torch.float32
    filled = numpy.asarray(resize_for_img2img(image.convert("RGB"), 2, 512, 512), dtype=numpy.float32) / 255
    assert torch.equal(pixels[0].permute(1, 2, 0), torch.from_numpy(filled))
    # a 2:1 picture fills 512×256 in the middle; the bands above and below repeat its top and bottom rows
    assert torch.equal(pixels[0, :, 0], pixels[0, :, 127]) and torch.equal(pixels[0, :, 511], pixels[0, :, 384])
    assert not torch.equal(pixels[0, :, 128], pixels[0, :, 383])


def test_the_model_loads_on_first_use_and_stays_until_unloaded(weights):
    tagger = DeepBooruInterrogator(weights, CPU, torch.float32)
    assert not tagger.loaded
    assert tagger.interrogate(picture(16, 16), DeepBooruOptions(threshold=0.9)) == "smile"
    assert tagger.loaded  # kept after the call: the caller decides when to unload
    tagger.unload()
    assert not tagger.loaded
    tagger.unload()  # twice is harmless


def test_a_missing_file_is_a_422_naming_it(tmp_path):
    missing = tmp_path / "models" / DEEPBOORU_FOLDER / DEEPBOORU_FILE
    with pytest.raises(InterrogateModelMissing) as raised:
        DeepBooruInterrogator(missing, CPU, torch.float32).interrogate(picture(8, 8), DeepBooruOptions())
    assert raised.value.http_status == 422
    assert f"{DEEPBOORU_FILE} in {missing.parent}" in str(raised.value)
