"""Logins in a real browser: the login form guards the page; a user's job is theirs; settings need an admin."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.ui.conftest import set_number

pytestmark = pytest.mark.browser


def log_in(page, url: str, name: str, password: str) -> None:
    page.goto(url + "/", wait_until="load")
    page.fill("#username", name)
    page.fill("#password", password)
    page.click("#login_button")


def test_login_generate_and_the_admin_only_settings(start_server, browser, tmp_path, artifacts):
    data_dir = tmp_path / "data"
    server = start_server(data_dir, "--gradio-auth", "alice:pa,bob:pb", "--admin-users", "alice")
    bob_context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = bob_context.new_page()
    log_in(page, server.url, "bob", "wrong")
    assert "Incorrect username or password" in page.inner_text("#login_error")
    page.screenshot(path=artifacts("login-refused"))
    log_in(page, server.url, "bob", "pb")
    page.wait_for_selector("#txt2img_generate", timeout=60_000)
    assert page.locator("#logout_link").is_visible()

    page.fill("#txt2img_prompt textarea", "a lighthouse")
    set_number(page, "txt2img_steps", 2)
    set_number(page, "txt2img_seed", 31337)
    page.click("#txt2img_generate")
    page.wait_for_function("document.querySelector('#html_info_txt2img').innerText.includes('Seed: 31337')",
                           timeout=60_000)
    with httpx.Client(base_url=server.url, auth=("bob", "pb")) as bob, \
            httpx.Client(base_url=server.url, auth=("alice", "pa")) as alice:
        assert [job["state"] for job in bob.get("/kestrel/v1/jobs").json()] == ["done"]  # the page's job is bob's
        assert alice.get("/kestrel/v1/jobs").json() == []

    page.get_by_role("tab", name="Settings").click()
    page.get_by_role("tab", name="Infotext").click()
    page.uncheck("#setting_add_version_to_infotext input")
    page.click("#settings_submit")
    page.wait_for_selector("text=needs an admin account", timeout=30_000)
    page.screenshot(path=artifacts("settings-refused"))
    assert "add_version_to_infotext" not in json.loads((data_dir / "config.json").read_text())
    page.goto(server.url + "/logout", wait_until="load")
    assert page.locator("#login_form").is_visible()
    bob_context.close()
