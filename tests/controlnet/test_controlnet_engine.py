"""ControlNet in the engine, on the tiny checkpoint with tiny random ControlNets (64 px, 3 steps): every file layout
loads, a unit changes the image, weight 0 or no unit gives the plain image bit for bit, guidance and control modes
act, units compose, inpaint keeps the unmasked pixels, hires runs with the control fitted to its size."""

from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

from tests.controlnet.conftest import FILES
from webui.engine.controlnet.unit import ControlNetUnit
from webui.engine.generate import InfotextOptions
from webui.engine.request import GenerationRequest, HiresFix, Img2ImgInput, InpaintMask
from webui.infotext.controlnet import units_in
from webui.infotext.parse import parse_infotext
from webui.model_manager.controlnet_models import ControlNetRefused

OPTIONS = InfotextOptions(version="kestrel-test")
CANNY = "control_v11p_sd15_canny"


def request(**overrides) -> GenerationRequest:
    values = {"prompt": "a girl", "negative_prompt": "bad", "sampler_name": "Euler", "steps": 3,
              "width": 64, "height": 64, "seed": 11}
    return GenerationRequest(**{**values, **overrides})


def unit(image, **overrides) -> ControlNetUnit:
    return ControlNetUnit(**{"module": "none", "model": CANNY, "image": image, **overrides})


def pixels(result, index=0) -> np.ndarray:
    return np.asarray(result.images[index].image.convert("RGB"), dtype=np.int16)


@pytest.fixture(scope="module")
def plain(cn_engine):
    return pixels(cn_engine.generate(request(), OPTIONS))


@pytest.fixture(scope="module")
def controlled(cn_engine, control_image):
    return pixels(cn_engine.generate(request(controlnet=(unit(control_image),)), OPTIONS))


def test_a_unit_changes_the_image_and_weight_zero_does_not(cn_engine, control_image, plain, controlled):
    assert np.abs(controlled - plain).mean() > 1.0
    zero = cn_engine.generate(request(controlnet=(unit(control_image, weight=0.0),)), OPTIONS)
    assert np.array_equal(pixels(zero), plain)


@pytest.mark.parametrize("file_name", sorted(FILES))
def test_every_file_layout_gives_the_same_control(cn_engine, control_image, controlled, file_name):
    result = pixels(cn_engine.generate(request(controlnet=(unit(control_image, model=file_name.rsplit(".", 1)[0]),)),
                                       OPTIONS))
    tolerance = 0 if file_name.endswith(".pth") else 3  # fp16 copies and diffusers' layout round differently
    assert np.abs(result - controlled).max() <= tolerance


def test_guidance_end_and_control_modes_change_the_result(cn_engine, control_image, controlled, plain):
    variants = {
        "prompt": unit(control_image, control_mode="My prompt is more important"),
        "control": unit(control_image, control_mode="ControlNet is more important"),
    }
    results = {name: pixels(cn_engine.generate(request(controlnet=(value,)), OPTIONS))
               for name, value in variants.items()}
    for name, result in results.items():
        assert np.abs(result - controlled).mean() > 0.2, name
        assert np.abs(result - plain).mean() > 0.2, name
    assert np.abs(results["prompt"] - results["control"]).mean() > 0.2


def test_guidance_end_stops_the_unit_in_the_second_half(cn_engine, control_image):
    """10 steps: A1111's step fraction runs 0, 0, 0.1 … 0.8, so an end of 0.5 leaves out the last three steps."""
    full = cn_engine.generate(request(steps=10, controlnet=(unit(control_image),)), OPTIONS)
    half = cn_engine.generate(request(steps=10, controlnet=(unit(control_image, guidance_end=0.5),)), OPTIONS)
    plain = cn_engine.generate(request(steps=10), OPTIONS)
    assert np.abs(pixels(full) - pixels(half)).mean() > 0.1 and np.abs(pixels(half) - pixels(plain)).mean() > 0.2


def test_guidance_start_after_the_last_step_is_the_plain_image(cn_engine, control_image, plain):
    late = cn_engine.generate(request(controlnet=(unit(control_image, guidance_start=1.0, guidance_end=1.0),)),
                              OPTIONS)
    # A1111's step fraction reaches (steps − 2)/steps at most during sampling: the unit never acts
    assert np.array_equal(pixels(late), plain)


