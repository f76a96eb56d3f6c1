"""The img2img tab's "Interrogate CLIP" and "Interrogate DeepBooru" buttons (A1111's elem_ids `interrogate` and
`deepbooru`): the image of the open sub-tab → a prompt.

The handler maps the page to an interrogation job and back: missing model files are a `gr.Error` naming each
file and its folder, as the API's 422 does; the caption replaces the prompt, as in A1111.
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from webui.app_context import App
from webui.engine.interrogate import CLIP, DEEPBOORU
from webui.engine.interrogators import InterrogateSpec
from webui.errors import KestrelError
from webui.jobs.tasks import job_result
from webui.ui.callers import ui_owner


def image_of_mode(mode: str, init_image: Any, sketch: Any, upload_image: Any) -> Any:
    """The picture the user is looking at: the img2img image, the inpaint canvas's background or the upload."""
    if mode == "inpaint":
        return (sketch or {}).get("background")
    if mode == "inpaint upload":
        return upload_image
    return init_image


def make_interrogate_handler(app: App, model: str):
    async def interrogate(mode, init_image, sketch, upload_image, prompt, request: gr.Request):
        """The caption replaces the prompt, as in A1111; the work waits its turn in the queue as the user's job."""
        image = image_of_mode(mode, init_image, sketch, upload_image)
        if image is None:
            raise gr.Error("Interrogate: upload an image first")
        try:
            job = app.submit_interrogate(InterrogateSpec(image, model), ui_owner(app, request))
            return str(await job_result(job))
        except KestrelError as error:
            raise gr.Error(str(error)) from error

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
