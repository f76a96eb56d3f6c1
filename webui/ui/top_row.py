"""The quicksettings row above the tabs: A1111's checkpoint dropdown, its refresh button, and the demo notice."""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from webui.app_context import App
from webui.errors import KestrelError
from webui.jobs.tasks import ModelSwitch, outcome
from webui.model_manager.manager import CheckpointNotFoundError
from webui.model_manager.memory_policy import MemoryPolicyError
from webui.model_manager.probe import UnsupportedArchitectureError
from webui.model_manager.safetensors_header import CheckpointFormatError
from webui.model_manager.vae import AUTOMATIC, NONE
from webui.ui.callers import require_admin, ui_caller, ui_owner
from webui.ui.settings_tab import quick_keys, setting_component

DEMO_NOTICE = (
    "**Demo model.** `kestrel-demo-tiny` has random weights and draws coloured noise. To make real pictures, put an "
    "SD 1.x checkpoint (e.g. an fp16 \"Anything\" `.safetensors`) into `models/Stable-diffusion/`, press 🔄 and "
    "choose it above."
)
LOAD_ERRORS = (CheckpointNotFoundError, CheckpointFormatError, UnsupportedArchitectureError, MemoryPolicyError,
               OSError)


@dataclass
class TopRow:
    checkpoint: gr.Dropdown
    refresh: gr.Button
    demo_notice: gr.Markdown
    clip_skip: gr.Slider
    vae: gr.Dropdown
    quicksettings: dict[str, gr.components.Component]  # the other settings of quicksettings_list, by key

    def refresh_on_load(self, app: App, page: gr.Blocks) -> None:
        """A1111 reads the checkpoint and the quicksettings at every page load: a new or reloaded page shows what
        the server uses now (loaded since, or saved in config.json), not what it used when the page was built."""
        keys = list(self.quicksettings)

        def current():
            titles = [record.title for record in app.models.checkpoints()]
            return (gr.update(choices=titles, value=_current_title(app)), gr.update(visible=_is_demo(app)),
                    gr.update(choices=_vae_choices(app), value=app.models.vae_choice),
                    int(app.settings.get("CLIP_stop_at_last_layers")), *(app.settings.get(key) for key in keys))

        page.load(current, outputs=[self.checkpoint, self.demo_notice, self.vae, self.clip_skip,
                                    *self.quicksettings.values()], show_progress="hidden")


def _current_title(app: App) -> str | None:
    """The instance's checkpoint (a setting), not whatever a job that named its own left loaded."""
    return app.instance_model().checkpoint


def _is_demo(app: App) -> bool:
    loaded = app.models.loaded
    return bool(loaded and loaded.is_demo)


def _vae_choices(app: App) -> list[str]:
    return [AUTOMATIC, NONE, *(record.name for record in app.models.vaes())]


def _build_vae_dropdown(app: App, visible: bool = True) -> gr.Dropdown:
    vae = gr.Dropdown(choices=_vae_choices(app), value=app.models.vae_choice, label="SD VAE",
                      elem_id="setting_sd_vae", interactive=True, scale=2, visible=visible)

    async def switch_vae(choice: str, request: gr.Request):
        try:
            require_admin(app, request, "Switching the VAE")
            await app.switch_vae(choice, ui_owner(app, request))
        except LOAD_ERRORS + (LookupError, KestrelError) as error:
            gr.Warning(f"Could not use VAE {choice}: {error}")
        return gr.update(value=app.models.vae_choice)

    vae.select(switch_vae, inputs=[vae], outputs=[vae], show_progress="full")  # .input fires twice in Gradio 6
    return vae


