"""How the img2img tab turns Gradio's component values into a request (no browser needed)."""

import gradio as gr
import numpy as np
import pytest
from PIL import Image, ImageDraw

from webui.ui.extra_networks import add_to_prompt
from webui.ui.img2img_tab import img2img_from_inputs, mask_from_editor


def editor_value(strokes=True):
    background = Image.new("RGBA", (40, 30), (10, 20, 30, 255))
    layer = Image.new("RGBA", (40, 30), (0, 0, 0, 0))
    if strokes:
        ImageDraw.Draw(layer).rectangle((5, 5, 14, 14), fill=(255, 255, 255, 255))
    return {"background": background, "layers": [layer], "composite": background}


def test_the_brush_strokes_become_the_mask():
    mask = np.asarray(mask_from_editor(editor_value()))
    assert mask.shape == (30, 40) and mask[10, 10] == 255 and mask[25, 35] == 0
    assert mask_from_editor(editor_value(strokes=False)) is None
    assert mask_from_editor(None) is None


def test_inputs_by_sub_tab():
    init = Image.new("RGB", (32, 32))
    common = dict(resize_mode=1, denoising=0.4, mask_blur=2, mask_mode="Inpaint not masked", fill="latent noise",
                  area="Only masked", padding=16)
    plain = img2img_from_inputs("img2img", init, None, None, None, **common)
    assert plain.mask is None and plain.resize_mode == 1 and plain.denoising_strength == 0.4
    drawn = img2img_from_inputs("inpaint", None, editor_value(), None, None, **common)
    assert drawn.mask is not None and drawn.mask.invert and drawn.mask.only_masked and drawn.mask.fill == "latent noise"
    uploaded = img2img_from_inputs("inpaint upload", None, None, init, Image.new("L", (32, 32), 255), **common)
    assert uploaded.mask is not None and uploaded.mask.padding == 16
    with pytest.raises(gr.Error, match="draw a mask"):
        img2img_from_inputs("inpaint", None, editor_value(strokes=False), None, None, **common)
    with pytest.raises(gr.Error, match="upload an image first"):
        img2img_from_inputs("img2img", None, None, None, None, **common)


def test_tags_are_added_with_a1111_separators():
    assert add_to_prompt("", "<lora:a:1>") == "<lora:a:1>"
    assert add_to_prompt("1girl,", "x") == "1girl, x"
    assert add_to_prompt("1girl", "x") == "1girl, x"
