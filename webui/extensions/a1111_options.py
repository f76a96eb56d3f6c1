"""A1111's settings surface for extensions: `OptionInfo`, `options_section` and `shared.opts` (read *and* write).

A1111 validates nothing about an extension's option, so real extensions register options our stricter `OptionSpec`
would refuse: a dropdown whose default is not (yet) among its choices (tag autocomplete's "danbooru.csv"), a
`CheckboxGroup` whose value is a list of choices (the State extension), a `gr.Code` or `gr.HTML` component. They
are translated here into specs that keep the user's data valid without refusing the extension: the default joins
the choices, a list-valued option checks each item against its choices (`ChoiceListSpec`), code becomes a
textbox and an HTML "option" (a button or note, not a value) stays out of the Settings tab.

`opts.set(key, value)` and attribute assignment write through the settings store (validated, persisted
atomically, as the Settings tab does) and then call the `onchange` callbacks registered for that key.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from webui.config.options import OptionSpec

if TYPE_CHECKING:
    from webui.extensions.a1111 import A1111Shim

log = logging.getLogger(__name__)
COMPONENT_KINDS = {"checkbox": "checkbox", "slider": "slider", "radio": "radio", "dropdown": "dropdown",
                   "textbox": "textbox", "text": "textbox", "number": "number", "code": "textbox",
                   "checkboxgroup": "checkboxgroup", "colorpicker": "textbox"}
NOT_A_VALUE = {"html", "markdown", "button"}  # A1111 lets these sit in the settings list as notes or buttons


class OptionInfo:
    """A1111's description of one setting (same constructor arguments); turned into an `OptionSpec`."""

    def __init__(self, default: Any = None, label: str = "", component: Any = None, component_args: Any = None,
                 onchange: Callable[[], None] | None = None, section: Any = None, refresh: Any = None,
                 comment_before: str = "", comment_after: str = "", infotext: str | None = None,
                 restrict_api: bool = False, category_id: str | None = None) -> None:
        self.default = default
        self.label = label
        self.component = component
        self.component_args = component_args
        self.onchange = onchange
        self.section = section
        self.refresh = refresh
        self.comment_before = comment_before
        self.comment_after = comment_after
        self.infotext = infotext
        self.restrict_api = restrict_api
        self.category_id = category_id
        self.notes: list[str] = []

    def info(self, text: str) -> OptionInfo:
        self.notes.append(text)
        return self

    def needs_reload_ui(self) -> OptionInfo:
        self.notes.append("requires Reload UI")
        return self

    def needs_restart(self) -> OptionInfo:
        self.notes.append("requires restart")
        return self

    def link(self, label: str, url: str) -> OptionInfo:
        return self

    def html(self, text: str) -> OptionInfo:
        return self


def options_section(section: tuple, options: dict[str, OptionInfo]) -> dict[str, OptionInfo]:
    """A1111's helper: give every option of a dict the same (id, title) section."""
    for info in options.values():
        info.section = tuple(section[:2])
        if len(section) > 2:
            info.category_id = section[2]
    return options


@dataclasses.dataclass(frozen=True)
class ChoiceListSpec(OptionSpec):
    """A list-valued setting whose items come from `choices` (A1111's `CheckboxGroup` option): each item is checked,
    never the list as a whole (which is what refused the State extension: "[] is not one of tabs")."""

    def coerce(self, value: Any) -> Any:
        if isinstance(value, str) or not isinstance(value, list | tuple) or \
                not all(isinstance(item, str) for item in value):
            raise ValueError(f"setting {self.key}: {value!r} is not a list of text")
        unknown = [item for item in value if self.choices is not None and item not in self.choices]
        if unknown:
            raise ValueError(f"setting {self.key}: {', '.join(map(repr, unknown))} not among "
                             f"{', '.join(self.choices or ())}")
        return list(value)


def _component_kind(component: Any) -> str | None:
    name = getattr(component, "__name__", "") or type(component).__name__
    return COMPONENT_KINDS.get(name.lower()) if name.lower() not in NOT_A_VALUE else "note"