def _build_clip_skip(app: App) -> gr.Slider:
    """A1111's "Clip skip" setting (CLIP_stop_at_last_layers) as a quicksetting; anime checkpoints expect 2."""
    slider = gr.Slider(1, 12, value=int(app.settings.get("CLIP_stop_at_last_layers")), step=1, label="Clip skip",
                       elem_id="setting_CLIP_stop_at_last_layers", interactive=True, scale=2)

    def remember(value: float, request: gr.Request) -> None:
        if int(value) == int(app.settings.get("CLIP_stop_at_last_layers")):
            return  # the page load showing the current value
        if not ui_caller(app, request).is_admin:
            gr.Warning("Clip skip is a server setting: only an admin can change it for everyone.")
            return
        app.settings.set("CLIP_stop_at_last_layers", int(value))

    slider.change(remember, inputs=[slider], outputs=None, show_progress="hidden")  # also when pasted
    return slider


def _build_other_quicksettings(app: App, keys: list[str]) -> dict[str, gr.components.Component]:
    """Any other setting named in quicksettings_list, as in A1111: changed here, saved at once."""
    components = {}
    for key in keys:
        spec = app.settings.spec(key)
        component = setting_component(app, spec, app.settings.get(key))

        def save(value, request: gr.Request, key=key):
            if value == app.settings.get(key):
                return  # the page load showing the current value
            try:
                require_admin(app, request, f"Changing {key}")
                app.settings.set(key, value)
            except ValueError as error:
                raise gr.Error(str(error)) from error

        component.change(save, inputs=[component], outputs=None, show_progress="hidden")
        components[key] = component
    return components


def build_top_row(app: App) -> TopRow:
    titles = [record.title for record in app.models.checkpoints()]
    with gr.Row(elem_id="quicksettings"):
        # a custom value is allowed: a title gains its hash once the file is hashed (at its first load), and a
        # page may still send the title it was given before; the model manager finds either
        checkpoint = gr.Dropdown(choices=titles, value=_current_title(app), label="Stable Diffusion checkpoint",
                                 elem_id="setting_sd_model_checkpoint", interactive=True, scale=4,
                                 allow_custom_value=True)
        refresh = gr.Button("🔄", elem_id="refresh_sd_model_checkpoint", elem_classes=["tool"], scale=0,
                            min_width=40)
        quick = quick_keys(app)
        vae = _build_vae_dropdown(app, visible="sd_vae" in quick)
        clip_skip = _build_clip_skip(app)
        others = _build_other_quicksettings(app, [key for key in quick
                                                  if key not in ("sd_vae", "CLIP_stop_at_last_layers")])
    demo_notice = gr.Markdown(DEMO_NOTICE, elem_id="demo_model_notice", visible=_is_demo(app))

    async def switch(title: str, request: gr.Request, progress=gr.Progress()):  # Gradio injects both
        previous = _current_title(app)
        if not ui_caller(app, request).is_admin:  # the choice stays in this page and goes with this user's jobs
            gr.Info(f"Your generations will use {title}; switching the model for everyone needs an admin.")
            return gr.update(value=title), gr.update()
        try:
            job = app.submit_model_switch(ModelSwitch(checkpoint=title), ui_owner(app, request))
            async for snapshot in job.updates(interval=0.2):
                progress(snapshot.progress.fraction, desc=f"loading {title}")
            new_title = outcome(snapshot)
        except LOAD_ERRORS + (KestrelError,) as error:
            detail = str(error)  # most errors start with the file's name already: say it once
            what = detail if detail.startswith(title.split(" [")[0]) else f"{title}: {detail}"
            gr.Warning(f"Could not load {what}. Still using {previous}.")
            return gr.update(value=previous), gr.update()
        return gr.update(value=new_title, choices=[r.title for r in app.models.checkpoints()]), \
            gr.update(visible=_is_demo(app))

    def refresh_lists():
        records = app.models.refresh()
        return (gr.update(choices=[record.title for record in records], value=_current_title(app)),
                gr.update(choices=_vae_choices(app), value=app.models.vae_choice))

    # .select, not .input: Gradio 6's dropdown fires .input twice per choice, and each loaded (or refused) twice
    checkpoint.select(switch, inputs=[checkpoint], outputs=[checkpoint, demo_notice], show_progress="full")
    refresh.click(refresh_lists, outputs=[checkpoint, vae], show_progress="hidden")
    return TopRow(checkpoint, refresh, demo_notice, clip_skip, vae, others)
