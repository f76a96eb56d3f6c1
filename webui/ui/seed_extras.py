"""A1111's "Extra" seed row (variation seed, its strength, resize seed from width/height) and the "Override
settings" box that PNG Info's paste fills with an infotext's setting keys (ENSD, RNG, Eta, ...).

Both feed `base_request`: the variation fields directly, the override entries as the job's sampler settings
(this page's next jobs only; Settings stay as they are), as in A1111.
"""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from webui.app_context import App
from webui.engine.request import RANDOM_SEED, SamplerParameters
from webui.infotext.paste import PastedFields, override_pairs, override_settings
from webui.jobs.sampler_settings import sampler_parameters


@dataclass
class SeedExtras:
    show: gr.Checkbox
    subseed: gr.Number
    subseed_strength: gr.Slider
    resize_from_w: gr.Slider
    resize_from_h: gr.Slider
    random_subseed: gr.Button
    overrides: gr.Dropdown

    def inputs(self) -> list:
        return [self.show, self.subseed, self.subseed_strength, self.resize_from_w, self.resize_from_h,
                self.overrides]


def build_extra_toggle(tab: str) -> gr.Checkbox:
    """The "Extra" box, in the seed row (as A1111's)."""
    return gr.Checkbox(False, label="Extra", elem_id=f"{tab}_subseed_show", container=False, scale=0, min_width=80)


def build_seed_extras(tab: str, show: gr.Checkbox) -> SeedExtras:
    """The rows under the seed row: shown while "Extra" is ticked (the override box while it holds entries)."""
    with gr.Column(visible=False, elem_id=f"{tab}_seed_extras", variant="panel") as extras:
        with gr.Row(elem_id=f"{tab}_subseed_row"):
            subseed = gr.Number(label="Variation seed", value=RANDOM_SEED, precision=0, elem_id=f"{tab}_subseed")
            random_subseed = gr.Button("🎲", elem_id=f"{tab}_random_subseed", elem_classes=["tool"], scale=0,
                                       min_width=40)
            strength = gr.Slider(0.0, 1.0, value=0.0, step=0.01, label="Variation strength",
                                 elem_id=f"{tab}_subseed_strength")
        with gr.Row():
            resize_w = gr.Slider(0, 2048, value=0, step=8, label="Resize seed from width",
                                 elem_id=f"{tab}_seed_resize_from_w")
            resize_h = gr.Slider(0, 2048, value=0, step=8, label="Resize seed from height",
                                 elem_id=f"{tab}_seed_resize_from_h")
    overrides = gr.Dropdown([], value=[], multiselect=True, label="Override settings", visible=False,
                            elem_id=f"{tab}_override_settings", allow_custom_value=False)
    show.change(lambda on: gr.update(visible=bool(on)), inputs=[show], outputs=[extras], show_progress="hidden")
    random_subseed.click(lambda: RANDOM_SEED, outputs=[subseed], show_progress="hidden")
    overrides.change(lambda chosen: gr.Dropdown(visible=bool(chosen)), inputs=[overrides], outputs=[overrides],
                     show_progress="hidden")
    return SeedExtras(show, subseed, strength, resize_w, resize_h, random_subseed, overrides)


def extra_fields(app: App, extras: SeedExtras, values: dict) -> dict:
    """The request fields these controls set (without "Extra" ticked, no variation seed, as A1111)."""
    fields: dict = {}
    if values[extras.show]:
        subseed = values[extras.subseed]
        fields.update(subseed=int(subseed if subseed is not None else RANDOM_SEED),
                      subseed_strength=float(values[extras.subseed_strength] or 0.0),
                      seed_resize_from_w=int(values[extras.resize_from_w] or 0),
                      seed_resize_from_h=int(values[extras.resize_from_h] or 0))
    sampling = overridden_sampling(app, list(values[extras.overrides] or []))
    if sampling is not None:
        fields["sampling"] = sampling
    return fields


def overridden_sampling(app: App, pairs: list[str]) -> SamplerParameters | None:
    """The settings with this page's override entries on top; None without entries (admission uses Settings)."""
    if not pairs:
        return None
    return sampler_parameters(app.settings.get, override_settings(pairs, app.settings.get))


def pasted_updates(app: App, fields: PastedFields) -> list:
    """Updates for `SeedExtras.inputs()` from an infotext (PNG Info / paste)."""
    has_variation = bool(fields.subseed_strength) or (fields.seed_resize_from_w or 0) > 0
    pairs = override_pairs(dict(fields.settings), app.settings.get)
    resize_w = max(0, fields.seed_resize_from_w or 0)
    resize_h = max(0, fields.seed_resize_from_h or 0)
    subseed = gr.skip() if fields.subseed is None else fields.subseed
    return [has_variation, subseed, fields.subseed_strength or 0.0, resize_w, resize_h,
            gr.Dropdown(choices=pairs, value=pairs, visible=bool(pairs))]
