"""Face restoration where API clients meet it: /face-restorers lists what is installed, restore_faces and the
Extras visibilities answer 422 naming the missing file (never an image made without it), and the A1111 settings
exist and apply (override_settings too)."""

from __future__ import annotations

import base64
import io
import json

import pytest
from PIL import Image

from tests.face.face_fixtures import place_files
from tests.support import api_test_client, copy_checkpoint

TXT2IMG = {"prompt": "a face", "steps": 1, "width": 64, "height": 64, "sampler_name": "Euler", "seed": 1}


@pytest.fixture(scope="module")
def client(tmp_path_factory, tiny_checkpoint):
    data = tmp_path_factory.mktemp("face-api")
    copy_checkpoint(tiny_checkpoint, data / "models" / "Stable-diffusion" / "anime.safetensors")
    yield from api_test_client(data)


def png_b64(size: int = 16) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (size, size), (10, 20, 30)).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def test_face_restorers_lists_what_is_installed(client):
    models = client.app_context.paths.models
    assert client.get("/sdapi/v1/face-restorers").json() == []
    place_files(models, {"GFPGAN": "GFPGANv1.4.pth"})
    try:
        assert client.get("/sdapi/v1/face-restorers").json() == [
            {"name": "GFPGAN", "cmd_dir": str(models / "GFPGAN")}]
    finally:
        (models / "GFPGAN" / "GFPGANv1.4.pth").unlink()


def test_restore_faces_without_weights_is_a_422_naming_the_file(client):
    response = client.post("/sdapi/v1/txt2img", json={**TXT2IMG, "restore_faces": True})
    assert response.status_code == 422, response.text
    folder = client.app_context.paths.models / "Codeformer"
    assert f"put codeformer-v0.1.0.pth in {folder}" in response.json()["detail"]


def test_restore_faces_false_is_no_warning_and_no_infotext(client):
    response = client.post("/sdapi/v1/txt2img", json={**TXT2IMG, "restore_faces": False})
    assert response.status_code == 200, response.text
    info = json.loads(response.json()["info"])
    assert info["restore_faces"] is False and info["face_restoration_model"] is None
    assert not [line for line in info.get("warnings", []) if "restore_faces" in line]
    assert "Face restoration" not in info["infotexts"][0]


def test_the_face_restoration_setting_applies_when_the_request_leaves_it_unset(client):
    options = client.get("/sdapi/v1/options").json()
    assert (options["face_restoration"], options["face_restoration_model"], options["code_former_weight"]) == (
        False, "CodeFormer", 0.5)
    assert client.post("/sdapi/v1/options", json={"face_restoration_model": "GFPGAN",
                                                  "face_restoration": True}).status_code == 200
    try:
        response = client.post("/sdapi/v1/txt2img", json=TXT2IMG)
        assert response.status_code == 422 and "GFPGANv1.4.pth" in response.text, response.text
    finally:
        client.post("/sdapi/v1/options", json={"face_restoration_model": "CodeFormer", "face_restoration": False})


def test_override_settings_choose_the_restorer_for_one_job(client):
    """A1111's face keys in override_settings apply to that job (no "not supported" warning): GFPGAN is asked
    for, and its missing file is what the 422 names, while the setting still says CodeFormer."""
    overrides = {"face_restoration": True, "face_restoration_model": "GFPGAN", "code_former_weight": 0.2}
    response = client.post("/sdapi/v1/txt2img", json={**TXT2IMG, "override_settings": overrides})
    assert response.status_code == 422 and "GFPGANv1.4.pth" in response.text, response.text
    assert client.get("/sdapi/v1/options").json()["face_restoration_model"] == "CodeFormer"
    off = client.post("/sdapi/v1/txt2img", json={**TXT2IMG, "override_settings": {"face_restoration": False}})
    info = json.loads(off.json()["info"])
    assert off.status_code == 200 and not info.get("warnings") and "Face restoration" not in info["infotexts"][0]


@pytest.mark.parametrize(("overrides", "field"), [
    ({"face_restoration": "yes"}, "override_settings.face_restoration"),
    ({"face_restoration": True, "face_restoration_model": "RestoreFormer"}, "override_settings.face_restoration_model"),
    ({"face_restoration": True, "code_former_weight": 2}, "override_settings.code_former_weight"),
])
def test_bad_face_overrides_are_422s_naming_the_key(client, overrides, field):
    response = client.post("/sdapi/v1/txt2img", json={**TXT2IMG, "override_settings": overrides})
    assert response.status_code == 422, response.text
    assert field in response.text, response.text


def test_extras_face_restoration_without_the_detector_names_it(client):
    models = client.app_context.paths.models
    place_files(models, {"GFPGAN": "GFPGANv1.4.pth"})
    try:
        response = client.post("/sdapi/v1/extra-single-image", json={"image": png_b64(), "gfpgan_visibility": 1})
    finally:
        (models / "GFPGAN" / "GFPGANv1.4.pth").unlink()
    assert response.status_code == 422
    assert f"detection_Resnet50_Final.pth, which is not installed: put detection_Resnet50_Final.pth in " \
           f"{models / 'GFPGAN'}" in response.json()["detail"]


def test_a_device_worker_restores_faces_too(tmp_path):
    """A Ray worker builds its own engine (build_worker_engine): it must have the face step, or restore_faces
    would be skipped silently on every job a worker makes."""
    from webui.app_context import build_worker_engine
    from webui.config.flags import CommandLineOptions

    _models, engine = build_worker_engine(CommandLineOptions(data_dir=tmp_path, device="cpu"), tmp_path)
    assert "face restoration" in engine.seams.postprocessors.names()
    assert {"GFPGAN", "CodeFormer"} <= set(engine.seams.extras.names())
