"""The ControlNet accordion of the txt2img and img2img tabs, laid out and named as sd-webui-controlnet's.

One tab per unit ("ControlNet Unit 0" …, `control_net_unit_count` of them, 3 by default), each with the extension's
controls and element ids (`txt2img_controlnet_ControlNet-0_controlnet_enable_checkbox`, `..._input_image`,
`..._controlnet_preprocessor_dropdown`, `..._controlnet_model_dropdown`, ...), so the users' habits and the
scripts and extensions that find these elements keep working. Choosing a module shows its sliders with its labels
and defaults; a Control Type filters the module and model lists as the extension's does; 💥 runs the
preprocessor into the preview. In img2img a unit without its own image uses the init image.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

import gradio as gr
import numpy as np

from webui.app_context import App
from webui.engine.controlnet.service import ControlNetService
from webui.engine.controlnet.unit import (
    CONTROL_MODES,
    CONTROL_RESIZE_MODES,
    HIRES_OPTIONS,
    NO_MODEL,
    ControlNetUnit,
    unit_count,
)
from webui.errors import KestrelError
from webui.infotext.controlnet import INFOTEXT_FIELDS

SLIDER_FIELDS = ("processor_res", "threshold_a", "threshold_b")


@dataclass
class UnitControls:
    index: int
    enabled: gr.Checkbox
    image: gr.Image
    low_vram: gr.Checkbox
    pixel_perfect: gr.Checkbox
    allow_preview: gr.Checkbox
    preview: gr.Image
    control_type: gr.Radio
    module: gr.Dropdown
    run_preprocessor: gr.Button
    model: gr.Dropdown
    refresh: gr.Button
    weight: gr.Slider
    guidance_start: gr.Slider
    guidance_end: gr.Slider
    processor_res: gr.Slider
    threshold_a: gr.Slider
    threshold_b: gr.Slider
    control_mode: gr.Radio
    resize_mode: gr.Radio
    hr_option: gr.Radio | None = None

    def inputs(self) -> list:
        return [component for component in (self.enabled, self.image, self.low_vram, self.pixel_perfect,
                                             self.module, self.model, self.weight, self.guidance_start,
                                             self.guidance_end, *self.sliders(), self.control_mode,
                                             self.resize_mode, self.hr_option) if component is not None]

    def sliders(self) -> tuple[gr.Slider, gr.Slider, gr.Slider]:
        return self.processor_res, self.threshold_a, self.threshold_b

    def pasted(self) -> list:
        """The controls the infotext fills, in INFOTEXT_FIELDS order, after `enabled`."""
        return [self.enabled, self.module, self.model, self.weight, self.resize_mode, self.processor_res,
                self.threshold_a, self.threshold_b, self.guidance_start, self.guidance_end, self.pixel_perfect,
                self.control_mode]


@dataclass
class ControlNetControls:
    app: App
    tab: str
    units: list[UnitControls] = field(default_factory=list)

    def inputs(self) -> list:
        return [component for unit in self.units for component in unit.inputs()]

    def request_units(self, values: dict) -> tuple[ControlNetUnit, ...]:
        """The enabled units as request units; a unit that cannot run is a visible error naming it."""
        service = self.app.engine.controlnet
        units = []
        for controls in self.units:
            if not values[controls.enabled] or service is None:
                continue
            unit = _unit_from_values(controls, values)
            if unit.image is None and self.tab == "txt2img":
                raise gr.Error(f"ControlNet Unit {controls.index}: upload a control image (txt2img has no init "
                               "image to use)")
            try:
                loaded = self.app.models.loaded
                width = int(loaded.pipeline.unet.config.cross_attention_dim) if loaded else None
                service.check_unit(unit, width)
            except (KestrelError, ValueError) as error:
                raise gr.Error(f"ControlNet Unit {controls.index}: {error}") from error
            units.append(unit)
        return tuple(units)

    def pasted_components(self) -> list:
        return [component for unit in self.units for component in unit.pasted()]

    def pasted_updates(self, entries: dict[int, dict[str, object]]) -> list:
        """Infotext `ControlNet N` entries → updates of each unit's controls (untouched units are skipped)."""
        service = self.app.engine.controlnet
        updates: list = []
        for controls in self.units:
            entry = entries.get(controls.index)
            if entry is None or service is None:
                updates += [gr.skip()] * len(controls.pasted())
                continue
            values = dict(entry)
            try:
                values["model"] = service.models.find(str(values.get("model", NO_MODEL))).title
            except KestrelError:
                gr.Warning(f"ControlNet {controls.index}: model {values.get('model')} is not installed")
                values["model"] = None
            updates.append(True)
            updates += [gr.skip() if values.get(name) is None else values[name] for name in INFOTEXT_FIELDS]
        return updates


