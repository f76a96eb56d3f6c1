"""A1111's /sdapi/v1 through FastAPI's TestClient: every route we serve, field names, and bad inputs."""

import base64
import io
import json

import pytest
from PIL import Image

from tests.support import api_test_client, copy_checkpoint
from webui.infotext.png import png_bytes_with_infotext


@pytest.fixture(scope="module")
def client(tmp_path_factory, tiny_checkpoint):
    data = tmp_path_factory.mktemp("api-data")
    folder = data / "models" / "Stable-diffusion"
    folder.mkdir(parents=True)
    copy_checkpoint(tiny_checkpoint, folder / "anime.safetensors")
    yield from api_test_client(data)


def txt2img(client, **fields):
    return client.post("/sdapi/v1/txt2img", json={"prompt": "a cat", "steps": 2, "width": 64, "height": 64,
                                                  "seed": 11, **fields})


def test_txt2img_answers_like_a1111(client):
    response = txt2img(client, negative_prompt="dog", batch_size=2)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"images", "parameters", "info"}
    info = json.loads(body["info"])
    assert info["all_seeds"] == [11, 12] and info["sampler_name"] == "Euler" and info["steps"] == 2
    assert info["sd_model_name"] == "anime" and len(info["sd_model_hash"]) == 10
    assert info["infotexts"][0].startswith("a cat\nNegative prompt: dog\nSteps: 2, Sampler: Euler, ")
    assert body["parameters"]["prompt"] == "a cat" and body["parameters"]["n_iter"] == 1
    image = Image.open(io.BytesIO(base64.b64decode(body["images"][1])))
    assert image.size == (64, 64) and image.text["parameters"] == info["infotexts"][1]
    assert info["warnings"] == []


def test_nothing_is_saved_unless_asked(client):
    outputs = client.app_context.paths.outputs
    before = sorted(outputs.rglob("*.png"))
    txt2img(client)
    assert sorted(outputs.rglob("*.png")) == before
    txt2img(client, save_images=True)
    assert len(sorted(outputs.rglob("*.png"))) == len(before) + 1


def test_unsupported_fields_are_reported_not_pretended(client):
    info = json.loads(txt2img(client, s_min_uncond=0.5, override_settings={"sd_hypernetwork": "x"},
                              firstphase_width=64, width=70).json()["info"])
    assert any(warning.startswith("s_min_uncond is not supported yet") for warning in info["warnings"])
    assert any("firstphase_width" in warning for warning in info["warnings"])
    assert any("override_settings.sd_hypernetwork" in warning for warning in info["warnings"])
    assert "size 70x64 was rounded down to 64x64 (multiples of 8)" in info["warnings"]


def test_hires_fix_and_clip_skip_through_the_api(client):
    response = txt2img(client, enable_hr=True, hr_scale=2, hr_upscaler="Latent (bicubic)", denoising_strength=0.6,
                       hr_second_pass_steps=2, override_settings={"CLIP_stop_at_last_layers": 2})
    assert response.status_code == 200, response.text
    body = response.json()
    info = json.loads(body["info"])
    assert info["warnings"] == [] and info["clip_skip"] == 2 and info["denoising_strength"] == 0.6
    assert Image.open(io.BytesIO(base64.b64decode(body["images"][0]))).size == (128, 128)
    text = info["infotexts"][0]
    assert "Denoising strength: 0.6, Clip skip: 2, Hires upscale: 2, Hires steps: 2, " in text
    assert "Hires upscaler: Latent (bicubic)" in text
    bad = txt2img(client, enable_hr=True, hr_upscaler="SuperResolution 9000")
    assert bad.status_code == 422 and "hr_upscaler 'SuperResolution 9000' is not one of" in bad.text


def encoded(image, fmt="PNG", data_url=False):
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    text = base64.b64encode(buffer.getvalue()).decode()
    return f"data:image/{fmt.lower()};base64,{text}" if data_url else text


