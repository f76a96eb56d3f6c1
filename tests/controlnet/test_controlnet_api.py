"""ControlNet over the API as sd-webui-controlnet serves it: its routes, `alwayson_scripts.controlnet` with the
field names real clients send (webuiapi's ControlNetUnit.to_dict, the extension's own), and bad inputs as 422s
naming the unit's field."""

import base64
import io
import json
import shutil

import numpy as np
import pytest
from PIL import Image

from tests.support import api_test_client, copy_checkpoint

CANNY = "control_v11p_sd15_canny"


def b64(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


@pytest.fixture(scope="module")
def client(tmp_path_factory, tiny_checkpoint, controlnet_folder):
    data = tmp_path_factory.mktemp("api-controlnet")
    folder = data / "models" / "Stable-diffusion"
    folder.mkdir(parents=True)
    copy_checkpoint(tiny_checkpoint, folder / "anime.safetensors")
    shutil.copytree(controlnet_folder, data / "models" / "ControlNet")
    extension_models = data / "extensions" / "sd-webui-controlnet" / "models"
    extension_models.mkdir(parents=True)
    (data / "models" / "ControlNet" / "second_sd15_lineart.pth").rename(extension_models / "second_sd15_lineart.pth")
    yield from api_test_client(data)


def txt2img(client, units, **fields):
    body = {"prompt": "a cat", "steps": 3, "width": 64, "height": 64, "seed": 11, "sampler_name": "Euler",
            "alwayson_scripts": {"controlnet": {"args": units}}, **fields}
    return client.post("/sdapi/v1/txt2img", json=body)


def pixels(response) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(response.json()["images"][0]))), dtype=np.int16)


def webuiapi_unit(image, **overrides):
    """What webuiapi 0.9.x's ControlNetUnit.to_dict sends (legacy names, its defaults)."""
    return {"input_image": b64(image), "mask": None, "module": "none", "model": CANNY, "weight": 1.0,
            "resize_mode": "Scale to Fit (Inner Fit)", "lowvram": False, "processor_res": 64, "threshold_a": 64,
            "threshold_b": 64, "guidance": 1.0, "guidance_start": 0.0, "guidance_end": 1.0, "control_mode": 0,
            "pixel_perfect": False, **overrides}


def test_the_extensions_routes(client):
    assert client.get("/controlnet/version").json() == {"version": 2}
    models = client.get("/controlnet/model_list").json()["model_list"]
    assert models[0] == "None" and any(title.startswith(f"{CANNY} [") for title in models)
    assert any(title.startswith("second_sd15_lineart [") for title in models)  # the extension's own models folder
    assert all(not title.startswith("control_xl") or title.endswith("]") for title in models)
    modules = client.get("/controlnet/module_list").json()
    assert "canny" in modules["module_list"] and "invert" in modules["module_list"]
    assert modules["module_detail"]["canny"]["sliders"][1]["name"] == "Low Threshold"
    aliases = client.get("/controlnet/module_list", params={"alias_names": True}).json()["module_list"]
    assert "invert (from white bg & black line)" in aliases
    types = client.get("/controlnet/control_types").json()["control_types"]
    assert CANNY in " ".join(types["Canny"]["model_list"]) and "canny" in types["Canny"]["module_list"]
    assert client.get("/controlnet/settings").json() == {"control_net_unit_count": 3}


def test_detect_returns_the_map(client, control_image):
    response = client.post("/controlnet/detect", json={"controlnet_module": "canny",
                                                       "controlnet_input_images": [b64(control_image)],
                                                       "controlnet_processor_res": 64})
    assert response.status_code == 200, response.text
    edges = np.asarray(Image.open(io.BytesIO(base64.b64decode(response.json()["images"][0]))).convert("L"))
    assert edges.shape == (64, 64) and edges[18:23, 30].max() == 255  # the square's top edge
    assert edges[:12].max() == 0 and edges[28:40, 24:36].max() == 0  # nothing above it or inside it


def test_a_webuiapi_unit_runs_and_is_written_to_the_infotext(client, control_image):
    plain = pixels(txt2img(client, []))
    response = txt2img(client, [webuiapi_unit(control_image)])
    assert response.status_code == 200, response.text
    info = json.loads(response.json()["info"])
    assert np.abs(pixels(response) - plain).mean() > 1.0
    assert f'ControlNet 0: "Module: none, Model: {CANNY} [' in info["infotexts"][0]
    assert info["warnings"] == []
    off = txt2img(client, [webuiapi_unit(control_image), {**webuiapi_unit(control_image), "enabled": False}])
    assert np.array_equal(pixels(off), pixels(response))


