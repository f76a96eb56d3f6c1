"""Gradio 3 → 6 for A1111 extensions, only while the page builds an extension's UI (never a patch of gradio).

A1111 extensions are written for Gradio 3: `_js=` on events, `variant=` on Blocks, `gr.Image(source=, tool=)`,
`.style(...)`, `gr.Box`, `gr.Dropdown.update(...)`. The A1111 shim's `gradio` module is a view; while an extension's
`on_ui_tabs` or `Script.ui()` runs, that view is a `Gradio3Adapter`: each component class is a small stand-in
whose construction translates the Gradio 3 keywords (`_js` → `js`, `source` → `sources`, `gr.Box` → `gr.Group`),
drops the keywords Gradio 6 no longer has, and returns the real Gradio 6 component (so `isinstance` and rendering
are Gradio's own), with its event methods accepting `_js=` too. What was translated or dropped is logged once per
extension and kept for the Extensions tab. Also here: A1111's `ui_components` (`FormRow`, `ToolButton`,
`InputAccordion`, ...) and `ui.create_refresh_button`, built from Gradio 6 components.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from typing import Any

import gradio as gr

log = logging.getLogger(__name__)
RENAMED_CLASSES = {"Box": "Group", "Variable": "State", "Carousel": "Gallery"}
STYLE_ONLY = ("full_width", "container", "rounded", "border", "margin", "grid", "height_style")


class _AdaptedMeta(type):
    """`isinstance(x, gr.Button)` and class attributes (`gr.Dropdown.update`) behave as in Gradio 3."""

    _real: type

    def __instancecheck__(cls, instance: Any) -> bool:
        return isinstance(instance, cls._real)

    def __subclasscheck__(cls, subclass: type) -> bool:
        return issubclass(subclass, cls._real)

    def __getattr__(cls, name: str) -> Any:
        if name == "update":  # Gradio 3's Component.update(...) is gr.update(...)
            return gr.update
        return getattr(cls._real, name)


def _parameters(real: type) -> set[str]:
    """The keywords `real(...)` accepts, following `**kwargs` up the class chain (Blocks passes them on)."""
    accepted: set[str] = set()
    for cls in real.__mro__:
        try:
            parameters = inspect.signature(cls.__init__).parameters  # type: ignore[misc]
        except (TypeError, ValueError):
            return set()
        accepted |= {name for name, parameter in parameters.items() if parameter.kind is not parameter.VAR_KEYWORD}
        if not any(parameter.kind is parameter.VAR_KEYWORD for parameter in parameters.values()):
            return accepted
    return set()


def _event_names(real: type) -> list[str]:
    return [event if isinstance(event, str) else event.event_name for event in getattr(real, "EVENTS", [])]


class Gradio3Adapter:
    """The `gradio` an A1111 extension sees while it builds its UI. `notes` collects what was adapted."""

    def __init__(self, extension: str, notes: list[str] | None = None) -> None:
        self.extension = extension
        self.notes: list[str] = notes if notes is not None else []  # the shim's list: each logged once per extension
        self._classes: dict[str, Any] = {}

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)
            log.info("extension %s: Gradio 3 → 6: %s", self.extension, text)

    def attribute(self, name: str) -> Any:
        if name in RENAMED_CLASSES:
            self.note(f"gr.{name} → gr.{RENAMED_CLASSES[name]}")
            name_in_6 = RENAMED_CLASSES[name]
        else:
            name_in_6 = name
        real = getattr(gr, name_in_6)
        if not (isinstance(real, type) and issubclass(real, gr.blocks.Block)):
            return real
        if name not in self._classes:
            self._classes[name] = self._adapt(real)
        return self._classes[name]

    def translate(self, real: type, keywords: dict[str, Any], allowed: set[str]) -> dict[str, Any]:
        if "_js" in keywords:
            keywords["js"] = keywords.pop("_js")
            self.note("_js= → js=")
        if "source" in keywords and "sources" in allowed:
            source = keywords.pop("source")
            sources = [source] if isinstance(source, str) else list(source)
            if "canvas" in sources:  # Gradio 3's sketch canvas; Gradio 6's gr.Image has none (gr.ImageEditor does)
                sources = [item for item in sources if item != "canvas"] or ["upload"]
                self.note("source='canvas' → 'upload' (Gradio 6's gr.Image has no canvas)")
            keywords["sources"] = sources
            self.note("source= → sources=")
        if allowed:
            dropped = sorted(key for key in keywords if key not in allowed)
            for key in dropped:
                keywords.pop(key)
                self.note(f"{real.__name__}({key}=...) dropped (not in Gradio 6)")
        return keywords

    def _adapt(self, real: type) -> type:
        adapter = self
        allowed = _parameters(real)
        events = _event_names(real)

        def create(cls: type, *args: Any, **keywords: Any) -> Any:
            instance = real(*args, **adapter.translate(real, keywords, allowed))
            for event in events:
                listener = getattr(instance, event, None)
                if callable(listener):
                    object.__setattr__(instance, event, adapter._listener(listener))
            object.__setattr__(instance, "style", adapter._style(instance))
            return instance

        return _AdaptedMeta(real.__name__, (), {"__new__": create, "_real": real,
                                                "__doc__": f"Gradio 3 keywords for gr.{real.__name__}"})

    def _listener(self, listener: Callable[..., Any]) -> Callable[..., Any]:
        def listen(*args: Any, **keywords: Any) -> Any:
            if "_js" in keywords:
                keywords["js"] = keywords.pop("_js")
                self.note("_js= → js=")
            return listener(*args, **keywords)
        return listen

    def _style(self, instance: Any) -> Callable[..., Any]:
        def style(*args: Any, **keywords: Any) -> Any:
            self.note(".style(...) ignored (Gradio 6 has no .style)")
            return instance
        return style

    # ---- modules.ui_components and modules.ui
    def ui_component(self, name: str) -> Any:
        builders: dict[str, Callable[..., Any]] = {
            "FormRow": lambda *args, **keywords: self.attribute("Row")(*args, **keywords),
            "FormGroup": lambda *args, **keywords: self.attribute("Group")(*args, **keywords),
            "FormColumn": lambda *args, **keywords: self.attribute("Column")(*args, **keywords),
            "FormHTML": lambda *args, **keywords: self.attribute("HTML")(*args, **keywords),
            "ResizeHandleRow": lambda *args, **keywords: self.attribute("Row")(*args, **keywords),
            "ToolButton": self._tool_button,
            "DropdownMulti": lambda *args, **keywords: self.attribute("Dropdown")(*args, multiselect=True,
                                                                                  **keywords),
            "InputAccordion": InputAccordion,
            "create_refresh_button": self._refresh_button,
            "create_buttons": self._send_buttons,
        }
        if name not in builders:
            raise AttributeError(f"modules.ui_components.{name} is not offered by Kestrel")
        return builders[name]

    def _tool_button(self, *args: Any, **keywords: Any) -> Any:
        keywords.setdefault("elem_classes", ["tool"])
        keywords.setdefault("size", "sm")
        return self.attribute("Button")(*args, **keywords)

    def _refresh_button(self, refresh_component: Any, refresh_method: Callable[[], Any],
                        refreshed_args: Any, elem_id: str) -> Any:
        """A1111's 🔄 next to a control: call `refresh_method`, then update the control with `refreshed_args`."""
        button = self._tool_button("🔄", elem_id=elem_id)
        components = refresh_component if isinstance(refresh_component, list) else [refresh_component]

        def refresh() -> Any:
            refresh_method()
            arguments = refreshed_args() if callable(refreshed_args) else refreshed_args
            updates = [gr.update(**arguments) for _ in components]
            return updates if len(updates) > 1 else updates[0]

        button.click(refresh, inputs=[], outputs=components)
        return button

    def _send_buttons(self, tabs_list: list[str]) -> dict[str, Any]:
        return {tab: self.attribute("Button")(f"Send to {tab}", elem_id=f"{tab}_send_button") for tab in tabs_list}


class InputAccordion:
    """A1111's `InputAccordion`: an accordion that is also a checkbox input (`with InputAccordion(...) as on:`)."""

    def __init__(self, value: bool = False, label: str = "", elem_id: str | None = None, **keywords: Any) -> None:
        self._accordion = gr.Accordion(label, open=bool(value), elem_id=elem_id)
        self._value = bool(value)
        self._elem_id = elem_id
        self.checkbox: gr.Checkbox | None = None

    def __enter__(self) -> gr.Checkbox:
        self._accordion.__enter__()
        self.checkbox = gr.Checkbox(self._value, label="Enable",
                                    elem_id=f"{self._elem_id}-checkbox" if self._elem_id else None)
        return self.checkbox

    def __exit__(self, *exc_info: Any) -> None:
        self._accordion.__exit__(*exc_info)
