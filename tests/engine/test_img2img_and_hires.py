"""Hires fix, img2img and inpaint on the tiny model at 64 px / 2–3 steps: sizes, A1111's semantics, infotext."""

import random

import numpy as np
import pytest
from PIL import Image, ImageDraw

from webui.engine.generate import GenerationEngine, InfotextOptions
from webui.engine.request import GenerationRequest, HiresFix, Img2ImgInput, InpaintMask
from webui.engine.samplers import default_sampler_table
from webui.infotext.parse import parse_infotext

OPTIONS = InfotextOptions(version="kestrel-test")


@pytest.fixture(scope="module")
def engine(loaded_manager):
    return GenerationEngine(loaded_manager, default_sampler_table(), rng=random.Random(7))


def pixels(image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), dtype=np.int16)


def base(**overrides) -> GenerationRequest:
    values = {"prompt": "a girl", "negative_prompt": "bad", "sampler_name": "Euler", "steps": 3,
              "width": 64, "height": 64, "seed": 11}
    values.update(overrides)
    return GenerationRequest(**values)


@pytest.mark.parametrize("upscaler", ["Latent", "Latent (nearest-exact)", "Lanczos"])
def test_hires_fix_doubles_the_size_and_records_a1111_keys(engine, upscaler):
    progress = []
    result = engine.generate(base(hires=HiresFix(upscaler=upscaler, scale=2.0, steps=4, denoising_strength=0.5)),
                             OPTIONS, progress=lambda batch, step, total: progress.append((step, total)))
    image = result.images[0]
    assert image.image.size == (128, 128)
    params = parse_infotext(image.infotext)
    assert params["Size-1"] == "64" and params["Size-2"] == "64"  # the first pass's size, as A1111 writes it
    assert params["Denoising strength"] == "0.5"
    assert params["Hires upscale"] == "2" and params["Hires steps"] == "4" and params["Hires upscaler"] == upscaler
    keys = list(params)
    assert keys.index("Denoising strength") < keys.index("Hires upscale") < keys.index("Version")
    assert progress[-1] == (3 + 4, 3 + 4)  # 3 first-pass steps + hr_second_pass_steps (A1111 runs exactly those)


def test_hires_resize_to_a_size_and_own_sampler(engine):
    hires = HiresFix(resize_width=96, resize_height=80, denoising_strength=0.6, sampler_name="DPM++ 2M",
                     scheduler="Karras", prompt="a girl, detailed")
    result = engine.generate(base(hires=hires), OPTIONS)
    assert result.images[0].image.size == (96, 80)
    text = result.images[0].infotext
    assert "Hires resize: 96x80" in text and "Hires sampler: DPM++ 2M" in text
    assert "Hires schedule type: Karras" in text and 'Hires prompt: "a girl, detailed"' in text


def test_img2img_with_denoising_zero_returns_the_init_image(engine, init_image):
    result = engine.generate(base(img2img=Img2ImgInput(init_image, denoising_strength=0.0)), OPTIONS)
    out = result.images[0].image
    assert out.size == (64, 64)
    # the tiny random VAE does not reconstruct well; the round trip must still be deterministic and sized right
    again = engine.generate(base(img2img=Img2ImgInput(init_image, denoising_strength=0.0)), OPTIONS)
    assert np.array_equal(pixels(out), pixels(again.images[0].image))
    assert "Denoising strength: 0" in result.images[0].infotext


def test_img2img_denoising_changes_the_image_and_infotext(engine, init_image):
    weak = engine.generate(base(img2img=Img2ImgInput(init_image, denoising_strength=0.5)), OPTIONS).images[0]
    strong = engine.generate(base(img2img=Img2ImgInput(init_image, denoising_strength=1.0)), OPTIONS).images[0]
    assert np.abs(pixels(weak.image) - pixels(strong.image)).mean() > 1
    params = parse_infotext(weak.infotext)
    assert params["Denoising strength"] == "0.5" and "Hires upscale" not in params


@pytest.mark.parametrize("mode", [0, 1, 2, 3])
def test_img2img_resize_modes_give_the_requested_size(engine, mode):
    wide = Image.new("RGB", (96, 48), (200, 10, 10))
    result = engine.generate(base(width=64, height=72, img2img=Img2ImgInput(wide, resize_mode=mode,
                                                                            denoising_strength=0.5)), OPTIONS)
    assert result.images[0].image.size == (64, 72)


def square_mask(size=64, box=(20, 20, 44, 44)):
    mask = Image.new("L", (size, size), 0)
    ImageDraw.Draw(mask).rectangle(box, fill=255)
    return mask


