"""Page-wide behaviour in a real browser: Generate forever, --theme, and the layout at 1280×800."""

from __future__ import annotations

import time
from datetime import date

import pytest

from tests.ui.conftest import new_files, set_number

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("page") / "data"


@pytest.fixture(scope="module")
def server(start_module_server, data_dir):
    """One server (no flags) for the tests that change nothing on it; --theme needs a server per theme."""
    return start_module_server(data_dir)


def test_generate_forever_until_interrupt(server, data_dir, page):
    saved = new_files(data_dir / "outputs" / "txt2img-images" / date.today().isoformat())
    page.goto(server.url + "/", wait_until="load")
    page.fill("#txt2img_prompt textarea", "endless")
    for elem_id, number in (("txt2img_steps", 2), ("txt2img_width", 64), ("txt2img_height", 64)):
        set_number(page, elem_id, number)
    page.check("#txt2img_generate_forever input")
    page.click("#txt2img_generate")
    deadline = time.monotonic() + 60
    while len(saved()) < 3 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(saved()) >= 3, "Generate forever did not keep generating"
    page.click("#txt2img_interrupt")
    page.wait_for_function("!document.querySelector('#txt2img_generate_forever input').checked")
    time.sleep(2)
    settled = len(saved())
    time.sleep(3)
    assert len(saved()) == settled, "images kept coming after Interrupt"


@pytest.mark.parametrize("theme", ["dark", "light"])
def test_theme_flag(start_server, page, tmp_path, theme, artifacts):
    server = start_server(tmp_path / "data", "--theme", theme)
    page.goto(server.url + "/", wait_until="load")
    assert f"__theme={theme}" in page.url
    page.wait_for_selector("#txt2img_prompt textarea")
    is_dark = page.evaluate("document.body.classList.contains('dark') || "
                            "document.documentElement.classList.contains('dark')")
    assert is_dark == (theme == "dark")
    page.screenshot(path=artifacts(theme))


def test_every_tab_fits_1280x800_without_horizontal_scroll(server, browser):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.goto(server.url + "/", wait_until="load")
    page.wait_for_selector("#txt2img_prompt textarea")
    for name in ("txt2img", "img2img", "PNG Info", "Checkpoint Merger", "Settings"):
        page.get_by_role("tab", name=name, exact=True).first.click()
        page.wait_for_timeout(300)
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{name}: {overflow}px of horizontal scroll"
    context.close()
