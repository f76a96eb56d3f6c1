"""The Extras tab: A1111's layout and element ids (`modules/ui_postprocessing.py`,
`scripts/postprocessing_upscale.py`, `postprocessing_gfpgan.py`, `postprocessing_codeformer.py`) for upscaling and
restoring faces in one image, several uploads, or a folder on this machine.

Handlers stay thin: they build an `ExtrasRequest`, hand the run to `app.extras` (whose model work runs on the device
thread) and stream its progress (image i of n, tile t of m). The folder source reads the server's disk, so it is
refused when the server listens beyond this machine (`--listen` / `--server-name`).
"""

from __future__ import annotations

import html
import time
from dataclasses import dataclass
from pathlib import Path

import gradio as gr
from PIL import Image

from webui.app_context import App
from webui.engine.extras_request import ExtrasRequest
from webui.engine.upscale import UnknownUpscalerError
from webui.errors import KestrelError
from webui.jobs.extras import ExtrasInput, ExtrasResult, ExtrasSpec, images_in_folder
from webui.jobs.job import JobKind, JobSnapshot, JobState
from webui.ui.callers import ui_owner
from webui.ui.html import infotext_html
from webui.ui.uploads import UNREADABLE, not_an_image_message, reject_non_images

PROGRESS_INTERVAL = 0.25
SINGLE, BATCH, FOLDER = 0, 1, 2


@dataclass
class ExtrasHandles:
    image: gr.Image
    upscaler_1: gr.Dropdown
    upscaler_2: gr.Dropdown


def folder_source_allowed(app: App) -> bool:
    """A folder path names the server's disk: only offered to a browser on the same machine."""
    return not app.options.non_local


def extras_inputs(app: App, mode: int, image, files, input_dir: str) -> list[ExtrasInput]:
    if mode == BATCH:
        paths = [Path(getattr(item, "name", item)) for item in files or []]
        if not paths:
            raise gr.Error("Batch Process: upload one or more images first")
        inputs = []
        for path in paths:
            try:
                with Image.open(path) as opened:
                    opened.load()
                    inputs.append(ExtrasInput(opened.copy(), path.name))
            except UNREADABLE as error:  # one clear message naming the user's file, not PIL's
                raise gr.Error(not_an_image_message("Batch Process", path.name)) from error
        return inputs
    if mode == FOLDER:
        if not folder_source_allowed(app):
            raise gr.Error("Batch from Directory is disabled: the server is non-local (--listen or --server-name), "
                           "and a folder path would read the server's disk. Use Batch Process (uploads) instead.")
        if not (input_dir or "").strip():
            raise gr.Error("Batch from Directory: the input directory is empty")
        try:
            return images_in_folder(Path(input_dir.strip()).expanduser())
        except ValueError as error:
            raise gr.Error(str(error)) from error
    if image is None:
        raise gr.Error("Single Image: upload an image first")
    return [ExtrasInput(image)]


def _progress_html(snapshot: JobSnapshot) -> str:
    progress = snapshot.progress  # image i of n (batch_index of batch_count), tile t of m (step of total_steps)
    percent = int(progress.fraction * 100)
    tiles = f" · tile {progress.step}/{progress.total_steps}" if progress.total_steps else ""
    count = progress.batch_count
    text = f"{percent}% · image {min(progress.batch_index + 1, count)}/{count}{tiles}"
    return ('<div class="progress-info" data-state="running">'
            f'<div class="progress-bar" style="width:{percent}%"></div>'
            f'<span class="progress-text">{html.escape(text)}</span></div>')


