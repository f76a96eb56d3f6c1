"""In a real browser, with logins: the gallery's own image loads for its owner only (its URL refused to another
user), and the Users tab works — an admin adds an account, a user changes their own password."""

from __future__ import annotations

import httpx
import pytest

from tests.ui.conftest import browser, set_number  # noqa: F401 - the module-scoped browser fixture

pytestmark = pytest.mark.browser


def log_in(context, url: str, name: str, password: str):
    page = context.new_page()
    page.goto(url + "/", wait_until="load")
    page.fill("#username", name)
    page.fill("#password", password)
    page.click("#login_button")
    page.wait_for_selector("#txt2img_generate", timeout=60_000)
    return page


def test_gallery_images_are_private_and_the_users_tab_manages_accounts(start_server, browser, tmp_path):  # noqa: F811
    server = start_server(tmp_path / "data", "--gradio-auth", "alice:pa,carol:pc", "--admin-users", "alice")
    created = httpx.post(server.url + "/kestrel/v1/users", auth=("alice", "pa"),
                         json={"name": "bob", "password": "bob-pass-1"})  # in auth.json: bob may change it
    assert created.status_code == 201, created.text
    bob_context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = log_in(bob_context, server.url, "bob", "bob-pass-1")
    page.fill("#txt2img_prompt textarea", "a lighthouse")
    set_number(page, "txt2img_steps", 2)
    page.click("#txt2img_generate")
    image = page.locator("#txt2img_gallery img").first
    image.wait_for(timeout=60_000)
    page.wait_for_function("document.querySelector('#txt2img_gallery img').naturalWidth > 0", timeout=30_000)
    source = image.get_attribute("src") or ""
    assert "/file=" in source, source
    path = source[source.index("/gradio_api/file=") if "/gradio_api/file=" in source else source.index("/file="):]
    with httpx.Client(base_url=server.url, auth=("carol", "pc")) as carol, \
            httpx.Client(base_url=server.url, auth=("alice", "pa")) as alice:
        assert carol.get(path).status_code == 403  # bob's image: its URL is not enough
        assert alice.get(path).status_code == 200  # an admin

    page.get_by_role("tab", name="Users").click()
    assert not page.locator("#users_admin").is_visible()  # bob is no admin
    page.fill("#users_current_password input", "bob-pass-1")
    page.fill("#users_new_password input", "bob-new-pass")
    page.click("#users_change_password")
    page.wait_for_selector("text=Password changed", timeout=30_000)
    assert httpx.get(server.url + "/sdapi/v1/sd-models", auth=("bob", "bob-pass-1")).status_code == 401
    assert httpx.get(server.url + "/kestrel/v1/me", auth=("bob", "bob-new-pass")).json()["name"] == "bob"
    bob_context.close()

    alice_context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = log_in(alice_context, server.url, "alice", "pa")
    page.get_by_role("tab", name="Users").click()
    page.wait_for_selector("#users_table", timeout=30_000)
    page.fill("#users_name textarea", "dora")
    page.fill("#users_password input", "dora-pass-1")
    page.fill("#users_quota textarea", "steps=10")
    page.click("#users_add")
    page.wait_for_selector("#users_table >> text=dora", timeout=30_000)
    assert "steps=10" in page.inner_text("#users_table")
    me = httpx.get(server.url + "/kestrel/v1/me", auth=("dora", "dora-pass-1")).json()
    assert me["name"] == "dora" and me["quota"] == {"steps": 10}
    alice_context.close()
