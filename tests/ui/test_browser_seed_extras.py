"""The "Extra" seed row and Override settings in a real browser: an A1111 infotext with a variation seed, ENSD,
RNG and Eta pasted into txt2img comes back into the controls, and Generate writes the same keys again."""

from __future__ import annotations

from datetime import date

import pytest

from webui.infotext.png import read_infotext

pytestmark = pytest.mark.browser

INFOTEXT = ("1girl\nSteps: 3, Sampler: Euler a, Schedule type: Automatic, CFG scale: 6.5, Seed: 4242, Size: 64x64, "
            "Model hash: 0123456789, Model: somewhere, Variation seed: 77, Variation seed strength: 0.35, "
            "ENSD: 31337, RNG: CPU, Eta: 0.67, Version: v1.10.1")


def value(page, selector):
    return page.locator(selector).input_value()


def test_pasted_variation_seed_and_settings_are_generated_again(start_server, page, tmp_path, artifacts):
    data_dir = tmp_path / "data"
    server = start_server(data_dir)
    page.goto(server.url + "/", wait_until="load")
    page.fill("#txt2img_prompt textarea", INFOTEXT)
    page.click("#txt2img_paste")
    page.wait_for_function("document.querySelector('#txt2img_prompt textarea').value === '1girl'")
    assert page.locator("#txt2img_subseed_show input").is_checked()
    page.wait_for_selector("#txt2img_seed_extras", state="visible")
    assert value(page, "#txt2img_subseed input") == "77"
    assert value(page, "#txt2img_subseed_strength input[type=number]") == "0.35"
    overrides = page.locator("#txt2img_override_settings")
    overrides.wait_for(state="visible")
    for entry in ("Eta: 0.67", "ENSD: 31337", "RNG: CPU"):
        assert overrides.get_by_text(entry).count() >= 1, entry
    page.screenshot(path=artifacts("pasted"))
    page.click("#txt2img_generate")
    page.wait_for_function("document.querySelector('#html_info_txt2img').innerText.includes('Seed: 4242')",
                           timeout=60_000)
    (saved,) = sorted((data_dir / "outputs" / "txt2img-images" / date.today().isoformat()).glob("*.png"))
    text = read_infotext(saved)
    assert "Seed: 4242, Size: 64x64, " in text
    assert "Variation seed: 77, Variation seed strength: 0.35, ENSD: 31337, RNG: CPU" in text
    assert "Eta: 0.67" in text
