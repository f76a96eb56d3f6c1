"""The img2img tab and the Hires. fix accordion in a real browser (Chromium via Playwright, app.py on 127.0.0.1)."""

from __future__ import annotations

from datetime import date

import pytest
from PIL import Image, ImageDraw

from tests.ui.conftest import new_files, set_number
from webui.infotext.png import read_infotext

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """The module's data: no checkpoint (the demo model is written), an embedding and a LoRA for the cards."""
    import safetensors.torch
    import torch

    from tests.support.networks import write_a1111_embedding
    from webui.model_manager.demo import TinySD1Spec

    data_dir = tmp_path_factory.mktemp("img2img") / "data"
    (data_dir / "embeddings").mkdir(parents=True)
    write_a1111_embedding(data_dir / "embeddings" / "easynegative.safetensors", TinySD1Spec().text_hidden)
    (data_dir / "models" / "Lora").mkdir(parents=True)
    safetensors.torch.save_file({"lora_unet_x.alpha": torch.tensor(1.0)},
                                str(data_dir / "models" / "Lora" / "flatcolor.safetensors"))
    return data_dir


@pytest.fixture(scope="module")
def server(start_module_server, data_dir):
    """One server for the module: these tests change no setting and count only the images they made."""
    return start_module_server(data_dir)


def saved_images(data_dir, folder):
    """The images saved in `folder` from now on (call the returned function)."""
    return new_files(data_dir / "outputs" / folder / date.today().isoformat())


def fill_prompt_and_size(page, tab, prompt):
    page.fill(f"#{tab}_prompt textarea", prompt)
    set_number(page, f"{tab}_steps", 4)
    set_number(page, f"{tab}_width", 64)
    set_number(page, f"{tab}_height", 64)
    page.fill(f"#{tab}_seed input", "77")


def test_img2img_and_inpaint_upload_in_the_browser(server, data_dir, page, tmp_path):
    made = saved_images(data_dir, "img2img-images")
    init = tmp_path / "init.png"
    picture = Image.new("RGB", (80, 80), (30, 90, 200))
    ImageDraw.Draw(picture).ellipse((20, 20, 60, 60), fill=(240, 200, 40))
    picture.save(init)
    mask = tmp_path / "mask.png"
    mask_image = Image.new("L", (80, 80), 0)
    mask_image.paste(255, (0, 0, 40, 80))
    mask_image.save(mask)

    page.goto(server.url + "/", wait_until="load")
    page.get_by_role("tab", name="img2img", exact=True).first.click()
    page.wait_for_selector("#img2img_image")  # tabs render when first shown
    for elem_id in ("img2img_image", "resize_mode", "img2img_denoising_strength", "img2img_script_list",
                    "img2img_gallery", "img2img_generate", "save_img2img", "img2img_send_to_inpaint"):
        assert page.locator(f"#{elem_id}").count() == 1, elem_id
    assert page.locator("#img2img_mask_blur").count() == 0  # the inpaint controls: on the inpaint tabs only
    page.set_input_files("#img2img_image input[type=file]", str(init))
    page.wait_for_selector("#img2img_image img")
    fill_prompt_and_size(page, "img2img", "1girl, (blue sky:1.2)")
    page.click("#img2img_generate")
    page.wait_for_selector("#img2img_gallery img", timeout=60_000)
    page.wait_for_function("document.querySelector('#html_info_img2img').innerText.includes('Seed: 77')")
    (first,) = made()
    text = read_infotext(first)
    assert text.startswith("1girl, (blue sky:1.2)\nSteps: 4, Sampler: DPM++ 2M, Schedule type: Karras, ")
    assert "Size: 64x64" in text and "Denoising strength: 0.75" in text and "Mask blur" not in text

    page.get_by_role("tab", name="Inpaint upload").click()
    for elem_id in ("img2img_mask_blur", "img2img_inpainting_fill", "img2img_inpaint_full_res"):
        page.wait_for_selector(f"#{elem_id}")
        assert page.locator(f"#{elem_id}").count() == 1, elem_id
    page.set_input_files("#img_inpaint_base input[type=file]", str(init))
    page.set_input_files("#img_inpaint_mask input[type=file]", str(mask))
    page.wait_for_selector("#img_inpaint_mask img")
    page.click("#img2img_generate")
    page.wait_for_function("document.querySelector('#html_info_img2img').innerText.includes('Mask blur: 4')",
                           timeout=60_000)
    second = [path for path in made() if path != first]
    assert len(second) == 1 and "Mask blur: 4" in read_infotext(second[0])
    with Image.open(second[0]) as result:
        assert result.size == (64, 64)
        assert result.convert("RGB").getpixel((60, 5)) == picture.resize((64, 64), Image.Resampling.LANCZOS) \
            .getpixel((60, 5))  # the unmasked right half is the (resized) init image


