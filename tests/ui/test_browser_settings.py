"""The Settings tab in a real browser: a change persists across a server restart; a broken config.json is
reported, not fatal."""

from __future__ import annotations

import json

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


def test_a_broken_config_is_reported_and_the_defaults_used(start_server, page, tmp_path):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "config.json").write_text('{"sd_vae": "Automatic",', encoding="utf-8")
    server = start_server(data_dir)
    page.goto(server.url + "/", wait_until="load")
    page.get_by_role("tab", name="Settings").click()
    assert "could not be read" in page.inner_text("#settings_load_problem")
    assert list(data_dir.glob("config.json.broken-*"))
