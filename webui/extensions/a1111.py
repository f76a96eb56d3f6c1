"""A small stand-in for A1111's `modules` package, so extensions that only add a tab and settings run unchanged.

What it offers (A1111's names and meanings): `modules.script_callbacks.on_ui_tabs`, `on_ui_settings`,
`on_app_started`; `modules.shared.opts` (reads of settings, `add_option`), `modules.shared.OptionInfo`,
`modules.shared.options_section` (also under `modules.options`). Anything else an extension reaches for
(`modules.processing`, `modules.scripts.Script`, `shared.state`, another callback) raises
`UnsupportedA1111Feature` naming it, and the extension is listed as unsupported with that name.

The stand-in exists only while an extension's scripts import and while its callbacks run (`A1111Shim.active()`):
the `modules` entries of `sys.modules` and a meta-path finder are put in place and removed afterwards, restoring
whatever was there. The extension's module objects keep working because they hold references to the shim's
modules. One shim per extension, so callbacks and settings are attributed to the extension that made them.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from webui.config.options import OptionSpec

if TYPE_CHECKING:
    from webui.config.options import SettingsStore

SUPPORTED = ("modules.script_callbacks.on_ui_tabs", "modules.script_callbacks.on_ui_settings",
             "modules.script_callbacks.on_app_started", "modules.shared.opts", "modules.shared.OptionInfo")
COMPONENT_KINDS = {"checkbox": "checkbox", "slider": "slider", "radio": "radio", "dropdown": "dropdown",
                   "textbox": "textbox", "text": "textbox", "number": "number"}


class UnsupportedA1111Feature(AttributeError):
    """An A1111 extension asked for something the compatibility layer does not offer."""


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


def option_spec(key: str, info: OptionInfo, extension: str) -> OptionSpec:
    """OptionInfo → our validated OptionSpec: section (id, title), component kind and its limits or choices."""
    section_id, section_title = extension, extension
    if isinstance(info.section, tuple | list) and len(info.section) >= 2:
        section_id, section_title = str(info.section[0]), str(info.section[1])
    arguments = info.component_args() if callable(info.component_args) else (info.component_args or {})
    component = COMPONENT_KINDS.get(getattr(info.component, "__name__", "").lower())
    choices = arguments.get("choices")
    label = info.label + "".join(f" ({note})" for note in info.notes)
    spec = OptionSpec(key, info.default, label, section_id, arguments.get("minimum"), arguments.get("maximum"),
                      tuple(str(choice) for choice in choices) if choices else None, component=component,
                      section_label=section_title, step=arguments.get("step"))
    if info.default is not None:
        spec.coerce(info.default)
    return spec


class _Options:
    """`shared.opts`: attribute reads of settings, `add_option`, `get_default`, `data`."""

    def __init__(self, shim: A1111Shim) -> None:
        object.__setattr__(self, "_shim", shim)

    def add_option(self, key: str, info: OptionInfo) -> None:
        self._shim.stage_option(key, info)

    def get_default(self, key: str) -> Any:
        staged = self._shim.staged_options.get(key)
        if staged is not None:
            return staged.default
        settings = self._shim.settings
        return settings.registry.get(key).default if settings.knows(key) else None

    @property
    def data(self) -> dict[str, Any]:
        return self._shim.settings.values()

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
        raise self._shim.unsupported(f"setting modules.shared.opts.{key}")


class _Finder(importlib.abc.MetaPathFinder):
    """Refuses, by name, any `modules.*` the shim does not provide (those it does are already in sys.modules)."""

    def __init__(self, shim: A1111Shim) -> None:
        self._shim = shim

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> None:
        if fullname == "modules" or fullname.startswith("modules."):
            self._shim.missing.append(fullname)
            raise ModuleNotFoundError(f"{fullname} is not offered by Kestrel's A1111 compatibility layer",
                                      name=fullname)
        return None


class A1111Shim:
    """The `modules` package one A1111 extension sees, and what that extension registered through it."""

    def __init__(self, extension: str, settings: SettingsStore) -> None:
        self.extension = extension
        self.settings = settings
        self.missing: list[str] = []
        self.ui_tabs: list[Callable[[], Any]] = []
        self.ui_settings: list[Callable[[], None]] = []
        self.app_started: list[Callable[[Any, Any], None]] = []
        self.staged_options: dict[str, OptionSpec] = {}
        self._modules = self._build_modules()

    def unsupported(self, what: str) -> UnsupportedA1111Feature:
        self.missing.append(what)
        return UnsupportedA1111Feature(f"{what} is not offered by Kestrel's A1111 compatibility layer "
                                       f"(it offers {', '.join(SUPPORTED)})")

    def _module(self, name: str, **attributes: Any) -> types.ModuleType:
        module = types.ModuleType(name, f"Kestrel's stand-in for A1111's {name}")
        module.__dict__.update(attributes)

        def refuse(attribute: str) -> Any:
            if attribute.startswith("__") and attribute.endswith("__"):  # the import system probing, not the author
                raise AttributeError(attribute)
            raise self.unsupported(f"{name}.{attribute}")

        module.__dict__["__getattr__"] = refuse
        return module

    def _build_modules(self) -> dict[str, types.ModuleType]:
        callbacks = self._module(
            "modules.script_callbacks",
            on_ui_tabs=lambda callback, *, name=None: self.ui_tabs.append(callback),
            on_ui_settings=lambda callback, *, name=None: self.ui_settings.append(callback),
            on_app_started=lambda callback, *, name=None: self.app_started.append(callback))
        options = self._module("modules.options", OptionInfo=OptionInfo, options_section=options_section)
        shared = self._module("modules.shared", opts=_Options(self), OptionInfo=OptionInfo,
                              options_section=options_section)
        package = self._module("modules", script_callbacks=callbacks, shared=shared, options=options)
        package.__path__ = []  # a package, so `import modules.shared` works
        return {"modules": package, "modules.script_callbacks": callbacks, "modules.shared": shared,
                "modules.options": options}

    @contextmanager
    def active(self) -> Iterator[None]:
        """Put this shim in place as `modules` for the duration (restoring any previous `modules` afterwards)."""
        previous = {name: sys.modules.pop(name) for name in list(sys.modules)
                    if name == "modules" or name.startswith("modules.")}
        finder = _Finder(self)
        sys.modules.update(self._modules)
        sys.meta_path.insert(0, finder)
        try:
            yield
        finally:
            sys.meta_path.remove(finder)
            for name in self._modules:
                sys.modules.pop(name, None)
            sys.modules.update(previous)

    def stage_option(self, key: str, info: OptionInfo) -> None:
        if not isinstance(info, OptionInfo):
            raise TypeError(f"opts.add_option({key!r}, ...) needs a shared.OptionInfo, not {type(info).__name__}")
        if self.settings.knows(key) or key in self.staged_options:
            raise ValueError(f"opts.add_option: setting {key!r} already exists")
        self.staged_options[key] = option_spec(key, info, self.extension)

    def load_scripts(self, folder: Path) -> None:
        """Import scripts/*.py in name order, then run the on_ui_settings callbacks (A1111 runs them before the
        Settings tab is built; their options are registered by `commit`)."""
        with self.active():
            for path in sorted((folder / "scripts").glob("*.py")):
                module_name = f"kestrel_a1111_{self.extension}_{path.stem}".replace("-", "_")
                spec = importlib.util.spec_from_file_location(module_name, path)
                assert spec is not None and spec.loader is not None
                module = importlib.util.module_from_spec(spec)
                spec.loader.exec_module(module)
            for callback in self.ui_settings:
                callback()

    def commit(self) -> None:
        for spec in self.staged_options.values():
            self.settings.register(spec)

    def collect_tabs(self) -> list[tuple[Any, str, str]]:
        """Call the on_ui_tabs callbacks (before the page's Blocks is opened, as A1111 does): a list of
        (gradio component, title, elem_id)."""
        tabs: list[tuple[Any, str, str]] = []
        with self.active():
            for callback in self.ui_tabs:
                for entry in callback() or []:
                    component, title, elem_id = entry
                    tabs.append((component, str(title), str(elem_id)))
        return tabs

    def call_app_started(self, demo: Any, router: Any) -> None:
        with self.active():
            for callback in self.app_started:
                callback(demo, router)
