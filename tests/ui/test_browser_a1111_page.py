"""The page as an A1111 user expects it (issue 22, items 1-6 and 8), in a real browser against one shared server:
the checkpoint dropdown after a refresh and on a new page, the keyboard shortcuts, ♻️ on the selected image, the
gallery's fit, the 1280×800 layout, and the partial image that Interrupt leaves."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests.support import copy_checkpoint
from tests.ui.conftest import set_number

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def folder(tmp_path_factory, tiny_checkpoint):
    folder = tmp_path_factory.mktemp("a1111-page") / "data" / "models" / "Stable-diffusion"
    folder.mkdir(parents=True)
    copy_checkpoint(tiny_checkpoint, folder / "aaa-first.safetensors")
    return folder


@pytest.fixture(scope="module")
def server(start_module_server, folder):
    return start_module_server(folder.parents[1])


@pytest.fixture
def small(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    yield page
    context.close()


def open_page(page, server) -> None:
    page.goto(server.url + "/", wait_until="load")
    page.wait_for_selector("#txt2img_prompt textarea")
    page.wait_for_selector("#html_info_txt2img", state="attached")


def wait_for_checkpoint(server, prefix: str) -> None:
    deadline = time.monotonic() + 60
    while not server.ping()["checkpoint"].startswith(prefix) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert server.ping()["checkpoint"].startswith(prefix)


def checkpoint_shown(page) -> str:
    return page.input_value("#setting_sd_model_checkpoint input")


def choose_checkpoint(page, option: str) -> None:
    page.click("#setting_sd_model_checkpoint input")
    page.click(f"ul[role=listbox] li:has-text('{option}')")


def refresh_and_choose(page, option: str) -> None:
    """🔄 then choose `option`: the refreshed choices arrive asynchronously (and the page-load update may land
    after the click), so open the list until the new file is in it."""
    for _ in range(5):
        page.click("#refresh_sd_model_checkpoint")
        page.wait_for_timeout(500)
        page.click("#setting_sd_model_checkpoint input")
        item = page.locator(f"ul[role=listbox] li:has-text('{option}')")
        try:
            item.wait_for(timeout=3000)
        except PlaywrightTimeout:
            page.keyboard.press("Escape")
            continue
        item.click()
        return
    raise AssertionError(f"{option} never appeared in the checkpoint list after refreshing")


def toasts(page) -> list[str]:
    return page.locator(".toast-body").all_inner_texts()


def small_job(page, prompt: str = "a cat", steps: int = 1, width: int = 64, height: int = 64) -> None:
    page.fill("#txt2img_prompt textarea", prompt)
    for elem_id, number in (("txt2img_steps", steps), ("txt2img_width", width), ("txt2img_height", height)):
        set_number(page, elem_id, number)


def test_a_checkpoint_added_after_start_is_chosen_without_error_and_a_new_page_shows_it(server, folder, page,
                                                                                          browser):
    from webui.model_manager.demo import TinySD1Spec, write_tiny_checkpoint

    open_page(page, server)
    added = folder / "new-added.safetensors"
    write_tiny_checkpoint(added, TinySD1Spec(seed=5))
    try:
        refresh_and_choose(page, "new-added.safetensors")
        wait_for_checkpoint(server, "new-added.safetensors [")
        page.wait_for_function("document.querySelector('#setting_sd_model_checkpoint input').value"
                               ".startsWith('new-added.safetensors [')")
        small_job(page)  # an event that sends the dropdown's value: it must still be one of its choices
        page.click("#txt2img_generate")
        page.wait_for_selector("#txt2img_gallery img", timeout=60_000)
        assert toasts(page) == []
        assert page.locator("#setting_sd_model_checkpoint .error").count() == 0
        other = browser.new_page()  # item 2: a new page shows the checkpoint in use, not the one at start
        open_page(other, server)
        other.wait_for_function("document.querySelector('#setting_sd_model_checkpoint input').value"
                                ".startsWith('new-added.safetensors [')", timeout=10_000)
        other.close()
    finally:
        page.reload(wait_until="load")
        page.wait_for_selector("#setting_sd_model_checkpoint input")
        choose_checkpoint(page, "aaa-first.safetensors")
        wait_for_checkpoint(server, "aaa-first.safetensors [")
        added.unlink()
    assert toasts(page) == []


def test_ctrl_enter_generates_and_escape_interrupts_with_the_partial_image(server, page):
    open_page(page, server)
    small_job(page, "keyboard")
    page.press("#txt2img_prompt textarea", "Control+Enter")
    page.wait_for_selector("#txt2img_gallery img", timeout=60_000)
    page.wait_for_function("document.querySelector('#html_info_txt2img').innerText.includes('Steps: 1')")
    set_number(page, "txt2img_steps", 150)
    set_number(page, "txt2img_width", 128)
    page.press("#txt2img_prompt textarea", "Control+Enter")
    page.wait_for_selector("#txt2img_interrupt", state="visible", timeout=10_000)
    reached = "(document.querySelector('#txt2img_progress').innerText.match(/step (\\d+)\\//) || [0, 0])[1] >= 3"
    page.wait_for_function(reached, timeout=30_000)  # mid-sampling: A1111 then shows the image reached so far
    page.keyboard.press("Escape")
    page.wait_for_function("document.querySelector('#html_info_txt2img').innerText.includes('Interrupted')",
                           timeout=30_000)
    # item 8: the image the interrupted job reached is shown, with its infotext (A1111 shows the partial image)
    assert page.locator("#txt2img_gallery img").count() >= 1, page.inner_text("#html_info_txt2img")
    assert "Size: 128x64" in page.inner_text("#html_info_txt2img")
    page.wait_for_selector("#txt2img_interrupt", state="hidden", timeout=10_000)


def test_ctrl_arrows_change_the_attention_weight(server, page):
    open_page(page, server)
    box = "#txt2img_prompt textarea"
    page.fill(box, "1girl, red hair, smile")
    page.evaluate("""() => { const box = document.querySelector('#txt2img_prompt textarea');
                             box.focus(); box.setSelectionRange(7, 15); }""")  # "red hair"
    page.keyboard.press("Control+ArrowUp")
    assert page.input_value(box) == "1girl, (red hair:1.1), smile"
    page.keyboard.press("Control+ArrowUp")
    assert page.input_value(box) == "1girl, (red hair:1.2), smile"
    page.keyboard.press("Control+ArrowDown")
    page.keyboard.press("Control+ArrowDown")
    assert page.input_value(box) == "1girl, red hair, smile"
    page.evaluate("""() => { const box = document.querySelector('#txt2img_prompt textarea');
                             box.focus(); box.setSelectionRange(18, 18); }""")  # the cursor inside "smile"
    page.keyboard.press("Control+ArrowDown")
    assert page.input_value(box) == "1girl, red hair, (smile:0.9)"


def test_reuse_seed_takes_the_selected_image_and_the_gallery_keeps_aspect_ratios(server, page):
    open_page(page, server)
    small_job(page, "portrait", width=64, height=192)
    set_number(page, "txt2img_batch_size", 2)
    page.fill("#txt2img_seed input", "100")
    page.click("#txt2img_generate")
    page.wait_for_function("document.querySelector('#html_info_txt2img').innerText.includes('Seed: 100')",
                           timeout=60_000)
    thumbnails = page.locator("#txt2img_gallery .thumbnail-item")
    thumbnails.last.click()  # the second image of the batch: seed 101
    page.wait_for_function("document.querySelector('#html_info_txt2img').innerText.includes('Seed: 101')")
    page.click("#txt2img_reuse_seed")
    page.wait_for_function("document.querySelector('#txt2img_seed input').value === '101'", timeout=5_000)
    # item 5: a 64×192 portrait is shown whole (contain), at its own aspect ratio, not cropped to the cell
    fits = page.evaluate("""() => Array.from(document.querySelectorAll('#txt2img_gallery img')).map(img => {
        const fit = getComputedStyle(img).objectFit;
        return {fit, natural: img.naturalWidth / img.naturalHeight};
    })""")
    assert fits and all(entry["fit"] in ("contain", "scale-down") for entry in fits), fits
    set_number(page, "txt2img_batch_size", 1)


def test_1280x800_shows_the_first_result_without_scrolling(server, small, artifacts):
    open_page(small, server)
    assert not small.locator("#txt2img_interrupt").is_visible()  # shown only while a job runs, as in A1111
    assert not small.locator("#txt2img_skip").is_visible()
    small_job(small, "layout")
    small.click("#txt2img_generate")
    small.wait_for_selector("#txt2img_gallery img", timeout=60_000)
    small.wait_for_function("document.querySelector('#html_info_txt2img').innerText.includes('Steps: 1')")
    small.screenshot(path=artifacts("layout"))
    box = small.locator("#txt2img_gallery img").first.bounding_box()
    assert small.evaluate("window.scrollY") == 0
    assert box is not None and box["y"] >= 0 and box["y"] + box["height"] <= 800, box
    toprow = small.locator("#txt2img_toprow").bounding_box()
    assert toprow is not None and toprow["height"] <= 220, toprow


def test_a_corrupt_checkpoint_is_reported_once(server, folder, page):
    broken = folder / "broken.safetensors"
    broken.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all}")
    try:
        open_page(page, server)
        refresh_and_choose(page, "broken.safetensors")
        page.wait_for_selector(".toast-body", timeout=30_000)
        page.wait_for_timeout(1500)  # a second report would be there by now
        shown = toasts(page)
        assert len(shown) == 1 and shown[0].count("broken.safetensors") == 1, shown
        assert "corrupt" in shown[0]
        page.wait_for_function("document.querySelector('#setting_sd_model_checkpoint input').value"
                               ".startsWith('aaa-first.safetensors [')")
    finally:
        broken.unlink()
