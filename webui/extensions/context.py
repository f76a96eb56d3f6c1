"""The `ExtensionContext` an extension's `setup(ctx)` receives: registrations are staged here and handed to the
registry only when `setup` returns, so a failing extension leaves nothing half-registered behind."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from webui.config.options import OptionSpec
from webui.engine.conditioning_steps import ConditioningStep
from webui.engine.postprocessors import DEFAULT_ORDER, PostProcessor, PostprocessStep
from webui.engine.request import GenerationRequest
from webui.engine.variant_registry import PipelineVariant, VariantNeeds
from webui.errors import KestrelError
from webui.extensions.api import (
    SETTING_COMPONENTS,
    BeforeGenerationHook,
    GeneratedImage,
    Generation,
    ImageHook,
    ModelLists,
)
from webui.extensions.registry import Contributions, RouteSpec, TabSpec
from webui.jobs.tasks import wait_result

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
        self._variants: dict[str, PipelineVariant] = {}
        self._conditioning: dict[str, ConditioningStep] = {}
        self._postprocessors: dict[str, PostProcessor] = {}

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

    def add_pipeline_variant(self, name: str, variant: PipelineVariant) -> None:
        self._check_name("add_pipeline_variant", name, self._variants)
        if not isinstance(getattr(variant, "needs", None), VariantNeeds):
            raise TypeError(f"add_pipeline_variant({name!r}): the variant's `needs` must be a VariantNeeds")
        for method in ("applies", "run"):
            if not callable(getattr(variant, method, None)):
                raise TypeError(f"add_pipeline_variant({name!r}): the variant has no callable {method}()")
        self._variants[name] = variant

    def add_conditioning_step(self, name: str, step: ConditioningStep) -> None:
        self._check_name("add_conditioning_step", name, self._conditioning)
        if not callable(step):
            raise TypeError(f"add_conditioning_step({name!r}): step must be callable, got {step!r}")
        self._conditioning[name] = step

    def add_postprocessor(self, name: str, step: PostprocessStep, order: int = DEFAULT_ORDER) -> None:
        self._check_name("add_postprocessor", name, self._postprocessors)
        if not callable(step):
            raise TypeError(f"add_postprocessor({name!r}): step must be callable, got {step!r}")
        if isinstance(order, bool) or not isinstance(order, int):
            raise TypeError(f"add_postprocessor({name!r}): order must be a whole number, got {order!r}")
        self._postprocessors[name] = PostProcessor(step, order)

    @staticmethod
    def _check_name(method: str, name: str, staged: dict[str, Any]) -> None:
        if not isinstance(name, str) or not name.strip() or ":" in name:
            raise ValueError(f"{method}: name {name!r} must be non-empty text without ':'")
        if name in staged:
            raise ValueError(f"{method}: {name!r} is already registered by this extension")

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
        try:
            output = wait_result(job, timeout)
        except TimeoutError as error:
            self._app.jobs.cancel(job.id)
            raise TimeoutError(f"generation job {job.id} did not finish in {timeout} s; it was cancelled") from error
        except KestrelError as error:
            snapshot = job.snapshot()
            raise RuntimeError(f"generation job {job.id} {snapshot.state.value}: {error}") from error
        return Generation(job.id, tuple(GeneratedImage(image.png, image.seed, image.infotext, image.path)
                                        for image in output.images), output.interrupted, output.checkpoint_title)

    def commit(self) -> Contributions:
        """Register the staged settings and return the rest for the registry (called after setup succeeded)."""
        for spec in self._settings:
            self._app.settings.register(spec)
        return Contributions(tuple(self._tabs), tuple(self._routes), tuple(self._before), tuple(self._image),
                             variants=tuple(self._variants.items()),
                             conditioning_steps=tuple(self._conditioning.items()),
                             postprocessors=tuple(self._postprocessors.items()))
