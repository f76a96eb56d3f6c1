"""The txt2img tab: A1111's layout, element ids and defaults, plus its Hires. fix accordion."""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from webui.app_context import App
from webui.engine.request import HiresFix
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
from webui.ui.script_accordions import build_script_accordions
from webui.ui.xyz_plot_ui import ScriptControls, build_script_controls, run_with_script

USE_SAME_SAMPLER = "Use same sampler"
USE_SAME_SCHEDULER = "Use same scheduler"


@dataclass
class HiresControls:
    enable: gr.Checkbox
    upscaler: gr.Dropdown
    steps: gr.Slider
    denoising: gr.Slider
    scale: gr.Slider
    resize_x: gr.Slider
    resize_y: gr.Slider
    sampler: gr.Dropdown
    scheduler: gr.Dropdown
    prompt: gr.Textbox
    negative: gr.Textbox

    def inputs(self) -> list:
        return [self.enable, self.upscaler, self.steps, self.denoising, self.scale, self.resize_x, self.resize_y,
                self.sampler, self.scheduler, self.prompt, self.negative]


def _build_hires(app: App) -> HiresControls:
    table = app.samplers
    with gr.Accordion("Hires. fix", open=False, elem_id="txt2img_hr"):
        enable = gr.Checkbox(False, label="Enable", elem_id="txt2img_enable_hr")
        with gr.Row(elem_id="txt2img_hires_fix_row1"):
            upscaler = gr.Dropdown([name for name in app.engine.hires_upscaler_names() if name != "None"],
                                   value="Latent", label="Upscaler", elem_id="txt2img_hr_upscaler")
            steps = gr.Slider(0, 150, value=0, step=1, label="Hires steps", elem_id="txt2img_hires_steps")
            denoising = gr.Slider(0.0, 1.0, value=app.ui_config.value("txt2img", "Denoising strength", 0.7),
                                  step=0.01, label="Denoising strength",
                                  elem_id="txt2img_denoising_strength")
        with gr.Row(elem_id="txt2img_hires_fix_row2"):
            scale = gr.Slider(1.0, 4.0, value=app.ui_config.value("txt2img", "Upscale by", 2.0), step=0.05,
                              label="Upscale by", elem_id="txt2img_hr_scale")
            resize_x = gr.Slider(0, 2048, value=0, step=8, label="Resize width to", elem_id="txt2img_hr_resize_x")
            resize_y = gr.Slider(0, 2048, value=0, step=8, label="Resize height to", elem_id="txt2img_hr_resize_y")
        with gr.Row(elem_id="txt2img_hires_fix_row3"):
            sampler = gr.Dropdown([USE_SAME_SAMPLER, *(spec.name for spec in table.samplers)],
                                  value=USE_SAME_SAMPLER, label="Hires sampling method", elem_id="hr_sampler")
            scheduler = gr.Dropdown([USE_SAME_SCHEDULER, *(schedule.label for schedule in table.schedule_types)],
                                    value=USE_SAME_SCHEDULER, label="Hires schedule type", elem_id="hr_scheduler")
        with gr.Row(elem_id="txt2img_hires_fix_row4"):
            prompt = gr.Textbox(label="Hires prompt", lines=2, elem_id="hires_prompt",
                                placeholder="Prompt for hires fix pass.\nLeave empty to use the same prompt.")
            negative = gr.Textbox(label="Hires negative prompt", lines=2, elem_id="hires_neg_prompt",
                                  placeholder="Negative prompt for hires fix pass.\nLeave empty to use the same.")
    return HiresControls(enable, upscaler, steps, denoising, scale, resize_x, resize_y, sampler, scheduler, prompt,
                         negative)


def hires_from_inputs(enable, upscaler, steps, denoising, scale, resize_x, resize_y, sampler, scheduler, prompt,
                      negative) -> HiresFix | None:
    if not enable:
        return None
    try:
        return HiresFix(upscaler=upscaler, steps=int(steps), denoising_strength=float(denoising), scale=float(scale),
                        resize_width=int(resize_x), resize_height=int(resize_y),
                        sampler_name=None if sampler == USE_SAME_SAMPLER else sampler,
                        scheduler=None if scheduler == USE_SAME_SCHEDULER else scheduler,
                        prompt=prompt or "", negative_prompt=negative or "")
    except (TypeError, ValueError) as error:
        raise gr.Error(str(error)) from error


def make_generate_handler(app: App, row: PromptRow, controls: SamplingControls, hires: HiresControls,
                          scripts: ScriptControls, checkpoint: gr.Dropdown,
                          controlnet: ControlNetControls | None = None):
    async def generate(values: Values, request: gr.Request):
        hires_fix = hires_from_inputs(*(values[component] for component in hires.inputs()))
        units = controlnet.request_units(values) if controlnet is not None else ()
        job_request = base_request(app, row, controls, values, values[checkpoint], hires=hires_fix,
                                   controlnet=units)
        script, *axes = (values[component] for component in scripts.inputs())
        async for update in run_with_script(app, job_request, script, tuple(axes), request):
            yield update

    return generate


@dataclass
class Txt2ImgHandles:
    row: PromptRow
    controls: SamplingControls
    panel: OutputPanel
    hires: HiresControls
    controlnet: ControlNetControls | None = None


def build_txt2img_tab(app: App, checkpoint: gr.Dropdown) -> Txt2ImgHandles:
    tab = "txt2img"
    row = build_prompt_row(app, tab)
    with gr.Row(elem_id=f"{tab}_extra_tabs"):
        with gr.Column(scale=1, elem_id=f"{tab}_settings"):
            build_extra_networks(app, tab, row.prompt)  # in the settings column: the gallery stays in sight
            controls = build_sampling_controls(app, tab)
            hires = _build_hires(app)
            scripts = build_script_controls(tab)
            a1111 = build_script_accordions(app, tab, scripts.script)
            controlnet = build_controlnet_accordion(app, tab)
        with gr.Column(scale=1, elem_id=f"{tab}_results"):
            panel = build_output_panel(tab)
    handler = a1111.wrap(make_generate_handler(app, row, controls, hires, scripts, checkpoint, controlnet),
                         lambda values: base_request(
                             app, row, controls, values, values[checkpoint],
                             hires=hires_from_inputs(*(values[component] for component in hires.inputs())),
                             controlnet=controlnet.request_units(values)))
    wire_generation(app, row, controls, panel, handler, [*hires.inputs(), *scripts.inputs(), checkpoint,
                                                         *a1111.inputs(), *controlnet.inputs()])
    return Txt2ImgHandles(row, controls, panel, hires, controlnet)