def test_two_units_compose(cn_engine, control_image, controlled):
    second = unit(control_image.rotate(90), model="second_sd15_lineart", index=1)
    alone = pixels(cn_engine.generate(request(controlnet=(second,)), OPTIONS))
    both = cn_engine.generate(request(controlnet=(unit(control_image), second)), OPTIONS)
    assert np.abs(pixels(both) - controlled).mean() > 0.2 and np.abs(pixels(both) - alone).mean() > 0.2
    entries = units_in(parse_infotext(both.images[0].infotext))
    assert sorted(entries) == [0, 1] and entries[1]["model"].startswith("second_sd15_lineart [")


def test_the_infotext_entry_is_the_extensions(cn_engine, control_image):
    result = cn_engine.generate(request(controlnet=(unit(control_image, module="canny", weight=0.8,
                                                         pixel_perfect=True),)), OPTIONS)
    text = result.images[0].infotext
    title = cn_engine.controlnet.models.find(CANNY).title
    assert (f'ControlNet 0: "Module: canny, Model: {title}, Weight: 0.8, Resize Mode: Crop and Resize, '
            "Processor Res: 64, Threshold A: 100, Threshold B: 200, Guidance Start: 0.0, Guidance End: 1.0, "
            'Pixel Perfect: True, Control Mode: Balanced"') in text
    parsed = units_in(parse_infotext(text))[0]
    assert parsed["module"] == "canny" and parsed["weight"] == 0.8 and parsed["pixel_perfect"] is True


def test_img2img_unit_without_image_uses_the_init_image(cn_engine, control_image, init_image):
    spec = Img2ImgInput(init_image, denoising_strength=0.6)
    own = pixels(cn_engine.generate(request(img2img=spec, controlnet=(unit(init_image),)), OPTIONS))
    implicit = pixels(cn_engine.generate(request(img2img=spec, controlnet=(unit(None),)), OPTIONS))
    plain = pixels(cn_engine.generate(request(img2img=spec), OPTIONS))
    assert np.array_equal(own, implicit) and np.abs(own - plain).mean() > 0.2


def test_inpaint_keeps_the_unmasked_pixels(cn_engine, control_image, init_image):
    mask = Image.new("L", (64, 64), 0)
    mask.paste(255, (0, 0, 32, 64))
    spec = Img2ImgInput(init_image, denoising_strength=0.9, mask=InpaintMask(mask, blur=0))
    result = pixels(cn_engine.generate(request(img2img=spec, controlnet=(unit(control_image),)), OPTIONS))
    source = np.asarray(init_image.convert("RGB"), dtype=np.int16)
    assert np.abs(result[:, 40:] - source[:, 40:]).max() <= 2
    assert np.abs(result[:, :24] - source[:, :24]).mean() > 5


def test_hires_fix_runs_with_the_control(cn_engine, control_image):
    hires = HiresFix(upscaler="Latent", scale=2.0, steps=2, denoising_strength=0.6)
    with_unit = cn_engine.generate(request(hires=hires, controlnet=(unit(control_image),)), OPTIONS)
    low_only = cn_engine.generate(request(hires=hires, controlnet=(unit(control_image, hr_option="Low res only"),)),
                                  OPTIONS)
    without = cn_engine.generate(request(hires=hires), OPTIONS)
    assert with_unit.images[0].image.size == (128, 128)
    assert np.abs(pixels(with_unit) - pixels(low_only)).mean() > 0.2
    assert np.abs(pixels(low_only) - pixels(without)).mean() > 0.2


def test_a_controlnet_for_another_architecture_is_refused(cn_engine, control_image):
    with pytest.raises(ControlNetRefused, match="control_xl_canny.safetensors.*ControlNet"):
        cn_engine.generate(request(controlnet=(unit(control_image, model="control_xl_canny"),)), OPTIONS)
    assert len(cn_engine.generate(request(), OPTIONS).images) == 1  # the engine keeps serving


def test_units_are_validated_with_names(control_image):
    with pytest.raises(ValueError, match="controlnet unit 2 weight 3"):
        unit(control_image, weight=3, index=2)
    with pytest.raises(ValueError, match="guidance_start 0.8 is after guidance_end 0.5"):
        unit(control_image, guidance_start=0.8, guidance_end=0.5)
    with pytest.raises(ValueError, match="control_mode 'Guess' is not one of"):
        replace(unit(control_image), control_mode="Guess")
