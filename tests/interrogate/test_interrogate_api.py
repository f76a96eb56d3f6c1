"""`POST /sdapi/v1/interrogate` as A1111 clients meet it: 404 for no image or an unknown model, 422 naming every
missing file, and with the files in place a caption made by the model (a tiny DeepDanbooru whose scores are
known), formatted by A1111's settings, as a queued job; the model is released after the call unless
`interrogate_keep_models_in_memory`."""

from __future__ import annotations

import base64
import io
import re

import pytest
from PIL import Image

from tests.interrogate.deepbooru_fixtures import write_tiny_deepbooru
from tests.support import api_test_client, copy_checkpoint

TAGS = ["1girl", "long_hair", "smile_(happy)", "rating:safe", "outdoors", "cat"]
HIGH = ["smile_(happy)", "1girl", "rating:safe", "long_hair"]  # scores 0.95, 0.82, 0.68, 0.55


@pytest.fixture(scope="module")
def client(tmp_path_factory, tiny_checkpoint):
    data = tmp_path_factory.mktemp("interrogate-api")
    copy_checkpoint(tiny_checkpoint, data / "models" / "Stable-diffusion" / "anime.safetensors")
    yield from api_test_client(data)


def png_b64(size: int = 24) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (size, size), (200, 120, 40)).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


@pytest.mark.parametrize(("body", "status", "message"), [
    ({"model": "clip"}, 404, "Image not found"),
    ({"image": "IMAGE", "model": "blip2"}, 404, "model 'blip2' not found; allowed: clip, deepdanbooru"),
    ({"image": "IMAGE", "model": "clip"}, 422, "model_base_caption_capfilt_large.pth in "),
    ({"image": "IMAGE"}, 422, "artists.txt in "),
    ({"image": "IMAGE", "model": "deepdanbooru"}, 422, "model-resnet_custom_v3.pt in "),
    ({"image": "not base64!", "model": "clip"}, 422, "image: not valid base64"),
])
def test_interrogate_answers_what_is_missing(client, body, status, message):
    body = {key: png_b64() if value == "IMAGE" else value for key, value in body.items()}
    response = client.post("/sdapi/v1/interrogate", json=body)
    assert response.status_code == status and message in response.text, response.text


@pytest.fixture()
def deepbooru(client):
    path = client.app_context.paths.models / "torch_deepdanbooru" / "model-resnet_custom_v3.pt"
    write_tiny_deepbooru(path, TAGS, HIGH)
    yield path
    path.unlink()
    client.post("/sdapi/v1/options", json={"deepbooru_sort_alpha": True, "interrogate_return_ranks": False,
                                           "deepbooru_escape": True, "interrogate_keep_models_in_memory": False})


def interrogate(client, model: str = "deepdanbooru") -> str:
    response = client.post("/sdapi/v1/interrogate", json={"image": png_b64(), "model": model})
    assert response.status_code == 200, response.text
    return response.json()["caption"]


def test_deepbooru_tags_the_image_with_a1111s_formatting(client, deepbooru):
    # A1111's defaults: sorted alphabetically, spaces, brackets escaped, no rating tags, threshold 0.5
    assert interrogate(client) == r"1girl, long hair, smile \(happy\)"
    assert client.app_context.interrogators.loaded() == []  # released after the call (the default)
    changed = client.post("/sdapi/v1/options", json={"deepbooru_sort_alpha": False, "interrogate_return_ranks": True,
                                                     "deepbooru_escape": False})
    assert changed.status_code == 200 and changed.json() is None, changed.text  # honoured: no "does not act" warning
    assert interrogate(client) == "(smile (happy):0.950), (1girl:0.820), (long hair:0.550)"


def test_keep_models_in_memory_keeps_it_between_calls(client, deepbooru):
    client.post("/sdapi/v1/options", json={"interrogate_keep_models_in_memory": True})
    interrogate(client)
    assert client.app_context.interrogators.loaded() == ["deepdanbooru"]
    client.post("/sdapi/v1/options", json={"interrogate_keep_models_in_memory": False})
    interrogate(client)
    assert client.app_context.interrogators.loaded() == []


def test_a_broken_model_file_is_a_422_naming_it_and_the_server_goes_on(client):
    path = client.app_context.paths.models / "torch_deepdanbooru" / "model-resnet_custom_v3.pt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"not a torch file")
    try:
        response = client.post("/sdapi/v1/interrogate", json={"image": png_b64(), "model": "deepdanbooru"})
    finally:
        path.unlink()
    assert response.status_code == 422 and "torch_deepdanbooru/model-resnet_custom_v3.pt" in response.text, \
        response.text
    assert client.get("/sdapi/v1/options").status_code == 200


def test_clip_captions_then_ranks_each_category(client):
    """A tiny BLIP and CLIP in A1111's layouts: the caption (BLIP's prompt cut off), then one best match per
    category file, as A1111 assembles it; with ranks, each match carries its probability."""
    from tests.interrogate.clip_fixtures import CAPTION_WORDS, CATEGORIES, write_tiny_clip_interrogator

    root = client.app_context.paths.root
    write_tiny_clip_interrogator(root)
    client.post("/sdapi/v1/options", json={"interrogate_clip_min_length": 5, "interrogate_clip_max_length": 8})
    try:
        parts = interrogate(client, "clip").split(", ")
        caption, matches = parts[0].split(" "), parts[1:]
        assert len(caption) == 4 and set(caption) <= set(CAPTION_WORDS), parts
        assert len(matches) == len(CATEGORIES)
        for match, items in zip(matches, (CATEGORIES[name] for name in sorted(CATEGORIES)), strict=True):
            assert match in items, (match, items)
        refused = client.post("/sdapi/v1/options", json={"interrogate_clip_skip_categories": ["colours"]})
        assert refused.status_code == 422 and "'colours' not among artists, flavors" in refused.text, refused.text
        client.post("/sdapi/v1/options", json={"interrogate_return_ranks": True,  # files added after the start
                                               "interrogate_clip_skip_categories": ["flavors"]})
        ranked = interrogate(client, "clip").split(", ")[1:]
        assert len(ranked) == len(CATEGORIES) - 1
        assert all(re.fullmatch(r"\(.+:[01]\.\d{3}\)", item) for item in ranked), ranked
        assert client.app_context.interrogators.loaded() == []
    finally:
        client.post("/sdapi/v1/options", json={"interrogate_clip_min_length": 24, "interrogate_clip_max_length": 48,
                                               "interrogate_return_ranks": False,
                                               "interrogate_clip_skip_categories": []})
