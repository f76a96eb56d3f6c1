"""Bad input table: every case is a 4xx whose message names the field the *client* sent (A1111's names), with
nothing queued. One in-process app for all of them."""

import base64
import io

import pytest
from PIL import Image

from tests.support import api_test_client, copy_checkpoint


@pytest.fixture(scope="module")
def client(tmp_path_factory, tiny_checkpoint):
    data = tmp_path_factory.mktemp("bad-input-data")
    folder = data / "models" / "Stable-diffusion"
    folder.mkdir(parents=True)
    copy_checkpoint(tiny_checkpoint, folder / "anime.safetensors")
    yield from api_test_client(data)


def _png() -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), "gray").save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


PNG = _png()
NOT_AN_IMAGE = base64.b64encode(b"hello, not an image").decode()
T2I = {"prompt": "x", "steps": 2, "width": 64, "height": 64}
I2I = {**T2I, "init_images": [PNG]}
HR = {**T2I, "enable_hr": True}
MASKED = {**I2I, "mask": PNG}
UPSCALE = {**I2I, "script_name": "sd upscale"}
XYZ = {**T2I, "script_name": "x/y/z plot"}
PROMPTS = {**T2I, "script_name": "prompts from file or textbox"}
EXTRAS = {"image": PNG, "upscaler_1": "Lanczos"}

