"""The PNG Info tab and every way an infotext reaches the generation controls: PNG Info's "Send to txt2img /
img2img / inpaint" buttons and the ↙️ button that reads an infotext pasted into a prompt box."""

from __future__ import annotations

import html
from dataclasses import dataclass

import gradio as gr
from PIL import Image

from webui.app_context import App
from webui.infotext.paste import generation_parameters, pasted_fields
from webui.infotext.png import image_text_items
from webui.ui.callers import ui_caller
from webui.ui.img2img_tab import Img2ImgHandles
from webui.ui.paste import PasteTargets
from webui.ui.top_row import TopRow
from webui.ui.txt2img_tab import Txt2ImgHandles
from webui.ui.uploads import is_readable_image, reject_non_images, uploaded_file


@dataclass
class PngInfoHandles:
    image: gr.Image
    parameters: gr.Textbox
    send_txt2img: gr.Button
    send_img2img: gr.Button
    send_inpaint: gr.Button


def text_items_html(items: dict[str, str]) -> str:
    if not items:
        return "<div><p>No generation parameters found in this image.</p></div>"
    parts = [f"<div><p><b>{html.escape(key)}</b></p><p>{html.escape(value).replace(chr(10), '<br>')}</p></div>"
             for key, value in items.items()]
    return "".join(parts)


def build_pnginfo_tab() -> PngInfoHandles:
    with gr.Row(equal_height=False):
        with gr.Column():
            image = gr.Image(label="Source", type="pil", elem_id="pnginfo_image", sources=["upload", "clipboard"],
                             image_mode=None, height=480)
            reject_non_images(image)
        with gr.Column():
            info = gr.HTML(elem_id="pnginfo_html_info")
            parameters = gr.Textbox(visible=False, elem_id="pnginfo_generation_info")
            with gr.Row():
                send_txt2img = gr.Button("Send to txt2img", elem_id="txt2img_tab")
                send_img2img = gr.Button("Send to img2img", elem_id="img2img_tab")
                send_inpaint = gr.Button("Send to inpaint", elem_id="inpaint_tab")

    def read(upload: dict | None):
        """The image's parameters; a new image, none, or a file that is no image (the upload check names it)
        clears the previous ones. Reads the raw upload: Gradio's own opening would fail on a non-image."""
        path, _name = uploaded_file(image, upload)
        if path is None or not is_readable_image(path):
            return "", ""
        with Image.open(path) as picture:
            items = image_text_items(picture)
        return text_items_html(items), items.get("parameters", "")

    image.change(read, inputs=[image], outputs=[info, parameters], show_progress="hidden", preprocess=False)
    return PngInfoHandles(image, parameters, send_txt2img, send_img2img, send_inpaint)


def _fields(text: str | None):
    if not text or not text.strip():
        raise gr.Error("No generation parameters to use: the image or the prompt box holds no infotext")
    return pasted_fields(generation_parameters(text))


def _with_admin(app: App, function):
    """A handler that also tells `function` whether the caller is an admin (who may switch the checkpoint)."""
    def handler(request: gr.Request, *values):
        return function(*values, ui_caller(app, request).is_admin)
    return handler


def wire_paste(app: App, main_tabs: gr.Tabs, top: TopRow, txt2img: Txt2ImgHandles, img2img: Img2ImgHandles,
               pnginfo: PngInfoHandles) -> None:
    txt2img_targets = PasteTargets(txt2img.row, txt2img.controls, top.clip_skip, top.checkpoint,
                                   hires=txt2img.hires, controlnet=txt2img.controlnet)
    img2img_targets = PasteTargets(img2img.row, img2img.controls, top.clip_skip, top.checkpoint,
                                   denoising=img2img.img2img.denoising, mask_blur=img2img.img2img.mask_blur,
                                   controlnet=img2img.controlnet)
    for targets in (txt2img_targets, img2img_targets):
        def paste(text, request: gr.Request, targets=targets):
            return targets.updates(app, _fields(text), ui_caller(app, request).is_admin)
        targets.row.paste.click(paste, inputs=[targets.row.prompt], outputs=targets.components(),
                                show_progress="hidden")

    def to_txt2img(text, request: gr.Request):
        return [*txt2img_targets.updates(app, _fields(text), ui_caller(app, request).is_admin),
                gr.Tabs(selected="txt2img")]
    pnginfo.send_txt2img.click(to_txt2img, inputs=[pnginfo.parameters],
                               outputs=[*txt2img_targets.components(), main_tabs], show_progress="hidden")
    images = img2img.images

    def to_img2img(text, picture, mode, may_switch: bool):
        if mode == "inpaint":
            image_updates = [gr.skip(), {"background": picture, "layers": [], "composite": picture}]
        else:
            image_updates = [picture, gr.skip()]
        return [*img2img_targets.updates(app, _fields(text), may_switch), *image_updates, mode, gr.Tabs(selected=mode),
                gr.Tabs(selected="img2img")]

    outputs = [*img2img_targets.components(), images.init_image, images.sketch, images.mode, images.tabs, main_tabs]

    def from_gallery(entries, selected, mode, may_switch):
        if not entries:
            raise gr.Error("Generate an image first: the gallery is empty")
        infotext, _seed, path = entries[min(max(0, selected), len(entries) - 1)]
        if not path:
            raise gr.Error("This image was not saved, so it cannot be sent")
        with Image.open(path) as picture:
            return to_img2img(infotext, picture.convert("RGB"), mode, may_switch)

    for panel in (txt2img.panel, img2img.panel):
        panel.send_to_img2img.click(_with_admin(app, lambda entries, selected, admin: from_gallery(
                                        entries, selected, "img2img", admin)),
                                    inputs=[panel.generation_info, panel.selected], outputs=outputs,
                                    show_progress="hidden")
        panel.send_to_inpaint.click(_with_admin(app, lambda entries, selected, admin: from_gallery(
                                        entries, selected, "inpaint", admin)),
                                    inputs=[panel.generation_info, panel.selected], outputs=outputs,
                                    show_progress="hidden")
    pnginfo.send_img2img.click(_with_admin(app, lambda text, picture, admin: to_img2img(text, picture, "img2img",
                                                                                         admin)),
                               inputs=[pnginfo.parameters, pnginfo.image], outputs=outputs, show_progress="hidden")
    pnginfo.send_inpaint.click(_with_admin(app, lambda text, picture, admin: to_img2img(text, picture, "inpaint",
                                                                                         admin)),
                               inputs=[pnginfo.parameters, pnginfo.image], outputs=outputs, show_progress="hidden")
