"""The Settings tab: every registered setting under A1111's key and section, applied with one button and written
atomically to config.json. Jobs read the settings when they start, so changes apply without a restart (the few
that cannot say so in their label). A config.json that could not be read is reported at the top."""

from __future__ import annotations

import html
from itertools import groupby

import gradio as gr

from webui.app_context import App
from webui.config.options import OptionSpec
from webui.ui.callers import require_admin

SECTION_TITLES = {
    "sd": "Stable Diffusion", "saving-images": "Saving images/grids", "saving-paths": "Paths for saving",
    "saving-to-dirs": "Saving to a directory", "infotext": "Infotext", "ui": "User interface",
    "upscaling": "Upscaling", "sampler-params": "Sampler parameters",
}
ALWAYS_QUICK = {"CLIP_stop_at_last_layers"}  # always in the row above the tabs (infotext paste fills it)
RESTART_NEEDED = {"sd_checkpoints_limit", "quicksettings_list", "fp8_storage", "cache_fp16_weight"}  # read at start


def setting_component(app: App, spec: OptionSpec, value):
    label = spec.label + (" (requires restart)" if spec.key in RESTART_NEEDED else "")
    elem_id = f"setting_{spec.key}"
    choices = spec.current_choices()
    if spec.component == "radio" and choices is not None:
        return gr.Radio(list(choices), value=value, label=label, elem_id=elem_id)
    if spec.component == "slider" and spec.minimum is not None and spec.maximum is not None:
        return gr.Slider(spec.minimum, spec.maximum, value=value, step=spec.step or 1, label=label, elem_id=elem_id)
    if spec.component == "checkboxgroup" and choices is not None:  # a list-valued setting with choices
        shown = list(dict.fromkeys([*choices, *value]))  # a chosen file that has gone stays visible (and can go)
        return gr.CheckboxGroup(shown, value=list(value), label=label, elem_id=elem_id)
    if choices is not None:
        return gr.Dropdown(list(choices), value=value, label=label, elem_id=elem_id)
    if isinstance(spec.default, list):
        keys = [other.key for other in app.settings.registry]
        return gr.Dropdown(keys, value=list(value), multiselect=True, label=label, elem_id=elem_id)
    if isinstance(spec.default, bool):
        return gr.Checkbox(value=bool(value), label=label, elem_id=elem_id)
    if isinstance(spec.default, int | float):
        return gr.Number(value=value, label=label, elem_id=elem_id, minimum=spec.minimum, maximum=spec.maximum,
                         precision=0 if isinstance(spec.default, int) else None)
    return gr.Textbox(value="" if value is None else str(value), label=label, elem_id=elem_id)


def quick_keys(app: App) -> list[str]:
    """The quicksettings shown above the tabs, in the user's order (unknown keys are left out)."""
    listed = [key for key in app.settings.get("quicksettings_list") if app.settings.knows(key)]
    return [key for key in listed if key not in ("sd_model_checkpoint", "sd_checkpoint_hash")]


def shown_specs(app: App) -> list[OptionSpec]:
    """The Settings tab shows what the quicksettings row does not (one component per setting on the page)."""
    quick = set(quick_keys(app)) | ALWAYS_QUICK
    return [spec for spec in app.settings.registry if spec.in_settings_tab and spec.key not in quick]


def changed_text(changed: list[str]) -> str:
    if not changed:
        return "Nothing changed."
    return f"{len(changed)} settings changed: {', '.join(changed)}."


def build_settings_tab(app: App) -> None:
    if app.settings.problem:
        gr.HTML(f'<p class="settings-problem">{html.escape(app.settings.problem)}</p>',
                elem_id="settings_load_problem")
    with gr.Row():
        submit = gr.Button("Apply settings", variant="primary", elem_id="settings_submit", scale=1)
        # A1111's search: the settings whose label or key holds the text, from every section; choosing one opens
        # its section (Gradio renders the open section only, so the matches are listed here)
        search = gr.Textbox(placeholder="Search settings...", show_label=False, container=False,
                            elem_id="settings_search", scale=3)
    found = gr.HTML(elem_id="settings_search_results")
    result = gr.HTML(elem_id="settings_result")
    specs = sorted(shown_specs(app), key=lambda spec: (spec.section not in SECTION_TITLES, spec.section))
    components = []
    with gr.Tabs(elem_id="settings", overflow_behavior="wrap"):  # every section in sight, as A1111's list
        for section, members in groupby(specs, key=lambda spec: spec.section):
            with gr.Tab(section_title(specs, section), elem_id=f"settings_{section}"):
                for spec in members:
                    components.append(setting_component(app, spec, app.settings.get(spec.key)))
    shown = {spec.key: app.settings.get(spec.key) for spec in specs}  # what every page's controls start from
    applied = gr.State(None)  # per page: the values it last applied (None: those it was built with)

    def apply(request: gr.Request, baseline: dict | None, *values):
        """Only what was changed on this page since it was built or last applied, so a page opened before a change
        made through the API or quicksettings does not undo that change."""
        require_admin(app, request, "Changing the settings")
        baseline = baseline or shown
        new = {spec.key: value for spec, value in zip(specs, values, strict=True)}
        changed = [key for key, value in new.items() if value != baseline[key] and value != app.settings.get(key)]
        try:
            app.settings.update({key: new[key] for key in changed})
        except (ValueError, KeyError, OSError) as error:
            raise gr.Error(str(error)) from error
        return changed_text(changed), new

    submit.click(apply, inputs=[applied, *components], outputs=[result, applied], show_progress="hidden")
    search.change(lambda text: search_results_html(specs, text), inputs=[search], outputs=[found],
                  show_progress="hidden", trigger_mode="always_last")


def section_title(specs: list[OptionSpec], section: str) -> str:
    return SECTION_TITLES.get(section) or next(
        (spec.section_label for spec in specs if spec.section == section and spec.section_label), section)


def search_results_html(specs: list[OptionSpec], text: str | None, limit: int = 40) -> str:
    """The settings whose label or key holds every word of `text`, as links the page script follows to the
    setting (its section opened, the setting scrolled into view)."""
    words = (text or "").lower().split()
    if not words:
        return ""
    matches = [spec for spec in specs if all(word in f"{spec.label} {spec.key}".lower() for word in words)]
    if not matches:
        return '<p class="settings-search-none">No setting matches.</p>'
    items = "".join(
        f'<li><a href="#" class="settings-search-hit" data-section="settings_{html.escape(spec.section)}" '
        f'data-setting="setting_{html.escape(spec.key)}">{html.escape(section_title(specs, spec.section))} › '
        f'{html.escape(spec.label)} <code>{html.escape(spec.key)}</code></a></li>' for spec in matches[:limit])
    more = f"<p>… and {len(matches) - limit} more</p>" if len(matches) > limit else ""
    return f'<ul class="settings-search-hits">{items}</ul>{more}'