CASES = [  # (route, body, the caller's field the message must name)
    *[("txt2img", {**T2I, "steps": value}, "steps") for value in ("abc", -1, 0, 151, 1.5, None)],
    *[("txt2img", {**T2I, "width": value}, "width") for value in (7, 0, -64, 4096, "wide", 63.5)],
    *[("txt2img", {**T2I, "height": value}, "height") for value in (7, 0, 4096, "tall")],
    *[("txt2img", {**T2I, "cfg_scale": value}, "cfg_scale") for value in (0, 31, "x", -1)],
    *[("txt2img", {**T2I, "batch_size": value}, "batch_size") for value in (0, 9, "x")],
    *[("txt2img", {**T2I, "n_iter": value}, "n_iter") for value in (0, 101, "x")],
    *[("txt2img", {**T2I, "seed": value}, "seed") for value in ("abc", -2, 2 ** 33, 1.5)],
    *[("txt2img", {**T2I, "subseed": value}, "subseed") for value in (-5, 2 ** 33)],
    *[("txt2img", {**T2I, "subseed_strength": value}, "subseed_strength") for value in (1.5, -0.1)],
    ("txt2img", {**T2I, "seed_resize_from_w": 3}, "seed_resize_from_w"),
    ("txt2img", {**T2I, "seed_resize_from_h": 5000}, "seed_resize_from_h"),
    ("txt2img", {**T2I, "sampler_name": "Nope"}, "sampler_name"),
    ("txt2img", {**T2I, "sampler_index": "Nope"}, "sampler_index"),
    ("txt2img", {**T2I, "scheduler": "nope"}, "scheduler"),
    *[("txt2img", {**HR, "hr_scale": value}, "hr_scale") for value in (0.5, 5)],
    *[("txt2img", {**HR, "hr_second_pass_steps": value}, "hr_second_pass_steps") for value in (-1, 151)],
    ("txt2img", {**HR, "hr_resize_x": -1}, "hr_resize_x"),
    ("txt2img", {**HR, "hr_resize_y": 5000}, "hr_resize_y"),
    ("txt2img", {**HR, "hr_upscaler": "nope"}, "hr_upscaler"),
    ("txt2img", {**HR, "denoising_strength": 1.5}, "denoising_strength"),
    ("txt2img", {**HR, "hr_sampler_name": "nope"}, "hr_sampler_name"),
    *[("txt2img", {**T2I, "eta": value}, "eta") for value in (-1, 11)],
    ("txt2img", {**T2I, "s_noise": 11}, "s_noise"),
    ("txt2img", {**T2I, "s_churn": -1}, "s_churn"),
    ("txt2img", {**T2I, "s_tmin": -1}, "s_tmin"),
    ("txt2img", {**T2I, "s_tmax": -1}, "s_tmax"),
    *[("txt2img", {**T2I, "override_settings": {"CLIP_stop_at_last_layers": value}}, "CLIP_stop_at_last_layers")
      for value in (0, 13, "abc")],
    ("txt2img", {**T2I, "override_settings": {"sd_model_checkpoint": "missing"}}, "missing"),
    ("txt2img", {**T2I, "override_settings": {"eta_noise_seed_delta": "x"}}, "eta_noise_seed_delta"),
    ("txt2img", {**T2I, "override_settings": {"randn_source": "TPU"}}, "randn_source"),
    ("txt2img", {**T2I, "override_settings": {"eta_ancestral": 11}}, "eta_ancestral"),
    ("txt2img", {**T2I, "override_settings": "all"}, "override_settings"),
    ("txt2img", {**T2I, "styles": "not a list"}, "styles"),
    ("txt2img", {**T2I, "prompt": 123}, "prompt"),
    ("txt2img", {**T2I, "negative_prompt": ["a"]}, "negative_prompt"),
    ("txt2img", {**T2I, "prompt": "a <lora:x:abc> cat"}, "lora:x:abc"),
    ("txt2img", {**T2I, "alwayson_scripts": {"nope": {"args": []}}}, "alwayson_scripts.nope"),
    ("txt2img", {**T2I, "alwayson_scripts": "nope"}, "alwayson_scripts"),
    ("txt2img", {**T2I, "script_name": "nope"}, "script_name"),
    ("txt2img", {**XYZ, "script_args": "not a list"}, "script_args"),
    ("txt2img", {**XYZ, "script_args": [99, "1"]}, "script_args[0]"),
    ("txt2img", {**XYZ, "script_args": [4, "1, abc"]}, "script_args"),
    ("txt2img", {**XYZ, "script_args": [4, "1, 2", None, 2, "1"]}, "script_args[3]"),
    ("txt2img", {**XYZ, "script_args": [4, "1", None, 0, "", None, 0, "", None, "yes"]}, "script_args[9]"),
    ("txt2img", {**PROMPTS, "script_args": [False, False, "middle", "a"]}, "script_args[2]"),
    ("txt2img", {**PROMPTS, "script_args": [False, False, "start", ""]}, "script_args[3]"),
    ("txt2img", {**PROMPTS, "script_args": ["no", False, "start", "a"]}, "script_args[0]"),
    ("txt2img", {**PROMPTS, "script_args": [False, False, "start", "--steps abc"]}, "script_args[3]"),
    ("txt2img", {**PROMPTS, "script_args": [False, False, "start", "--steps 999"]}, "script_args[3]"),
    ("txt2img", {**T2I, "enable_hr": "maybe"}, "enable_hr"),
    ("txt2img", {**T2I, "send_images": "maybe"}, "send_images"),
    ("img2img", T2I, "init_images"),
    ("img2img", {**T2I, "init_images": ["!!not base64!!"]}, "init_images[0]"),
    ("img2img", {**T2I, "init_images": [NOT_AN_IMAGE]}, "init_images[0]"),
    ("img2img", {**T2I, "init_images": PNG}, "init_images"),
    ("img2img", {**I2I, "mask": "zzz"}, "mask"),
    ("img2img", {**I2I, "mask": NOT_AN_IMAGE}, "mask"),
    *[("img2img", {**I2I, "denoising_strength": value}, "denoising_strength") for value in (1.5, -0.1, "x")],
    *[("img2img", {**I2I, "resize_mode": value}, "resize_mode") for value in (9, -1)],
    ("img2img", {**I2I, "inpainting_fill": 7}, "inpainting_fill"),
    *[("img2img", {**MASKED, "mask_blur": value}, "mask_blur") for value in (100, -1)],
    ("img2img", {**MASKED, "inpaint_full_res_padding": 1000}, "inpaint_full_res_padding"),
    ("img2img", {**I2I, "width": 7}, "width"),
    ("img2img", {**I2I, "n_iter": 0}, "n_iter"),
    ("img2img", {**UPSCALE, "script_args": ["", "x", "Lanczos", 2]}, "script_args[1]"),
    ("img2img", {**UPSCALE, "script_args": ["", 999, "Lanczos", 2]}, "script_args[1]"),
    ("img2img", {**UPSCALE, "script_args": ["", 8, "nope", 2]}, "script_args[2]"),
    ("img2img", {**UPSCALE, "script_args": ["", 8, 99, 2]}, "script_args[2]"),
    ("img2img", {**UPSCALE, "script_args": ["", 8, "Lanczos", 9]}, "script_args[3]"),
    ("img2img", {**I2I, "script_name": "nope"}, "script_name"),
    *[("extra-single-image", {**EXTRAS, "upscaling_resize": value}, "upscaling_resize") for value in (0, 9)],
    ("extra-single-image", {**EXTRAS, "upscaler_1": "nope"}, "upscaler_1"),
    ("extra-single-image", {**EXTRAS, "upscaler_2": "nope", "extras_upscaler_2_visibility": 0.5}, "upscaler_2"),
    ("extra-single-image", {**EXTRAS, "image": "zzz"}, "image"),
    ("extra-single-image", {**EXTRAS, "resize_mode": 5}, "resize_mode"),
    ("extra-single-image", {**EXTRAS, "resize_mode": 1, "upscaling_resize_w": 0}, "upscaling_resize_w"),
    ("extra-single-image", {**EXTRAS, "extras_upscaler_2_visibility": 2}, "extras_upscaler_2_visibility"),
    ("extra-batch-images", {"imageList": [{"data": "zzz", "name": "a.png"}]}, "imageList[0].data"),
    ("options", {"no_such_option": 1}, "no_such_option"),
    ("options", {"jpeg_quality": 101}, "jpeg_quality"),
    ("options", {"samples_save": "yes"}, "samples_save"),
    ("options", {"CLIP_stop_at_last_layers": 20}, "CLIP_stop_at_last_layers"),
    ("options", {"sd_model_checkpoint": "missing"}, "missing"),
    ("options", {"samples_format": 5}, "samples_format"),
    ("options", {"interrogate_clip_skip_categories": [1]}, "interrogate_clip_skip_categories"),
    ("options", {"interrogate_clip_skip_categories": "artists.txt"}, "interrogate_clip_skip_categories"),
    ("png-info", {"image": "zzz"}, "image"),
    ("png-info", {"image": NOT_AN_IMAGE}, "image"),
    ("interrogate", {"image": NOT_AN_IMAGE, "model": "clip"}, "image"),
    ("interrogate", {"image": "!!", "model": "deepdanbooru"}, "image"),
    ("interrogate", {"image": PNG, "model": "blip2"}, "blip2"),
]


@pytest.mark.parametrize(("route", "body", "field"), CASES,
                         ids=[f"{index}-{route}-{field}" for index, (route, _body, field) in enumerate(CASES)])
def test_bad_input_is_a_4xx_naming_the_callers_field(client, route, body, field):
    response = client.post(f"/sdapi/v1/{route}", json=body)
    assert 400 <= response.status_code < 500, response.text
    detail = response.json()["detail"]
    text = str(detail)
    assert field in text, text
    for internal in ("batch_count", "invalid literal", "Traceback", "NoneType", " object at 0x"):
        assert internal not in text, text
    if isinstance(detail, str) and field == "width" and "7" in str(body.get("width")):
        assert "width 7" in detail  # the value the client sent, not the rounded one


def test_the_table_is_large_enough():
    assert len(CASES) >= 80