def test_hires_fix_in_the_browser(server, data_dir, page):
    made = saved_images(data_dir, "txt2img-images")
    page.goto(server.url + "/", wait_until="load")
    fill_prompt_and_size(page, "txt2img", "scenery")
    page.click("#txt2img_hr")  # open the accordion
    page.check("#txt2img_enable_hr input")
    set_number(page, "txt2img_hires_steps", 2)
    page.click("#txt2img_generate")
    page.wait_for_function("document.querySelector('#html_info_txt2img').innerText.includes('Hires upscale: 2')",
                           timeout=60_000)
    (saved,) = made()
    with Image.open(saved) as image:
        assert image.size == (128, 128)
    assert "Size: 64x64" in read_infotext(saved) and "Hires upscaler: Latent" in read_infotext(saved)


def test_extra_network_cards_insert_their_tags(server, page):
    """The module's data dir holds easynegative (an embedding) and flatcolor (a LoRA)."""
    page.goto(server.url + "/", wait_until="load")
    page.fill("#txt2img_prompt textarea", "1girl,")
    page.click("#txt2img_extra_networks")
    page.get_by_role("tab", name="Lora").first.click()
    page.locator("#txt2img_lora_cards").get_by_text("flatcolor").click()
    page.wait_for_function(
        "document.querySelector('#txt2img_prompt textarea').value === '1girl, <lora:flatcolor:1>'")
    page.get_by_role("tab", name="Textual Inversion").first.click()
    page.locator("#txt2img_textual_inversion_cards").get_by_text("easynegative").click()
    page.wait_for_function(
        "document.querySelector('#txt2img_prompt textarea').value === '1girl, <lora:flatcolor:1>, easynegative'")


def wait_until_shown(page, element, colour, timeout=30.0) -> bool:
    """The editor draws an uploaded picture asynchronously and says nothing when done: look at the pixels."""
    import io
    import time

    import numpy as np

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        shot = np.asarray(Image.open(io.BytesIO(element.screenshot())).convert("RGB"), dtype=np.int16)
        if (np.abs(shot - np.array(colour)).max(axis=2) < 12).mean() > 0.01:
            page.wait_for_timeout(300)
            return True
        page.wait_for_timeout(100)
    return False


