"""Running upscalers on the CPU with tiny random-weight models: output sizes, tiled == untiled within tolerance,
progress per tile, Interrupt between tiles, the Extras post-processing, and the hires fix through a model."""

import random

import numpy as np
import pytest
from PIL import Image

from tests.support.upscaler_files import compact_layout, rrdb_new_layout, rrdb_old_layout, write_pth, write_safetensors
from webui.engine.extras_request import ExtrasRequest
from webui.engine.generate import GenerationEngine, InfotextOptions
from webui.engine.postprocess import postprocess_image
from webui.engine.request import GenerationRequest, HiresFix
from webui.engine.samplers import default_sampler_table
from webui.engine.upscale import (
    UnknownUpscalerError,
    UpscaleControl,
    UpscaleInterrupted,
    UpscalerRegistry,
    run_model_tiled,
)
from webui.infotext.parse import parse_infotext
from webui.model_manager.upscalers import UpscalerLibrary


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    write_pth(root / "ESRGAN" / "4x-Tiny.pth", rrdb_old_layout(scale=4))
    write_safetensors(root / "RealESRGAN" / "RealESRGAN_x4plus_anime_6B.safetensors", rrdb_new_layout(scale=4))
    write_pth(root / "RealESRGAN" / "realesr-general-x4v3.pth", compact_layout(scale=4), wrapper="params")
    write_pth(root / "ESRGAN" / "2x-Tiny.pth", rrdb_old_layout(scale=2))
    library = UpscalerLibrary({"ESRGAN": root / "ESRGAN", "RealESRGAN": root / "RealESRGAN"})
    library.refresh()
    return UpscalerRegistry(library, lambda: (32, 8))


@pytest.fixture(scope="module")
def photo():
    """A smooth picture with some detail (random noise would make every model output look alike)."""
    y, x = np.mgrid[0:48, 0:72]
    red = 128 + 100 * np.sin(x / 7.0)
    green = 128 + 100 * np.cos(y / 5.0)
    blue = (x * y) % 256
    return Image.fromarray(np.stack([red, green, blue], axis=-1).astype(np.uint8))


def as_array(image):
    return np.asarray(image, dtype=np.float64)


@pytest.mark.parametrize("name", ["4x-Tiny", "R-ESRGAN 4x+ Anime6B", "R-ESRGAN General 4xV3"])
def test_tiled_equals_untiled_within_tolerance(registry, photo, name):
    loaded = registry.library.load(registry.library.find(name))
    whole = as_array(run_model_tiled(loaded, photo, UpscaleControl(tile=0)))
    assert whole.shape == (48 * 4, 72 * 4, 3) and whole.std() > 5  # the model really draws something
    ticks = []
    tiled = as_array(run_model_tiled(loaded, photo, UpscaleControl(tile=24, overlap=8,
                                                                   progress=lambda done, total: ticks.append(
                                                                       (done, total)))))
    assert ticks == [(index, 12) for index in range(1, 13)]  # 4 columns × 3 rows, each tile reported
    difference = np.abs(whole - tiled)
    assert difference.mean() < 1.0 and np.percentile(difference, 99) <= 8, (difference.mean(), difference.max())
    seams = as_array(run_model_tiled(loaded, photo, UpscaleControl(tile=24, overlap=0)))
    assert np.abs(whole - seams).mean() >= difference.mean()  # the overlap is what hides the seams


def test_interrupt_between_tiles(registry, photo):
    loaded = registry.library.load(registry.library.find("4x-Tiny"))
    done = []
    control = UpscaleControl(tile=24, overlap=8, progress=lambda index, total: done.append(index),
                             cancelled=lambda: len(done) >= 2)
    with pytest.raises(UpscaleInterrupted):
        run_model_tiled(loaded, photo, control)
    assert done == [1, 2]


@pytest.mark.parametrize("name", ["4x-Tiny", "2x-Tiny", "Lanczos", "Nearest"])
def test_upscale_to_a_size_applies_the_model_as_often_as_needed(registry, photo, name):
    assert registry.get(name).upscale(photo, (144, 96), registry.control()).size == (144, 96)
    # 8x from a 4x or 2x model: passes until the target is reached, then Lanczos to the exact size (A1111's loop)
    small = photo.resize((16, 12))
    assert registry.get(name).upscale(small, (128, 96), registry.control()).size == (128, 96)


