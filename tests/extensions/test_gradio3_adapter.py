"""The Gradio 3 → 6 adapter an A1111 extension sees while it builds its UI: Gradio 3 keywords translated or
dropped (and noted once), real Gradio 6 components returned, A1111's ui_components built from them."""

from __future__ import annotations

import gradio as gr

from webui.ui.gradio3_adapter import Gradio3Adapter


def test_components_are_gradio_6_components_built_from_gradio_3_keywords():
    notes: list[str] = []
    adapter = Gradio3Adapter("old-extension", notes)
    Button, Image, Box = (adapter.attribute(name) for name in ("Button", "Image", "Box"))
    with gr.Blocks() as page:
        with Box(elem_id="old_box"):
            image = Image(source="canvas", tool="sketch", type="pil", elem_id="old_image")
            button = Button("Go", variant="primary").style(full_width=True, size="lg")
        button.click(None, _js="() => 42")
    assert isinstance(button, gr.Button) and isinstance(button, Button) and type(button) is gr.Button
    assert image.sources == ["upload"] and image.type == "pil"
    assert isinstance(page.blocks[next(iter(page.blocks))], gr.Group)  # gr.Box is gr.Group in Gradio 6
    assert [fn.js for fn in page.fns.values()] == ["() => 42"]
    assert adapter.attribute("Dropdown").update(choices=["a"]) == {"choices": ["a"], "__type__": "update"}
    assert adapter.attribute("update") is gr.update
    assert notes == ["gr.Box → gr.Group", "source='canvas' → 'upload' (Gradio 6's gr.Image has no canvas)",
                     "source= → sources=", "Image(tool=...) dropped (not in Gradio 6)",
                     ".style(...) ignored (Gradio 6 has no .style)", "_js= → js="]
    Button("Again").style()
    assert len(notes) == len(set(notes)) == 6  # each adaptation noted (and logged) once per extension


def test_a1111_ui_components():
    adapter = Gradio3Adapter("old-extension")
    with gr.Blocks() as page:
        with adapter.ui_component("FormRow")(elem_id="row"):
            tool = adapter.ui_component("ToolButton")("🔄", elem_id="tool")
            multi = adapter.ui_component("DropdownMulti")(["a", "b"], value=["a"], label="many")
        with adapter.ui_component("InputAccordion")(True, label="Extra", elem_id="extra") as enabled:
            gr.Textbox(label="inside")
        box = gr.Dropdown(["x"], value="x")
        refresh = adapter.ui_component("create_refresh_button")(box, lambda: None, lambda: {"choices": ["x", "y"]},
                                                                "refresh_box")
    assert isinstance(page.blocks[next(iter(page.blocks))], gr.Row)
    assert isinstance(tool, gr.Button) and "tool" in tool.elem_classes and multi.multiselect
    assert isinstance(enabled, gr.Checkbox) and enabled.value is True and enabled.elem_id == "extra-checkbox"
    assert refresh.elem_id == "refresh_box" and len(page.fns) == 1
