"""A1111's controls and messages (issue 22, items 7, 9 and 10's element ids), in a real browser against one shared
server: non-image uploads, the token counter, ⇅, 🗑️, the img2img tabs, Settings search, emoji button titles."""

from __future__ import annotations

from datetime import date

import pytest
from PIL import Image

from tests.ui.conftest import new_files, set_number
from webui.infotext.png import png_bytes_with_infotext

pytestmark = pytest.mark.browser
INFOTEXT = "1girl\nNegative prompt: lowres\nSteps: 3, Sampler: Euler a, CFG scale: 6.5, Seed: 424242, Size: 64x96"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("a1111-controls") / "data"


@pytest.fixture(scope="module")
def server(start_module_server, data_dir):
    return start_module_server(data_dir)


def open_page(page, server) -> None:
    page.goto(server.url + "/", wait_until="load")
    page.wait_for_selector("#txt2img_prompt textarea")
    page.wait_for_selector("#html_info_txt2img", state="attached")


def toasts(page) -> list[str]:
    return page.locator(".toast-body").all_inner_texts()


def test_a_file_that_is_no_image_is_named_once_and_nothing_else(server, page, tmp_path):
    fake = tmp_path / "notes.png"
    fake.write_text("these are my notes, not a picture")
    real = tmp_path / "real.png"
    real.write_bytes(png_bytes_with_infotext(Image.new("RGB", (64, 96), (9, 9, 9)), INFOTEXT))
    open_page(page, server)
    uploads = (("img2img", "#img2img_image"), ("Extras", "#extras_image"), ("PNG Info", "#pnginfo_image"))
    for tab, selector in uploads:
        page.get_by_role("tab", name=tab, exact=True).first.click()
        if tab == "PNG Info":  # an image with parameters first: the bad file must clear them
            page.set_input_files(f"{selector} input[type=file]", str(real))
            page.wait_for_function("document.querySelector('#pnginfo_html_info').innerText.includes('424242')")
        page.set_input_files(f"{selector} input[type=file]", str(fake))
        page.wait_for_selector(".toast-body", timeout=15_000)
        page.wait_for_timeout(700)  # a second toast would be there by now
        shown = toasts(page)
        assert len(shown) == 1, (tab, shown)
        assert "'notes.png' is not an image" in shown[0], (tab, shown)
        for internal in ("/tmp", "gradio", "preprocess", "ImageData", "index", "Traceback"):
            assert internal not in shown[0], (tab, shown)
        page.click("[data-testid=toast-close]")
        page.wait_for_selector(".toast-body", state="detached")
    page.wait_for_function("!document.querySelector('#pnginfo_html_info').innerText.includes('424242')")
    page.click("#txt2img_tab")  # "Send to txt2img": the old image's parameters are gone too
    page.wait_for_selector(".toast-body", timeout=15_000)
    assert "No generation parameters" in toasts(page)[0]


def wait_for_count(page, elem_id: str, text: str) -> None:
    page.wait_for_function(f"document.querySelector('#{elem_id} .token-count').innerText.trim() === {text!r}")


def test_token_counter_swap_and_clear(server, page):
    open_page(page, server)
    page.fill("#txt2img_prompt textarea", "a cat")
    wait_for_count(page, "txt2img_token_counter", "2/75")
    page.fill("#txt2img_prompt textarea", " ".join(["cat"] * 80))  # 80 tokens: a second chunk (75 + 5)
    wait_for_count(page, "txt2img_token_counter", "80/150 (75 + 5)")
    page.fill("#txt2img_neg_prompt textarea", "lowres, bad hands")
    wait_for_count(page, "txt2img_negative_token_counter", "5/75")  # low·res , bad hands
    set_number(page, "txt2img_width", 64)
    set_number(page, "txt2img_height", 128)
    page.click("#txt2img_res_switch_btn")
    page.wait_for_function("document.querySelector('#txt2img_width input[type=number]').value === '128'")
    assert page.input_value("#txt2img_height input[type=number]") == "64"
    page.click("#txt2img_clear_prompt")
    page.wait_for_function("document.querySelector('#txt2img_prompt textarea').value === ''")
    assert page.input_value("#txt2img_neg_prompt textarea") == ""


