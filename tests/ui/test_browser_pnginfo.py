"""PNG Info → Send to txt2img → Generate reproduces the parameters; the ↙️ paste button; in a real browser."""

from __future__ import annotations

from datetime import date

import pytest
from PIL import Image

from tests.ui.conftest import new_files
from webui.infotext.png import png_bytes_with_infotext, read_infotext

pytestmark = pytest.mark.browser
STYLES = 'name,prompt,negative_prompt\nanime,"masterpiece, {prompt}",lowres\n'

INFOTEXT = ("1girl, silver hair, <lora:missing:0.5>\nNegative prompt: lowres, bad hands\n"
            "Steps: 3, Sampler: Euler a, Schedule type: Automatic, CFG scale: 6.5, Seed: 424242, Size: 64x96, "
            "Model hash: 0123456789, Model: somewhere, Denoising strength: 0.6, Clip skip: 2, Hires upscale: 1.5, "
            'Hires steps: 2, Hires upscaler: Latent (nearest), Lora hashes: "missing: 0123456789ab", '
            "Version: v1.10.1")


def value(page, selector):
    return page.locator(selector).input_value()


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """The module's data: the demo model (no checkpoint) and one style, "anime"."""
    data_dir = tmp_path_factory.mktemp("pnginfo") / "data"
    data_dir.mkdir()
    (data_dir / "styles.csv").write_text(STYLES, encoding="utf-8")
    return data_dir


@pytest.fixture(scope="module")
def server(start_module_server, data_dir):
    """One server for the tests that change no setting (the pasted-hash tests start their own, with their config)."""
    return start_module_server(data_dir)


def outputs(data_dir, kind):
    return data_dir / "outputs" / kind / date.today().isoformat()


def test_png_info_send_to_txt2img_and_generate_again(server, data_dir, page, tmp_path, artifacts):
    made = new_files(outputs(data_dir, "txt2img-images"))
    source = tmp_path / "old.png"
    source.write_bytes(png_bytes_with_infotext(Image.new("RGB", (64, 96), (9, 9, 9)), INFOTEXT))
    page.goto(server.url + "/", wait_until="load")
    page.get_by_role("tab", name="PNG Info").click()
    page.set_input_files("#pnginfo_image input[type=file]", str(source))
    page.wait_for_function("document.querySelector('#pnginfo_html_info').innerText.includes('Seed: 424242')")
    page.screenshot(path=artifacts("pnginfo"))
    page.click("#txt2img_tab")
    page.wait_for_function("document.querySelector('#txt2img_prompt textarea').value.startsWith('1girl')")
    assert value(page, "#txt2img_neg_prompt textarea") == "lowres, bad hands"
    assert value(page, "#txt2img_seed input") == "424242"
    assert value(page, "#txt2img_steps input[type=number]") == "3"
    assert value(page, "#txt2img_height input[type=number]") == "96"
    assert value(page, "#txt2img_sampling input") == "Euler a"
    assert value(page, "#setting_CLIP_stop_at_last_layers input[type=number]") == "2"
    page.click("#txt2img_hr")  # open the Hires. fix accordion
    assert page.locator("#txt2img_enable_hr input").is_checked()
    assert value(page, "#txt2img_hr_scale input[type=number]") == "1.5"
    page.click("#txt2img_generate")
    page.wait_for_function("document.querySelector('#html_info_txt2img').innerText.includes('Seed: 424242')",
                           timeout=60_000)
    (saved,) = made()
    text = read_infotext(saved)
    assert text.startswith("1girl, silver hair, <lora:missing:0.5>\nNegative prompt: lowres, bad hands\n"
                           "Steps: 3, Sampler: Euler a, Schedule type: Automatic, CFG scale: 6.5, Seed: 424242, "
                           "Size: 64x96, ")
    assert "Denoising strength: 0.6, Clip skip: 2, Hires upscale: 1.5, Hires steps: 2, " \
           "Hires upscaler: Latent (nearest)" in text
    with Image.open(saved) as image:
        assert image.size == (96, 144)
    page.screenshot(path=artifacts("regenerated"))


def test_paste_button_reads_an_infotext_from_the_prompt_box(server, page):
    page.goto(server.url + "/", wait_until="load")
    page.get_by_role("tab", name="img2img", exact=True).first.click()
    old = INFOTEXT.replace("Sampler: Euler a, Schedule type: Automatic", "Sampler: DPM++ 2M Karras") \
        .replace("Denoising strength: 0.6", "Denoising strength: 0.35, Mask blur: 9")
    page.fill("#img2img_prompt textarea", old)
    page.click("#img2img_paste")
    page.wait_for_function("document.querySelector('#img2img_prompt textarea').value === "
                           "'1girl, silver hair, <lora:missing:0.5>'")
    assert value(page, "#img2img_sampling input") == "DPM++ 2M"
    assert value(page, "#img2img_scheduler input") == "Karras"
    assert value(page, "#img2img_denoising_strength input[type=number]") == "0.35"
    page.get_by_role("tab", name="Inpaint", exact=True).click()  # the inpaint controls show on its tabs only
    page.wait_for_selector("#img2img_mask_blur input[type=number]")
    assert value(page, "#img2img_mask_blur input[type=number]") == "9"


