"""A1111 scripts on the txt2img / img2img tabs: each always-visible script's `ui()` in its own group (as in A1111,
the script's `ui()` makes its accordion: `gr.Accordion` or `InputAccordion`), each
selectable script in the Script dropdown (its controls shown while it is chosen), and the Generate handler wrapped
so that pressing Generate stores the owner's script values for the job's hooks, or runs the chosen selectable
script's `run(p, *args)` (which may call `process_images(p)`; each of those is an ordinary queued job).

A script whose `ui()` raises costs only itself: the failure goes to its extension in the Extensions tab.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import gradio as gr

from webui.app_context import App
from webui.engine.request import GenerationRequest
from webui.extensions.a1111 import SAVED_PATH_KEY
from webui.extensions.a1111_processing import Processed
from webui.extensions.a1111_scripts import LoadedScript
from webui.ui.callers import ui_owner
from webui.ui.gradio3_adapter import Gradio3Adapter
from webui.ui.html import infotext_html

Handler = Callable[..., Any]


@dataclass
class MountedScript:
    shim: Any
    script: LoadedScript
    components: list[Any]
    title: str
    group: Any = None


@dataclass
class ExtensionScripts:
    """What was mounted on one tab; `inputs()` go to the Generate handler, `wrap()` makes that handler."""

    app: App
    tab: str
    dropdown: Any
    always_on: list[MountedScript] = field(default_factory=list)
    selectable: list[MountedScript] = field(default_factory=list)

    def inputs(self) -> list[Any]:
        return [component for mounted in (*self.always_on, *self.selectable) for component in mounted.components]

    def wrap(self, handler: Handler, request_of: Callable[[dict], GenerationRequest]) -> Handler:
        """The tab's Generate handler with the A1111 scripts around it (the same handler when there are none)."""
        if not self.always_on and not self.selectable:
            return handler
        by_title = {mounted.title: mounted for mounted in self.selectable}

        async def generate(values: dict, request: gr.Request):
            owner = ui_owner(self.app, request)
            self.app.extensions.store_script_args(owner, {
                mounted.script.key: tuple(values[component] for component in mounted.components)
                for mounted in self.always_on})
            chosen = by_title.get(str(values.get(self.dropdown))) if self.dropdown is not None else None
            if chosen is None:
                async for update in handler(values, request=request):
                    yield update
                return
            yield gr.skip(), f'<div class="progress-info" data-state="running">{html.escape(chosen.title)}…</div>', \
                gr.skip(), gr.skip()
            yield await self._run_selectable(chosen, request_of(values), values, owner)

        return generate

    async def _run_selectable(self, mounted: MountedScript, job_request: GenerationRequest, values: dict,
                              owner: str):
        p = mounted.shim.make_p(job_request, owner)
        args = tuple(values[component] for component in mounted.components)

        def run() -> Any:  # not inside shim.active(): that holds the shims' lock, which the job's hooks need
            return mounted.script.script.run(p, *args)

        try:
            processed = await self.app.jobs.off_loop(run)
        except Exception as error:
            self.app.extensions.record_failure(mounted.script.extension, f"{mounted.title}.run")
            raise gr.Error(f"{mounted.title} failed: {type(error).__name__}: {error}") from error
        if not isinstance(processed, Processed) or not processed.images:
            return gr.skip(), "", f"<p>{html.escape(mounted.title)} made no images.</p>", []
        paths = [getattr(image, "info", {}).get(SAVED_PATH_KEY) for image in processed.images]
        gallery = paths if all(paths) else processed.images  # the saved files keep their infotext
        entries = [(infotext, seed, path or "") for infotext, seed, path in zip(
            processed.infotexts, processed.all_seeds, paths, strict=False)]
        info = infotext_html(processed.infotexts[0] if processed.infotexts else processed.info, 0.0,
                             f"{mounted.title}: {len(processed.images)} images")
        return gallery, "", info, entries


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def _build_one(app: App, shim: Any, loaded: LoadedScript, adapter: Gradio3Adapter) -> tuple[str, list[Any]] | None:
    try:
        with shim.building_ui(adapter):
            title = str(loaded.script.title())
            built = loaded.script.ui(loaded.is_img2img)
    except Exception:
        app.extensions.record_failure(loaded.extension, f"{type(loaded.script).__name__}.ui")
        return None
    components = [component for component in (built or []) if isinstance(component, gr.components.Component)]
    loaded.ui_built = True
    loaded.defaults = tuple(getattr(component, "value", None) for component in components)
    return title, components


def build_script_accordions(app: App, tab: str, dropdown: Any = None) -> ExtensionScripts:
    """Mount the A1111 scripts of `tab` ("txt2img" / "img2img"); call where the tab's Script dropdown is."""
    mounted = ExtensionScripts(app, tab, dropdown)
    scripts = [(shim, loaded) for shim, loaded in app.extensions.a1111_scripts()
               if loaded.is_img2img == (tab == "img2img")]
    if not scripts:
        return mounted
    with gr.Column(elem_id=f"{tab}_script_container"):
        for shim, loaded in scripts:
            adapter = Gradio3Adapter(loaded.extension, shim.adapter_notes)
            if loaded.always_on:
                with gr.Column(elem_id=f"script_{tab}_{_slug(_title_of(loaded))}"):  # its ui() makes its accordion
                    built = _build_one(app, shim, loaded, adapter)
                if built is not None:
                    mounted.always_on.append(MountedScript(shim, loaded, built[1], built[0]))
            elif dropdown is not None:
                with gr.Column(visible=False, elem_id=f"script_{tab}_{_slug(_title_of(loaded))}") as group:
                    built = _build_one(app, shim, loaded, adapter)
                if built is not None:
                    mounted.selectable.append(MountedScript(shim, loaded, built[1], built[0], group))
        _add_to_dropdown(mounted)
    return mounted


def _title_of(loaded: LoadedScript) -> str:
    try:
        return str(loaded.script.title())
    except Exception:
        return type(loaded.script).__name__


def _add_to_dropdown(mounted: ExtensionScripts) -> None:
    """The selectable scripts join the tab's Script dropdown; each one's controls show while it is chosen."""
    if not mounted.selectable or mounted.dropdown is None:
        return
    dropdown = mounted.dropdown
    dropdown.choices = [*dropdown.choices, *((item.title, item.title) for item in mounted.selectable)]
    groups = [item.group for item in mounted.selectable]
    titles = [item.title for item in mounted.selectable]
    def show_chosen(chosen: str) -> Any:
        updates = [gr.update(visible=chosen == title) for title in titles]
        return updates if len(updates) > 1 else updates[0]  # one output takes a value, not a list of one

    dropdown.change(show_chosen, inputs=[dropdown], outputs=groups, show_progress="hidden")
