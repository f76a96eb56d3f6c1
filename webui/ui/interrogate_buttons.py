"""The img2img tab's "Interrogate CLIP" and "Interrogate DeepBooru" buttons (A1111's elem_ids `interrogate` and
`deepbooru`): the image of the open sub-tab → a prompt.

The handler only maps the page to the engine's check and back: missing model files are a `gr.Error` naming each
file and its folder, as the API's 422 does. Until an interrogator is built, files in place give its 501 message.
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from webui.app_context import App
from webui.engine.interrogate import CLIP, DEEPBOORU, InterrogateFiles, check_interrogator
from webui.errors import KestrelError


def image_of_mode(mode: str, init_image: Any, sketch: Any, upload_image: Any) -> Any:
    """The picture the user is looking at: the img2img image, the inpaint canvas's background or the upload."""
    if mode == "inpaint":
        return (sketch or {}).get("background")
    if mode == "inpaint upload":
        return upload_image
    return init_image


def make_interrogate_handler(app: App, model: str):
    def interrogate(mode, init_image, sketch, upload_image, prompt):
        if image_of_mode(mode, init_image, sketch, upload_image) is None:
            raise gr.Error("Interrogate: upload an image first")
        try:
            check_interrogator(InterrogateFiles(app.paths.root), model)
        except KestrelError as error:
            raise gr.Error(str(error)) from error
        return prompt  # not reached until an interrogator is built: check_interrogator raises

    return interrogate


def build_interrogate_buttons(app: App, mode: gr.Textbox, init_image: gr.Image, sketch: gr.ImageEditor,
                              upload_image: gr.Image, prompt: gr.Textbox) -> tuple[gr.Button, gr.Button]:
    with gr.Row(elem_id="interrogate_col"):
        clip = gr.Button("Interrogate\nCLIP", elem_id="interrogate", elem_classes=["interrogate"], size="sm")
        booru = gr.Button("Interrogate\nDeepBooru", elem_id="deepbooru", elem_classes=["interrogate"], size="sm")
    inputs = [mode, init_image, sketch, upload_image, prompt]
    clip.click(make_interrogate_handler(app, CLIP), inputs=inputs, outputs=[prompt], show_progress="minimal")
    booru.click(make_interrogate_handler(app, DEEPBOORU), inputs=inputs, outputs=[prompt], show_progress="minimal")
    return clip, booru