def test_a_style_is_saved_chosen_and_applied(server, data_dir, page):
    """Adds the style "my look" (there is no delete): no other test reads the styles."""
    page.goto(server.url + "/", wait_until="load")
    page.fill("#txt2img_prompt textarea", "1girl")
    page.click("#txt2img_styles input")
    page.click("ul[role=listbox] li:has-text('anime')")
    page.click("#txt2img_style_apply")
    page.wait_for_function("document.querySelector('#txt2img_prompt textarea').value === 'masterpiece, 1girl'")
    assert value(page, "#txt2img_neg_prompt textarea") == "lowres"
    page.fill("#txt2img_style_name input, #txt2img_style_name textarea", "my look")
    page.click("#txt2img_style_create")
    page.wait_for_function("document.querySelector('#txt2img_style_name textarea, #txt2img_style_name input')"
                           ".value === ''")
    saved = (data_dir / "styles.csv").read_text(encoding="utf-8").splitlines()
    assert saved[-1] == 'my look,"masterpiece, 1girl",lowres'
    page.wait_for_function("document.querySelector('#txt2img_prompt textarea').value === 'masterpiece, 1girl'")


def test_xyz_plot_makes_a_labelled_grid_of_jobs(server, data_dir, page, artifacts):
    made_grids = new_files(outputs(data_dir, "txt2img-grids"), "xyz_grid-*.png")
    made_singles = new_files(outputs(data_dir, "txt2img-images"))
    page.goto(server.url + "/", wait_until="load")
    page.fill("#txt2img_prompt textarea", "a cat")
    for elem_id, number in (("txt2img_steps", 2), ("txt2img_width", 64), ("txt2img_height", 64)):
        field = page.locator(f"#{elem_id} input[type=number]")
        field.fill(str(number))
        field.press("Enter")
    page.click("#txt2img_script_list input")
    page.click("ul[role=listbox] li:has-text('X/Y/Z plot')")
    page.click("#script_txt2img_xyz_plot_x_type input")
    page.click("ul[role=listbox] li:has-text('Prompt S/R')")
    page.fill("#script_txt2img_xyz_plot_x_values textarea, #script_txt2img_xyz_plot_x_values input", "cat, dog")
    page.click("#script_txt2img_xyz_plot_y_type input")
    page.click("ul[role=listbox] li:has-text('CFG Scale')")
    page.fill("#script_txt2img_xyz_plot_y_values textarea, #script_txt2img_xyz_plot_y_values input", "5, 9")
    page.click("#txt2img_generate")
    page.wait_for_function("document.querySelector('#html_info_txt2img').innerText.includes('X/Y/Z plot: 4 cells')",
                           timeout=90_000)
    page.screenshot(path=artifacts("xyz"))
    (grid,) = made_grids()
    singles = made_singles()
    assert len(singles) == 4
    prompts = sorted(read_infotext(path).split("\n")[0] for path in singles)
    assert prompts == ["a cat", "a cat", "a dog", "a dog"]
    assert sum("CFG scale: 9" in read_infotext(path) for path in singles) == 2
    with Image.open(grid) as image:
        assert image.width > 128 and image.height > 128  # two columns, two rows, plus label margins


@pytest.mark.parametrize("auto_swap", [False, True])
def test_pasted_model_hash_switches_the_checkpoint_only_when_allowed(start_server, page, tmp_path, tiny_checkpoint,
                                                                     auto_swap):
    """As in A1111, only checkpoints whose hash is known (here: both were loaded once) can be found by hash."""
    import hashlib
    import json
    import time

    from tests.support import copy_checkpoint
    from webui.model_manager.demo import TinySD1Spec, write_tiny_checkpoint

    data_dir = tmp_path / "data"
    folder = data_dir / "models" / "Stable-diffusion"
    folder.mkdir(parents=True)
    first = copy_checkpoint(tiny_checkpoint, folder / "aaa-first.safetensors")
    write_tiny_checkpoint(folder / "zzz-second.safetensors", TinySD1Spec(seed=3))
    short_hash = hashlib.sha256(first.read_bytes()).hexdigest()[:10]
    (data_dir / "config.json").write_text(json.dumps({"disable_weights_auto_swap": not auto_swap}))
    server = start_server(data_dir)
    page.goto(server.url + "/", wait_until="load")
    page.click("#setting_sd_model_checkpoint input")
    page.click("ul[role=listbox] li:has-text('zzz-second.safetensors')")
    wait_for_checkpoint(server, "zzz-second", 60)
    page.fill("#txt2img_prompt textarea", INFOTEXT.replace("Model hash: 0123456789", f"Model hash: {short_hash}"))
    page.click("#txt2img_paste")
    page.wait_for_function("document.querySelector('#txt2img_prompt textarea').value.startsWith('1girl')")
    if auto_swap:
        wait_for_checkpoint(server, "aaa-first", 60)
    else:
        time.sleep(2)
        assert server.ping()["checkpoint"].startswith("zzz-second")


def wait_for_checkpoint(server, prefix, seconds):
    import time

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not server.ping()["checkpoint"].startswith(prefix):
        time.sleep(0.3)
    assert server.ping()["checkpoint"].startswith(prefix)
