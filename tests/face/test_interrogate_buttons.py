"""The img2img Interrogate buttons' handler: the open sub-tab's image, and a page error naming the model files."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import gradio as gr
import pytest
from PIL import Image

from webui.ui.interrogate_buttons import image_of_mode, make_interrogate_handler


def test_the_open_sub_tabs_image_is_interrogated():
    first, second, third = (Image.new("RGB", (8, 8)) for _ in range(3))
    assert image_of_mode("img2img", first, {"background": second}, third) is first
    assert image_of_mode("inpaint", first, {"background": second}, third) is second
    assert image_of_mode("inpaint upload", first, {"background": second}, third) is third


def test_missing_models_are_a_page_error_naming_them(tmp_path: Path):
    app = SimpleNamespace(paths=SimpleNamespace(root=tmp_path))
    with pytest.raises(gr.Error, match=r"model-resnet_custom_v3\.pt in .*torch_deepdanbooru"):
        make_interrogate_handler(app, "deepdanbooru")("img2img", Image.new("RGB", (8, 8)), None, None, "")
    with pytest.raises(gr.Error, match="upload an image first"):
        make_interrogate_handler(app, "clip")("img2img", None, None, None, "")
