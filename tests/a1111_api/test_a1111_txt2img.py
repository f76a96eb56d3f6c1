"""A1111's test/test_txt2img.py: its payload (steps 3, 64 px, denoising 0, Euler a) with each feature turned on
must answer 200; we also check the work was done (sizes, counts, infotext)."""

import re

import pytest

from tests.support import a1111_post as performed


@pytest.fixture()
def url_txt2img(base_url):
    return f"{base_url}/sdapi/v1/txt2img"


@pytest.fixture()
def simple_txt2img_request():
    return {"batch_size": 1, "cfg_scale": 7, "denoising_strength": 0, "enable_hr": False, "eta": 0,
            "firstphase_height": 0, "firstphase_width": 0, "height": 64, "n_iter": 1, "negative_prompt": "",
            "prompt": "example prompt", "restore_faces": False, "s_churn": 0, "s_noise": 1, "s_tmax": 0, "s_tmin": 0,
            "sampler_index": "Euler a", "seed": -1, "seed_resize_from_h": -1, "seed_resize_from_w": -1, "steps": 3,
            "styles": [], "subseed": -1, "subseed_strength": 0, "tiling": False, "width": 64}


def test_txt2img_simple_performed(url_txt2img, simple_txt2img_request):
    images, info = performed(url_txt2img, simple_txt2img_request)
    assert images[0].size == (64, 64) and info["warnings"] == []  # A1111's neutral values: nothing to report


def test_txt2img_with_negative_prompt_performed(url_txt2img, simple_txt2img_request):
    simple_txt2img_request["negative_prompt"] = "example negative prompt"
    _images, info = performed(url_txt2img, simple_txt2img_request)
    assert "Negative prompt: example negative prompt" in info["infotexts"][0]


def test_txt2img_with_complex_prompt_performed(url_txt2img, simple_txt2img_request):
    simple_txt2img_request["prompt"] = "((emphasis)), (emphasis1:1.1), [to:1], [from::2], [from:to:0.3], [alt|alt1]"
    performed(url_txt2img, simple_txt2img_request)


def test_txt2img_not_square_image_performed(url_txt2img, simple_txt2img_request):
    simple_txt2img_request["height"] = 128
    assert performed(url_txt2img, simple_txt2img_request)[0][0].size == (64, 128)


def test_txt2img_with_hrfix_performed(url_txt2img, simple_txt2img_request):
    """Denoising 0 gives the hires pass no steps: the upscaled first pass is the answer (it was a 500)."""
    simple_txt2img_request["enable_hr"] = True
    images, info = performed(url_txt2img, simple_txt2img_request)
    assert images[0].size == (128, 128) and "Hires upscale: 2" in info["infotexts"][0]


def test_txt2img_with_tiling_performed(url_txt2img, simple_txt2img_request):
    simple_txt2img_request["tiling"] = True
    _images, info = performed(url_txt2img, simple_txt2img_request)
    assert "Tiling: True" in info["infotexts"][0] and info["warnings"] == []


def test_txt2img_with_restore_faces_performed(url_txt2img, simple_txt2img_request):
    """A1111 downloads CodeFormer here; nothing is downloaded unasked, so with no weights installed the answer is a
    422 naming the file and the folder it goes in (tests/face restores faces with weights in place)."""
    import requests

    simple_txt2img_request["restore_faces"] = True
    response = requests.post(url_txt2img, json=simple_txt2img_request, timeout=120)
    assert response.status_code == 422, response.text
    assert re.search(r"put codeformer-v0\.1\.0\.pth in \S+/models/Codeformer\b", response.json()["detail"])


@pytest.mark.parametrize("sampler", ["PLMS", "DDIM", "UniPC"])
def test_txt2img_with_vanilla_sampler_performed(url_txt2img, simple_txt2img_request, sampler):
    simple_txt2img_request["sampler_index"] = sampler
    assert performed(url_txt2img, simple_txt2img_request)[1]["sampler_name"] == sampler


def test_txt2img_multiple_batches_performed(url_txt2img, simple_txt2img_request):
    simple_txt2img_request["n_iter"] = 2
    assert len(performed(url_txt2img, simple_txt2img_request)[1]["infotexts"]) == 2


def test_txt2img_batch_performed(url_txt2img, simple_txt2img_request):
    simple_txt2img_request["batch_size"] = 2
    assert len(performed(url_txt2img, simple_txt2img_request)[0]) == 2
