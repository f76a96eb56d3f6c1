"""Extension tabs on the page, where A1111 puts them: after Checkpoint Merger, before Settings.

Our extensions' builders run inside their `gr.Tab`; A1111 extensions' `on_ui_tabs` callbacks run before the page's
Blocks is opened (as in A1111) and the Blocks they return is rendered into a tab with elem_id `tab_<elem_id>`.
A builder or callback that raises costs only its own tab: the failure goes to the Extensions tab and the page is
built without it (or with the tab saying what went wrong).
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from webui.extensions.a1111_scripts import Script
from webui.extensions.registry import Extensions
from webui.ui.gradio3_adapter import Gradio3Adapter


@dataclass(frozen=True)
class A1111Tab:
    extension: str
    component: Any     # usually a gr.Blocks built by the extension
    title: str
    elem_id: str


def collect_a1111_tabs(extensions: Extensions) -> list[A1111Tab]:
    """Call every loaded A1111 extension's on_ui_tabs callbacks; call this outside any Blocks context."""
    tabs: list[A1111Tab] = []
    for name, shim in extensions.a1111_shims():
        adapter = Gradio3Adapter(name, shim.adapter_notes)
        try:
            tabs.extend(A1111Tab(name, component, title, elem_id)
                        for component, title, elem_id in shim.collect_tabs(adapter))
        except Exception:
            extensions.record_failure(name, "on_ui_tabs")
    return tabs


def _failed_tab_notice(extension: str) -> None:
    gr.HTML(f'<p class="extension-tab-failed">The {html.escape(extension)} extension could not build this tab; '
            "see the Extensions tab.</p>")


BUILT_IN_TAB_IDS = {"txt2img", "img2img", "pnginfo", "modelmerger", "settings", "system", "extensions"}


def _id_is_free(extensions: Extensions, extension: str, elem_id: str, taken: set[str]) -> bool:
    """Tab ids must be unique on the page; a second tab asking for one already used is left out, and said so."""
    if elem_id in taken:
        extensions.record_failure(extension, "tab", f"tab elem_id {elem_id!r} is already used on the page; "
                                                    "the tab was left out")
        return False
    taken.add(elem_id)
    return True


def build_extension_tabs(extensions: Extensions, a1111_tabs: list[A1111Tab]) -> None:
    """One gr.Tab per extension tab (ours first, in load order, then A1111 ones); call inside gr.Tabs."""
    taken = set(BUILT_IN_TAB_IDS)
    for tab in extensions.tabs():
        if not _id_is_free(extensions, tab.extension, tab.elem_id, taken):
            continue
        with gr.Tab(tab.title, id=tab.elem_id, elem_id=f"tab_{tab.elem_id}"):
            try:
                tab.builder(tab.context)
            except Exception:
                extensions.record_failure(tab.extension, "tab")
                _failed_tab_notice(tab.extension)
    for a1111_tab in a1111_tabs:
        if not _id_is_free(extensions, a1111_tab.extension, a1111_tab.elem_id, taken):
            continue
        with gr.Tab(a1111_tab.title, id=a1111_tab.elem_id, elem_id=f"tab_{a1111_tab.elem_id}"):
            try:
                a1111_tab.component.render()
            except Exception:
                extensions.record_failure(a1111_tab.extension, "tab")
                _failed_tab_notice(a1111_tab.extension)


def call_after_component(extensions: Extensions, page: gr.Blocks) -> None:
    """A1111's `on_after_component(component, **kwargs)` and `Script.after_component`, for every component of the
    page that has an elem_id, once the page is built; call inside the page's Blocks (components a callback makes
    land at the end of the page rather than next to the one it looked for)."""
    components = [block for block in list(page.blocks.values())
                  if isinstance(block, gr.components.Component) and block.elem_id]
    for name, shim in extensions.a1111_shims():
        listeners = [*shim.callbacks["after_component"],
                     *(loaded.script.after_component for loaded in shim.scripts
                       if type(loaded.script).after_component is not Script.after_component)]
        if not listeners:
            continue
        adapter = Gradio3Adapter(name, shim.adapter_notes)
        try:
            with shim.building_ui(adapter):
                for component in components:
                    for listener in listeners:
                        listener(component, elem_id=component.elem_id, label=getattr(component, "label", None))
        except Exception:
            extensions.record_failure(name, "on_after_component")


PAGE_HELPERS_FILE = Path(__file__).parent / "static" / "a1111-page-helpers.js"


def _inline(source: str) -> str:
    """A script's text made safe inside <script>…</script> (a literal "</script" would end the tag early)."""
    return source.replace("</script", "<\\/script")


def extension_head(extensions: Extensions) -> str:
    """The extensions' javascript/*.js as <script> tags for the page head (Gradio's `head` mount option runs them
    as document-level scripts), after A1111's helper functions they expect."""
    scripts = extensions.scripts()
    if not scripts and not extensions.a1111_shims():
        return ""
    helpers = f"<script>/* A1111's page helpers */\n{_inline(PAGE_HELPERS_FILE.read_text(encoding='utf-8'))}\n</script>"
    tags = [f"<script>/* {html.escape(name)} */\n{_inline(source)}\n</script>" for name, source in scripts]
    return "\n".join([helpers, *tags])
