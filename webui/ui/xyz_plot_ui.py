"""A1111's Script dropdown with its most used script, X/Y/Z plot: every cell is its own job in the shared queue
(so Interrupt, fairness and progress work as for any job), then one labelled grid is saved beside the images."""

from __future__ import annotations

import io
import random
import time
from dataclasses import dataclass

import gradio as gr
from PIL import Image

from webui.app_context import App
from webui.app_options import read_job_options
from webui.engine.request import GenerationRequest
from webui.engine.xyz_plot import AXES, PlotAxis, cell_requests, plot_axes
from webui.errors import KestrelError
from webui.jobs.job import JobState
from webui.storage.outputs import ImageSaver, encode_png
from webui.storage.plot_grid import labelled_grid, side_by_side
from webui.ui.callers import ui_owner
from webui.ui.generation_panel import stream_job
from webui.ui.html import infotext_html

NONE = "None"
XYZ_PLOT = "X/Y/Z plot"


@dataclass
class ScriptControls:
    script: gr.Dropdown
    axes: list[tuple[gr.Dropdown, gr.Textbox]]

    def inputs(self) -> list:
        return [self.script, *(component for pair in self.axes for component in pair)]


def build_script_controls(tab: str) -> ScriptControls:
    script = gr.Dropdown([NONE, XYZ_PLOT], value=NONE, label="Script", elem_id=f"{tab}_script_list")
    axes = []
    with gr.Column(visible=False, elem_id=f"script_{tab}_xyz_plot", variant="panel") as group:
        for name, default in (("x", "Seed"), ("y", "Nothing"), ("z", "Nothing")):
            with gr.Row():
                kind = gr.Dropdown(list(AXES), value=default, label=f"{name.upper()} type",
                                   elem_id=f"script_{tab}_xyz_plot_{name}_type", scale=1)
                values = gr.Textbox(label=f"{name.upper()} values", elem_id=f"script_{tab}_xyz_plot_{name}_values",
                                    scale=3, lines=1)
            axes.append((kind, values))
    script.change(lambda chosen: gr.update(visible=chosen == XYZ_PLOT), inputs=[script], outputs=[group],
                  show_progress="hidden")
    return ScriptControls(script, axes)


async def run_with_script(app: App, job_request: GenerationRequest, script: str, axis_values: tuple,
                          request: gr.Request):
    """The chosen script (X/Y/Z plot) or the plain job, as the Generate handlers of both tabs run them."""
    updates = run_xyz_plot(app, job_request, axis_values, ui_owner(app, request)) if script == XYZ_PLOT \
        else stream_job(app, job_request, request)
    async for update in updates:
        yield update


def _axes(values: tuple) -> list[PlotAxis]:
    specs = [(values[index], values[index + 1] or "") for index in range(0, 6, 2)]
    try:
        return plot_axes(specs)
    except ValueError as error:
        raise gr.Error(str(error)) from error


async def run_xyz_plot(app: App, base: GenerationRequest, axis_values: tuple, owner: str):
    """Yield (gallery, progress, info, generation_info) like a single job, for the whole plot."""
    axes = _axes(axis_values)
    try:
        cells = cell_requests(base, axes, random.Random())
        jobs = [app.submit_generation(cell.request, owner=owner) for cell in cells]
    except (ValueError, LookupError, KestrelError) as error:
        raise gr.Error(str(error)) from error
    started = time.monotonic()
    for index, job in enumerate(jobs):
        text = f"X/Y/Z plot: {index} of {len(jobs)} cells done"
        yield gr.skip(), f'<div class="progress-info" data-state="running">{text}</div>', gr.skip(), gr.skip()
        await job.done()
    snapshots = [job.snapshot() for job in jobs]
    failed = next((snapshot for snapshot in snapshots if snapshot.state is JobState.FAILED), None)
    if failed is not None:
        raise gr.Error(f"X/Y/Z plot: a cell failed: {failed.error}")
    outputs = [snapshot.result for snapshot in snapshots]
    if any(output is None or not output.images for output in outputs):
        yield gr.skip(), "", "<p>X/Y/Z plot interrupted: no grid was made.</p>", []
        return
    images = [image for output in outputs if output is not None for image in output.images]
    firsts = [output.images[0] for output in outputs if output is not None]
    grid_path = _save_grid(app, axes, cells, firsts, base)
    gallery = [str(grid_path), *(str(image.path) for image in images if image.path is not None)]
    info = infotext_html(images[0].infotext, time.monotonic() - started,
                         f"X/Y/Z plot: {len(cells)} cells, grid saved as {grid_path.name}")
    entries = [(image.infotext, image.seed, str(image.path or "")) for image in images]
    yield gallery, "", info, [(images[0].infotext, images[0].seed, str(grid_path)), *entries]


def _save_grid(app: App, axes: list[PlotAxis], cells, firsts, base: GenerationRequest):
    x_axis, y_axis, z_axis = axes
    by_position = {(cell.x, cell.y, cell.z): image for cell, image in zip(cells, firsts, strict=True)}
    grids = []
    for z, z_label in enumerate(z_axis.labels):
        rows = [[Image.open(io.BytesIO(by_position[(x, y, z)].png)) for x in range(len(x_axis.values))]
                for y in range(len(y_axis.values))]
        grids.append(labelled_grid(rows, x_axis.labels, y_axis.labels, title=z_label))
    options = read_job_options(app.settings, app.paths)
    folder = options.grids.folder_for(base.mode) or options.save
    png = encode_png(side_by_side(grids), firsts[0].infotext, folder)
    return ImageSaver().save_grid(png, folder, prefix="xyz_grid")
