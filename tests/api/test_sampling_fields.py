"""A1111's sampling fields over /sdapi/v1: variation seeds, sampler settings from the request and
override_settings, honoured (no "not supported" warnings) and written to the infotext; bad values are 422."""

import base64
import io
import json

import numpy as np
import pytest
from PIL import Image

from tests.support import api_test_client, copy_checkpoint


@pytest.fixture(scope="module")
def client(tmp_path_factory, tiny_checkpoint):
    data = tmp_path_factory.mktemp("api-sampling")
    folder = data / "models" / "Stable-diffusion"
    folder.mkdir(parents=True)
    copy_checkpoint(tiny_checkpoint, folder / "anime.safetensors")
    yield from api_test_client(data)


def txt2img(client, **fields):
    return client.post("/sdapi/v1/txt2img", json={"prompt": "a cat", "steps": 3, "width": 64, "height": 64,
                                                  "seed": 11, "sampler_name": "Euler a", **fields})


def _pixels(body, index=0):
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(body["images"][index]))))


def test_variation_seed_and_settings_are_honoured_and_written(client):
    response = txt2img(client, batch_size=2, subseed=500, subseed_strength=0.4, eta=0.8,
                       override_settings={"eta_noise_seed_delta": 31337, "randn_source": "CPU"})
    assert response.status_code == 200, response.text
    info = json.loads(response.json()["info"])
    assert info["warnings"] == []
    assert info["all_seeds"] == [11, 11] and info["all_subseeds"] == [500, 501]
    assert info["subseed"] == 500 and info["subseed_strength"] == 0.4
    first, second = info["infotexts"]
    assert "Seed: 11, Size: 64x64" in first
    assert "Variation seed: 500, Variation seed strength: 0.4, ENSD: 31337, RNG: CPU" in first
    assert "Variation seed: 501" in second and "Eta: 0.8" in first


def test_the_same_request_makes_the_same_image_and_each_setting_changes_it(client):
    plain = _pixels(txt2img(client).json())
    assert np.array_equal(plain, _pixels(txt2img(client).json()))
    for change in ({"subseed": 5, "subseed_strength": 0.5}, {"eta": 0.5},
                   {"override_settings": {"eta_noise_seed_delta": 1}}, {"override_settings": {"randn_source": "NV"}},
                   {"seed_resize_from_w": 32, "seed_resize_from_h": 32}):
        assert not np.array_equal(plain, _pixels(txt2img(client, **change).json())), change


def test_neutral_values_webuiapi_sends_give_no_warning(client):
    response = txt2img(client, subseed=-1, subseed_strength=0, seed_resize_from_h=0, seed_resize_from_w=0,
                       eta=1.0, s_noise=1.0, s_churn=0, s_tmin=0, s_tmax=0, restore_faces=False, tiling=False,
                       s_min_uncond=0, script_name="", script_args=[], alwayson_scripts={}, firstphase_width=0,
                       refiner_switch_at=0, comments={})
    info = json.loads(response.json()["info"])
    assert response.status_code == 200 and info["warnings"] == []
    assert "Variation seed" not in info["infotexts"][0] and "Eta" not in info["infotexts"][0]


@pytest.mark.parametrize("fields, named", [
    ({"override_settings": {"randn_source": "TPU"}}, "randn_source"),
    ({"override_settings": {"eta_noise_seed_delta": "lots"}}, "override_settings.eta_noise_seed_delta"),
    ({"subseed_strength": 3}, "subseed_strength"),
    ({"eta": -2}, "eta"),
    ({"seed_resize_from_w": 99999}, "seed_resize_from_w"),
])
def test_bad_values_are_422_naming_the_field(client, fields, named):
    response = txt2img(client, **fields)
    assert response.status_code == 422, response.text
    assert named in response.json()["detail"]


def test_samplers_and_schedulers_lists_are_a1111s(client):
    samplers = client.get("/sdapi/v1/samplers").json()
    assert len(samplers) == 20 and samplers[0]["options"] == {"scheduler": "karras"}
    assert {"name": "Euler a", "aliases": ["k_euler_a", "k_euler_ancestral"], "options": {"uses_ensd": "True"}} \
        in samplers
    assert [item["name"] for item in client.get("/sdapi/v1/schedulers").json()][-3:] == ["normal", "ddim", "beta"]


@pytest.mark.parametrize("scripts, field", [({"no such script": {"args": []}}, "alwayson_scripts.no such script"),
                                            ({"no such script": []}, "alwayson_scripts.no such script")])
def test_an_unknown_always_on_script_is_refused_not_ignored(client, scripts, field):
    """A1111 answers 422 for an always-on script it does not have; an image made without it would be a lie."""
    response = txt2img(client, alwayson_scripts=scripts)
    assert response.status_code == 422, response.text
    assert field in response.text and "not found" in response.text