def test_unknown_names_list_the_allowed_ones(registry):
    with pytest.raises(UnknownUpscalerError, match="upscaler 'SuperResolution 9000' is not one of: None, Lanczos, "
                                                   "Nearest, 2x-Tiny, 4x-Tiny, R-ESRGAN 4x\\+ Anime6B"):
        registry.get("SuperResolution 9000")


def test_extras_postprocess_blends_crops_and_writes_a1111_infotext(registry, photo):
    request = ExtrasRequest(resize_mode=1, upscaling_resize_w=160, upscaling_resize_h=160, upscaling_crop=True,
                            upscaler_1="R-ESRGAN 4x+ Anime6B", upscaler_2="Nearest", upscaler_2_visibility=0.5)
    ticks = []
    result = postprocess_image(photo, request, registry, registry.control(),
                               progress=lambda which, done, total: ticks.append(which))
    assert result.image.size == (160, 160) and ticks and set(ticks) == {0}  # Nearest has no tiles
    assert result.infotext == ("Postprocess upscale to: 160x160, Postprocess crop to: 160x160, "
                               "Postprocess upscaler: R-ESRGAN 4x+ Anime6B, Postprocess upscaler 2: Nearest")
    uncropped = postprocess_image(photo, ExtrasRequest(**{**request.__dict__, "upscaling_crop": False}), registry,
                                  registry.control())
    assert uncropped.image.size == (240, 160)  # 72x48 scaled by max(160/72, 160/48), then centred and cropped
    assert np.array_equal(np.asarray(result.image), np.asarray(uncropped.image.crop((40, 0, 200, 160))))


def test_upscaler_1_none_leaves_the_image_alone(registry, photo):
    result = postprocess_image(photo, ExtrasRequest(upscaler_1="None"), registry, registry.control())
    assert result.infotext == "" and np.array_equal(np.asarray(result.image), np.asarray(photo))


@pytest.fixture(scope="module")
def engine(loaded_manager, registry):
    return GenerationEngine(loaded_manager, default_sampler_table(), rng=random.Random(5), upscalers=registry)


def test_hires_fix_through_a_model_upscaler(engine):
    request = GenerationRequest(prompt="a girl", sampler_name="Euler", steps=2, width=64, height=64, seed=3,
                                hires=HiresFix(upscaler="R-ESRGAN 4x+ Anime6B", scale=2.0, steps=2,
                                               denoising_strength=0.5))
    assert "R-ESRGAN 4x+ Anime6B" in engine.hires_upscaler_names()
    result = engine.generate(request, InfotextOptions())
    assert result.images[0].image.size == (128, 128)
    assert parse_infotext(result.images[0].infotext)["Hires upscaler"] == "R-ESRGAN 4x+ Anime6B"


def test_hires_fix_with_an_unknown_upscaler_fails_before_any_work(engine):
    request = GenerationRequest(steps=2, width=64, height=64, hires=HiresFix(upscaler="4x-Missing"))
    with pytest.raises(ValueError, match="hr_upscaler '4x-Missing' is not one of: Latent, .*Lanczos, Nearest, "
                                         "2x-Tiny, 4x-Tiny"):
        engine.generate(request, InfotextOptions())


def test_interrupt_during_the_hires_upscale_returns_the_first_pass_and_stops_the_job(engine):
    request = GenerationRequest(prompt="a girl", sampler_name="Euler", steps=2, width=64, height=64, seed=3,
                                batch_count=2, hires=HiresFix(upscaler="4x-Tiny", scale=2.0, steps=2))
    steps = []
    result = engine.generate(request, InfotextOptions(), progress=lambda batch, step, total: steps.append(step),
                             cancelled=lambda: len(steps) >= 2)  # the first pass has ended: stop in the upscale
    # A1111: the first pass was complete, so its image (at the first-pass size) is what was made; batch 2 never runs
    assert result.interrupted and [image.image.size for image in result.images] == [(64, 64)]
