"""The img2img tab: A1111's sub-tabs img2img, Sketch, Inpaint (mask drawn with a brush), Inpaint sketch, Inpaint
upload (image + mask) and Batch (a folder, img2img_batch.py), the "Resize to" and "Resize by" tabs,
its resize modes, denoising strength and inpaint controls, with A1111's element ids and UI defaults."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace

import gradio as gr
import numpy as np
from PIL import Image

from webui.app_context import App
from webui.engine.img2img_images import INPAINT_AREAS, MASK_MODES
from webui.engine.request import INPAINT_FILL_MODES, RESIZE_MODES, GenerationRequest, Img2ImgInput, InpaintMask
from webui.ui.controlnet_ui import ControlNetControls, build_controlnet_accordion
from webui.ui.extra_networks import build_extra_networks
from webui.ui.generation_panel import (
    OutputPanel,
    PromptRow,
    SamplingControls,
    Values,
    base_request,
    build_output_panel,
    build_prompt_row,
    build_sampling_controls,
    wire_generation,
)
from webui.ui.img2img_batch import BatchControls, batch_folders, build_batch_controls, run_batch
from webui.ui.interrogate_buttons import build_interrogate_buttons
from webui.ui.script_accordions import build_script_accordions
from webui.ui.uploads import reject_non_images
from webui.ui.xyz_plot_ui import ScriptControls, build_script_controls, run_with_script

MODES = ("img2img", "sketch", "inpaint", "inpaint sketch", "inpaint upload", "batch")
INPAINT_MODES = ("inpaint", "inpaint sketch", "inpaint upload")  # where the inpaint controls apply (A1111)
SKETCH_COLOURS = ["#ffffff", "#000000", "#ff0000", "#00ff00", "#0000ff", "#ffff00"]


@dataclass
class ImageInputs:
    tabs: gr.Tabs
    mode: gr.Textbox
    init_image: gr.Image
    sketch: gr.ImageEditor
    upload_image: gr.Image
    upload_mask: gr.Image
    color_sketch: gr.ImageEditor
    inpaint_sketch: gr.ImageEditor
    batch: BatchControls
    tab_selects: list  # (tab, mode) pairs, for showing the inpaint controls where they apply

    def inputs(self) -> list:
        return [self.mode, self.init_image, self.sketch, self.upload_image, self.upload_mask]

    def sketch_inputs(self) -> list:
        return [self.color_sketch, self.inpaint_sketch]


@dataclass
class Img2ImgControls:
    resize_mode: gr.Radio
    denoising: gr.Slider
    mask_blur: gr.Slider
    mask_mode: gr.Radio
    fill: gr.Radio
    area: gr.Radio
    padding: gr.Slider
    inpaint_group: gr.Column

    def inputs(self) -> list:
        return [self.resize_mode, self.denoising, self.mask_blur, self.mask_mode, self.fill, self.area,
                self.padding]


def _editor(label: str, elem_id: str, colours: list[str], fixed: bool) -> gr.ImageEditor:
    return gr.ImageEditor(label=label, type="pil", image_mode="RGBA", elem_id=elem_id, height=480, layers=False,
                              transforms=(), eraser=gr.Eraser(default_size=24),
                              brush=gr.Brush(colors=colours, color_mode="fixed" if fixed else "defaults",
                                             default_size=24))


def _build_image_inputs(app: App) -> ImageInputs:
    # the chosen tab, tracked in the browser (set by js on select): a server round trip could still be on its way
    # when Generate is clicked right after choosing a tab, and the job would run in the previous mode
    mode = gr.Textbox(MODES[0], visible=False, elem_id="img2img_mode")
    with gr.Tabs(elem_id="mode_img2img") as tabs:
        with gr.Tab("img2img", id="img2img", elem_id="img2img_img2img_tab") as img2img_tab:
            init_image = gr.Image(label="Image for img2img", type="pil", image_mode="RGBA",
                                      elem_id="img2img_image", sources=["upload", "clipboard"], height=480)
        with gr.Tab("Sketch", id="sketch", elem_id="img2img_img2img_sketch_tab") as sketch_tab:
            color_sketch = _editor("Image for img2img", "img2img_sketch", SKETCH_COLOURS, fixed=False)
        with gr.Tab("Inpaint", id="inpaint", elem_id="img2img_inpaint_tab") as inpaint_tab:
            sketch = _editor("Image for inpainting with mask", "img2maskimg", ["#ffffff"], fixed=True)
        with gr.Tab("Inpaint sketch", id="inpaint sketch", elem_id="img2img_inpaint_sketch_tab") as inpaint_sketch_tab:
            inpaint_sketch = _editor("Color sketch inpainting", "inpaint_sketch", SKETCH_COLOURS, fixed=False)
        with gr.Tab("Inpaint upload", id="inpaint upload", elem_id="img2img_inpaint_upload_tab") as upload_tab:
            upload_image = gr.Image(label="Image for img2img", type="pil", image_mode="RGBA",
                                        elem_id="img_inpaint_base", height=320)
            upload_mask = gr.Image(label="Mask", type="pil", image_mode="RGBA", elem_id="img_inpaint_mask",
                                       height=320)
        with gr.Tab("Batch", id="batch", elem_id="img2img_batch_tab") as batch_tab:
            batch = build_batch_controls(app)
    for component in (init_image, color_sketch, sketch, inpaint_sketch, upload_image, upload_mask):
        reject_non_images(component)
    selects = list(zip((img2img_tab, sketch_tab, inpaint_tab, inpaint_sketch_tab, upload_tab, batch_tab), MODES,
                       strict=True))
    for tab, name in selects:
        tab.select(None, js=f"() => {json.dumps(name)}", outputs=[mode], show_progress="hidden")
    return ImageInputs(tabs, mode, init_image, sketch, upload_image, upload_mask, color_sketch, inpaint_sketch, batch,
                       selects)


def _build_controls(app: App, images: ImageInputs) -> Img2ImgControls:
    resize_mode = gr.Radio(list(RESIZE_MODES), value=RESIZE_MODES[0], type="index", label="Resize mode",
                           elem_id="resize_mode")
    # shown on the inpaint tabs only; a Column, since a Group renders its elem_id twice in Gradio 6
    with gr.Column(elem_id="inpaint_controls", visible=False, variant="panel") as inpaint_group:
        with gr.Row():
            mask_blur = gr.Slider(0, 64, value=4, step=1, label="Mask blur", elem_id="img2img_mask_blur")
            mask_mode = gr.Radio(list(MASK_MODES), value=MASK_MODES[0], label="Mask mode",
                                 elem_id="img2img_mask_mode")
        fill = gr.Radio(list(INPAINT_FILL_MODES), value="original", label="Masked content",
                        elem_id="img2img_inpainting_fill")
        with gr.Row():
            area = gr.Radio(list(INPAINT_AREAS), value=INPAINT_AREAS[0], label="Inpaint area",
                            elem_id="img2img_inpaint_full_res")
            padding = gr.Slider(0, 256, value=32, step=4, label="Only masked padding, pixels",
                                elem_id="img2img_inpaint_full_res_padding")
    for tab, name in images.tab_selects:
        tab.select(lambda name=name: gr.update(visible=name in INPAINT_MODES), outputs=[inpaint_group],
                   show_progress="hidden", queue=False)
    denoising = gr.Slider(0.0, 1.0, value=app.ui_config.value("img2img", "Denoising strength", 0.75), step=0.01,
                          label="Denoising strength",
                          elem_id="img2img_denoising_strength")
    return Img2ImgControls(resize_mode, denoising, mask_blur, mask_mode, fill, area, padding, inpaint_group)


def mask_from_editor(value) -> Image.Image | None:
    """The brush strokes of Gradio's image editor (its layers' alpha) as an "L" mask; None when nothing is drawn."""
    layers = (value or {}).get("layers") or []
    if not layers:
        return None
    alpha = np.zeros(np.asarray(layers[0]).shape[:2], dtype=np.uint8)
    for layer in layers:
        alpha = np.maximum(alpha, np.asarray(layer.convert("RGBA"))[:, :, 3])
    return Image.fromarray(alpha, mode="L") if alpha.any() else None


def _composite(value) -> Image.Image | None:
    """What a sketch editor shows: the picture with the strokes painted on it."""
    value = value or {}
    return value.get("composite") if value.get("background") is not None else None


def img2img_from_inputs(mode, init_image, sketch, upload_image, upload_mask, resize_mode, denoising, mask_blur,
                        mask_mode, fill, area, padding, *, color_sketch=None, inpaint_sketch=None) -> Img2ImgInput:
    """The init image (and mask) of the chosen sub-tab: Sketch sends the painted picture; Inpaint sketch sends it
    with the painted part as the mask (A1111)."""
    if mode == "sketch":
        image, mask = _composite(color_sketch), None
    elif mode == "inpaint sketch":
        image, mask = _composite(inpaint_sketch), mask_from_editor(inpaint_sketch)
        if image is not None and mask is None:
            raise gr.Error("Inpaint sketch: paint over the part of the image to repaint")
    elif mode == "inpaint":
        image = (sketch or {}).get("background")
        mask = mask_from_editor(sketch)
        if image is not None and mask is None:
            raise gr.Error("Inpaint: draw a mask over the part of the image to repaint")
    elif mode == "inpaint upload":
        image, mask = upload_image, upload_mask
        if image is not None and mask is None:
            raise gr.Error("Inpaint upload: upload a mask (white = repaint)")
    else:
        image, mask = init_image, None
    if image is None:
        raise gr.Error(f"{mode}: upload an image first")
    try:
        inpaint = None
        if mask is not None:
            inpaint = InpaintMask(mask=mask, blur=int(mask_blur), invert=mask_mode == MASK_MODES[1], fill=fill,
                                  only_masked=area == INPAINT_AREAS[1], padding=int(padding))
        return Img2ImgInput(image=image, resize_mode=int(resize_mode), denoising_strength=float(denoising),
                            mask=inpaint)
    except (TypeError, ValueError) as error:
        raise gr.Error(str(error)) from error


def scaled_size(image, scale: float) -> tuple[int, int]:
    """"Resize by": the image's own size times the scale, rounded down to a multiple of 8 (A1111)."""
    return max(64, int(image.width * scale) // 8 * 8), max(64, int(image.height * scale) // 8 * 8)


def make_request_of(app: App, row: PromptRow, sampling: SamplingControls, images: ImageInputs,
                    controls: Img2ImgControls, checkpoint: gr.Dropdown, controlnet: ControlNetControls | None = None):
    """values → the job's request; `image` replaces the tab's picture (a Batch folder's images)."""
    def request_of(values: Values, image=None) -> GenerationRequest:
        parts = [values[component] for component in [*images.inputs(), *controls.inputs()]]
        color_sketch, inpaint_sketch = (values[component] for component in images.sketch_inputs())
        if image is not None:
            parts[:5] = ["img2img", image, None, None, None]
        img2img = img2img_from_inputs(*parts, color_sketch=color_sketch, inpaint_sketch=inpaint_sketch)
        units = controlnet.request_units(values) if controlnet is not None else ()
        job_request = base_request(app, row, sampling, values, values[checkpoint], img2img=img2img,
                                   controlnet=units)
        if values[sampling.resize_tab] == "by":
            width, height = scaled_size(img2img.image, float(values[sampling.scale_by]))
            try:
                job_request = replace(job_request, width=width, height=height)
            except ValueError as error:
                raise gr.Error(str(error)) from error
        return job_request

    return request_of


def make_generate_handler(app: App, images: ImageInputs, request_of, scripts: ScriptControls):
    async def generate(values: Values, request: gr.Request):
        if values[images.mode] == "batch":
            source, target = batch_folders(app, request, *(values[component] for component in images.batch.inputs()))
            async for update in run_batch(app, lambda image: request_of(values, image), source, target, request):
                yield update
            return
        job_request = request_of(values)
        script, *axes = (values[component] for component in scripts.inputs())
        async for update in run_with_script(app, job_request, script, tuple(axes), request):
            yield update

    return generate


@dataclass
class Img2ImgHandles:
    row: PromptRow
    controls: SamplingControls
    panel: OutputPanel
    images: ImageInputs
    img2img: Img2ImgControls
    controlnet: ControlNetControls | None = None


def build_img2img_tab(app: App, checkpoint: gr.Dropdown) -> Img2ImgHandles:
    tab = "img2img"
    row = build_prompt_row(app, tab)
    with gr.Row(elem_id=f"{tab}_extra_tabs"):
        with gr.Column(scale=1, elem_id=f"{tab}_settings"):
            build_extra_networks(app, tab, row.prompt)  # in the settings column: the gallery stays in sight
            images = _build_image_inputs(app)
            build_interrogate_buttons(app, images.mode, images.init_image, images.sketch, images.upload_image,
                                      row.prompt)
            controls = _build_controls(app, images)
            sampling = build_sampling_controls(app, tab, resize_by=True)
            scripts = build_script_controls(tab)
            a1111 = build_script_accordions(app, tab, scripts.script)
            controlnet = build_controlnet_accordion(app, tab)
        with gr.Column(scale=1, elem_id=f"{tab}_results"):
            panel = build_output_panel(tab)
    request_of = make_request_of(app, row, sampling, images, controls, checkpoint, controlnet)
    handler = a1111.wrap(make_generate_handler(app, images, request_of, scripts), request_of)
    resize = [sampling.resize_tab, sampling.scale_by]
    wire_generation(app, row, sampling, panel, handler, [*images.inputs(), *images.sketch_inputs(),
                                                         *images.batch.inputs(), *resize, *controls.inputs(),
                                                         *scripts.inputs(), checkpoint, *a1111.inputs(),
                                                         *controlnet.inputs()])
    return Img2ImgHandles(row, sampling, panel, images, controls, controlnet)
