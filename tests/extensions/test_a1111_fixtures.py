"""The four real A1111 extensions of ../shared/fixtures/a1111-extensions load unchanged: their scripts import
(sibling modules, `scripts.*`, their folder on sys.path), their settings register (list-valued CheckboxGroup ones
included), their tabs build through the Gradio 3 → 6 adapter and their routes mount."""

from __future__ import annotations

import shutil
from pathlib import Path

import gradio as gr
import pytest
from fastapi import APIRouter

from tests.support import copy_checkpoint
from tests.support.extensions import app_for
from webui.extensions.registry import Status
from webui.ui.extension_tabs import build_extension_tabs, collect_a1111_tabs

SHARED = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "a1111-extensions"
FOLDERS = ("a1111-sd-webui-tagcomplete", "sd-webui-photopea-embed", "stable-diffusion-webui-model-toolkit",
           "stable-diffusion-webui-state")
pytestmark = pytest.mark.skipif(not SHARED.is_dir(), reason="the shared A1111 fixtures are not here")


def install_shared(data: Path, *names: str) -> None:
    for name in names or FOLDERS:
        shutil.copytree(SHARED / name, data / "extensions" / name, ignore=shutil.ignore_patterns(".git"))


@pytest.fixture(scope="module")
def loaded(tmp_path_factory, tiny_checkpoint):
    from webui.app_context import build_app
    from webui.config.flags import CommandLineOptions

    base_dir = tmp_path_factory.mktemp("base")
    copy_checkpoint(tiny_checkpoint, base_dir / "models" / "Stable-diffusion" / "anime.safetensors")
    base = build_app(CommandLineOptions(data_dir=base_dir, device="cpu"), default_data_dir=base_dir)
    data = tmp_path_factory.mktemp("a1111")
    install_shared(data)
    copy_checkpoint(tiny_checkpoint, data / "models" / "Stable-diffusion" / "anime.safetensors")  # the toolkit
    yield app_for(base, data)
    base.stop()


def test_all_four_load(loaded):
    records = {record.name: record for record in loaded.extensions.records()}
    assert {name: (record.status, record.message) for name, record in records.items()} == {
        name: (Status.LOADED, records[name].message) for name in FOLDERS}
    for record in records.values():
        assert record.failures == [], record.failures[0].traceback


def test_their_settings_register(loaded):
    settings = loaded.settings
    assert settings.get("state_ui") == ["Reset Button", "Import Button", "Export Button"]
    settings.set("state", ["tabs"])
    assert settings.get("state") == ["tabs"]
    with pytest.raises(ValueError, match="'nope' not among tabs"):
        settings.set("state", ["nope"])
    assert settings.get("tac_tagFile") == "danbooru.csv"
    assert settings.get("model_toolkit_fix_clip") is False


def test_their_tabs_build_and_render(loaded):
    tabs = collect_a1111_tabs(loaded.extensions)
    assert sorted((tab.extension, tab.elem_id) for tab in tabs) == [
        ("sd-webui-photopea-embed", "photopea_embed"), ("stable-diffusion-webui-model-toolkit", "checkpoint_toolkit")]
    with gr.Blocks() as page, gr.Tabs():
        build_extension_tabs(loaded.extensions, tabs)
    ids = [block.elem_id for block in page.blocks.values() if isinstance(block, gr.Tab)]
    assert "tab_photopea_embed" in ids and "tab_checkpoint_toolkit" in ids
    assert all(not record.failures for record in loaded.extensions.records())
    photopea_js = [fn.js for fn in page.fns.values() if fn.js]
    assert any("getAndSendImageToWebUITab('img2img', false, i)" in js for js in photopea_js)


def test_their_routes_mount(loaded):
    shims = dict(loaded.extensions.a1111_shims())
    router = APIRouter()
    shims["stable-diffusion-webui-state"].call_app_started(None, router)
    shims["a1111-sd-webui-tagcomplete"].call_app_started(None, router)
    paths = {route.path for route in router.routes}
    assert "/state/config.json" in paths and "/tacapi/v1/refresh-temp-files" in paths


def test_a_list_valued_setting_with_choices_is_a_checkbox_group_in_the_settings_tab(loaded):
    from webui.ui.settings_tab import setting_component

    with gr.Blocks():
        component = setting_component(loaded, loaded.settings.spec("state_ui"), loaded.settings.get("state_ui"))
    assert isinstance(component, gr.CheckboxGroup)
    assert component.value == ["Reset Button", "Import Button", "Export Button"]


def test_the_api_lists_each_ones_real_state(loaded):
    from webui.api.extension_routes import sdapi_extension_list
    from webui.ui.extensions_tab import extensions_table

    collect_a1111_tabs(loaded.extensions)  # the page builds their tabs: the Gradio 3 adaptations are known
    listed = {entry["name"]: entry for entry in sdapi_extension_list(loaded.extensions)}
    assert {name: entry["status"] for name, entry in listed.items()} == dict.fromkeys(FOLDERS, "loaded")
    assert "modules.sd_hijack" in listed["a1111-sd-webui-tagcomplete"]["unsupported"]
    assert "Blocks(variant=...) dropped (not in Gradio 6)" in listed["stable-diffusion-webui-model-toolkit"]["adapted"]
    assert "_js= → js=" in listed["sd-webui-photopea-embed"]["adapted"]
    table = extensions_table(loaded)
    assert "Gradio 3 → 6" in table and "modules.sd_hijack" in table