def test_img2img_and_inpaint_through_the_api(client):
    init = Image.new("RGB", (64, 64), (20, 120, 220))
    response = client.post("/sdapi/v1/img2img", json={
        "init_images": [encoded(init, data_url=True)], "prompt": "a cat", "steps": 4, "width": 64, "height": 64,
        "denoising_strength": 0.5, "seed": 3})
    assert response.status_code == 200, response.text
    info = json.loads(response.json()["info"])
    assert "Denoising strength: 0.5" in info["infotexts"][0] and info["warnings"] == []
    assert "init_images" not in response.json()["parameters"]

    mask = Image.new("L", (64, 64), 0)
    mask.paste(255, (16, 16, 48, 48))
    response = client.post("/sdapi/v1/img2img", json={
        "init_images": [encoded(init)], "mask": encoded(mask), "prompt": "a cat", "steps": 4, "width": 64,
        "height": 64, "denoising_strength": 0.9, "mask_blur": 0, "seed": 3})
    assert response.status_code == 200, response.text
    result = Image.open(io.BytesIO(base64.b64decode(response.json()["images"][0]))).convert("RGB")
    outside = Image.new("L", (64, 64), 255)
    outside.paste(0, (16, 16, 48, 48))
    import numpy as np

    keep = np.asarray(outside) == 255
    assert np.array_equal(np.asarray(result)[keep], np.asarray(init)[keep])
    text = json.loads(response.json()["info"])["infotexts"][0]
    assert "Mask blur: 0, Inpaint area: Only masked, Masked area padding: 0, Masked content: fill" in text


@pytest.mark.parametrize(("fields", "status", "message"), [
    ({}, 404, "init_images"),
    ({"init_images": ["%%%not base64"]}, 422, "not valid base64"),
    ({"init_images": [base64.b64encode(b"plain text, not a picture").decode()]}, 422, "not an image"),
    ({"init_images": ["INIT"], "denoising_strength": 1.5}, 422, "denoising_strength 1.5 is out of range"),
    ({"init_images": ["INIT"], "resize_mode": 7}, 422, "resize_mode 7 is out of range"),
    ({"init_images": ["INIT"], "mask": "INIT", "inpainting_fill": 9}, 422, "inpainting_fill 9 is not one of"),
])
def test_img2img_bad_inputs_are_clear(client, fields, status, message):
    init = encoded(Image.new("RGB", (64, 64)))
    body = {"prompt": "x", "steps": 2, "width": 64, "height": 64,
            **{key: ([init] if value == ["INIT"] else init if value == "INIT" else value)
               for key, value in fields.items()}}
    response = client.post("/sdapi/v1/img2img", json=body)
    assert response.status_code == status and message in response.text, response.text


def test_clip_skip_option_is_validated(client):
    response = client.post("/sdapi/v1/options", json={"CLIP_stop_at_last_layers": 20})
    assert response.status_code == 422 and "CLIP_stop_at_last_layers: 20 is out of range 1–12" in response.text
    assert client.post("/sdapi/v1/options", json={"CLIP_stop_at_last_layers": 2}).status_code == 200
    assert client.get("/sdapi/v1/options").json()["CLIP_stop_at_last_layers"] == 2
    client.post("/sdapi/v1/options", json={"CLIP_stop_at_last_layers": 1})


def test_legacy_combined_sampler_names_and_schedulers(client):
    info = json.loads(txt2img(client, sampler_name="DPM++ 2M Karras").json()["info"])
    assert info["sampler_name"] == "DPM++ 2M" and "Schedule type: Karras" in info["infotexts"][0]


@pytest.mark.parametrize("fields, status, fragment", [
    ({"steps": 0}, 422, "steps 0 is out of range; allowed: 1–150"),
    ({"steps": 100000}, 422, "steps 100000 is out of range"),
    ({"width": 4096}, 422, "width 4096 is out of range; allowed: 64–2048"),
    ({"steps": "many"}, 422, "steps"),
    ({"sampler_name": "Euler b"}, 404, "unknown sampler 'Euler b'; valid samplers: DPM++ 2M"),
    ({"override_settings": {"sd_model_checkpoint": "nope"}}, 404, "checkpoint 'nope' not found"),
    ({"prompt": "x" * 100_001}, 422, "prompt"),
])
def test_bad_inputs_get_4xx_naming_the_field(client, fields, status, fragment):
    response = txt2img(client, **fields)
    assert response.status_code == status
    assert fragment in json.dumps(response.json(), ensure_ascii=False)