def option_spec(key: str, info: OptionInfo, extension: str) -> OptionSpec:
    """OptionInfo → our validated OptionSpec: section (id, title), component kind and its limits or choices."""
    section_id, section_title = extension, extension
    if isinstance(info.section, tuple | list) and len(info.section) >= 2:
        section_id, section_title = str(info.section[0]), str(info.section[1])
    arguments = info.component_args() if callable(info.component_args) else (info.component_args or {})
    kind = _component_kind(info.component) if info.component is not None else None
    raw_choices = arguments.get("choices") if isinstance(arguments, dict) else None
    choices = [str(choice[0] if isinstance(choice, tuple | list) else choice) for choice in raw_choices or ()]
    label = info.label + "".join(f" ({note})" for note in info.notes)
    common = {"section_label": section_title, "step": arguments.get("step") if isinstance(arguments, dict) else None,
              "in_settings_tab": kind != "note", "component": None if kind == "note" else kind}
    limits = (arguments.get("minimum"), arguments.get("maximum")) if isinstance(arguments, dict) else (None, None)
    if isinstance(info.default, list) and choices:
        common["component"] = "checkboxgroup"
        return ChoiceListSpec(key, list(info.default), label, section_id, choices=tuple(choices),
                              **common)  # type: ignore[arg-type]
    if choices and not isinstance(info.default, list) and info.default is not None and \
            str(info.default) not in choices:
        choices.insert(0, str(info.default))  # A1111 shows such a default; refusing it would refuse the extension
    spec = OptionSpec(key, info.default, label, section_id, limits[0], limits[1],
                      tuple(choices) if choices and not isinstance(info.default, list) else None,
                      **common)  # type: ignore[arg-type]
    if info.default is not None:
        spec.coerce(info.default)
    return spec


class Options:
    """`shared.opts`: attribute reads of settings, `add_option`, `get_default`, `data`, `set`, `onchange`, and
    attribute assignment (written through the settings store, persisted atomically, then `onchange` runs)."""

    def __init__(self, shim: A1111Shim) -> None:
        object.__setattr__(self, "_shim", shim)
        object.__setattr__(self, "_onchange", {})

    def add_option(self, key: str, info: OptionInfo) -> None:
        self._shim.stage_option(key, info)
        if info.onchange is not None:
            self.onchange(key, info.onchange, call=False)

    def get_default(self, key: str) -> Any:
        staged = self._shim.staged_options.get(key)
        if staged is not None:
            return staged.default
        settings = self._shim.settings
        return settings.registry.get(key).default if settings.knows(key) else None

    @property
    def data(self) -> dict[str, Any]:
        return self._shim.settings.values()

    @property
    def data_labels(self) -> dict[str, Any]:
        return {spec.key: spec for spec in self._shim.settings.registry}

    def onchange(self, key: str, func: Callable[[], None], call: bool = True) -> None:
        """A1111's `opts.onchange`: `func()` after every change of `key` made through `opts` (and once now)."""
        self._onchange.setdefault(key, []).append(func)
        if call:
            func()

    def set(self, key: str, value: Any, is_api: bool = False, run_callbacks: bool = True) -> bool:
        """Validated and persisted like a change in the Settings tab; False (as in A1111) for an unknown key."""
        settings = self._shim.settings
        if not settings.knows(key):
            return False
        if settings.get(key) == value:
            return False
        settings.set(key, value)
        if run_callbacks:
            for func in self._onchange.get(key, []):
                func()
        return True

    def save(self, filename: str | None = None) -> None:
        """A1111 writes config.json here; every `set` already wrote it atomically."""

    def __getattr__(self, key: str) -> Any:
        if key.startswith("__") and key.endswith("__"):
            raise AttributeError(key)
        settings = self._shim.settings
        if settings.knows(key):
            return settings.get(key)
        staged = self._shim.staged_options.get(key)
        if staged is not None:
            return staged.default
        raise self._shim.unsupported(f"modules.shared.opts.{key}")

    def __setattr__(self, key: str, value: Any) -> None:
        if not self._shim.settings.knows(key):
            raise self._shim.unsupported(f"setting the unknown option modules.shared.opts.{key}")
        self.set(key, value)
