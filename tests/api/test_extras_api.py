"""A1111's Extras API (/extra-single-image, /extra-batch-images, /upscalers, /realesrgan-models) and the hires fix
through a model upscaler, over HTTP with FastAPI's TestClient and tiny random-weight upscaler files."""

import base64
import io

import pytest
from PIL import Image

from tests.support import api_test_client, copy_checkpoint
from tests.support.upscaler_files import compact_layout, rrdb_new_layout, rrdb_old_layout, write_pth, write_safetensors
from webui.infotext.png import png_bytes_with_infotext


@pytest.fixture(scope="module")
def client(tmp_path_factory, tiny_checkpoint):
    data = tmp_path_factory.mktemp("extras-api")
    copy_checkpoint(tiny_checkpoint, data / "models" / "Stable-diffusion" / "anime.safetensors")
    write_pth(data / "models" / "ESRGAN" / "4x-Tiny.pth", rrdb_old_layout(scale=4))
    write_safetensors(data / "models" / "RealESRGAN" / "RealESRGAN_x4plus_anime_6B.safetensors",
                      rrdb_new_layout(scale=4))
    write_pth(data / "models" / "RealESRGAN" / "realesr-general-x4v3.pth", compact_layout(scale=4), "params")
    write_pth(data / "models" / "SwinIR" / "broken.pth", [1, 2, 3])
    yield from api_test_client(data)


def b64_png(image: Image.Image, infotext: str | None = None) -> str:
    return base64.b64encode(png_bytes_with_infotext(image, infotext)).decode("ascii")


def decoded(data: str) -> Image.Image:
    image = Image.open(io.BytesIO(base64.b64decode(data)))
    image.load()
    return image


def test_upscalers_lists_models_with_detected_scale(client):
    listed = client.get("/sdapi/v1/upscalers").json()
    assert [entry["name"] for entry in listed] == ["None", "Lanczos", "Nearest", "4x-Tiny", "R-ESRGAN 4x+ Anime6B",
                                                   "R-ESRGAN General 4xV3", "broken"]
    anime = listed[4]
    assert set(anime) == {"name", "model_name", "model_path", "model_url", "scale"}
    assert anime["scale"] == 4 and anime["model_name"] == "RealESRGAN"
    assert anime["model_path"].endswith("RealESRGAN_x4plus_anime_6B.safetensors")
    assert listed[-1]["scale"] is None and "holds a list" in listed[-1]["model_url"]
    models = client.get("/sdapi/v1/realesrgan-models").json()
    assert [(model["name"], model["scale"]) for model in models] == [("R-ESRGAN 4x+ Anime6B", 4),
                                                                     ("R-ESRGAN General 4xV3", 4)]


def test_extra_single_image_upscales_and_keeps_the_chunks(client):
    outputs = client.app_context.paths.outputs
    before = sorted(outputs.rglob("*.png"))
    source = Image.new("RGB", (40, 24), (200, 30, 90))
    response = client.post("/sdapi/v1/extra-single-image", json={
        "image": "data:image/png;base64," + b64_png(source, "a cat\nSteps: 2, Seed: 5"),
        "upscaling_resize": 2, "upscaler_1": "R-ESRGAN 4x+ Anime6B"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"html_info", "image"}
    assert body["html_info"] == "<p>Postprocess upscale by: 2, Postprocess upscaler: R-ESRGAN 4x+ Anime6B</p>"
    image = decoded(body["image"])
    assert image.size == (80, 48)
    assert image.text == {"parameters": "a cat\nSteps: 2, Seed: 5",
                          "postprocessing": "Postprocess upscale by: 2, Postprocess upscaler: R-ESRGAN 4x+ Anime6B",
                          "extras": "Postprocess upscale by: 2, Postprocess upscaler: R-ESRGAN 4x+ Anime6B"}
    assert sorted(outputs.rglob("*.png")) == before  # the API does not save (A1111's save_output=False)


def test_extra_batch_images_scale_to_with_a_second_upscaler(client):
    images = [{"data": b64_png(Image.new("RGB", (32, 32), colour)), "name": f"pic{index}"}
              for index, colour in enumerate(("red", "blue"))]
    response = client.post("/sdapi/v1/extra-batch-images", json={
        "imageList": images, "resize_mode": 1, "upscaling_resize_w": 96, "upscaling_resize_h": 64,
        "upscaling_crop": True, "upscaler_1": "4x-Tiny", "upscaler_2": "Lanczos",
        "extras_upscaler_2_visibility": 0.3})
    assert response.status_code == 200, response.text
    body = response.json()
    assert [decoded(data).size for data in body["images"]] == [(96, 64), (96, 64)]
    assert "Postprocess upscale to: 96x64, Postprocess crop to: 96x64, Postprocess upscaler: 4x-Tiny, " \
           "Postprocess upscaler 2: Lanczos" in body["html_info"]


@pytest.mark.parametrize(("fields", "status", "message"), [
    ({"gfpgan_visibility": 0.5}, 422, "needs GFPGANv1.4.pth, which is not installed: put GFPGANv1.4.pth in"),
    ({"codeformer_visibility": 1}, 422, "needs codeformer-v0.1.0.pth, which is not installed"),
    ({"codeformer_weight": 2}, 422, "codeformer_weight"),
    ({"upscaler_1": "SuperResolution 9000"}, 422,
     "upscaler_1 'SuperResolution 9000' is not one of: None, Lanczos, Nearest, 4x-Tiny"),
    ({"upscaler_1": "broken"}, 422, "broken.pth: holds a list, not a state dict"),
    ({"resize_mode": 3}, 422, "resize_mode"),
    ({"upscaling_resize": 9}, 422, "upscaling_resize"),
    ({"image": ""}, 422, "image: an image (base64 or a data URL) is required"),
    ({"image": "not base64!"}, 422, "image: not valid base64"),
])
def test_bad_extras_requests_are_clear_errors(client, fields, status, message):
    body = {"image": b64_png(Image.new("RGB", (16, 16))), "upscaler_1": "Lanczos", **fields}
    response = client.post("/sdapi/v1/extra-single-image", json=body)
    assert response.status_code == status and message in response.text, response.text
    assert client.get("/internal/ping").json()["status"] == "ok"


def test_hires_fix_through_a_model_upscaler_over_the_api(client):
    response = client.post("/sdapi/v1/txt2img", json={
        "prompt": "a cat", "steps": 2, "width": 64, "height": 64, "seed": 3, "enable_hr": True, "hr_scale": 2,
        "hr_upscaler": "R-ESRGAN General 4xV3", "hr_second_pass_steps": 2, "denoising_strength": 0.5})
    assert response.status_code == 200, response.text
    image = decoded(response.json()["images"][0])
    assert image.size == (128, 128) and "Hires upscaler: R-ESRGAN General 4xV3" in image.text["parameters"]
    bad = client.post("/sdapi/v1/txt2img", json={"steps": 2, "width": 64, "height": 64, "enable_hr": True,
                                                 "hr_upscaler": "4x-Missing"})
    assert bad.status_code == 422 and "hr_upscaler '4x-Missing' is not one of: Latent" in bad.text
    assert "R-ESRGAN General 4xV3" in bad.text


def test_progress_and_interrupt_answer_without_a_run(client):
    assert client.post("/sdapi/v1/interrupt").status_code == 200
    assert client.get("/sdapi/v1/progress").json()["state"]["job_count"] == 0