def test_lists_and_models(client):
    models = client.get("/sdapi/v1/sd-models").json()
    assert models[0]["title"] == f"anime.safetensors [{models[0]['hash']}]" and models[0]["model_name"] == "anime"
    assert len(models[0]["sha256"]) == 64 and models[0]["filename"].endswith("anime.safetensors")
    samplers = client.get("/sdapi/v1/samplers").json()
    assert samplers[0] == {"name": "DPM++ 2M", "aliases": ["k_dpmpp_2m"], "options": {"scheduler": "karras"}}
    assert next(item for item in samplers if item["name"] == "DPM2 a")["options"] == {
        "scheduler": "karras", "discard_next_to_last_sigma": "True", "second_order": "True", "uses_ensd": "True"}
    assert [item["name"] for item in samplers][-5:] == ["DDIM", "DDIM CFG++", "PLMS", "UniPC", "LCM"]
    schedulers = client.get("/sdapi/v1/schedulers").json()
    assert [item["label"] for item in schedulers] == [
        "Automatic", "Uniform", "Karras", "Exponential", "Polyexponential", "SGM Uniform", "KL Optimal",
        "Align Your Steps", "Simple", "Normal", "DDIM", "Beta"]
    assert schedulers[2] == {"name": "karras", "label": "Karras", "aliases": None, "default_rho": 7.0,
                             "need_inner_model": False}
    for route in ("loras", "prompt-styles", "extensions", "hypernetworks", "sd-vae"):  # none installed here
        assert client.get(f"/sdapi/v1/{route}").json() == []
    assert [item["name"] for item in client.get("/sdapi/v1/upscalers").json()] == ["None", "Lanczos", "Nearest"]
    modes = [item["name"] for item in client.get("/sdapi/v1/latent-upscale-modes").json()]
    assert modes[0] == "Latent" and "Latent (nearest-exact)" in modes and len(modes) == 6
    assert client.get("/sdapi/v1/scripts").json() == {
        "txt2img": ["prompts from file or textbox", "x/y/z plot", "controlnet"],
        "img2img": ["prompts from file or textbox", "x/y/z plot", "sd upscale", "controlnet"]}
    assert client.get("/sdapi/v1/embeddings").json() == {"loaded": {}, "skipped": {}}
    assert client.post("/sdapi/v1/refresh-checkpoints").status_code == 200
    flags = client.get("/sdapi/v1/cmd-flags").json()
    assert flags["api"] is True and flags["port"] == 7860
    memory = client.get("/sdapi/v1/memory").json()
    assert memory["ram"]["total"] > memory["ram"]["free"] > 0


def test_options_get_and_set(client):
    options = client.get("/sdapi/v1/options").json()
    assert options["sd_model_checkpoint"].startswith("anime.safetensors [") and options["sd_vae"] == "Automatic"
    unknown = client.post("/sdapi/v1/options", json={"enable_pnginfo": False, "not_a_setting": 1})
    assert unknown.status_code == 422 and "not_a_setting: unknown option" in unknown.json()["detail"]
    assert client.get("/sdapi/v1/options").json()["enable_pnginfo"] is True  # nothing changed
    assert client.post("/sdapi/v1/options", json={"enable_pnginfo": False}).json() is None
    assert client.get("/sdapi/v1/options").json()["enable_pnginfo"] is False
    client.post("/sdapi/v1/options", json={"enable_pnginfo": True})
    response = client.post("/sdapi/v1/options", json={"sd_model_checkpoint": "missing.safetensors"})
    assert response.status_code == 404 and "not found" in response.json()["detail"]


def test_png_info_reads_our_images_back(client):
    text = json.loads(txt2img(client).json()["info"])["infotexts"][0]
    encoded = base64.b64encode(png_bytes_with_infotext(Image.new("RGB", (8, 8)), text)).decode()
    body = client.post("/sdapi/v1/png-info", json={"image": f"data:image/png;base64,{encoded}"}).json()
    assert body["info"] == text and body["parameters"]["Seed"] == "11" and body["parameters"]["Size-1"] == "64"
    assert client.post("/sdapi/v1/png-info", json={"image": "%%%not base64"}).status_code == 422
    not_an_image = base64.b64encode(b"hello world").decode()
    response = client.post("/sdapi/v1/png-info", json={"image": not_an_image})
    assert response.status_code == 422 and "not an image" in response.json()["detail"]


def test_progress_when_idle_and_interrupt(client):
    progress = client.get("/sdapi/v1/progress").json()
    assert progress["progress"] == 0.0 and progress["state"]["job_count"] == 0
    assert client.post("/sdapi/v1/interrupt").json() == {}
    assert client.post("/sdapi/v1/skip").status_code == 200  # nothing running: nothing to skip