def _unit_from_values(controls: UnitControls, values: dict) -> ControlNetUnit:
    image = values[controls.image]
    try:
        return ControlNetUnit(
            module=values[controls.module] or "none", model=values[controls.model] or NO_MODEL,
            weight=float(values[controls.weight]), image=None if image is None else image.convert("RGB"),
            resize_mode=values[controls.resize_mode], low_vram=bool(values[controls.low_vram]),
            processor_res=int(values[controls.processor_res]), threshold_a=float(values[controls.threshold_a]),
            threshold_b=float(values[controls.threshold_b]), guidance_start=float(values[controls.guidance_start]),
            guidance_end=float(values[controls.guidance_end]), pixel_perfect=bool(values[controls.pixel_perfect]),
            control_mode=values[controls.control_mode],
            hr_option=values[controls.hr_option] if controls.hr_option is not None else "Both",
            index=controls.index)
    except (TypeError, ValueError) as error:
        raise gr.Error(f"ControlNet Unit {controls.index}: {error}") from error


def _slider_updates(service: ControlNetService, module: str) -> list:
    """Each slider shown with the module's label, range and default, or hidden when the module has none."""
    spec = service.preprocessors.get(module)
    updates = []
    for slider in (spec.resolution, spec.threshold_a, spec.threshold_b):
        if slider is None:
            updates.append(gr.update(visible=False))
        else:
            updates.append(gr.update(visible=True, label=slider.label, minimum=slider.minimum,
                                     maximum=slider.maximum, value=slider.value, step=slider.step))
    return updates


def _control_types(service: ControlNetService) -> dict[str, Any]:
    """The extension's control types: name → {module_list, model_list, default_option, default_model}."""
    return cast(dict[str, Any], service.preprocessors.control_types(service.models.titles())["control_types"])


def _control_type_choices(service: ControlNetService, control_type: str) -> tuple[Any, Any]:
    types = _control_types(service)
    entry = types.get(control_type) or types["All"]
    return (gr.update(choices=entry["module_list"], value=entry["default_option"]),
            gr.update(choices=entry["model_list"], value=entry["default_model"]))


