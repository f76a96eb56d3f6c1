"""Infotext → the controls of a tab: A1111's ↙️ paste button and PNG Info's "Send to" buttons.

Which controls receive which infotext key is `webui.infotext.paste`; here the typed values become Gradio updates
(`gr.skip()` where the infotext says nothing), and an old combined sampler name ("DPM++ 2M Karras") is split.
"""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from webui.app_context import App
from webui.infotext.paste import USE_SAME_SAMPLER, USE_SAME_SCHEDULER, PastedFields
from webui.jobs.tasks import ModelSwitch
from webui.ui.controlnet_ui import ControlNetControls
from webui.ui.generation_panel import PromptRow, SamplingControls
from webui.ui.seed_extras import pasted_updates
from webui.ui.txt2img_tab import HiresControls


def _value(value):
    return gr.skip() if value is None else value


@dataclass
class PasteTargets:
    """The controls one tab fills from an infotext, in the order `updates` answers for them."""

    row: PromptRow
    controls: SamplingControls
    clip_skip: gr.Slider
    checkpoint: gr.Dropdown
    hires: HiresControls | None = None
    denoising: gr.Slider | None = None
    mask_blur: gr.Slider | None = None
    controlnet: ControlNetControls | None = None

    def components(self) -> list:
        c = self.controls
        components = [self.row.prompt, self.row.negative, c.steps, c.sampler, c.scheduler, c.cfg_scale, c.seed,
                      c.width, c.height, self.clip_skip, self.checkpoint, *c.extras.inputs()]
        if self.hires is not None:
            h = self.hires
            components += [h.enable, h.denoising, h.scale, h.upscaler, h.steps, h.resize_x, h.resize_y, h.sampler,
                           h.scheduler, h.prompt, h.negative]
        components += [target for target in (self.denoising, self.mask_blur) if target is not None]
        if self.controlnet is not None:
            components += self.controlnet.pasted_components()
        return components

    def updates(self, app: App, fields: PastedFields, may_switch: bool = True) -> list:
        """The pasted values for `components()`; the checkpoint is switched for everyone only if `may_switch`
        (an admin, or no logins), otherwise only the dropdown changes, and this user's jobs use it."""
        sampler, scheduler = _sampler(app, fields.sampler, fields.schedule_type)
        updates = [fields.prompt, fields.negative_prompt, _value(fields.steps), _value(sampler), _value(scheduler),
                   _value(fields.cfg_scale), _value(fields.seed), _value(fields.width), _value(fields.height),
                   _value(fields.clip_skip), _checkpoint(app, fields.model_hash, may_switch),
                   *pasted_updates(app, fields)]
        if self.hires is not None:
            hr_sampler, hr_scheduler = _hires_sampler(app, fields)
            updates += [fields.enable_hr, _value(fields.denoising_strength if fields.enable_hr else None),
                        _value(fields.hr_scale), _value(fields.hr_upscaler), _value(fields.hr_steps or 0),
                        _value(fields.hr_resize_x), _value(fields.hr_resize_y), hr_sampler, hr_scheduler,
                        _value(fields.hr_prompt), _value(fields.hr_negative_prompt)]
        if self.denoising is not None:
            updates.append(_value(fields.denoising_strength))
        if self.mask_blur is not None:
            updates.append(_value(fields.mask_blur))
        if self.controlnet is not None:
            updates += self.controlnet.pasted_updates({index: dict(values) for index, values in fields.controlnet})
        return updates


def _checkpoint(app: App, model_hash: str | None, may_switch: bool):
    """A1111 switches to the infotext's checkpoint only when `disable_weights_auto_swap` is off (it is on by
    default) and the hash names a checkpoint we have."""
    if model_hash is None or app.settings.get("disable_weights_auto_swap"):
        return gr.skip()
    try:
        title = app.models.find(model_hash).title
        if may_switch and app.instance_model().checkpoint != title:
            app.submit_model_switch(ModelSwitch(checkpoint=title))  # queued: runs before this page's next job
    except (LookupError, ValueError, OSError) as error:
        gr.Warning(f"Checkpoint with hash {model_hash} not used: {error}")
        return gr.skip()
    return title


def _sampler(app: App, name: str | None, schedule: str | None) -> tuple[str | None, str | None]:
    if name is None:
        return None, None
    try:
        return app.samplers.split_legacy_name(name, None if schedule == "Automatic" else schedule)
    except ValueError:
        gr.Warning(f"Sampler {name!r} from the infotext is unknown here; the sampler was left as it was")
        return None, schedule


def _hires_sampler(app: App, fields: PastedFields):
    if fields.hr_sampler in (None, USE_SAME_SAMPLER):
        return USE_SAME_SAMPLER, fields.hr_scheduler or USE_SAME_SCHEDULER
    sampler, scheduler = _sampler(app, fields.hr_sampler, fields.hr_scheduler)
    return _value(sampler), _value(scheduler)
