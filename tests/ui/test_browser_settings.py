"""The Settings tab in a real browser: a change persists across a server restart; a broken config.json is
reported, not fatal."""

from __future__ import annotations

import json
import time

import pytest

pytestmark = pytest.mark.browser


def test_a_setting_persists_across_a_restart(start_server, page, tmp_path, artifacts):
    data_dir = tmp_path / "data"
    server = start_server(data_dir)
    page.goto(server.url + "/", wait_until="load")
    page.get_by_role("tab", name="Settings").click()
    page.get_by_role("tab", name="Infotext").click()
    page.uncheck("#setting_add_version_to_infotext input")
    page.click("#settings_submit")
    page.wait_for_function("document.querySelector('#settings_result').innerText.includes("
                           "'1 settings changed: add_version_to_infotext.')")
    assert json.loads((data_dir / "config.json").read_text())["add_version_to_infotext"] is False
    server.stop()

    again = start_server(data_dir)
    page.goto(again.url + "/", wait_until="load")
    page.get_by_role("tab", name="Settings").click()
    page.get_by_role("tab", name="Infotext").click()
    assert not page.locator("#setting_add_version_to_infotext input").is_checked()
    page.screenshot(path=artifacts("settings"))


def test_apply_changes_only_what_this_page_changed(start_server, page, tmp_path):
    """A page opened before a change made through the API must not undo it when it applies something else."""
    import httpx

    data_dir = tmp_path / "data"
    server = start_server(data_dir, "--api")
    page.goto(server.url + "/", wait_until="load")
    httpx.post(f"{server.url}/sdapi/v1/options", json={"add_model_hash_to_info": False}).raise_for_status()
    page.get_by_role("tab", name="Settings").click()
    page.get_by_role("tab", name="Infotext").click()
    assert page.locator("#setting_add_model_hash_to_info input").is_checked()  # this page still shows the old value
    page.uncheck("#setting_add_version_to_infotext input")
    page.click("#settings_submit")
    page.wait_for_function("document.querySelector('#settings_result').innerText.includes("
                           "'1 settings changed: add_version_to_infotext.')")
    saved = json.loads((data_dir / "config.json").read_text())
    assert saved["add_version_to_infotext"] is False and saved["add_model_hash_to_info"] is False
    page.check("#setting_add_version_to_infotext input")  # and undoing one's own change is a change
    page.click("#settings_submit")
    deadline = time.monotonic() + 30
    while json.loads((data_dir / "config.json").read_text())["add_version_to_infotext"] is not True:
        assert time.monotonic() < deadline, "re-checking the box was not applied"
        time.sleep(0.1)


def test_a_broken_config_is_reported_and_the_defaults_used(start_server, page, tmp_path):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "config.json").write_text('{"sd_vae": "Automatic",', encoding="utf-8")
    server = start_server(data_dir)
    page.goto(server.url + "/", wait_until="load")
    page.get_by_role("tab", name="Settings").click()
    assert "could not be read" in page.inner_text("#settings_load_problem")
    assert list(data_dir.glob("config.json.broken-*"))


@pytest.fixture(scope="module")
def configured(start_module_server, tmp_path_factory):
    """A server started on a config.json with a quicksettings list and a ui-config.json with a default of its own
    (the two tests read different files); the quicksettings test puts back the setting it changes."""
    data_dir = tmp_path_factory.mktemp("configured") / "data"
    data_dir.mkdir()
    (data_dir / "config.json").write_text(json.dumps(
        {"quicksettings_list": ["sd_model_checkpoint", "CLIP_stop_at_last_layers", "enable_pnginfo"]}))
    (data_dir / "ui-config.json").write_text(json.dumps({"txt2img/Sampling steps/value": 33}))
    return start_module_server(data_dir), data_dir


def wait_for_saved(data_dir, name, value, what) -> None:
    deadline = time.monotonic() + 10
    while json.loads((data_dir / "config.json").read_text()).get(name) is not value:
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def test_quicksettings_list_puts_settings_above_the_tabs(configured, page):
    server, data_dir = configured
    page.goto(server.url + "/", wait_until="load")
    page.wait_for_selector("#quicksettings #setting_enable_pnginfo")
    assert not page.locator("#setting_sd_vae").is_visible()  # not listed
    page.uncheck("#quicksettings #setting_enable_pnginfo input")
    wait_for_saved(data_dir, "enable_pnginfo", False, "the quicksetting was not saved")
    page.get_by_role("tab", name="Settings").click()
    page.get_by_role("tab", name="Infotext").click()
    assert page.locator("#setting_enable_pnginfo").count() == 1  # not twice on the page
    page.check("#quicksettings #setting_enable_pnginfo input")  # back to the default for the module's other tests
    wait_for_saved(data_dir, "enable_pnginfo", True, "the quicksetting was not saved back")


def test_ui_config_json_sets_the_control_defaults(configured, page):
    server, data_dir = configured
    page.goto(server.url + "/", wait_until="load")
    page.wait_for_selector("#txt2img_steps input[type=number]")
    assert page.locator("#txt2img_steps input[type=number]").input_value() == "33"
    saved = json.loads((data_dir / "ui-config.json").read_text())
    assert saved["txt2img/Sampling steps/value"] == 33 and saved["img2img/Denoising strength/value"] == 0.75