def test_progress_reports_a_running_api_job_with_its_live_preview(client):
    import threading
    import time

    from webui.engine.request import GenerationRequest

    job = client.app_context.jobs.submit(GenerationRequest(prompt="slow", steps=150, width=64, height=64), "test")
    seen = None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not job.snapshot().state.finished:
        progress = client.get("/sdapi/v1/progress").json()
        if progress["current_image"] and progress["state"]["sampling_step"] > 0:
            seen = progress
            break
        time.sleep(0.05)
    stopper = threading.Thread(target=lambda: client.post("/sdapi/v1/interrupt"), daemon=True)
    stopper.start()
    stopper.join(timeout=30)  # before the client (and its event-loop portal) is closed
    assert seen is not None, "no progress with a preview was seen while the job ran"
    assert 0.01 < seen["progress"] <= 1.0 and seen["state"]["sampling_steps"] == 150
    image = Image.open(io.BytesIO(base64.b64decode(seen["current_image"])))
    assert image.size == (64, 64)
    assert client.get("/sdapi/v1/progress", params={"skip_current_image": True}).json()["current_image"] is None


def test_loras_and_embeddings_routes_and_use(client):
    from tests.support.networks import write_a1111_embedding, write_kohya_lora

    app = client.app_context
    pipeline = app.models.loaded.pipeline
    write_kohya_lora(pipeline, app.paths.lora / "paintstyle.safetensors", metadata={"ss_output_name": "paint"})
    width = pipeline.text_encoder.config.hidden_size
    write_a1111_embedding(app.paths.embeddings / "goodhands.pt", width)
    assert client.post("/sdapi/v1/refresh-loras").status_code == 200
    assert client.post("/sdapi/v1/refresh-embeddings").status_code == 200
    (lora,) = client.get("/sdapi/v1/loras").json()
    assert lora["name"] == "paintstyle" and lora["alias"] == "paint" and lora["metadata"]["ss_output_name"] == "paint"
    embeddings = client.get("/sdapi/v1/embeddings").json()
    assert embeddings["loaded"]["goodhands"]["vectors"] == 2 and embeddings["skipped"] == {}
    info = json.loads(txt2img(client, prompt="a cat <lora:paint:0.5>", negative_prompt="goodhands").json()["info"])
    assert "Lora hashes: \"paint: " in info["infotexts"][0] and "TI hashes: \"goodhands: " in info["infotexts"][0]
    missing = json.loads(txt2img(client, prompt="a cat <lora:absent>").json()["info"])
    assert "Networks not found: absent" in missing["warnings"]
    bad = txt2img(client, prompt="a cat <lora:paint:lots>")
    assert bad.status_code == 422 and "'lots' is not a number" in bad.text


def test_override_settings_are_restored_unless_asked_to_keep(client):
    assert client.app_context.settings.get("CLIP_stop_at_last_layers") == 1
    txt2img(client, override_settings={"CLIP_stop_at_last_layers": 3})
    assert client.app_context.settings.get("CLIP_stop_at_last_layers") == 1
    txt2img(client, override_settings={"CLIP_stop_at_last_layers": 3}, override_settings_restore_afterwards=False)
    assert client.get("/sdapi/v1/options").json()["CLIP_stop_at_last_layers"] == 3
    client.post("/sdapi/v1/options", json={"CLIP_stop_at_last_layers": 1})
    info = json.loads(txt2img(client, override_settings={"sd_vae": "None"}).json()["info"])
    assert any("override_settings.sd_vae is not supported yet" in warning for warning in info["warnings"])


def test_prompt_styles_route_and_styles_field(client):
    client.app_context.paths.styles_file.write_text(
        'name,prompt,negative_prompt\nanime,"masterpiece, {prompt}",lowres\n', encoding="utf-8")
    assert client.get("/sdapi/v1/prompt-styles").json() == [
        {"name": "anime", "prompt": "masterpiece, {prompt}", "negative_prompt": "lowres"}]
    info = json.loads(txt2img(client, prompt="1girl", styles=["anime"]).json()["info"])
    assert info["infotexts"][0].startswith("masterpiece, 1girl\nNegative prompt: lowres\n")
    skipped = txt2img(client, prompt="1girl", styles=["missing", "anime"])  # A1111 skips a style it lacks
    info = json.loads(skipped.json()["info"])
    assert skipped.status_code == 200 and info["infotexts"][0].startswith("masterpiece, 1girl\n")
    assert info["warnings"] == ["styles not found in styles.csv, skipped: missing"]
    client.app_context.paths.styles_file.unlink()
