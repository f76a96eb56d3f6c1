"""The runtime core through the A1111 API: a job owns its model facts, unload then generate reloads, refused
checkpoints are 4xx naming the file, errors name the caller's field, list routes never wait for a running job."""

import base64
import io
import json
import struct
import threading

import httpx
import pytest
from PIL import Image

from tests.security.test_lan_server import wait_until
from tests.support import api_test_client, copy_checkpoint


@pytest.fixture(scope="module")
def client(tmp_path_factory, tiny_checkpoint):
    data = tmp_path_factory.mktemp("core-data")
    folder = data / "models" / "Stable-diffusion"
    copy_checkpoint(tiny_checkpoint, folder / "anime.safetensors")
    copy_checkpoint(tiny_checkpoint, folder / "other.safetensors")
    truncated = folder / "truncated.safetensors"
    truncated.write_bytes(tiny_checkpoint.read_bytes()[: tiny_checkpoint.stat().st_size // 2])
    header = b"{" + b",".join(b'"t%d":{"dtype":"F16","shape":[1],"data_offsets":[0,2]}' % index
                              for index in range(200_000)) + b"}"
    (folder / "bomb.safetensors").write_bytes(struct.pack("<Q", len(header)) + header)
    (data / "config.json").write_text('{"sd_model_checkpoint": "anime.safetensors"}', encoding="utf-8")
    yield from api_test_client(data)


def txt2img(client, **fields):
    return client.post("/sdapi/v1/txt2img", json={"prompt": "a cat", "steps": 1, "width": 64, "height": 64,
                                                  "seed": 3, **fields})


def model_of(response) -> str:
    assert response.status_code == 200, response.text
    return json.loads(response.json()["info"])["sd_model_name"]


def test_a_job_naming_its_own_checkpoint_leaves_the_instance_on_its_own(client):
    instance = client.get("/sdapi/v1/options").json()["sd_model_checkpoint"]
    assert instance.startswith("anime")
    overridden = txt2img(client, override_settings={"sd_model_checkpoint": "other"})
    assert model_of(overridden) == "other"  # the info reports the job's own model, not the live one later
    assert "Model: other" in json.loads(overridden.json()["info"])["infotexts"][0]
    assert client.get("/sdapi/v1/options").json()["sd_model_checkpoint"] == instance
    assert model_of(txt2img(client)) == "anime"  # the next job is back on the instance's checkpoint
    assert client.app_context.loaded_model.record.model_name == "anime"


def test_generating_after_unload_reloads_the_instance_checkpoint(client):
    assert client.post("/sdapi/v1/unload-checkpoint").status_code == 200
    assert client.app_context.loaded_model is None
    assert model_of(txt2img(client)) == "anime"  # A1111 reloads on demand; no "no checkpoint is loaded" 500


@pytest.mark.parametrize(("name", "reason"), [("truncated.safetensors", "truncated|past the end"),
                                              ("bomb.safetensors", "entries|too large|header")])
def test_a_refused_checkpoint_is_422_naming_it_and_the_model_keeps_serving(client, name, reason):
    import re

    for response in (client.post("/sdapi/v1/options", json={"sd_model_checkpoint": name}),
                     txt2img(client, override_settings={"sd_model_checkpoint": name})):
        assert response.status_code == 422, response.text
        body = response.json()
        assert body["error"] == "CheckpointRefused" and name in body["detail"]
        assert re.search(reason, body["detail"]), body["detail"]
    assert client.get("/sdapi/v1/options").json()["sd_model_checkpoint"].startswith("anime")
    assert model_of(txt2img(client)) == "anime"  # same client, next request: served by the model that was loaded


def test_errors_name_the_field_the_client_sent(client):
    too_many = txt2img(client, n_iter=500)
    assert too_many.status_code == 422 and too_many.json()["detail"].startswith("n_iter 500 is out of range")
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64)).save(buffer, format="PNG")
    init = base64.b64encode(buffer.getvalue()).decode("ascii")
    bad_mask = client.post("/sdapi/v1/img2img", json={"prompt": "x", "steps": 1, "width": 64, "height": 64,
                                                      "init_images": [init], "mask": "not base64!"})
    assert bad_mask.status_code == 422 and bad_mask.json()["detail"].startswith("mask: not valid base64")
    bad_init = client.post("/sdapi/v1/img2img", json={"prompt": "x", "steps": 1, "init_images": ["%%%"]})
    assert bad_init.status_code == 422 and bad_init.json()["detail"].startswith("init_images[0]: ")


def test_list_routes_and_progress_answer_while_a_job_runs(tmp_path, tiny_checkpoint, start_server):
    data = tmp_path / "data"
    copy_checkpoint(tiny_checkpoint, data / "models" / "Stable-diffusion" / "anime.safetensors")
    server = start_server(data, "--api")
    result: dict = {}
    with httpx.Client(base_url=server.url, timeout=120) as http:
        long_job = {"prompt": "x", "steps": 150, "width": 128, "height": 128, "seed": 5}
        thread = threading.Thread(target=lambda: result.update(response=http.post("/sdapi/v1/txt2img",
                                                                                    json=long_job)))
        thread.start()
        assert wait_until(lambda: http.get("/sdapi/v1/progress").json()["state"]["sampling_step"] > 0)
        for route in ("sd-models", "sd-vae", "embeddings", "loras", "upscalers", "samplers", "options"):
            assert http.get(f"/sdapi/v1/{route}").status_code == 200, route
        progress = http.get("/sdapi/v1/progress").json()
        assert 0 < progress["state"]["sampling_step"] < 150  # every answer above came while the job ran
        assert http.post("/sdapi/v1/interrupt").status_code == 200
        thread.join(60)
    answer = result["response"]
    assert answer.status_code == 200 and len(answer.json()["images"]) == 1  # interrupted: what was made


def test_every_device_task_is_a_job_in_the_callers_history(client):
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), "red").save(buffer, format="PNG")
    extras = client.post("/sdapi/v1/extra-single-image", json={
        "image": base64.b64encode(buffer.getvalue()).decode("ascii"), "upscaling_resize": 2,
        "upscaler_1": "Lanczos"})
    assert extras.status_code == 200, extras.text
    assert client.post("/sdapi/v1/options", json={"sd_model_checkpoint": "other"}).status_code == 200
    assert client.post("/sdapi/v1/options", json={"sd_model_checkpoint": "anime"}).status_code == 200
    assert model_of(txt2img(client)) == "anime"
    history = client.get("/kestrel/v1/jobs").json()
    kinds = {job["kind"] for job in history}
    assert {"generate", "extras", "model"} <= kinds
    assert all(job["state"] in ("done", "failed") for job in history)
    extras_job = next(job for job in history if job["kind"] == "extras")
    assert extras_job["image_count"] == 1 and extras_job["progress"] == 1.0
