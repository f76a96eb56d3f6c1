"""A1111's test/test_extras.py: the Extras upscale payload, and its two other calls (A1111's test posts an image
with no upscaler, and one with `model: clip`, to extra-single-image: both must answer 200)."""

import base64
import io

import requests
from PIL import Image


def test_simple_upscaling_performed(base_url, img2img_basic_image_base64):
    payload = {"resize_mode": 0, "show_extras_results": True, "gfpgan_visibility": 0, "codeformer_visibility": 0,
               "codeformer_weight": 0, "upscaling_resize": 2, "upscaling_resize_w": 128, "upscaling_resize_h": 128,
               "upscaling_crop": True, "upscaler_1": "Lanczos", "upscaler_2": "None",
               "extras_upscaler_2_visibility": 0, "image": img2img_basic_image_base64}
    response = requests.post(f"{base_url}/sdapi/v1/extra-single-image", json=payload, timeout=60)
    assert response.status_code == 200, response.text
    assert Image.open(io.BytesIO(base64.b64decode(response.json()["image"]))).size == (128, 128)


def test_png_info_performed(base_url, img2img_basic_image_base64):
    payload = {"image": img2img_basic_image_base64}
    assert requests.post(f"{base_url}/sdapi/v1/extra-single-image", json=payload, timeout=60).status_code == 200
    info = requests.post(f"{base_url}/sdapi/v1/png-info", json=payload, timeout=60)
    assert info.status_code == 200 and info.json()["info"] == ""


def test_interrogate_performed(base_url, img2img_basic_image_base64):
    payload = {"image": img2img_basic_image_base64, "model": "clip"}  # extra fields are ignored, as in A1111
    assert requests.post(f"{base_url}/sdapi/v1/extra-single-image", json=payload, timeout=60).status_code == 200
