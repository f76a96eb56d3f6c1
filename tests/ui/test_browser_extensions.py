"""Extensions in a real browser against a real server: their tabs (ours and an unchanged A1111-style one, with its
css and javascript), their settings across a restart, their routes behind the server's auth, the broken ones
listed as failed while generation still works, and enable/disable applied at the next start."""

from __future__ import annotations

import base64
import json
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from tests.support.extensions import install_fixtures
from tests.ui.conftest import set_number

pytestmark = pytest.mark.browser
AUTH = ("--api-auth", "user:pass")
TABS = ["txt2img", "img2img", "Extras", "PNG Info", "Checkpoint Merger", "Good Tab", "A1111 Demo", "Settings", "System",
        "Extensions"]


def get(url: str, credentials: str | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(url)
    if credentials:
        request.add_header("Authorization", "Basic " + base64.b64encode(credentials.encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, {}


def open_tab(page, elem_id: str) -> None:
    """Top-level tabs by A1111's elem_id (a settings section may carry the same title as an extension's tab)."""
    page.click(f"#tab_{elem_id}-button")


def open_settings_section(page, section: str) -> None:
    """Gradio builds a tab's children when it is first shown; a click on the tab that lands while a freshly loaded
    page is still wiring its events can go unanswered, so the tab is clicked again until the section appears."""
    button = page.locator(f"#settings_{section}-button")
    for _ in range(3):
        open_tab(page, "settings")
        try:
            button.wait_for(timeout=10_000)
            break
        except PlaywrightTimeoutError:
            continue
    button.click()


def extension_status(page, folder: str) -> str:
    return page.inner_text(f'#extensions tr[data-extension="{folder}"] .extension-status')


def check_tabs_and_a1111_assets(page) -> None:
    assert page.locator("#tabs [role=tablist] > button[role=tab]").all_inner_texts() == TABS
    assert page.evaluate("document.documentElement.dataset.a1111DemoScript") == "ran"
    open_tab(page, "a1111_demo")
    marker = page.locator("#a1111_demo_marker")
    assert marker.evaluate("node => getComputedStyle(node).color") == "rgb(12, 34, 56)"
    page.wait_for_function("document.querySelector('#a1111_demo_marker').innerText.includes('touched by its script')")
    assert page.evaluate("document.documentElement.dataset.a1111DemoUi") == "loaded"
    open_tab(page, "good_tab")
    assert page.inner_text("#good_tab_text") == "Hello from the good extension"


def saved_settings(data_dir) -> dict:
    path = data_dir / "config.json"
    return json.loads(path.read_text()) if path.exists() else {}


def change_settings(page, data_dir) -> None:
    """One section at a time (Gradio 6 remounts a tab that was left, and an edit not applied is lost). A value
    typed in the instant a section mounts can be overwritten by its first render, so the edit is retried."""
    for section, key, value in (("good_extension", "good_greeting", "howdy"), ("a1111_demo", "a1111_demo_word", "owl")):
        open_settings_section(page, section)
        for _ in range(3):
            page.fill(f"#setting_{key} textarea", value)
            page.press(f"#setting_{key} textarea", "Tab")
            page.click("#settings_submit")
            deadline = time.monotonic() + 5
            while saved_settings(data_dir).get(key) != value and time.monotonic() < deadline:
                time.sleep(0.2)
            if saved_settings(data_dir).get(key) == value:
                break
        assert saved_settings(data_dir).get(key) == value, page.inner_text("#settings_result")
    page.wait_for_function("document.querySelector('#settings_result').innerText.includes("
                           "'1 settings changed: a1111_demo_word.')")


def generate_through_the_hooks(page) -> None:
    open_tab(page, "txt2img")
    page.fill("#txt2img_prompt textarea", "a GOODTOKEN cat")
    for elem_id, number in (("txt2img_steps", 2), ("txt2img_width", 64), ("txt2img_height", 64)):
        set_number(page, elem_id, number)
    page.click("#txt2img_generate")
    page.wait_for_selector("#txt2img_gallery img", timeout=60_000)
    page.wait_for_function("document.querySelector('#html_info_txt2img').innerText.includes('Good extension')")
    info = page.inner_text("#html_info_txt2img")
    assert "a rewritten by good cat" in info and "Good extension: howdy" in info


def test_extensions_in_the_page(start_server, page, tmp_path, artifacts):
    data_dir = tmp_path / "data"
    install_fixtures(data_dir)
    server = start_server(data_dir, *AUTH)
    page.goto(server.url + "/", wait_until="load")
    page.wait_for_selector("#txt2img_prompt textarea")
    check_tabs_and_a1111_assets(page)
    page.screenshot(path=artifacts("good-tab"))
    change_settings(page, data_dir)

    assert get(f"{server.url}/ext/good/hello")[0] == 401
    status, body = get(f"{server.url}/ext/good/hello", "user:pass")
    assert status == 200 and body["greeting"] == "howdy"
    assert get(f"{server.url}/a1111-demo/word", "user:pass") == (200, {"word": "owl", "has_demo": True})

    generate_through_the_hooks(page)
    open_tab(page, "extensions")
    page.wait_for_function("document.querySelector('#extensions') && "
                           "document.querySelector('#extensions').innerText.includes('hook failure')")
    assert extension_status(page, "broken_import") == "failed"
    assert extension_status(page, "broken_setup") == "failed"
    assert extension_status(page, "a1111_unsupported") == "unsupported"
    assert extension_status(page, "bad_hook") == "loaded (2 hook failures)"
    assert extension_status(page, "good") == "loaded"
    assert "modules.sd_hijack" in page.inner_text('#extensions tr[data-extension="a1111_unsupported"]')
    assert "next start" in page.inner_text("#extensions_notice")
    page.locator("#extensions_enabled").get_by_label("broken_import", exact=True).uncheck()
    page.click("#extensions_apply")
    page.wait_for_function("document.querySelector('#extensions_apply_result').innerText.includes('Saved')")
    assert json.loads((data_dir / "config.json").read_text())["disabled_extensions"] == ["broken_import"]
    page.screenshot(path=artifacts("extensions-tab"), full_page=True)
    server.stop()

    again = start_server(data_dir, *AUTH)
    page.goto(again.url + "/", wait_until="load")
    page.wait_for_selector("#txt2img_prompt textarea")
    open_settings_section(page, "good_extension")
    assert page.input_value("#setting_good_greeting textarea") == "howdy"
    open_tab(page, "a1111_demo")
    page.click("#a1111_demo_show")
    page.wait_for_function("document.querySelector('#a1111_demo_word textarea').value === 'owl'")
    open_tab(page, "extensions")
    page.wait_for_selector('#extensions tr[data-extension="broken_import"]')
    assert extension_status(page, "broken_import") == "disabled"
    assert not page.locator("#extensions_enabled").get_by_label("broken_import", exact=True).is_checked()


def make_repository(folder):
    import subprocess

    folder.mkdir(parents=True)
    (folder / "extension.toml").write_text('name = "cloned"\nversion = "2.0.0"\napi_version = 1\n')
    (folder / "main.py").write_text("def setup(ctx):\n    pass\n")
    for command in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "first"]):
        subprocess.run(["git", "-c", "user.name=Test", "-c", "user.email=test@example.invalid", *command],
                       cwd=folder, check=True, capture_output=True)
    return f"file://{folder}"


def test_install_from_url_and_its_refusal_when_not_local(start_server, page, tmp_path):
    url = make_repository(tmp_path / "sources" / "cloned-extension.git")
    data_dir = tmp_path / "data"
    server = start_server(data_dir)
    page.goto(server.url + "/", wait_until="load")
    open_tab(page, "extensions")
    page.get_by_role("tab", name="Install from URL", exact=True).click()
    page.fill("#extension_install_url textarea", url)
    page.click("#extension_install_button")
    page.wait_for_function("document.querySelector('#extension_install_result').innerText.includes('Installed')")
    assert (data_dir / "extensions" / "cloned-extension" / "extension.toml").is_file()
    assert sorted(path.name for path in (data_dir / "extensions").iterdir()) == ["cloned-extension"]
    server.stop()

    # A1111's rule: --server-name (or --listen) makes the page non-local; still bound to loopback here
    again = start_server(data_dir, "--server-name", "127.0.0.1")
    page.goto(again.url + "/", wait_until="load")
    open_tab(page, "extensions")
    page.wait_for_selector('#extensions tr[data-extension="cloned-extension"]')
    assert extension_status(page, "cloned-extension") == "loaded"
    page.get_by_role("tab", name="Install from URL", exact=True).click()
    assert "--enable-insecure-extension-access" in page.inner_text("#extension_install_disabled")
    assert page.locator("#extension_install_button").is_disabled()


SHARED_A1111 = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "a1111-extensions"
A1111_FOLDERS = ("a1111-sd-webui-tagcomplete", "sd-webui-photopea-embed", "stable-diffusion-webui-model-toolkit",
                 "stable-diffusion-webui-state")


def photopea_tolerant_page(browser):
    """The Photopea tab embeds photopea.com in an iframe: that request is refused like any other external one,
    and it is the only one the page may try."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    attempts: dict[str, list[str]] = {"external": [], "local": []}

    def only_loopback(route):
        url = route.request.url
        if url.startswith(("http://127.0.0.1", "ws://127.0.0.1", "data:", "blob:")):
            attempts["local"].append(url)
            route.continue_()
        else:
            attempts["external"].append(url)
            route.abort()

    context.route("**/*", only_loopback)
    return context, context.new_page(), attempts


@pytest.mark.skipif(not SHARED_A1111.is_dir(), reason="the shared A1111 fixtures are not here")
def test_four_real_a1111_extensions_load_render_and_generation_works(start_server, browser, tmp_path, artifacts):
    import shutil

    data_dir = tmp_path / "data"
    for name in A1111_FOLDERS:
        shutil.copytree(SHARED_A1111 / name, data_dir / "extensions" / name, ignore=shutil.ignore_patterns(".git"))
    (data_dir / "config.json").write_text("{}")  # the State extension serves A1111's ui_settings_file
    server = start_server(data_dir)
    context, page, attempts = photopea_tolerant_page(browser)
    try:
        page.goto(server.url + "/", wait_until="load")
        page.wait_for_selector("#txt2img_prompt textarea")
        tabs = page.locator("#tabs [role=tablist] > button[role=tab]").all_inner_texts()
        assert "Photopea" in tabs and "Toolkit" in tabs, tabs
        # the State extension's javascript ran (onUiLoaded, gradioApp, its own route /state/config.json)
        page.wait_for_selector('#quicksettings button[title="State: Reset"]', timeout=20_000)
        # tag autocomplete's onUiUpdate saw `opts` filled and went for its files
        page.wait_for_function("Object.keys(opts).length > 0 && opts.tac_active === true")
        page.wait_for_function("performance.getEntriesByType('resource').some(e => "
                               "e.name.includes('tagAutocompletePath.txt'))", timeout=20_000)
        open_tab(page, "photopea_embed")
        page.wait_for_selector("#webui-photopea-iframe", state="attached")
        open_tab(page, "checkpoint_toolkit")
        page.wait_for_selector("#tab_checkpoint_toolkit button:has-text('Load')")
        open_settings_section(page, "state")
        assert page.locator("#setting_state_ui input[type=checkbox]").count() == 3
        open_settings_section(page, "tac")
        page.wait_for_selector("#setting_tac_active")
        page.screenshot(path=artifacts("a1111-settings"), full_page=True)

        open_tab(page, "txt2img")
        page.fill("#txt2img_prompt textarea", "a lighthouse")
        for elem_id, number in (("txt2img_steps", 2), ("txt2img_width", 64), ("txt2img_height", 64)):
            set_number(page, elem_id, number)
        page.click("#txt2img_generate")
        page.wait_for_selector("#txt2img_gallery img", timeout=60_000)
        assert "a lighthouse" in page.inner_text("#html_info_txt2img")
        open_tab(page, "extensions")
        for name in A1111_FOLDERS:
            page.wait_for_selector(f'#extensions tr[data-extension="{name}"]')
            assert extension_status(page, name).startswith("loaded"), name
    finally:
        context.close()
    assert attempts["external"] and all("photopea.com" in url for url in attempts["external"]), attempts["external"]


def choose(page, elem_id: str, option: str) -> None:
    page.click(f"#{elem_id} input")
    page.get_by_role("option", name=option, exact=True).click()


def test_a1111_scripts_in_the_page(start_server, page, tmp_path):
    """An always-visible script's accordion changes the job (its value as set on the page), and a selectable
    script chosen in the Script dropdown runs process_images once per line."""
    import shutil

    samples = Path(__file__).resolve().parents[1] / "extensions" / "a1111_samples"
    data_dir = tmp_path / "data"
    for name in ("rewriter", "promptlist"):
        shutil.copytree(samples / name, data_dir / "extensions" / name)
    server = start_server(data_dir)
    page.goto(server.url + "/", wait_until="load")
    page.wait_for_selector("#txt2img_prompt textarea")
    page.fill("#txt2img_prompt textarea", "a lighthouse")
    for elem_id, number in (("txt2img_steps", 2), ("txt2img_width", 64), ("txt2img_height", 64)):
        set_number(page, elem_id, number)
    page.click("#script_txt2img_prompt_rewriter button:has-text('Prompt rewriter')")  # the script's accordion
    page.fill("#script_txt2img_prompt_rewriter_suffix textarea", "at dusk")
    page.click("#txt2img_generate")
    page.wait_for_function("document.querySelector('#html_info_txt2img').innerText.includes('Rewriter: at dusk')",
                           timeout=60_000)
    assert "a lighthouse, at dusk" in page.inner_text("#html_info_txt2img")

    choose(page, "txt2img_script_list", "Prompts from lines")
    page.fill("#script_txt2img_prompts_from_lines_lines textarea", "a red boat\na blue boat")
    page.click("#txt2img_generate")
    try:
        page.wait_for_function("document.querySelector('#html_info_txt2img').innerText.includes('Prompts from lines: "
                               "2 images')", timeout=90_000)
    except PlaywrightTimeoutError:
        shown = page.inner_text("#txt2img_results")
        raise AssertionError(f"the script did not finish; the page shows: {shown}") from None
    assert page.locator("#txt2img_gallery img").count() >= 2
    assert "a red boat, at dusk" in page.inner_text("#html_info_txt2img")
    assert len(list((data_dir / "outputs" / "txt2img-images").rglob("*.png"))) == 3  # each a queued, saved job

    # A1111's page helpers, as extension scripts call them
    page.evaluate("switch_to_img2img()")
    page.wait_for_function("get_uiCurrentTabContent() && get_uiCurrentTabContent().id === 'tab_img2img'")
    page.evaluate("switch_to_txt2img()")
    page.wait_for_function("get_uiCurrentTab().id === 'tab_txt2img-button'")
    choose(page, "txt2img_script_list", "None")
    page.evaluate("""() => { const box = gradioApp().querySelector('#txt2img_prompt textarea');
                             box.value = 'typed by a script'; updateInput(box); }""")
    page.click("#txt2img_generate")
    page.wait_for_function("document.querySelector('#html_info_txt2img').innerText.includes('typed by a script')",
                           timeout=90_000)
