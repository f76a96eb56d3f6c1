"""The ControlNet accordion in a real browser: the extension's element ids, a module's sliders, the preprocessor
preview, Generate with a unit (its infotext entry), and an infotext pasted back into the unit's controls."""

from __future__ import annotations

import pytest

from tests.support.controlnet_files import tiny_controlnet, write_controlnet
from tests.ui.test_browser_extras import choose
from webui.model_manager.demo import TinySD1Spec

pytestmark = pytest.mark.browser
UNIT = "txt2img_controlnet_ControlNet-0"
PASTED = ('1girl\nSteps: 3, Sampler: Euler, Schedule type: Automatic, CFG scale: 7, Seed: 5, Size: 64x64, '
          'ControlNet 0: "Module: canny, Model: control_v11p_sd15_canny [00000000], Weight: 0.6, Resize Mode: '
          'Just Resize, Processor Res: 128, Threshold A: 90, Threshold B: 180, Guidance Start: 0.1, Guidance End: '
          '0.8, Pixel Perfect: False, Control Mode: My prompt is more important", Version: v1.10.1')


@pytest.fixture(scope="module")
def server(start_module_server, tmp_path_factory):
    data = tmp_path_factory.mktemp("cn-browser")
    write_controlnet(data / "models" / "ControlNet" / "control_v11p_sd15_canny.pth", tiny_controlnet(TinySD1Spec()),
                     "ldm.pth")
    return start_module_server(data)


def test_a_unit_runs_its_preprocessor_and_generates(server, page, tmp_path, artifacts):
    from PIL import Image, ImageDraw

    source = tmp_path / "square.png"
    image = Image.new("RGB", (64, 64))
    ImageDraw.Draw(image).rectangle((16, 16, 48, 48), fill=(255, 255, 255))
    image.save(source)
    page.goto(server.url + "/", wait_until="load")
    page.click("#txt2img_controlnet")
    page.set_input_files(f"#{UNIT}_input_image input[type=file]", str(source))
    page.click(f"#{UNIT}_controlnet_enable_checkbox input")
    choose(page, f"{UNIT}_controlnet_preprocessor_dropdown", "canny")
    page.wait_for_selector(f"#{UNIT}_controlnet_threshold_A_slider:has-text('Low Threshold')", state="visible")
    page.click(f"#{UNIT}_controlnet_preprocessor_preview_checkbox input")
    page.click(f"#{UNIT}_controlnet_trigger_preprocessor")
    page.wait_for_selector(f"#{UNIT}_generated_image img", state="visible", timeout=30_000)
    page.click(f"#{UNIT}_controlnet_model_dropdown input")
    page.click("ul[role=listbox] li:has-text('control_v11p_sd15_canny [')")
    for elem_id, value in (("txt2img_steps", "2"), ("txt2img_width", "64"), ("txt2img_height", "64")):
        page.fill(f"#{elem_id} input[type=number]", value)
        page.press(f"#{elem_id} input[type=number]", "Tab")
    page.screenshot(path=artifacts("unit"))
    page.click("#txt2img_generate")
    try:
        page.wait_for_function("document.querySelector('#html_info_txt2img').innerText.includes('ControlNet 0:')",
                               timeout=90_000)
    finally:
        page.screenshot(path=artifacts("generated"))
    info = page.inner_text("#html_info_txt2img")
    assert "Module: canny, Model: control_v11p_sd15_canny [" in info and "Threshold A: 100" in info


def test_a_pasted_infotext_fills_the_unit(server, page):
    page.goto(server.url + "/", wait_until="load")
    page.fill("#txt2img_prompt textarea", PASTED)
    page.click("#txt2img_paste")
    page.wait_for_function("document.querySelector('#txt2img_prompt textarea').value === '1girl'")
    page.click("#txt2img_controlnet")
    # ?.: the unit's checkbox may render after the click; a null would end the wait with a TypeError
    page.wait_for_function(f"document.querySelector('#{UNIT}_controlnet_enable_checkbox input')?.checked")
    assert page.input_value(f"#{UNIT}_controlnet_control_weight_slider input[type=number]") == "0.6"
    assert page.input_value(f"#{UNIT}_controlnet_preprocessor_dropdown input") == "canny"
    assert page.input_value(f"#{UNIT}_controlnet_model_dropdown input").startswith("control_v11p_sd15_canny [")
    assert page.is_checked(f"#{UNIT}_controlnet_control_mode_radio input[value='My prompt is more important']")
    assert page.is_checked(f"#{UNIT}_controlnet_resize_mode_radio input[value='Just Resize']")