def make_generate_handler(app: App):
    async def generate(mode, image, files, input_dir, output_dir, show_results, resize_mode, resize, max_side, width,
                 height, crop, upscaler_1, upscaler_2, visibility, gfpgan_visibility, codeformer_visibility,
                 codeformer_weight, request: gr.Request):
        try:
            extras = ExtrasRequest(resize_mode=int(resize_mode), upscaling_resize=float(resize),
                                   max_side_length=int(max_side or 0), upscaling_resize_w=int(width),
                                   upscaling_resize_h=int(height), upscaling_crop=bool(crop),
                                   upscaler_1=upscaler_1, upscaler_2=upscaler_2,
                                   upscaler_2_visibility=float(visibility),
                                   gfpgan_visibility=float(gfpgan_visibility),
                                   codeformer_visibility=float(codeformer_visibility),
                                   codeformer_weight=float(codeformer_weight))
        except (TypeError, ValueError) as error:
            raise gr.Error(str(error)) from error
        inputs = extras_inputs(app, int(mode), image, files, input_dir)
        output_folder = Path(output_dir.strip()) if int(mode) == FOLDER and (output_dir or "").strip() else None
        try:
            job = app.submit_extras(ExtrasSpec(extras, tuple(inputs), output_folder=output_folder),
                                    ui_owner(app, request))
        except (UnknownUpscalerError, KestrelError) as error:
            raise gr.Error(str(error)) from error
        started = time.monotonic()
        async for snapshot in job.updates(interval=PROGRESS_INTERVAL):
            if not snapshot.state.finished:
                yield gr.skip(), _progress_html(snapshot), gr.skip()
        if snapshot.state is not JobState.DONE or snapshot.result is None:
            raise gr.Error(f"Extras failed: {snapshot.error or snapshot.state.value}")
        run: ExtrasResult = snapshot.result
        shown = run.outputs if int(mode) != FOLDER or show_results else ()
        # saved files are shown as themselves (a download keeps the chunks); a custom output folder is outside
        # what the page may serve, so its images are shown from memory
        gallery = [str(output.path) if output_folder is None and output.path is not None else output.image
                   for output in shown]
        note = "Interrupted: showing the images finished before the stop." if run.interrupted else None
        infotext = run.outputs[-1].infotext if run.outputs else ""
        yield gallery, "", infotext_html(infotext, time.monotonic() - started, note)

    return generate


def track_tab(tab: gr.Tab, value: int, holder: gr.Number) -> None:
    """Remember which sub-tab is open in a hidden number, set in the browser itself: server round trips for
    quick successive clicks can finish out of order and leave the wrong mode (seen under load)."""
    tab.select(None, js=f"() => {value}", outputs=[holder], show_progress="hidden")


def _build_sources(app: App):
    mode = gr.Number(SINGLE, visible=False, precision=0, elem_id="extras_mode")
    with gr.Tabs(elem_id="mode_extras"):
        with gr.Tab("Single Image", id="single_image", elem_id="extras_single_tab") as single_tab:
            image = gr.Image(label="Source", type="pil", elem_id="extras_image", sources=["upload", "clipboard"],
                             image_mode=None, height=400)
            reject_non_images(image)  # a file that is no picture: one plain warning, not Gradio's error
        with gr.Tab("Batch Process", id="batch_process", elem_id="extras_batch_process_tab") as batch_tab:
            files = gr.Files(label="Batch Process", file_count="multiple", file_types=["image"],
                             elem_id="extras_image_batch")
        with gr.Tab("Batch from Directory", id="batch_from_directory", elem_id="extras_batch_directory_tab",
                    visible=folder_source_allowed(app)) as folder_tab:
            input_dir = gr.Textbox(label="Input directory", elem_id="extras_batch_input_dir",
                                   placeholder="A directory on the same machine where the server is running.")
            output_dir = gr.Textbox(label="Output directory", elem_id="extras_batch_output_dir",
                                    placeholder="Leave blank to save images to the default path.")
            show_results = gr.Checkbox(True, label="Show result images", elem_id="extras_show_extras_results")
    for index, tab in enumerate((single_tab, batch_tab, folder_tab)):
        track_tab(tab, index, mode)
    return mode, image, files, input_dir, output_dir, show_results