def _build_unit(app: App, service: ControlNetService, tab: str, index: int) -> UnitControls:
    prefix = f"{tab}_controlnet_ControlNet-{index}"
    registry = service.preprocessors
    with gr.Row(elem_classes=["cnet-image-row"]):
        image = gr.Image(type="pil", label="Image", sources=["upload", "clipboard"], elem_id=f"{prefix}_input_image",
                         elem_classes=["cnet-image"])
        preview = gr.Image(label="Preprocessor Preview", interactive=False, visible=False,
                           elem_id=f"{prefix}_generated_image", elem_classes=["cnet-image"])
    with gr.Row(elem_classes=["controlnet_main_options"]):
        enabled = gr.Checkbox(False, label="Enable", elem_id=f"{prefix}_controlnet_enable_checkbox",
                              elem_classes=["cnet-unit-enabled"])
        low_vram = gr.Checkbox(False, label="Low VRAM", elem_id=f"{prefix}_controlnet_low_vram_checkbox")
        pixel_perfect = gr.Checkbox(False, label="Pixel Perfect", elem_id=f"{prefix}_controlnet_pixel_perfect_checkbox")
        allow_preview = gr.Checkbox(False, label="Allow Preview",
                                    elem_id=f"{prefix}_controlnet_preprocessor_preview_checkbox")
    types = list(_control_types(service))
    control_type = gr.Radio(types, value="All", label="Control Type", elem_id=f"{prefix}_controlnet_type_filter_radio")
    with gr.Row(elem_classes=["controlnet_preprocessor_model"]):
        module = gr.Dropdown(registry.names(), value="none", label="Preprocessor",
                             elem_id=f"{prefix}_controlnet_preprocessor_dropdown")
        run_preprocessor = gr.Button("💥", elem_id=f"{prefix}_controlnet_trigger_preprocessor", scale=0,
                                     min_width=40, elem_classes=["tool", "cnet-run-preprocessor"])
        model = gr.Dropdown(service.models.titles(), value=NO_MODEL, label="Model",
                            elem_id=f"{prefix}_controlnet_model_dropdown")
        refresh = gr.Button("🔄", elem_id=f"{prefix}_controlnet_refresh_models", scale=0, min_width=40,
                            elem_classes=["tool"])
    with gr.Row(elem_classes=["controlnet_weight_steps"]):
        weight = gr.Slider(0.0, 2.0, value=1.0, step=0.05, label="Control Weight",
                           elem_id=f"{prefix}_controlnet_control_weight_slider")
        guidance_start = gr.Slider(0.0, 1.0, value=0.0, step=0.01, label="Starting Control Step",
                                   elem_id=f"{prefix}_controlnet_start_control_step_slider")
        guidance_end = gr.Slider(0.0, 1.0, value=1.0, step=0.01, label="Ending Control Step",
                                 elem_id=f"{prefix}_controlnet_ending_control_step_slider")
    with gr.Row():
        processor_res = gr.Slider(64, 2048, value=512, step=8, label="Preprocessor resolution", visible=False,
                                  elem_id=f"{prefix}_controlnet_preprocessor_resolution_slider")
        threshold_a = gr.Slider(-1, 1024, value=-1, label="Threshold A", visible=False,
                                elem_id=f"{prefix}_controlnet_threshold_A_slider")
        threshold_b = gr.Slider(-1, 1024, value=-1, label="Threshold B", visible=False,
                                elem_id=f"{prefix}_controlnet_threshold_B_slider")
    control_mode = gr.Radio(list(CONTROL_MODES), value=CONTROL_MODES[0], label="Control Mode",
                            elem_id=f"{prefix}_controlnet_control_mode_radio")
    resize_mode = gr.Radio(list(CONTROL_RESIZE_MODES), value="Crop and Resize", label="Resize Mode",
                           elem_id=f"{prefix}_controlnet_resize_mode_radio")
    hr_option = None
    if tab == "txt2img":
        hr_option = gr.Radio(list(HIRES_OPTIONS), value="Both", label="Hires-Fix Option",
                             elem_id=f"{prefix}_controlnet_hr_option_radio")
    return UnitControls(index, enabled, image, low_vram, pixel_perfect, allow_preview, preview, control_type,
                        module, run_preprocessor, model, refresh, weight, guidance_start, guidance_end,
                        processor_res, threshold_a, threshold_b, control_mode, resize_mode, hr_option)


def _wire_unit(app: App, service: ControlNetService, controls: UnitControls) -> None:
    sliders = list(controls.sliders())
    controls.module.change(lambda module: _slider_updates(service, module), inputs=[controls.module],
                           outputs=sliders, show_progress="hidden")
    controls.control_type.change(lambda kind: _control_type_choices(service, kind), inputs=[controls.control_type],
                                 outputs=[controls.module, controls.model], show_progress="hidden")

    def refresh_models(current: str):
        service.models.refresh()
        titles = service.models.titles()
        return gr.update(choices=titles, value=current if current in titles else NO_MODEL)
    controls.refresh.click(refresh_models, inputs=[controls.model], outputs=[controls.model], show_progress="hidden")
    controls.allow_preview.change(lambda shown: gr.update(visible=bool(shown)), inputs=[controls.allow_preview],
                                  outputs=[controls.preview], show_progress="hidden")

    def detect(image, module, resolution, threshold_a, threshold_b):
        if image is None:
            raise gr.Error(f"ControlNet Unit {controls.index}: upload an image to run the preprocessor on")
        try:
            pixels = np.asarray(image.convert("RGB"))
            return gr.update(value=service.detect(module, pixels, resolution, threshold_a, threshold_b),
                             visible=True)
        except (KestrelError, ValueError) as error:
            raise gr.Error(f"ControlNet Unit {controls.index}: {error}") from error
    controls.run_preprocessor.click(detect, inputs=[controls.image, controls.module, *sliders],
                                    outputs=[controls.preview])


def build_controlnet_accordion(app: App, tab: str) -> ControlNetControls:
    """The accordion (empty controls when the app has no ControlNet service)."""
    controls = ControlNetControls(app, tab)
    service = app.engine.controlnet
    if service is None:
        return controls
    with gr.Accordion("ControlNet", open=False, elem_id=f"{tab}_controlnet"):
        with gr.Tabs(elem_id=f"{tab}_controlnet_tabs"):
            for index in range(unit_count(app.settings.get)):
                with gr.Tab(f"ControlNet Unit {index}", elem_classes=["cnet-unit-tab"]):
                    unit = _build_unit(app, service, tab, index)
                    _wire_unit(app, service, unit)
                    controls.units.append(unit)
    return controls

