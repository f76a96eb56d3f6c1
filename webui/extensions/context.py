"""The `ExtensionContext` an extension's `setup(ctx)` receives: registrations are staged here and handed to the
registry only when `setup` returns, so a failing extension leaves nothing half-registered behind."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from webui.config.options import OptionSpec
from webui.engine.request import GenerationRequest
from webui.extensions.api import (
    SETTING_COMPONENTS,
    BeforeGenerationHook,
    GeneratedImage,
    Generation,
    ImageHook,
    ModelLists,
)
from webui.extensions.registry import Contributions, RouteSpec, TabSpec
from webui.jobs.job import JobState

if TYPE_CHECKING:
    from webui.app_context import App

HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def extension_data_dir(root: Path, name: str) -> Path:
    """<data>/extensions-data/<name>: outside the extension's own folder, so a reinstall or `git pull` keeps it."""
    return root / "extensions-data" / name


class KestrelExtensionContext:
    """One per extension; also what its tab builders receive, so they can read settings and generate."""

    def __init__(self, name: str, app: App) -> None:
        self._name = name
        self._app = app
        self._log = logging.getLogger(f"extensions.{name}")
        self._tabs: list[TabSpec] = []
        self._routes: list[RouteSpec] = []
        self._before: list[BeforeGenerationHook] = []
        self._image: list[ImageHook] = []
        self._settings: list[OptionSpec] = []

    @property
    def name(self) -> str:
        return self._name

    @property
    def data_dir(self) -> Path:
        folder = extension_data_dir(self._app.paths.root, self._name)
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    @property
    def log(self) -> logging.Logger:
        return self._log

    def add_tab(self, title: str, builder: Callable[..., None], elem_id: str) -> None:
        if not callable(builder):
            raise TypeError(f"add_tab({title!r}): builder must be callable, got {builder!r}")
        if not elem_id or any(char.isspace() for char in elem_id):
            raise ValueError(f"add_tab({title!r}): elem_id {elem_id!r} must be non-empty without spaces")
        self._tabs.append(TabSpec(self._name, title, builder, elem_id, self))

    def add_setting(self, key: str, default: Any, label: str, section: str = "", component: str | None = None,
                    choices: Sequence[str] | None = None, minimum: float | None = None,
                    maximum: float | None = None, step: float | None = None) -> None:
        if component is not None and component not in SETTING_COMPONENTS:
            raise ValueError(f"add_setting({key!r}): component {component!r} is not one of "
                             f"{', '.join(SETTING_COMPONENTS)}")
        if self._app.settings.knows(key) or any(spec.key == key for spec in self._settings):
            raise ValueError(f"add_setting: setting {key!r} already exists; choose a key of your own "
                             f"(e.g. {self._name.replace('-', '_')}_{key})")
        title = section or self._name
        section_id = re.sub(r"[^a-z0-9_]+", "_", title.lower()).strip("_") or self._name  # also an elem_id
        spec = OptionSpec(key, default, label, section_id, minimum, maximum,
                          tuple(choices) if choices is not None else None, component=component,
                          section_label=title, step=step)
        spec.coerce(default)  # a default that fails its own rules is the author's mistake: say so now
        self._settings.append(spec)

    def setting(self, key: str) -> Any:
        return self._app.settings.get(key)

    def add_route(self, path: str, endpoint: Callable[..., Any], methods: Sequence[str] = ("GET",)) -> None:
        if not path.startswith("/"):
            raise ValueError(f"add_route: path {path!r} must start with '/' (it is served under /ext/{self._name})")
        unknown = [method for method in methods if method.upper() not in HTTP_METHODS]
        if unknown:
            raise ValueError(f"add_route({path!r}): methods {unknown} are not among {', '.join(HTTP_METHODS)}")
        self._routes.append(RouteSpec(self._name, path, endpoint, tuple(method.upper() for method in methods)))

    def on_before_generation(self, hook: BeforeGenerationHook) -> None:
        self._before.append(hook)

    def on_image(self, hook: ImageHook) -> None:
        self._image.append(hook)

    def models(self) -> ModelLists:
        networks = self._app.engine.networks
        return ModelLists(
            checkpoints=tuple(record.title for record in self._app.models.checkpoints()),
            vaes=tuple(record.name for record in self._app.models.vaes()),
            loras=tuple(record.name for record in networks.loras.records) if networks else (),
            samplers=tuple(spec.name for spec in self._app.samplers.samplers),
        )

    def generate(self, request: GenerationRequest, timeout: float = 600.0) -> Generation:
        if self._app.jobs.on_worker:
            raise RuntimeError("generate() cannot be called from a hook or other work on the device thread: "
                               "the job would wait for the job that is running it")
        job = self._app.submit_generation(request, owner=f"extension:{self._name}")
        deadline = time.monotonic() + timeout
        snapshot = job.snapshot()
        while not snapshot.state.finished:
            if time.monotonic() > deadline:
                self._app.jobs.cancel(job.id)
                raise TimeoutError(f"generation job {job.id} did not finish in {timeout} s; it was cancelled")
            snapshot = job.wait_for_update(snapshot.version, timeout=1.0)
        if snapshot.state is not JobState.DONE or snapshot.result is None:
            raise RuntimeError(f"generation job {job.id} {snapshot.state.value}: {snapshot.error or 'no result'}")
        output = snapshot.result
        return Generation(job.id, tuple(GeneratedImage(image.png, image.seed, image.infotext, image.path)
                                        for image in output.images), output.interrupted, output.checkpoint_title)

    def commit(self) -> Contributions:
        """Register the staged settings and return the rest for the registry (called after setup succeeded)."""
        for spec in self._settings:
            self._app.settings.register(spec)
        return Contributions(tuple(self._tabs), tuple(self._routes), tuple(self._before), tuple(self._image))
