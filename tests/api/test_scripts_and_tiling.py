"""Scripts over the API (SD upscale, X/Y/Z plot, Prompts from file or textbox) and tiling, on the tiny model."""

import base64
import io
import json

import numpy as np
import pytest
import torch
from PIL import Image

from tests.support import api_test_client, copy_checkpoint
from webui.engine.seamless import circular_padding, pipeline_tiling


@pytest.fixture(scope="module")
def client(tmp_path_factory, tiny_checkpoint):
    data = tmp_path_factory.mktemp("scripts-data")
    folder = data / "models" / "Stable-diffusion"
    folder.mkdir(parents=True)
    copy_checkpoint(tiny_checkpoint, folder / "anime.safetensors")
    (data / "models" / "hypernetworks").mkdir(parents=True)
    (data / "models" / "hypernetworks" / "anime-style.pt").write_bytes(b"")
    yield from api_test_client(data)


def encoded(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def decoded(text: str) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(text)))


def gradient(size=(64, 64)) -> Image.Image:
    x = np.linspace(0, 255, size[0], dtype=np.uint8)
    return Image.fromarray(np.stack([np.tile(x, (size[1], 1))] * 3, axis=-1), "RGB")


def img2img(client, **fields):
    return client.post("/sdapi/v1/img2img", json={"init_images": [encoded(gradient())], "prompt": "a cat",
                                                  "steps": 2, "width": 64, "height": 64, "seed": 3,
                                                  "denoising_strength": 0.5, **fields})


def test_sd_upscale_doubles_the_size_with_a1111s_args(client):
    response = img2img(client, script_name="sd upscale", script_args=["", 8, "Lanczos", 2.0])
    assert response.status_code == 200, response.text
    body = response.json()
    image = decoded(body["images"][0])
    assert len(body["images"]) == 1 and image.size == (128, 128)
    info = json.loads(body["info"])
    assert "SD upscale overlap: 8, SD upscale upscaler: Lanczos" in info["infotexts"][0]
    assert image.text["parameters"] == info["infotexts"][0] and info["warnings"] == []


def test_sd_upscale_takes_an_upscaler_index_and_refuses_bad_args(client):
    def size(args):
        return decoded(img2img(client, script_name="SD upscale", script_args=args).json()["images"][0]).size

    assert size(["", 0, 1, 1.5]) == (96, 96)  # upscaler 1 of A1111's list: Lanczos
    assert size(["", 0, 0, 2.0]) == (64, 64)  # 0 = "None": A1111 redraws the init image at its own size
    bad = img2img(client, script_name="sd upscale", script_args=["", 8, "SuperRes", 2.0])
    assert bad.status_code == 422 and "script_args[2]" in bad.json()["detail"] and "Lanczos" in bad.json()["detail"]
    bad = img2img(client, script_name="sd upscale", script_args=["", 8, "Lanczos", 9])
    assert bad.status_code == 422 and "script_args[3]" in bad.json()["detail"]


def test_unknown_script_is_422_as_a1111(client):
    response = client.post("/sdapi/v1/txt2img", json={"prompt": "x", "steps": 1, "width": 64, "height": 64,
                                                      "script_name": "no such script"})
    assert response.status_code == 422
    assert "Script 'no such script' not found" in response.json()["detail"]
    response = client.post("/sdapi/v1/txt2img", json={"steps": 1, "script_name": "sd upscale"})
    assert response.status_code == 422 and "available for txt2img" in response.json()["detail"]


def test_scripts_lists_and_script_info(client):
    listed = client.get("/sdapi/v1/scripts").json()
    assert {"x/y/z plot", "prompts from file or textbox"} <= set(listed["txt2img"])
    assert "sd upscale" in listed["img2img"] and "sd upscale" not in listed["txt2img"]
    info = client.get("/sdapi/v1/script-info").json()
    upscale = next(entry for entry in info if entry["name"] == "sd upscale")
    assert upscale["is_img2img"] and [arg["label"] for arg in upscale["args"]][1:] == [
        "Tile overlap", "Upscaler", "Scale Factor"]
    assert client.get("/sdapi/v1/hypernetworks").json()[0]["name"] == "anime-style"


