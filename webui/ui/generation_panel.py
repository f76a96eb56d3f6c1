"""What the txt2img and img2img tabs share: A1111's prompt row, sampling controls, output panel, and the handler
that submits a `GenerationRequest` to the job queue and streams its progress.

Handlers never call the pipeline. Interrupt and Skip act on this browser session's own jobs only.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import gradio as gr
from PIL import Image

from webui.app_context import App
from webui.config.styles import PromptStyle
from webui.engine.request import RANDOM_SEED, GenerationRequest
from webui.errors import KestrelError
from webui.jobs.job import JobState
from webui.storage.saved_log import save_to_log
from webui.ui.callers import ui_owner
from webui.ui.html import infotext_html, progress_html
from webui.ui.prompt_tools import attach_token_counter, wire_clear_prompt, wire_swap
from webui.ui.seed_extras import SeedExtras, build_extra_toggle, build_seed_extras, extra_fields

PROGRESS_INTERVAL = 0.25  # seconds between progress updates sent to the browser
DEFAULT_SAMPLER = "DPM++ 2M"


@dataclass
class PromptRow:
    prompt: gr.Textbox
    negative: gr.Textbox
    generate: gr.Button
    interrupt: gr.Button
    skip: gr.Button
    paste: gr.Button  # ↙️ read generation parameters from the prompt box (A1111's paste button)
    forever: gr.Checkbox      # A1111's "Generate forever": repeat until unticked or Interrupt
    styles: gr.Dropdown
    apply_styles: gr.Button
    style_name: gr.Textbox
    save_style: gr.Button


@dataclass
class SamplingControls:
    sampler: gr.Dropdown
    scheduler: gr.Dropdown
    steps: gr.Slider
    cfg_scale: gr.Slider
    width: gr.Slider
    height: gr.Slider
    seed: gr.Number
    batch_count: gr.Slider
    batch_size: gr.Slider
    random_seed: gr.Button
    reuse_seed: gr.Button
    extras: SeedExtras
    resize_tab: gr.Textbox | None = None  # img2img: "to" (width/height) or "by" (scale_by)
    scale_by: gr.Slider | None = None

    def inputs(self) -> list:
        """What `base_request` reads (by component)."""
        return [self.sampler, self.scheduler, self.steps, self.cfg_scale, self.width, self.height, self.seed,
                self.batch_count, self.batch_size, *self.extras.inputs()]


@dataclass
class OutputPanel:
    progress: gr.HTML
    gallery: gr.Gallery
    info: gr.HTML
    generation_info: gr.State  # [(infotext, seed, path)] per gallery image, for reuse-seed, selection, send-to
    selected: gr.State         # index of the gallery image last clicked
    send_to_img2img: gr.Button
    send_to_inpaint: gr.Button
    save: gr.Button

    def outputs(self) -> list:
        return [self.gallery, self.progress, self.info, self.generation_info]


def build_prompt_row(app: App, tab: str) -> PromptRow:
    """A1111's top row, compact: the prompts with their token counters; Generate with Interrupt and Skip over it
    (shown by the page script only while this tab's job runs, as A1111 does); the tools and the styles."""
    with gr.Row(elem_id=f"{tab}_toprow", equal_height=False):
        with gr.Column(scale=6, elem_id=f"{tab}_prompt_container"):
            with gr.Group(elem_classes=["prompt-box"]):
                prompt = gr.Textbox(label="Prompt", show_label=False, lines=3, elem_id=f"{tab}_prompt",
                                    placeholder="Prompt\n(Press Ctrl+Enter to generate, Alt+Enter to skip, Escape to "
                                                "interrupt)")
                attach_token_counter(app, prompt, f"{tab}_token_counter")
            with gr.Group(elem_classes=["prompt-box"]):
                negative = gr.Textbox(label="Negative prompt", show_label=False, lines=2, elem_id=f"{tab}_neg_prompt",
                                      placeholder="Negative prompt\n(Press Ctrl+Enter to generate)")
                attach_token_counter(app, negative, f"{tab}_negative_token_counter")
        with gr.Column(scale=1, min_width=240, elem_id=f"{tab}_actions_column"):
            with gr.Row(elem_id=f"{tab}_generate_box", elem_classes=["generate-box"]):
                generate = gr.Button("Generate", variant="primary", elem_id=f"{tab}_generate")
                interrupt = gr.Button("Interrupt", elem_id=f"{tab}_interrupt", elem_classes=["generate-box-interrupt"])
                skip = gr.Button("Skip", elem_id=f"{tab}_skip", elem_classes=["generate-box-skip"])
            forever = gr.Checkbox(False, label="Generate forever", elem_id=f"{tab}_generate_forever",
                                  container=False)
            with gr.Row(elem_id=f"{tab}_tools", elem_classes=["tool-row"]):
                paste = gr.Button("↙️", elem_id=f"{tab}_paste", elem_classes=["tool"], min_width=40, scale=0)
                clear = gr.Button("🗑️", elem_id=f"{tab}_clear_prompt", elem_classes=["tool"], min_width=40, scale=0)
                apply_styles = gr.Button("📋", elem_id=f"{tab}_style_apply", elem_classes=["tool"], min_width=40,
                                         scale=0)
            styles = gr.Dropdown(app.styles.names(), value=[], multiselect=True, label="Styles",
                                 elem_id=f"{tab}_styles", show_label=False, container=False)
            with gr.Row(elem_id=f"{tab}_style_create_row", elem_classes=["tool-row"]):
                style_name = gr.Textbox(placeholder="New style name", show_label=False, container=False,
                                        elem_id=f"{tab}_style_name", scale=3, min_width=80)
                save_style = gr.Button("💾", elem_id=f"{tab}_style_create", elem_classes=["tool"], min_width=40,
                                       scale=0)
    wire_clear_prompt(clear, prompt, negative)
    return PromptRow(prompt, negative, generate, interrupt, skip, paste, forever, styles, apply_styles, style_name,
                     save_style)


def _size_sliders(app: App, tab: str) -> tuple[gr.Slider, gr.Slider]:
    ui = app.ui_config
    width = gr.Slider(64, 2048, value=ui.value(tab, "Width", 512), step=8, label="Width", elem_id=f"{tab}_width")
    height = gr.Slider(64, 2048, value=ui.value(tab, "Height", 512), step=8, label="Height", elem_id=f"{tab}_height")
    return width, height


def _resize_tabs(app: App, tab: str) -> tuple[gr.Slider, gr.Slider, gr.Textbox, gr.Slider]:
    """img2img's "Resize to" (width, height) and "Resize by" (a scale of the image's own size) tabs, as A1111."""
    resize_tab = gr.Textbox("to", visible=False, elem_id=f"{tab}_resize_tab")
    with gr.Tabs(elem_id=f"{tab}_tabs_resize"):
        with gr.Tab("Resize to", id="to", elem_id=f"{tab}_tab_resize_to") as to_tab:
            width, height = _size_sliders(app, tab)
        with gr.Tab("Resize by", id="by", elem_id=f"{tab}_tab_resize_by") as by_tab:
            scale_by = gr.Slider(0.05, 4.0, value=1.0, step=0.05, label="Scale", elem_id=f"{tab}_scale")
    to_tab.select(None, js="() => 'to'", outputs=[resize_tab], show_progress="hidden")
    by_tab.select(None, js="() => 'by'", outputs=[resize_tab], show_progress="hidden")
    return width, height, resize_tab, scale_by


def build_sampling_controls(app: App, tab: str, resize_by: bool = False) -> SamplingControls:
    table = app.engine.samplers
    ui = app.ui_config
    with gr.Row(elem_id=f"{tab}_sampler_row"):
        sampler = gr.Dropdown([spec.name for spec in table.samplers], label="Sampling method",
                              value=ui.value(tab, "Sampling method", DEFAULT_SAMPLER), elem_id=f"{tab}_sampling")
        scheduler = gr.Dropdown([schedule.label for schedule in table.schedule_types], label="Schedule type",
                                value=ui.value(tab, "Schedule type", "Automatic"), elem_id=f"{tab}_scheduler")
        steps = gr.Slider(1, 150, value=ui.value(tab, "Sampling steps", 20), step=1, label="Sampling steps",
                          elem_id=f"{tab}_steps")
    with gr.Row(elem_id=f"{tab}_dimensions_row"):
        resize_tab = scale_by = None
        with gr.Column(elem_id=f"{tab}_column_size", scale=4):
            if resize_by:
                width, height, resize_tab, scale_by = _resize_tabs(app, tab)
            else:
                width, height = _size_sliders(app, tab)
        with gr.Column(elem_id=f"{tab}_dimensions_row_tools", scale=0, min_width=44):
            wire_swap(gr.Button("⇅", elem_id=f"{tab}_res_switch_btn", elem_classes=["tool"], min_width=40), width,
                      height)
        with gr.Column(elem_id=f"{tab}_column_batch"):
            batch_count = gr.Slider(1, 100, value=ui.value(tab, "Batch count", 1), step=1, label="Batch count",
                                    elem_id=f"{tab}_batch_count")
            batch_size = gr.Slider(1, 8, value=ui.value(tab, "Batch size", 1), step=1, label="Batch size",
                                   elem_id=f"{tab}_batch_size")
    cfg_scale = gr.Slider(1.0, 30.0, value=ui.value(tab, "CFG Scale", 7.0), step=0.5, label="CFG Scale",
                          elem_id=f"{tab}_cfg_scale")
    with gr.Row(elem_id=f"{tab}_seed_row"):
        seed = gr.Number(label="Seed", value=ui.value(tab, "Seed", RANDOM_SEED), precision=0, elem_id=f"{tab}_seed",
                         min_width=100)
        random_seed = gr.Button("🎲", elem_id=f"{tab}_random_seed", elem_classes=["tool"], scale=0, min_width=40)
        reuse_seed = gr.Button("♻️", elem_id=f"{tab}_reuse_seed", elem_classes=["tool"], scale=0, min_width=40)
        show_extras = build_extra_toggle(tab)
    extras = build_seed_extras(tab, show_extras)
    return SamplingControls(sampler, scheduler, steps, cfg_scale, width, height, seed, batch_count, batch_size,
                            random_seed, reuse_seed, extras, resize_tab, scale_by)


def build_output_panel(tab: str) -> OutputPanel:
    progress = gr.HTML(elem_id=f"{tab}_progress")
    # contain, not Gradio's cover: a portrait, a grid's labels and an upscaled image are shown whole (A1111)
    gallery = gr.Gallery(label="Output", show_label=False, elem_id=f"{tab}_gallery", columns=2, format="png",
                         interactive=False, height="auto", object_fit="contain", preview=False)
    with gr.Row(elem_id=f"image_buttons_{tab}"):
        save = gr.Button("💾 Save", elem_id=f"save_{tab}", size="sm")
        send_to_img2img = gr.Button("🖼️ Send to img2img", elem_id=f"{tab}_send_to_img2img", size="sm")
        send_to_inpaint = gr.Button("🎨️ Send to inpaint", elem_id=f"{tab}_send_to_inpaint", size="sm")
    info = gr.HTML(elem_id=f"html_info_{tab}")
    return OutputPanel(progress, gallery, info, gr.State([]), gr.State(0), send_to_img2img, send_to_inpaint, save)


Values = dict  # Gradio's set-valued inputs: {component: value}, read by component, never by position


def base_request(app: App, row: PromptRow, controls: SamplingControls, values: Values, checkpoint: str | None,
                 **extra) -> GenerationRequest:
    """The request from the shared controls plus tab-specific fields, with the chosen styles applied to the
    prompts (as A1111 does at generation time); a bad value becomes a visible error."""
    try:
        prompt, negative = app.styles.apply(values[row.prompt] or "", values[row.negative] or "",
                                            list(values[row.styles] or []))
        seed = values[controls.seed]
        return GenerationRequest(
            prompt=prompt or "", negative_prompt=negative or "", sampler_name=values[controls.sampler],
            scheduler=values[controls.scheduler], steps=int(values[controls.steps]),
            cfg_scale=float(values[controls.cfg_scale]), width=int(values[controls.width]),
            height=int(values[controls.height]), seed=int(seed if seed is not None else RANDOM_SEED),
            batch_count=int(values[controls.batch_count]), batch_size=int(values[controls.batch_size]),
            checkpoint=checkpoint, **extra_fields(app, controls.extras, values), **extra,
        )
    except (TypeError, ValueError) as error:
        raise gr.Error(str(error)) from error


async def stream_job(app: App, job_request: GenerationRequest, request: gr.Request):
    """Submit, then yield (gallery, progress, info, generation_info) updates until the job ends. An async generator
    over the job's updates: a waiting page holds no server thread."""
    try:
        app.samplers.resolve(job_request.sampler_name, job_request.scheduler)
        job = await app.jobs.off_loop(app.submit_generation, job_request, ui_owner(app, request))
    except (ValueError, LookupError, KestrelError) as error:
        raise gr.Error(str(error)) from error
    shown_preview = None
    async for snapshot in job.updates(interval=PROGRESS_INTERVAL):
        if snapshot.state.finished:
            yield final_outputs(snapshot, show_grid=bool(app.settings.get("return_grid")))
            return
        preview = gr.skip()
        if snapshot.preview is not None and snapshot.preview is not shown_preview:
            shown_preview = snapshot.preview
            preview = [Image.open(io.BytesIO(snapshot.preview))]  # the live preview, in the gallery
        yield preview, progress_html(snapshot), gr.skip(), gr.skip()


def final_outputs(snapshot, show_grid: bool = True):
    if snapshot.state is JobState.FAILED:
        raise gr.Error(f"Generation failed: {snapshot.error}")
    if snapshot.state is JobState.CANCELLED:
        return gr.skip(), "", "<p>Cancelled before it ran.</p>", []
    output = snapshot.result
    if output is None:
        return gr.skip(), "", "<p>Interrupted before any image was finished.</p>", []
    seconds = (snapshot.finished_at or 0) - (snapshot.started_at or 0)
    notes = [*output.notes, *(["Interrupted: showing the images finished before the stop."]
                                if output.interrupted else [])]
    note = " · ".join(notes) or None
    shown = [output.grid, *output.images] if output.grid is not None and show_grid else list(output.images)
    gallery = [str(image.path) for image in shown if image.path is not None]
    first_infotext = output.images[0].infotext if output.images else ""
    info = infotext_html(first_infotext, seconds, note)
    return gallery, "", info, [(image.infotext, image.seed, str(image.path or "")) for image in shown]


def seed_of_selected(entries, selected, seed):
    """♻️: the seed of the image selected in the gallery (A1111 reads the gallery's selected index), the first
    image's when none is selected; the field's own value when there is no result."""
    if not entries:
        return seed
    index = selected if isinstance(selected, int) and 0 <= selected < len(entries) else 0
    return entries[index][1]


def wire_generation(app: App, row: PromptRow, controls: SamplingControls, panel: OutputPanel,
                    handler: Callable, extra_inputs: list) -> None:
    """Generate (button and Enter), Interrupt/Skip for the session's own jobs, seed buttons, gallery selection.
    The handler receives every control as one {component: value} dict (Gradio's set-valued inputs)."""
    inputs = {row.forever, row.styles, row.prompt, row.negative, *controls.inputs(), *extra_inputs}
    forever_sessions: set[str] = set()  # this tab's sessions in "Generate forever" mode

    async def generate(values: Values, request: gr.Request):
        """One run, or runs back to back while this session's "Generate forever" stays on."""
        session = request.session_hash or "anonymous"
        if values[row.forever]:
            forever_sessions.add(session)
        try:
            while True:
                async for update in handler(values, request=request):
                    yield update
                if session not in forever_sessions:
                    return
        except gr.Error as error:  # shown, and the event ends normally: its .then hides Interrupt/Skip again
            forever_sessions.discard(session)
            gr.Warning(error.message, title="Error")

    tab = row.generate.elem_id.removesuffix("_generate")
    for trigger in (row.generate.click, row.prompt.submit):
        # the page script shows Interrupt/Skip over Generate while the run lasts (A1111's generate box)
        trigger(None, js=f"() => kestrelSetRunning({json.dumps(tab)}, true)", queue=False)
        trigger(generate, inputs=inputs, outputs=panel.outputs(), concurrency_limit=None, show_progress="minimal") \
            .then(None, js=f"() => kestrelSetRunning({json.dumps(tab)}, false)", queue=False)

    def toggle_forever(request: gr.Request, on: bool) -> None:
        (forever_sessions.add if on else forever_sessions.discard)(request.session_hash or "anonymous")

    row.forever.input(toggle_forever, inputs=[row.forever], outputs=None, show_progress="hidden")

    def interrupt_own_jobs(request: gr.Request):
        """Interrupt stops this user's jobs (this session's, without logins), and its "Generate forever"."""
        session = request.session_hash or "anonymous"
        forever_sessions.discard(session)
        app.jobs.cancel_owned_by(ui_owner(app, request))
        return False

    def skip_own_batch(request: gr.Request) -> None:
        app.jobs.skip_running(owner=ui_owner(app, request))

    row.interrupt.click(interrupt_own_jobs, inputs=None, outputs=[row.forever], show_progress="hidden")
    row.skip.click(skip_own_batch, inputs=None, outputs=None, show_progress="hidden")
    controls.random_seed.click(lambda: RANDOM_SEED, outputs=[controls.seed], show_progress="hidden")
    controls.reuse_seed.click(seed_of_selected, inputs=[panel.generation_info, panel.selected, controls.seed],
                              outputs=[controls.seed], show_progress="hidden")
    panel.generation_info.change(lambda: 0, outputs=[panel.selected], show_progress="hidden")  # a new result

    def show_selected(entries, event: gr.SelectData):
        index = event.index if isinstance(event.index, int) else 0
        if not 0 <= index < len(entries):
            return gr.skip(), gr.skip()
        return infotext_html(entries[index][0]), index

    panel.gallery.select(show_selected, inputs=[panel.generation_info], outputs=[panel.info, panel.selected],
                         show_progress="hidden")
    wire_styles(app, row)

    def save_selected(entries, selected):
        """A1111's 💾: the chosen image into log/images with a row in log/log.csv."""
        if not entries:
            raise gr.Error("Generate an image first: the gallery is empty")
        infotext, _seed, path = entries[min(max(0, selected), len(entries) - 1)]
        if not path:
            raise gr.Error("This image was not saved, so it cannot be copied to the log")
        target = save_to_log(Path(path), infotext, app.paths.root / "log")
        return f'<p class="generation-note">Saved to log/images/{target.name}</p>'

    panel.save.click(save_selected, inputs=[panel.generation_info, panel.selected], outputs=[panel.progress],
                     show_progress="hidden")


def wire_styles(app: App, row: PromptRow) -> None:
    """📋 writes the chosen styles into the prompt boxes (and clears the choice); 💾 saves the prompts as a style."""

    def apply(styles, prompt, negative):
        try:
            prompt, negative = app.styles.apply(prompt or "", negative or "", list(styles or []))
        except ValueError as error:
            raise gr.Error(str(error)) from error
        return prompt, negative, []

    def save(name, prompt, negative):
        try:
            app.styles.save(PromptStyle((name or "").strip(), prompt or "", negative or ""))
        except (ValueError, OSError) as error:
            raise gr.Error(str(error)) from error
        return gr.Dropdown(choices=app.styles.names()), ""

    row.apply_styles.click(apply, inputs=[row.styles, row.prompt, row.negative],
                           outputs=[row.prompt, row.negative, row.styles], show_progress="hidden")
    row.save_style.click(save, inputs=[row.style_name, row.prompt, row.negative], outputs=[row.styles, row.style_name],
                         show_progress="hidden")