def test_img2img_tabs_resize_by_and_inpaint_controls_only_where_they_apply(server, data_dir, page, tmp_path):
    init = tmp_path / "init.png"
    Image.new("RGB", (64, 96), (200, 40, 40)).save(init)
    made = new_files(data_dir / "outputs" / "img2img-images" / date.today().isoformat())
    open_page(page, server)
    page.get_by_role("tab", name="img2img", exact=True).first.click()
    for name in ("img2img", "Sketch", "Inpaint", "Inpaint sketch", "Inpaint upload", "Batch"):
        assert page.locator("#mode_img2img [role=tab]", has_text=name).count() >= 1, name
    assert not page.locator("#inpaint_controls").is_visible()
    page.locator("#mode_img2img [role=tab]", has_text="Inpaint upload").click()
    page.wait_for_selector("#inpaint_controls", state="visible")
    page.locator("#mode_img2img [role=tab]", has_text="img2img").first.click()
    page.wait_for_selector("#inpaint_controls", state="hidden")
    page.set_input_files("#img2img_image input[type=file]", str(init))
    page.wait_for_selector("#img2img_image img")  # uploaded before Generate (as in test_browser_img2img.py)
    page.fill("#img2img_prompt textarea", "scaled")
    set_number(page, "img2img_steps", 1)
    page.get_by_role("tab", name="Resize by").click()
    page.fill("#img2img_scale input[type=number]", "1.5")
    page.press("#img2img_scale input[type=number]", "Enter")
    page.click("#img2img_generate")
    page.wait_for_function("document.querySelector('#html_info_img2img').innerText.includes('Size: 96x144')",
                           timeout=120_000)
    (saved,) = made()
    with Image.open(saved) as image:
        assert image.size == (96, 144)


def test_batch_reads_a_folder_inside_the_data_directory_only(server, data_dir, page, tmp_path):
    inputs = data_dir / "batch-in"
    inputs.mkdir(exist_ok=True)
    for name in ("one.png", "two.png"):
        Image.new("RGB", (64, 64), (10, 90, 10)).save(inputs / name)
    open_page(page, server)
    page.get_by_role("tab", name="img2img", exact=True).first.click()
    page.locator("#mode_img2img [role=tab]", has_text="Batch").click()
    set_number(page, "img2img_steps", 1)
    page.fill("#img2img_batch_input_dir textarea, #img2img_batch_input_dir input", str(tmp_path))
    page.click("#img2img_generate")
    page.wait_for_selector(".toast-body", timeout=15_000)
    assert "is outside" in toasts(page)[0]
    page.click("[data-testid=toast-close]")
    page.wait_for_selector(".toast-body", state="detached")
    page.fill("#img2img_batch_input_dir textarea, #img2img_batch_input_dir input", "batch-in")
    page.fill("#img2img_batch_output_dir textarea, #img2img_batch_output_dir input", str(data_dir / "outputs" / "b"))
    page.click("#img2img_generate")
    page.wait_for_function("document.querySelector('#html_info_img2img').innerText.includes('2 of 2 images done')",
                           timeout=120_000)
    assert sorted(path.name for path in (data_dir / "outputs" / "b").iterdir()) == ["one.png", "two.png"]


def test_settings_search_emoji_titles_and_unique_ids(server, page):
    open_page(page, server)
    page.wait_for_timeout(1500)  # the page's load events have run
    duplicates = page.evaluate("""() => { const seen = {};
        document.querySelectorAll('[id]').forEach(e => { seen[e.id] = (seen[e.id] || 0) + 1; });
        return Object.keys(seen).filter(id => id && seen[id] > 1 && !id.startsWith('component-')); }""")
    where = page.evaluate("""ids => ids.map(id => Array.from(document.querySelectorAll('[id="' + id + '"]')).map(e =>
        e.tagName + '.' + e.className + ' in ' + (e.parentElement.id || e.parentElement.className)))""", duplicates)
    assert duplicates == [], where
    untitled = page.evaluate("""() => Array.from(document.querySelectorAll('button')).filter(b =>
        /\\p{Extended_Pictographic}|⇅/u.test(b.textContent) && !b.title).map(b => b.id || b.textContent)""")
    assert untitled == [], untitled
    page.evaluate("kestrelEmojiFallback(true)")  # as on a machine without an emoji font
    assert page.inner_text("#txt2img_random_seed").strip() == "Random"
    page.evaluate("kestrelEmojiFallback(false)")
    assert page.inner_text("#txt2img_random_seed").strip() == "🎲"
    page.get_by_role("tab", name="Settings", exact=True).first.click()
    page.fill("#settings_search textarea, #settings_search input", "grid")
    page.wait_for_selector("#settings_search_results a.settings-search-hit")
    hits = page.locator("#settings_search_results a.settings-search-hit").all_inner_texts()
    assert len(hits) >= 2 and all("grid" in hit.lower() for hit in hits), hits
    target = page.locator("#settings_search_results a.settings-search-hit").first.get_attribute("data-setting")
    assert not page.locator(f"#{target}").is_visible()  # in another section than the open one
    page.locator("#settings_search_results a.settings-search-hit").first.click()
    page.wait_for_selector(f"#{target}", state="visible")