def test_xyz_plot_by_a1111_axis_indexes(client):
    # txt2img axis list: 4 = Steps, 6 = CFG Scale
    args = [4, "1, 2", None, 6, "5, 7", None, 0, "", None, True, True, False]
    response = client.post("/sdapi/v1/txt2img", json={"prompt": "a cat", "steps": 1, "width": 64, "height": 64,
                                                      "seed": 5, "script_name": "X/Y/Z plot", "script_args": args})
    assert response.status_code == 200, response.text
    images = [decoded(text) for text in response.json()["images"]]
    assert len(images) == 5 and images[0].width >= 128 and images[0].height >= 128
    texts = json.loads(response.json()["info"])["infotexts"]
    assert "Steps: 2," in texts[2] and "CFG scale: 5," in texts[2] and "CFG scale: 7," in texts[4]
    bad = client.post("/sdapi/v1/txt2img", json={"steps": 1, "width": 64, "height": 64, "script_name": "x/y/z plot",
                                                 "script_args": [2, "1, 2"]})
    assert bad.status_code == 422 and "'Var. seed' is not supported yet" in bad.json()["detail"]


def test_prompts_from_textbox_one_job_per_line(client):
    lines = 'a red cube\n--prompt "a blue ball" --steps 2 --seed 9\n'
    response = client.post("/sdapi/v1/txt2img", json={"prompt": "", "steps": 1, "width": 64, "height": 64,
                                                      "seed": 1, "script_name": "prompts from file or textbox",
                                                      "script_args": [False, False, "start", lines]})
    assert response.status_code == 200, response.text
    texts = json.loads(response.json()["info"])["infotexts"]
    assert len(texts) == 2 and texts[0].startswith("a red cube\nSteps: 1,")
    assert texts[1].startswith("a blue ball\nSteps: 2,") and "Seed: 9," in texts[1]
    bad = client.post("/sdapi/v1/txt2img", json={"steps": 1, "width": 64, "height": 64,
                                                 "script_name": "prompts from file or textbox",
                                                 "script_args": [False, False, "start", "--stepz 3"]})
    assert bad.status_code == 422 and "script_args[3] line 1" in bad.json()["detail"]


def wrap_ratio(images: list[Image.Image]) -> float:
    """How much the wrap-around seams (last column → first, last row → first) differ, relative to neighbouring
    columns and rows inside: about 1 for an image that tiles, more where the edges do not meet."""
    ratios = []
    for image in images:
        pixels = np.asarray(image.convert("RGB"), dtype=np.float64)
        for axis in (0, 1):
            inside = np.abs(np.diff(pixels, axis=axis)).mean()
            seam = np.abs(np.take(pixels, -1, axis=axis) - np.take(pixels, 0, axis=axis)).mean()
            ratios.append(seam / inside)
    return float(np.mean(ratios))


def test_tiling_makes_the_left_and_right_edges_continuous(client):
    def make(tiling):
        body = client.post("/sdapi/v1/txt2img", json={"prompt": "a cat", "steps": 2, "width": 64, "height": 64,
                                                      "seed": 21, "batch_size": 3, "tiling": tiling}).json()
        return [decoded(image) for image in body["images"]], json.loads(body["info"])

    tiled, info = make(True)
    plain, _ = make(False)
    assert "Tiling: True" in info["infotexts"][0] and info["warnings"] == []
    assert wrap_ratio(tiled) < 1.1 and wrap_ratio(plain) > wrap_ratio(tiled) + 0.15
    again, _ = make(False)  # the model was put back: the same request gives the same image again
    assert all(np.array_equal(np.asarray(a), np.asarray(b)) for a, b in zip(again, plain, strict=True))


def test_circular_padding_is_exact_and_restored_after_an_error(client):
    vae = client.app_context.models.loaded.pipeline.vae
    latents = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode(), circular_padding([vae]) as switched:
        assert switched > 0
        shifted = vae.decode(torch.roll(latents, 3, dims=3)).sample
        rolled = torch.roll(vae.decode(latents).sample, 24, dims=3)
    assert torch.allclose(shifted, rolled, atol=1e-4)  # the decoder wraps around: a shift is a shift
    with pytest.raises(RuntimeError), pipeline_tiling(client.app_context.models.loaded.pipeline, True):
        raise RuntimeError("interrupted")
    modes = {layer.padding_mode for layer in vae.modules() if isinstance(layer, torch.nn.Conv2d)}
    assert modes == {"zeros"}