def test_detected_maps_follow_the_images_as_the_extension_appends_them(client, control_image):
    """One canny map per unit after the generated image; `save_detected_map: false` leaves a unit's out, and the
    extension's setting `control_net_no_detectmap` leaves them all out."""
    canny = webuiapi_unit(control_image, module="canny", threshold_a=100, threshold_b=200)
    response = txt2img(client, [canny, {**canny, "weight": 0.5}])
    assert response.status_code == 200, response.text
    images = [Image.open(io.BytesIO(base64.b64decode(item))) for item in response.json()["images"]]
    assert len(images) == 3
    edges = np.asarray(images[1].convert("L"))
    assert edges.shape == (64, 64) and edges[18:23, 30].max() == 255 and edges[:12].max() == 0
    assert np.array_equal(np.asarray(images[2]), np.asarray(images[1]))
    assert len(txt2img(client, [canny, {**canny, "save_detected_map": False}]).json()["images"]) == 2
    assert client.post("/sdapi/v1/options", json={"control_net_no_detectmap": True}).json() is None  # honoured
    try:
        assert len(txt2img(client, [canny]).json()["images"]) == 1
    finally:
        client.post("/sdapi/v1/options", json={"control_net_no_detectmap": False})


def test_the_extensions_own_unit_shape_with_an_image_and_mask_object(client, control_image, init_image):
    mask = Image.new("L", (64, 64), 0)
    unit = {"enabled": True, "module": "inpaint_only", "model": CANNY.upper(),  # names match case-insensitively
            "image": {"image": b64(init_image), "mask": b64(mask)}, "resize_mode": 1, "control_mode": "Balanced",
            "pixel_perfect": True, "hr_option": "Both"}
    response = txt2img(client, [unit])
    assert response.status_code == 200, response.text
    assert "Module: inpaint_only" in json.loads(response.json()["info"])["infotexts"][0]


def test_img2img_unit_may_leave_out_the_image(client, init_image):
    body = {"init_images": [b64(init_image)], "prompt": "a cat", "steps": 3, "width": 64, "height": 64, "seed": 3,
            "denoising_strength": 0.6, "sampler_name": "Euler",
            "alwayson_scripts": {"ControlNet": {"args": [{"module": "canny", "model": CANNY}]}}}
    response = client.post("/sdapi/v1/img2img", json=body)
    assert response.status_code == 200, response.text
    assert "Module: canny" in json.loads(response.json()["info"])["infotexts"][0]


ARGS = "alwayson_scripts.controlnet.args[0]"
BAD_UNITS = [
    ({"model": "control_v11p_sd15_nothing"}, f"{ARGS}.model", "not found"),
    ({"module": "cany"}, f"{ARGS}.module", "cany"),
    ({"input_image": base64.b64encode(b"not an image").decode()}, f"{ARGS}.image", "not an image"),
    ({"input_image": "###"}, f"{ARGS}.image", "base64"),
    ({"mask": b64(Image.new("L", (32, 32)))}, f"{ARGS}.mask", "32x32"),
    ({"model": "control_xl_canny"}, f"{ARGS}.model", "ControlNet"),
    ({"model": "None"}, f"{ARGS}.model", "model is None"),
    ({"weight": 5}, ARGS, "weight 5"),
    ({"weight": "heavy"}, f"{ARGS}.weight", "must be a number"),
    ({"guidance_start": 0.9, "guidance_end": 0.2}, ARGS, "guidance_start"),
    ({"control_mode": 7}, f"{ARGS}.control_mode", "Balanced"),
    ({"resize_mode": "Stretch"}, f"{ARGS}.resize_mode", "Crop and Resize"),
    ({"input_image": ""}, f"{ARGS}.image", "required in txt2img"),
    ({"module": "openpose"}, f"{ARGS}.module", "body_pose_model.pth"),
]


@pytest.mark.parametrize("change, field, words", BAD_UNITS)
def test_bad_units_are_422_naming_the_field(client, control_image, change, field, words):
    response = txt2img(client, [webuiapi_unit(control_image, **change)])
    assert response.status_code in (409, 422), response.text
    detail = response.text
    assert field in detail and words in detail, detail


def test_bad_script_shapes(client):
    assert "must be an object" in txt2img(client, ["canny"]).text
    response = client.post("/sdapi/v1/txt2img", json={"prompt": "x", "steps": 1, "width": 64, "height": 64,
                                                      "alwayson_scripts": {"controlnet": {"args": "canny"}}})
    assert response.status_code == 422 and "args must be a list" in response.text
    detect = client.post("/controlnet/detect", json={"controlnet_module": "nope", "controlnet_input_images": []})
    assert detect.status_code == 422 and "controlnet_module" in detect.text