def test_inpaint_with_a_mask_drawn_in_the_browser(server, data_dir, page, tmp_path, artifacts):
    made = saved_images(data_dir, "img2img-images")
    init = tmp_path / "init.png"
    Image.new("RGB", (64, 64), (30, 90, 200)).save(init)
    page.goto(server.url + "/", wait_until="load")
    page.get_by_role("tab", name="img2img", exact=True).first.click()
    page.get_by_role("tab", name="Inpaint", exact=True).click()
    page.locator("#img2maskimg").wait_for(state="visible")
    with page.expect_file_chooser() as chooser:  # as a user does: the editor's own Upload button
        page.locator("#img2maskimg button[aria-label=Upload]").click()
    chooser.value.set_files(str(init))
    if not wait_until_shown(page, page.locator("#img2maskimg"), (30, 90, 200)):
        page.screenshot(path=artifacts("editor-empty"))
        raise AssertionError("the image editor never showed the uploaded picture")
    canvas = page.locator("#img2maskimg canvas").last
    page.locator("#img2maskimg button[aria-label=Brush]").click()
    box = canvas.bounding_box()
    assert box is not None
    # a stroke across the left part of the picture
    page.mouse.move(box["x"] + box["width"] * 0.2, box["y"] + box["height"] * 0.3)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.25, box["y"] + box["height"] * 0.7, steps=8)
    page.mouse.up()
    fill_prompt_and_size(page, "img2img", "a red flower")
    page.click("#img2img_generate")
    try:
        page.wait_for_function("document.querySelector('#html_info_img2img').innerText.includes('Mask blur: 4')",
                               timeout=60_000)
    except Exception:  # say what the page showed instead (an error toast, a progress bar), with a screenshot
        page.screenshot(path=artifacts("inpaint-drawn-no-result"))
        shown = page.evaluate("document.body.innerText.slice(0, 2000)")
        raise AssertionError(f"no inpaint result; the page showed: {shown}") from None
    (saved,) = made()
    with Image.open(saved) as result:
        assert result.convert("RGB").getpixel((60, 60)) == (30, 90, 200)  # far from the stroke: untouched


def test_gallery_image_goes_to_img2img_with_its_parameters(server, data_dir, page):
    logged = new_files(data_dir / "log" / "images")
    page.goto(server.url + "/", wait_until="load")
    fill_prompt_and_size(page, "txt2img", "castle on a hill")
    page.click("#txt2img_generate")
    page.wait_for_function("document.querySelector('#html_info_txt2img').innerText.includes('Seed: 77')",
                           timeout=60_000)
    page.click("#save_txt2img")
    page.wait_for_function("document.querySelector('#txt2img_progress').innerText.includes('Saved to log/images/')")
    assert len(logged()) == 1
    page.click("#txt2img_send_to_img2img")
    page.wait_for_function("(document.querySelector('#img2img_prompt textarea') || {}).value === 'castle on a hill'")
    page.wait_for_selector("#img2img_image img")
    assert page.locator("#img2img_seed input").input_value() == "77"
    page.click("#img2img_generate")
    page.wait_for_function("document.querySelector('#html_info_img2img').innerText.includes('Denoising strength')",
                           timeout=60_000)


def test_interrogate_deepbooru_writes_the_tags_into_the_prompt(server, data_dir, page, tmp_path):
    """The 📦 button without the model: an error naming the file; with it (a tiny DeepDanbooru whose scores are
    known), the tags replace the prompt, formatted as A1111 does by default."""
    from tests.interrogate.deepbooru_fixtures import write_tiny_deepbooru

    picture = tmp_path / "picture.png"
    Image.new("RGB", (64, 64), (200, 120, 40)).save(picture)
    page.goto(server.url + "/", wait_until="load")
    page.get_by_role("tab", name="img2img", exact=True).first.click()
    page.wait_for_selector("#img2img_image")
    page.set_input_files("#img2img_image input[type=file]", str(picture))
    page.wait_for_selector("#img2img_image img")
    page.fill("#img2img_prompt textarea", "my old prompt")
    page.click("#deepbooru")
    page.wait_for_selector(".toast-body", timeout=30_000)
    assert "model-resnet_custom_v3.pt in" in " ".join(page.locator(".toast-body").all_inner_texts())
    weights = data_dir / "models" / "torch_deepdanbooru" / "model-resnet_custom_v3.pt"
    write_tiny_deepbooru(weights, ["1girl", "long_hair", "smile_(happy)", "rating:safe", "cat"],
                         ["smile_(happy)", "1girl", "rating:safe", "long_hair"])
    try:
        page.click("#deepbooru")
        page.wait_for_function("document.querySelector('#img2img_prompt textarea').value.includes('long hair')",
                               timeout=60_000)
        assert page.input_value("#img2img_prompt textarea") == r"1girl, long hair, smile \(happy\)"
    finally:
        weights.unlink()