@pytest.mark.parametrize("fill", ["fill", "original", "latent noise", "latent nothing"])
@pytest.mark.parametrize("only_masked", [False, True])
def test_inpaint_keeps_unmasked_pixels_exactly(engine, init_image, fill, only_masked):
    mask = InpaintMask(square_mask(), blur=0, fill=fill, only_masked=only_masked, padding=8)
    result = engine.generate(base(img2img=Img2ImgInput(init_image, denoising_strength=0.9, mask=mask)), OPTIONS)
    out, original = pixels(result.images[0].image), pixels(init_image)
    outside = np.asarray(square_mask()) == 0
    assert np.array_equal(out[outside], original[outside])
    assert np.abs(out[~outside] - original[~outside]).mean() > 1  # the masked area was repainted
    params = parse_infotext(result.images[0].infotext)
    assert params["Mask blur"] == "0" and params["Denoising strength"] == "0.9"
    assert params.get("Inpaint area") == ("Only masked" if only_masked else None)
    assert params.get("Masked content") == (None if fill == "original" else fill)


def test_inverted_mask_repaints_the_outside(engine, init_image):
    mask = InpaintMask(square_mask(), blur=0, invert=True)
    result = engine.generate(base(img2img=Img2ImgInput(init_image, denoising_strength=0.9, mask=mask)), OPTIONS)
    out, original = pixels(result.images[0].image), pixels(init_image)
    inside = np.asarray(square_mask()) == 255
    assert np.array_equal(out[inside], original[inside])
    assert "Mask mode: Inpaint not masked" in result.images[0].infotext


def test_clip_skip_changes_the_image_and_is_recorded(engine):
    plain = engine.generate(base(), OPTIONS).images[0]
    skipped = engine.generate(base(clip_skip=2), OPTIONS).images[0]
    assert "Clip skip: 2" in skipped.infotext and "Clip skip" not in plain.infotext
    assert not np.array_equal(pixels(plain.image), pixels(skipped.image))


def test_prompt_editing_and_emphasis_change_the_image(engine):
    """"a dog" for the first three UNet calls, then "a cat": early steps shape the image (the last one, at the
    smallest sigma, barely moves 8-bit pixels)."""
    plain = pixels(engine.generate(base(prompt="a cat", steps=4), OPTIONS).images[0].image)
    edited = pixels(engine.generate(base(prompt="a [dog:cat:2]", steps=4), OPTIONS).images[0].image)
    weighted = pixels(engine.generate(base(prompt="a (cat:1.6)", steps=4), OPTIONS).images[0].image)
    assert not np.array_equal(plain, edited)
    assert not np.array_equal(plain, weighted)


@pytest.fixture(scope="module")
def inpainting_engine(tmp_path_factory, cpu_plan):
    from webui.model_manager.demo import TinySD1Spec, write_tiny_checkpoint
    from webui.model_manager.manager import ModelManager, ModelSources

    folder = tmp_path_factory.mktemp("inpainting-model")
    write_tiny_checkpoint(folder / "anything-inpainting.safetensors", TinySD1Spec(in_channels=9, seed=9))
    manager = ModelManager(ModelSources((folder,)), cpu_plan, None)
    manager.refresh()
    manager.load("anything-inpainting.safetensors")
    assert manager.loaded.pipeline.unet.config.in_channels == 9
    return GenerationEngine(manager, default_sampler_table(), rng=random.Random(1))


@pytest.mark.parametrize("fill", ["fill", "original", "latent noise", "latent nothing"])
def test_nine_channel_inpainting_model_is_used_as_such(inpainting_engine, init_image, fill):
    mask = InpaintMask(square_mask(), blur=0, fill=fill)
    result = inpainting_engine.generate(base(img2img=Img2ImgInput(init_image, denoising_strength=1.0, mask=mask)),
                                        OPTIONS)
    out, original = pixels(result.images[0].image), pixels(init_image)
    outside = np.asarray(square_mask()) == 0
    assert np.array_equal(out[outside], original[outside])
    assert np.abs(out[~outside] - original[~outside]).mean() > 1


def test_hires_at_denoising_zero_keeps_the_upscaled_first_pass(engine):
    """A1111's own API test payload (steps 3, denoising 0): no hires sampling, the upscaled image, no error."""
    result = engine.generate(base(hires=HiresFix("Latent", 2.0, denoising_strength=0.0)), OPTIONS)
    assert result.images[0].image.size == (128, 128) and not result.interrupted
