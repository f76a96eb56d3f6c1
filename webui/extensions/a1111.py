"""A stand-in for A1111's `modules` package, so A1111 extensions run unchanged.

What it offers is listed in `docs/extensions.md` (the compatibility table): `script_callbacks` (tabs, settings,
app start, model loaded, image saved, components, infotext pasted), `shared` (`opts` read and write, `cmd_opts`
with A1111's flag names, `OptionInfo`, `prompt_styles`, `state`, `sd_model`'s names), `paths`, `scripts`
(`basedir()`, `Script`, `AlwaysVisible`, the `script_callbacks` alias), `extensions.active()`, `images`,
`generation_parameters_copypaste` / `infotext_utils`, `ui_components`, `processing.process_images`, `hashes`.
Anything else an extension reaches for raises `UnsupportedA1111Feature` naming it: an extension that needs it to
load is listed as unsupported with that name, one that only probed for it (in a `try`) loads and the Extensions tab
lists what it asked for.

As in A1111, the extension's own folder is on `sys.path` while its scripts import (so `from toolkit import *` and
`from scripts.shared_paths import ...` work); each extension sees its own `scripts.*` modules, kept aside between
its imports and callbacks so two extensions' `scripts/helpers.py` never collide. The stand-in exists only while an
extension's scripts import and while its callbacks run (`active()`); its modules stay reachable from the module
objects that imported them. Its `gradio` is a thin view onto the real module which, while the page builds the
extension's UI, is the page's Gradio 3 → 6 adapter (`webui.ui.gradio3_adapter`), and plain Gradio otherwise.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import logging
import sys
import threading
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from webui.config.options import OptionSpec
from webui.extensions import a1111_surface as surface
from webui.extensions.a1111_options import OptionInfo, Options, option_spec, options_section
from webui.extensions.a1111_processing import (
    ModelFacade,
    PostprocessImageArgs,
    Processed,
    Processing,
    UnsupportedByKestrel,
)
from webui.extensions.a1111_scripts import AlwaysVisible, LoadedScript, Script, instantiate, script_classes
from webui.extensions.a1111_surface import ImageSaveParams, State

if TYPE_CHECKING:
    from webui.app_context import App

log = logging.getLogger(__name__)
CALLBACKS = ("ui_tabs", "ui_settings", "app_started", "model_loaded", "before_image_saved", "image_saved",
             "after_component", "before_component", "infotext_pasted", "script_unloaded", "before_reload",
             "before_ui", "ui_train_tabs")
ENGINE_CALLBACKS = ("cfg_denoiser", "cfg_denoised", "cfg_after_cfg", "before_token_counter", "list_optimizers",
                    "list_unets", "extra_noise", "image_grid", "ui_train_tabs_never")
SAVED_PATH_KEY = "kestrel_saved_path"  # in a PIL image's .info: the file process_images saved it as
SUPPORTED = ("script_callbacks", "shared", "options", "paths", "scripts", "extensions", "images",
             "generation_parameters_copypaste", "infotext_utils", "ui_components", "processing", "hashes")


class UnsupportedA1111Feature(AttributeError):
    """An A1111 extension asked for something the compatibility layer does not offer."""


class GradioView(Protocol):
    """What `gradio.<name>` and `modules.ui_components.<name>` are for an extension at this moment."""

    def attribute(self, name: str) -> Any: ...

    def ui_component(self, name: str) -> Any: ...


class PlainGradio:
    """Outside UI building: the real gradio module (as the extension imported it), no adapter."""

    def __init__(self, real: Callable[[], types.ModuleType | None]) -> None:
        self._real = real

    def attribute(self, name: str) -> Any:
        module = self._real()
        if module is None:
            raise AttributeError(name)
        return getattr(module, name)

    def ui_component(self, name: str) -> Any:
        raise RuntimeError(f"modules.ui_components.{name} can only be created while the page builds the UI")


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


def _is_scripts_module(name: str) -> bool:
    return name == "scripts" or name.startswith("scripts.")


class A1111Shim:
    """The `modules` package one A1111 extension sees, and what that extension registered through it."""

    def __init__(self, extension: str, app: App, folder: Path | None = None,
                 lock: threading.RLock | None = None) -> None:
        self.extension = extension
        self.app = app
        self.settings = app.settings
        self.folder = folder
        self.missing: list[str] = []
        self.callbacks: dict[str, list[Callable[..., Any]]] = {name: [] for name in CALLBACKS}
        self.staged_options: dict[str, OptionSpec] = {}
        self.scripts: list[LoadedScript] = []
        self.copypaste = surface.CopyPaste()
        self.adapter_notes: list[str] = []
        self._lock = lock or threading.RLock()
        self._own_modules: dict[str, types.ModuleType] = {}
        self._view: GradioView = PlainGradio(self._real_gradio)
        self.opts = Options(self)
        self._modules = self._build_modules()

    # ---- compatibility
    @property
    def ui_tabs(self) -> list[Callable[[], Any]]:
        return self.callbacks["ui_tabs"]

    @property
    def app_started(self) -> list[Callable[..., Any]]:
        return self.callbacks["app_started"]

    def unsupported(self, what: str) -> UnsupportedA1111Feature:
        self.missing.append(what)
        return UnsupportedA1111Feature(f"{what} is not offered by Kestrel's A1111 compatibility layer "
                                       f"(it offers modules.{', modules.'.join(SUPPORTED)}; see docs/extensions.md)")

    def _module(self, name: str, dynamic: Any = None, **attributes: Any) -> types.ModuleType:
        module = types.ModuleType(name, f"Kestrel's stand-in for A1111's {name}")
        module.__dict__.update(attributes)
        computed = dynamic or {}

        def resolve(attribute: str) -> Any:
            if attribute.startswith("__") and attribute.endswith("__"):  # the import system probing
                raise AttributeError(attribute)
            if attribute in computed:
                return computed[attribute]()
            raise self.unsupported(f"{name}.{attribute}")

        module.__dict__["__getattr__"] = resolve
        return module

    def _register(self, kind: str) -> Callable[..., None]:
        def register(callback: Callable[..., Any], *, name: str | None = None) -> None:
            if not callable(callback):
                raise TypeError(f"script_callbacks.on_{kind} needs a callable, not {type(callback).__name__}")
            self.callbacks[kind].append(callback)
        return register

    def _refuse_callback(self, kind: str) -> Callable[..., None]:
        def refuse(callback: Callable[..., Any], *, name: str | None = None) -> None:
            raise self.unsupported(f"modules.script_callbacks.on_{kind} (inside Kestrel's sampler)")
        return refuse

    def current_model(self) -> ModelFacade:
        record = getattr(self.app.models.loaded, "record", None)
        title = getattr(record, "title", None) or str(self.settings.get("sd_model_checkpoint") or "")
        return ModelFacade(title, getattr(record, "sha256", None))

    def _build_modules(self) -> dict[str, types.ModuleType]:
        app = self.app
        callbacks = self._module("modules.script_callbacks",
                                 **{f"on_{kind}": self._register(kind) for kind in CALLBACKS},
                                 **{f"on_{kind}": self._refuse_callback(kind) for kind in ENGINE_CALLBACKS},
                                 ImageSaveParams=ImageSaveParams)
        options = self._module("modules.options", OptionInfo=OptionInfo, options_section=options_section,
                               Options=Options)
        shared = self._module("modules.shared", {"sd_model": self.current_model}, opts=self.opts,
                              OptionInfo=OptionInfo, options_section=options_section,
                              cmd_opts=surface.command_line_options(app), prompt_styles=surface.PromptStyles(app),
                              state=State(), styles_filename=[str(app.paths.styles_file)], log=log,
                              hypernetworks={}, demo=None, list_checkpoint_tiles=self._checkpoint_titles)
        paths_values = surface.paths_module_values(app)
        paths = self._module("modules.paths", **paths_values)
        paths_internal = self._module("modules.paths_internal", **paths_values)
        scripts = self._module("modules.scripts", basedir=self.basedir, script_callbacks=callbacks, Script=Script,
                               AlwaysVisible=AlwaysVisible, PostprocessImageArgs=PostprocessImageArgs,
                               current_basedir=str(self.folder or app.paths.root))
        extensions = self._module("modules.extensions", {"extensions": lambda: surface.active_extensions(app)},
                                  active=lambda: surface.active_extensions(app), Extension=surface.ExtensionInfo,
                                  extensions_dir=paths_values["extensions_dir"],
                                  extensions_builtin_dir=paths_values["extensions_builtin_dir"])
        images = self._module("modules.images", read_info_from_image=surface.read_info_from_image,
                              save_image=surface.save_image)
        copypaste_values = surface.copypaste_values(self.copypaste, self._create_buttons)
        copypaste = self._module("modules.generation_parameters_copypaste", **copypaste_values)
        infotext_utils = self._module("modules.infotext_utils", **copypaste_values)
        ui_components = self._module("modules.ui_components", **{
            name: self._deferred_component(name) for name in ("FormRow", "FormGroup", "FormColumn", "ToolButton",
                                                              "InputAccordion", "FormHTML", "DropdownMulti",
                                                              "ResizeHandleRow")})
        ui = self._module("modules.ui", create_refresh_button=self._deferred_component("create_refresh_button"))
        processing = self._module("modules.processing", process_images=self.process_images, Processed=Processed,
                                  StableDiffusionProcessing=Processing,
                                  StableDiffusionProcessingTxt2Img=Processing,
                                  StableDiffusionProcessingImg2Img=Processing)
        hashes = self._module("modules.hashes", sha256=surface.sha256, sha256_from_cache=surface.sha256_from_cache)
        sd_models = self._module("modules.sd_models", {"checkpoints_list": self._checkpoints_by_title},
                                 list_models=lambda: None)
        named = {"script_callbacks": callbacks, "shared": shared, "options": options, "paths": paths,
                 "paths_internal": paths_internal, "scripts": scripts, "extensions": extensions, "images": images,
                 "generation_parameters_copypaste": copypaste, "infotext_utils": infotext_utils,
                 "ui_components": ui_components, "ui": ui, "processing": processing, "hashes": hashes,
                 "sd_models": sd_models}
        package = self._module("modules", **named)
        package.__path__ = []  # a package, so `import modules.shared` works
        return {"modules": package, **{f"modules.{name}": module for name, module in named.items()}}

    def _checkpoint_titles(self) -> list[str]:
        return [record.title for record in self.app.models.checkpoints()]

    def _checkpoints_by_title(self) -> dict[str, Any]:
        return {record.title: ModelFacade(record.title, record.sha256).sd_checkpoint_info
                for record in self.app.models.checkpoints()}

    def _deferred_component(self, name: str) -> Callable[..., Any]:
        def create(*args: Any, **kwargs: Any) -> Any:
            return self._view.ui_component(name)(*args, **kwargs)
        create.__name__ = name
        return create

    def _create_buttons(self, tabs_list: list[str]) -> dict[str, Any]:
        return self._view.ui_component("create_buttons")(tabs_list)

    def basedir(self) -> str:
        """`scripts.basedir()`: the extension's own folder (A1111: the folder of the script being loaded)."""
        return str(self.folder or self.app.paths.root)

    # ---- sys.modules and sys.path while the extension's code runs
    def _gradio_module(self) -> types.ModuleType | None:
        real = self._real_gradio()
        if real is None:
            return None
        proxy = types.ModuleType("gradio", real.__doc__)
        proxy.__path__ = list(getattr(real, "__path__", []))
        proxy.__dict__["__getattr__"] = lambda name: self._view.attribute(name)
        return proxy

    def _real_gradio(self) -> types.ModuleType | None:
        module = sys.modules.get("gradio")
        return getattr(module, "_kestrel_real", module) if module is not None else None

    @contextmanager
    def active(self) -> Iterator[None]:
        """Put this shim in place as `modules` (and the extension's own `scripts.*`, its folder first on sys.path)
        for the duration, restoring whatever was there afterwards."""
        with self._lock:
            taken = {name: sys.modules.pop(name) for name in list(sys.modules)
                     if name == "modules" or name.startswith("modules.") or _is_scripts_module(name)}
            finder = _Finder(self)
            sys.modules.update(self._modules)
            sys.modules.update(self._own_modules)
            gradio = sys.modules.get("gradio")
            proxy = self._gradio_module()
            if proxy is not None:
                proxy.__dict__["_kestrel_real"] = self._real_gradio()
                sys.modules["gradio"] = proxy
            sys.meta_path.insert(0, finder)
            folder = str(self.folder) if self.folder is not None else None
            if folder is not None:
                sys.path.insert(0, folder)
            try:
                yield
            finally:
                if folder is not None and folder in sys.path:
                    sys.path.remove(folder)
                sys.meta_path.remove(finder)
                if gradio is not None:
                    sys.modules["gradio"] = gradio
                for name in list(sys.modules):
                    if name == "modules" or name.startswith("modules."):
                        sys.modules.pop(name)
                    elif _is_scripts_module(name):
                        self._own_modules[name] = sys.modules.pop(name)
                sys.modules.update(taken)

    @contextmanager
    def building_ui(self, view: GradioView) -> Iterator[None]:
        """While the page builds this extension's UI, `gradio.*` and `ui_components.*` come from `view`."""
        previous = self._view
        self._view = view
        try:
            with self.active():
                yield
        finally:
            self._view = previous

    # ---- loading
    def stage_option(self, key: str, info: OptionInfo) -> None:
        if not isinstance(info, OptionInfo):
            raise TypeError(f"opts.add_option({key!r}, ...) needs a shared.OptionInfo, not {type(info).__name__}")
        if self.settings.knows(key) or key in self.staged_options:
            raise ValueError(f"opts.add_option: setting {key!r} already exists")
        self.staged_options[key] = option_spec(key, info, self.extension)

    def load_scripts(self, folder: Path) -> None:
        """Import scripts/*.py in name order (A1111's), keep their Script classes, then run the on_ui_settings
        callbacks (A1111 runs them before the Settings tab is built; their options are registered by `commit`)."""
        self.folder = folder
        with self.active():
            for path in sorted((folder / "scripts").glob("*.py")):
                module_name = f"kestrel_a1111_{self.extension}_{path.stem}".replace("-", "_").replace(".", "_")
                spec = importlib.util.spec_from_file_location(module_name, path)
                assert spec is not None and spec.loader is not None
                module = importlib.util.module_from_spec(spec)
                spec.loader.exec_module(module)
                for script in instantiate(self.extension, script_classes(module.__dict__), str(path)):
                    script.activate = self.active
                    self.scripts.append(script)
            for callback in self.callbacks["ui_settings"]:
                callback()

    def commit(self) -> None:
        for spec in self.staged_options.values():
            self.settings.register(spec)

    def collect_tabs(self, view: GradioView | None = None) -> list[tuple[Any, str, str]]:
        """Call the on_ui_tabs callbacks (before the page's Blocks is opened, as A1111 does): a list of
        (gradio component, title, elem_id)."""
        tabs: list[tuple[Any, str, str]] = []
        with self.building_ui(view or self._view):
            for callback in self.callbacks["ui_tabs"]:
                for entry in callback() or []:
                    component, title, elem_id = entry[:3]
                    tabs.append((component, str(title), str(elem_id)))
        return tabs

    def call(self, kind: str, *args: Any) -> None:
        """Run every callback of one kind (each raising costs only itself; the caller records it)."""
        with self.active():
            for callback in self.callbacks[kind]:
                callback(*args)

    def call_app_started(self, demo: Any, router: Any) -> None:
        """A1111's start: on_app_started(demo, app), then on_model_loaded(sd_model) for the model in use."""
        with self.active():
            for callback in self.callbacks["app_started"]:
                callback(demo, router)
            model = self.current_model()
            for callback in self.callbacks["model_loaded"]:
                callback(model)

    # ---- processing
    def default_args(self, loaded: LoadedScript) -> None:
        """Without a page (--nowebui), a script's arguments are the defaults of the controls its ui() makes, as
        A1111's API uses them; built once, in a Blocks that is never shown."""
        if loaded.ui_built:
            return
        loaded.ui_built = True
        component = self._view.attribute("components").Component
        with self.active(), self._view.attribute("Blocks")():
            built = loaded.script.ui(loaded.is_img2img) or []
        loaded.defaults = tuple(getattr(item, "value", None) for item in built if isinstance(item, component))

    def make_p(self, request: Any, owner: str | None = None) -> Processing:
        outdir = self.settings.get("outdir_img2img_samples" if request.img2img else "outdir_txt2img_samples")
        folder = Path(outdir) if Path(outdir).is_absolute() else self.app.paths.root / outdir
        p = Processing(request, self.current_model(), str(folder), self.missing.append,
                       is_img2img=request.img2img is not None)
        p.__dict__["_owner"] = owner or f"extension:{self.extension}"
        return p

    def process_images(self, p: Processing) -> Processed:
        """`processing.process_images(p)` for a selectable script's `run()`: each request `p` stands for goes
        through the shared queue (fair, interruptible, saved as any job) and this thread waits for it."""
        from webui.jobs.tasks import wait_result  # the jobs layer, only when a script runs

        if not isinstance(p, Processing):
            raise UnsupportedByKestrel(f"process_images of a {type(p).__name__} (only the p Kestrel gave the script)")
        if self.app.jobs.on_worker:
            raise RuntimeError("process_images cannot run inside a job (from process() or a hook); use run()")
        images, infotexts, seeds = [], [], []
        for request in p.to_requests():
            output = wait_result(self.app.submit_generation(request, owner=p.__dict__["_owner"]))
            for image in output.images:
                decoded = surface.image_from_bytes(image.png)
                if image.path is not None:  # so a script's own Processed still leads the page to the saved file
                    decoded.info[SAVED_PATH_KEY] = str(image.path)
                images.append(decoded)
                infotexts.append(image.infotext)
                seeds.append(image.seed)
        return Processed(p, images, seeds[0] if seeds else p.seed, infotexts[0] if infotexts else "",
                         all_seeds=seeds or None, infotexts=infotexts)
