"""The Extras tab in a real browser: upload, choose a model upscaler, Generate; the PNG lands in
outputs/extras-images with its post-processing infotext; a batch of uploads keeps the file names; the hires
fix offers the model; the folder source is refused on a server that listens on the network."""

from __future__ import annotations

import pytest
from PIL import Image

from tests.support.upscaler_files import rrdb_new_layout, rrdb_old_layout, write_pth, write_safetensors
from tests.ui.conftest import set_number
from webui.infotext.png import png_bytes_with_infotext, read_png_text_chunks

pytestmark = pytest.mark.browser

# A1111's elem_ids, by the (lazily rendered) sub-tab that shows them
A1111_IDS = {
    None: ("extras_image", "extras_upscaling_resize", "extras_upscale_max_side_length", "extras_upscaler_1",
           "extras_upscaler_2", "extras_upscaler_2_visibility", "extras_generate"),
    "extras_batch_process_tab": ("extras_image_batch",),
    "extras_batch_directory_tab": ("extras_batch_input_dir", "extras_batch_output_dir", "extras_show_extras_results"),
    "extras_scale_to_tab": ("extras_upscaling_resize_w", "extras_upscaling_resize_h", "extras_upscaling_crop"),
}


TAB_IDS = ("tab_extras", "extras_single_tab", "extras_batch_process_tab", "extras_batch_directory_tab",
           "extras_scale_by_tab", "extras_scale_to_tab")  # Gradio renders a tab's button as <elem_id>-button


def assert_a1111_ids(page) -> None:
    for elem_id in TAB_IDS:
        assert page.locator(f"#{elem_id}-button").count() == 1, elem_id
    for tab, elem_ids in A1111_IDS.items():
        if tab is not None:
            page.click(f"#{tab}-button")
        for elem_id in elem_ids:
            page.wait_for_selector(f"#{elem_id}", state="attached", timeout=5_000)
            assert page.locator(f"#{elem_id}").count() == 1, elem_id
    page.click("#extras_single_tab-button")
    page.click("#extras_scale_by_tab-button")


def choose(page, elem_id: str, option: str) -> None:
    page.click(f"#{elem_id} input")
    page.click(f"ul[role=listbox] li:has-text('{option}')")
    page.wait_for_function(f"document.querySelector('#{elem_id} input').value === {option!r}")


def generate_and_wait(page, text: str, screenshot: str) -> None:
    """Click Generate and wait for `text` in the info panel; an error toast fails at once, with its message."""
    page.click("#extras_generate")
    condition = (f"document.querySelector('#html_info_extras').innerText.includes({text!r}) || "
                 "document.querySelector('.toast-body') !== null")
    try:
        page.wait_for_function(condition, timeout=90_000)
    finally:
        page.screenshot(path=screenshot, full_page=True)
    toasts = page.locator(".toast-body").all_inner_texts()
    assert text in page.inner_text("#html_info_extras"), toasts


@pytest.fixture
def data_dir(tmp_path):
    data = tmp_path / "data"
    write_safetensors(data / "models" / "RealESRGAN" / "RealESRGAN_x4plus_anime_6B.safetensors", rrdb_new_layout())
    write_pth(data / "models" / "ESRGAN" / "2x-Tiny.pth", rrdb_old_layout(scale=2))
    return data


def test_extras_single_image_and_batch(start_server, page, data_dir, tmp_path, artifacts):
    server = start_server(data_dir)
    source = tmp_path / "girl.png"
    source.write_bytes(png_bytes_with_infotext(Image.new("RGB", (48, 32), (240, 120, 40)), "1girl\nSteps: 3"))
    page.goto(server.url + "/", wait_until="load")
    page.wait_for_selector("#tab_extras-button")
    tab_names = page.locator("button[role=tab][id^=tab_]").all_inner_texts()
    assert tab_names[:4] == ["txt2img", "img2img", "Extras", "PNG Info"]  # A1111's order
    page.get_by_role("tab", name="Extras").click()
    assert_a1111_ids(page)
    page.set_input_files("#extras_image input[type=file]", str(source))
    page.wait_for_selector("#extras_image img")
    choose(page, "extras_upscaler_1", "R-ESRGAN 4x+ Anime6B")
    set_number(page, "extras_upscaling_resize", 2)
    generate_and_wait(page, "Postprocess upscaler", artifacts("single"))
    page.wait_for_selector("#extras_gallery img")
    folder = data_dir / "outputs" / "extras-images"
    (saved,) = sorted(folder.glob("*.png"))
    assert saved.name == "00000.png"
    infotext = "Postprocess upscale by: 2, Postprocess upscaler: R-ESRGAN 4x+ Anime6B"
    assert read_png_text_chunks(saved) == {"parameters": "1girl\nSteps: 3", "postprocessing": infotext,
                                           "extras": infotext}
    with Image.open(saved) as image:
        assert image.size == (96, 64)
    assert infotext in page.inner_text("#html_info_extras")

    second = tmp_path / "boy.png"
    second.write_bytes(png_bytes_with_infotext(Image.new("RGB", (32, 32), (10, 200, 90)), None))
    page.click("#extras_batch_process_tab-button")
    page.set_input_files("#extras_image_batch input[type=file]", [str(source), str(second)])
    page.wait_for_function("document.querySelectorAll('#extras_image_batch .file-preview tr, "
                           "#extras_image_batch tbody tr').length >= 2", timeout=30_000)
    page.click("#extras_scale_to_tab-button")
    set_number(page, "extras_upscaling_resize_w", 128)
    set_number(page, "extras_upscaling_resize_h", 64)
    choose(page, "extras_upscaler_1", "2x-Tiny")
    choose(page, "extras_upscaler_2", "Lanczos")
    set_number(page, "extras_upscaler_2_visibility", 0.5)
    generate_and_wait(page, "Postprocess crop to", artifacts("batch"))
    assert sorted(path.name for path in folder.glob("*.png")) == ["00000.png", "boy.png", "girl.png"]
    chunks = read_png_text_chunks(folder / "boy.png")
    assert chunks["postprocessing"] == ("Postprocess upscale to: 128x64, Postprocess crop to: 128x64, "
                                        "Postprocess upscaler: 2x-Tiny, Postprocess upscaler 2: Lanczos")
    with Image.open(folder / "girl.png") as image:
        assert image.size == (128, 64)


def test_hires_lists_models_and_folder_source_is_refused_when_non_local(start_server, page, data_dir):
    server = start_server(data_dir, "--server-name", "127.0.0.1")  # non-local by A1111's rule, bound to loopback
    page.goto(server.url + "/", wait_until="load")
    page.click("#txt2img_hr")
    page.click("#txt2img_hr_upscaler input")
    options = page.locator("ul[role=listbox] li").all_inner_texts()
    assert [option.strip() for option in options][-4:] == ["Lanczos", "Nearest", "2x-Tiny", "R-ESRGAN 4x+ Anime6B"]
    page.keyboard.press("Escape")
    page.get_by_role("tab", name="Extras").click()
    assert not page.locator("#extras_batch_directory_tab-button").is_visible()
