"""Extensions' always-on A1111 scripts over `/sdapi/v1`, as A1111's API serves them: `/scripts` lists them by
their lowercase titles, an `alwayson_scripts` entry's args replace the script's control values for that one job,
and a name nobody provides is a 422 listing the available ones."""

from __future__ import annotations

import base64
import io
import json
import shutil
from pathlib import Path

import pytest
from PIL import Image

from tests.support import api_test_client, copy_checkpoint

SAMPLES = Path(__file__).resolve().parent / "a1111_samples"
TXT2IMG = {"prompt": "a boat", "steps": 1, "width": 64, "height": 64, "sampler_name": "Euler", "seed": 3}
RED = (255, 0, 0)


@pytest.fixture(scope="module")
def client(tmp_path_factory, tiny_checkpoint):
    data = tmp_path_factory.mktemp("a1111-scripts-api")
    copy_checkpoint(tiny_checkpoint, data / "models" / "Stable-diffusion" / "anime.safetensors")
    for name in ("painter", "rewriter"):
        shutil.copytree(SAMPLES / name, data / "extensions" / name)
    yield from api_test_client(data)


def generate(client, **fields) -> tuple[str, tuple[int, int, int]]:
    response = client.post("/sdapi/v1/txt2img", json={**TXT2IMG, **fields})
    assert response.status_code == 200, response.text
    body = response.json()
    image = Image.open(io.BytesIO(base64.b64decode(body["images"][0]))).convert("RGB")
    return json.loads(body["info"])["infotexts"][0], image.getpixel((3, 3))


def test_scripts_lists_the_extensions_always_on_scripts(client):
    listed = client.get("/sdapi/v1/scripts").json()
    for tab in ("txt2img", "img2img"):
        assert {"painter", "prompt rewriter", "controlnet"} <= set(listed[tab]), listed
    info = client.get("/sdapi/v1/script-info").json()
    assert {"name": "prompt rewriter", "is_alwayson": True, "is_img2img": False, "args": []} in info


def test_alwayson_args_apply_to_that_job_only(client):
    infotext, pixel = generate(client, alwayson_scripts={"Prompt rewriter": {"args": ["at dawn"]},
                                                         "painter": {"args": [False]}})
    assert infotext.startswith("a boat, at dawn\n") and "Rewriter: at dawn" in infotext
    assert pixel != RED
    infotext, pixel = generate(client)  # the controls' defaults again: nothing leaked from the last job
    assert infotext.startswith("a boat, in watercolour\n")
    assert pixel == RED


def test_an_empty_args_list_keeps_the_defaults(client):
    infotext, _pixel = generate(client, alwayson_scripts={"prompt rewriter": {"args": []}})
    assert infotext.startswith("a boat, in watercolour\n")


def test_an_unknown_always_on_script_is_a_422_listing_what_exists(client):
    response = client.post("/sdapi/v1/txt2img", json={**TXT2IMG, "alwayson_scripts": {"adetailer": {"args": []}}})
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert "always on script adetailer not found" in detail and "prompt rewriter" in detail, detail