def _build_upscale(app: App):
    names = app.upscalers.names()
    with gr.Accordion("Upscale", open=True, elem_id="extras_upscale"):
        with gr.Row():
            upscaler_1 = gr.Dropdown(names, value=names[0], label="Upscaler 1", elem_id="extras_upscaler_1")
            refresh = gr.Button("🔄", elem_id="extras_refresh_upscalers", elem_classes=["tool"], scale=0,
                                min_width=40)
        with gr.Row():
            upscaler_2 = gr.Dropdown(names, value=names[0], label="Upscaler 2", elem_id="extras_upscaler_2")
            visibility = gr.Slider(0.0, 1.0, value=0.0, step=0.001, label="Upscaler 2 visibility",
                                   elem_id="extras_upscaler_2_visibility")
        resize_mode = gr.Number(0, visible=False, precision=0, elem_id="extras_resize_mode_index")
        with gr.Tabs(elem_id="extras_resize_mode"):
            with gr.Tab("Scale by", elem_id="extras_scale_by_tab") as scale_by:
                with gr.Row():
                    resize = gr.Slider(1.0, 8.0, value=4, step=0.05, label="Resize", scale=4,
                                       elem_id="extras_upscaling_resize")
                    max_side = gr.Number(0, label="Max side length", precision=0, minimum=0, step=8, min_width=160,
                                         elem_id="extras_upscale_max_side_length")
            with gr.Tab("Scale to", elem_id="extras_scale_to_tab") as scale_to:
                with gr.Row():
                    with gr.Column(scale=4, elem_id="upscaling_column_size"):
                        width = gr.Slider(64, 8192, value=512, step=8, label="Width",
                                          elem_id="extras_upscaling_resize_w")
                        height = gr.Slider(64, 8192, value=512, step=8, label="Height",
                                           elem_id="extras_upscaling_resize_h")
                    with gr.Column(scale=1, elem_id="upscaling_dimensions_row"):
                        switch = gr.Button("⇅", elem_id="upscaling_res_switch_btn", elem_classes=["tool"])
                        crop = gr.Checkbox(True, label="Crop to fit", elem_id="extras_upscaling_crop")
    track_tab(scale_by, 0, resize_mode)
    track_tab(scale_to, 1, resize_mode)
    switch.click(lambda w, h: (h, w), inputs=[width, height], outputs=[width, height], show_progress="hidden")

    def refreshed(first, second):
        choices = app.refresh_upscalers()
        return (gr.Dropdown(choices=choices, value=first if first in choices else choices[0]),
                gr.Dropdown(choices=choices, value=second if second in choices else choices[0]))

    refresh.click(refreshed, inputs=[upscaler_1, upscaler_2], outputs=[upscaler_1, upscaler_2],
                  show_progress="hidden")
    return [resize_mode, resize, max_side, width, height, crop, upscaler_1, upscaler_2, visibility]


def _build_face_restoration() -> list[gr.Slider]:
    """A1111's GFPGAN and CodeFormer post-processing (`scripts/postprocessing_gfpgan.py`, `..._codeformer.py`):
    run after the upscale; a visibility of 0 leaves the step out. Missing weights are an error naming the file."""
    with gr.Accordion("GFPGAN", open=False, elem_id="extras_gfpgan"):
        gfpgan = gr.Slider(0.0, 1.0, value=0.0, step=0.001, label="GFPGAN visibility",
                           elem_id="extras_gfpgan_visibility")
    with gr.Accordion("CodeFormer", open=False, elem_id="extras_codeformer"):
        with gr.Row():
            visibility = gr.Slider(0.0, 1.0, value=0.0, step=0.001, label="CodeFormer visibility",
                                   elem_id="extras_codeformer_visibility")
            weight = gr.Slider(0.0, 1.0, value=0.0, step=0.001,
                               label="CodeFormer weight (0 = maximum effect, 1 = minimum effect)",
                               elem_id="extras_codeformer_weight")
    return [gfpgan, visibility, weight]


def build_extras_tab(app: App) -> ExtrasHandles:
    with gr.Row(equal_height=False):
        with gr.Column():
            sources = _build_sources(app)
            upscale = _build_upscale(app)
            faces = _build_face_restoration()
        with gr.Column():
            with gr.Row(elem_id="extras_generate_box"):
                generate = gr.Button("Generate", variant="primary", elem_id="extras_generate")
                interrupt = gr.Button("Interrupt", elem_id="extras_interrupt")
            progress = gr.HTML(elem_id="extras_progress")
            gallery = gr.Gallery(label="Output", show_label=False, elem_id="extras_gallery", columns=2,
                                 format="png", interactive=False, height="auto")
            info = gr.HTML(elem_id="html_info_extras")
    generate.click(make_generate_handler(app), inputs=[*sources, *upscale, *faces], outputs=[gallery, progress, info],
                   concurrency_limit=None, show_progress="minimal")
    def interrupt_own_runs(request: gr.Request) -> None:
        app.jobs.cancel_owned_by(ui_owner(app, request), kinds=(JobKind.EXTRAS,))

    interrupt.click(interrupt_own_runs, inputs=None, outputs=None, show_progress="hidden")
    return ExtrasHandles(sources[1], upscale[6], upscale[7])
