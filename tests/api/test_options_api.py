"""`/sdapi/v1/options`: every A1111 key readable, unknown keys 422, catalogued-but-not-honoured keys stored with a
warning, values validated against A1111's types."""

import json

import pytest

from tests.support import api_test_client, copy_checkpoint
from webui.config.a1111_options_catalog import CATALOG, SECTIONS
from webui.config.options import OptionRegistry, OptionSpec, default_options


@pytest.fixture(scope="module")
def client(tmp_path_factory, tiny_checkpoint):
    data = tmp_path_factory.mktemp("options-data")
    folder = data / "models" / "Stable-diffusion"
    folder.mkdir(parents=True)
    copy_checkpoint(tiny_checkpoint, folder / "anime.safetensors")
    yield from api_test_client(data)


def test_every_a1111_key_is_listed_with_its_default(client):
    options = client.get("/sdapi/v1/options").json()
    catalogued = {key: default for rows in CATALOG.values() for key, default, _label, _extra in rows}
    assert len(catalogued) > 200 and set(catalogued) <= set(options)
    assert options["send_seed"] is True and options["samples_format"] == "png" and options["jpeg_quality"] == 80
    assert options["sd_checkpoints_limit"] == 3  # Kestrel's own spec wins over the catalogue's (A1111: 1)


def test_a1111_options_write_round_trip(client):
    """A1111's own test_options_write: flip send_seed, read it back, put it back."""
    before = client.get("/sdapi/v1/options").json()["send_seed"]
    response = client.post("/sdapi/v1/options", json={"send_seed": not before})
    assert response.status_code == 200
    assert response.json() == {"warnings": ["stored, but Kestrel does not act on these options yet: send_seed"]}
    assert client.get("/sdapi/v1/options").json()["send_seed"] is (not before)
    assert client.post("/sdapi/v1/options", json={"send_seed": before}).json() is None  # back at A1111's default
    on_disk = json.loads(client.app_context.paths.config_file.read_text())
    assert on_disk["send_seed"] is before


def test_unknown_keys_and_bad_values_change_nothing(client):
    response = client.post("/sdapi/v1/options", json={"jpeg_quality": 90, "no_such_option": True})
    assert response.status_code == 422 and response.json()["detail"].startswith("no_such_option: unknown option")
    assert client.get("/sdapi/v1/options").json()["jpeg_quality"] == 80
    response = client.post("/sdapi/v1/options", json={"jpeg_quality": 101})
    assert response.status_code == 422 and "jpeg_quality: 101 is out of range 1–100" in response.json()["detail"]
    response = client.post("/sdapi/v1/options", json={"samples_save": "yes"})
    assert response.status_code == 422 and "samples_save: 'yes' is not a bool" in response.json()["detail"]
    response = client.post("/sdapi/v1/options", json={"live_preview_content": "Both"})
    assert response.status_code == 422 and "is not one of Combined, Prompt, Negative prompt" in response.text


def test_catalogue_specs_carry_a1111_sections_and_give_way_to_a_real_implementation():
    registry = default_options()
    spec = registry.get("face_restoration_model")
    assert not spec.honoured and spec.section == "face-restoration" and spec.section_label == SECTIONS[spec.section]
    assert registry.get("CLIP_stop_at_last_layers").honoured
    registry.add(OptionSpec("face_restoration_model", "CodeFormer", "Face restoration model", "face-restoration",
                            choices=("CodeFormer", "GFPGAN")))
    assert registry.get("face_restoration_model").honoured
    with pytest.raises(ValueError, match="registered twice"):
        registry.add(OptionSpec("face_restoration_model", "GFPGAN", "again", "face-restoration"))
    with pytest.raises(ValueError, match="registered twice"):
        OptionRegistry([OptionSpec("a", 1, "a", "x"), OptionSpec("a", 2, "a", "x")])
