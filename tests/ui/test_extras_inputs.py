"""The Extras tab's Batch Process reads each uploaded file; one that is no picture is named plainly."""

from __future__ import annotations

import gradio as gr
import pytest
from PIL import Image

from webui.ui.extras_tab import BATCH, extras_inputs


def test_batch_process_names_an_upload_that_is_no_image(tmp_path):
    good = tmp_path / "cat.png"
    Image.new("RGB", (8, 8), (1, 2, 3)).save(good)
    fake = tmp_path / "notes.png"
    fake.write_text("not a picture")
    assert [item.name for item in extras_inputs(None, BATCH, None, [str(good)], "")] == ["cat.png"]
    with pytest.raises(gr.Error) as raised:
        extras_inputs(None, BATCH, None, [str(good), str(fake)], "")
    assert "Batch Process: 'notes.png' is not an image that can be opened" in str(raised.value.message)
