"""A1111's test/test_utils.py: the options round trip and every list route it reads, plus what a client meets
around them (405 for a wrong method with the UI mounted at /, /scripts not empty)."""

import pytest
import requests


def test_options_write(base_url):
    url_options = f"{base_url}/sdapi/v1/options"
    response = requests.get(url_options, timeout=30)
    assert response.status_code == 200
    pre_value = response.json()["send_seed"]
    assert requests.post(url_options, json={"send_seed": (not pre_value)}, timeout=30).status_code == 200
    response = requests.get(url_options, timeout=30)
    assert response.status_code == 200
    assert response.json()["send_seed"] == (not pre_value)
    requests.post(url_options, json={"send_seed": pre_value}, timeout=30)


@pytest.mark.parametrize("url", [
    "sdapi/v1/cmd-flags", "sdapi/v1/samplers", "sdapi/v1/upscalers", "sdapi/v1/sd-models", "sdapi/v1/hypernetworks",
    "sdapi/v1/face-restorers", "sdapi/v1/realesrgan-models", "sdapi/v1/prompt-styles", "sdapi/v1/embeddings",
])
def test_get_api_url(base_url, url):
    assert requests.get(f"{base_url}/{url}", timeout=30).status_code == 200


def test_wrong_method_is_405_and_scripts_are_listed(base_url):
    response = requests.get(f"{base_url}/sdapi/v1/txt2img", timeout=30)
    assert response.status_code == 405 and response.headers["Allow"] == "POST"
    assert requests.put(f"{base_url}/sdapi/v1/options", json={}, timeout=30).status_code == 405
    assert requests.get(f"{base_url}/sdapi/v1/no-such-route", timeout=30).status_code == 404
    scripts = requests.get(f"{base_url}/sdapi/v1/scripts", timeout=30).json()
    assert "x/y/z plot" in scripts["txt2img"] and "sd upscale" in scripts["img2img"]
