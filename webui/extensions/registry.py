"""What the extensions brought: one record per extension folder (status, timings, failures) and the tabs, routes,
hooks, css and scripts of those that loaded.

`Extensions` implements the jobs layer's `GenerationHooks` (v1 hooks) and the engine's `EngineContributions`
(v2 seams: pipeline variants, conditioning steps, post-processors): each runs isolated — one that raises, or returns
something other than what the API promises, is skipped for that call and the failure is recorded on its extension
(shown in the Extensions tab); the job goes on. The engine does the skipping (it knows what "skip" means at each
seam); every entry handed to it carries a report that records the traceback here.
"""

from __future__ import annotations

import enum
import logging
import threading
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from webui.engine.conditioning_steps import ConditioningStep
from webui.engine.postprocessors import PostprocessInput, PostProcessor, PostprocessResult
from webui.engine.registry import Entry, FailureReport
from webui.engine.request import GenerationRequest
from webui.engine.variant_registry import PipelineVariant
from webui.extensions.a1111_scripts import LoadedScript, RunningScripts, ScriptArgs
from webui.extensions.a1111_surface import ImageSaveParams
from webui.extensions.api import BeforeGeneration, BeforeGenerationHook, ImageHook, ImageReady
from webui.jobs.hooks import FinishedImage, InfotextFields

log = logging.getLogger(__name__)
FAILURES_KEPT = 5  # per extension: the most recent tracebacks of hooks, tabs and callbacks
VARIANT_STAGE = "pipeline variant hook"          # stages ending in "hook" count as hook failures
CONDITIONING_STAGE = "conditioning step hook"
POSTPROCESSOR_STAGE = "post-processor hook"
A1111_POSTPROCESS = "a1111-scripts:postprocess_image"


class Status(enum.StrEnum):
    LOADED = "loaded"
    DISABLED = "disabled"
    FAILED = "failed"
    UNSUPPORTED = "unsupported"   # an A1111 extension reaching for something the shim does not offer
    NEEDS_INSTALL = "needs install"  # an A1111 extension whose install.py / requirements.txt wait for consent


@dataclass(frozen=True)
class GitInfo:
    """A1111's /sdapi/v1/extensions fields read from the extension's git checkout (all None when it is none)."""

    remote: str | None = None
    branch: str | None = None
    commit_hash: str | None = None
    commit_date: int | None = None


@dataclass(frozen=True)
class TabSpec:
    extension: str
    title: str
    builder: Callable[..., Any]   # builder(ctx) for our API; for A1111 tabs, see A1111TabSource
    elem_id: str
    context: Any = None           # the ExtensionContext handed to the builder


@dataclass(frozen=True)
class RouteSpec:
    extension: str
    path: str                     # below /ext/<extension>
    endpoint: Callable[..., Any]
    methods: tuple[str, ...]


@dataclass(frozen=True)
class Failure:
    stage: str                    # "import", "setup", "before-generation hook", "tab", ...
    traceback: str


@dataclass
class ExtensionRecord:
    name: str
    folder: Path
    kind: str                     # "kestrel" (extension.toml) or "a1111" (scripts/*.py)
    status: Status
    version: str | None = None
    message: str = ""
    load_seconds: float = 0.0
    git: GitInfo = GitInfo()
    failures: list[Failure] = field(default_factory=list)
    hook_failures: int = 0
    asked_for: tuple[str, ...] = ()   # A1111 names it probed for that Kestrel does not offer (it loaded anyway)
    requirements: tuple[str, ...] = ()  # what its install.py / requirements.txt would install

    @property
    def enabled(self) -> bool:
        return self.status is not Status.DISABLED


@dataclass(frozen=True)
class Contributions:
    """Everything one extension registered while loading; kept only if loading finished without an error."""

    tabs: tuple[TabSpec, ...] = ()
    routes: tuple[RouteSpec, ...] = ()
    before_hooks: tuple[BeforeGenerationHook, ...] = ()
    image_hooks: tuple[ImageHook, ...] = ()
    css: tuple[str, ...] = ()
    scripts: tuple[tuple[str, str], ...] = ()     # (file name, source)
    a1111: Any = None                             # the extension's A1111 shim, when it is one
    variants: tuple[tuple[str, PipelineVariant], ...] = ()          # API v2; names without the extension prefix
    conditioning_steps: tuple[tuple[str, ConditioningStep], ...] = ()
    postprocessors: tuple[tuple[str, PostProcessor], ...] = ()


def _valid_fields(result: object) -> InfotextFields:
    if not isinstance(result, Mapping):
        raise TypeError(f"an image hook must return a mapping of infotext fields or None, not {type(result).__name__}")
    fields = []
    for key, value in result.items():
        if not isinstance(key, str) or not key.strip() or any(mark in key for mark in ":,\n"):
            raise ValueError(f"infotext field name {key!r} must be non-empty text without ':', ',' or newlines")
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise TypeError(f"infotext field {key!r}: value {value!r} must be text or a number")
        fields.append((key, str(value)))
    return tuple(fields)


class Extensions:
    """All extension records of this run, in folder order, and what the loaded ones contributed."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: dict[str, ExtensionRecord] = {}
        self._contributions: dict[str, Contributions] = {}
        self.a1111_lock = threading.RLock()      # one extension's `modules` in sys.modules at a time
        self.script_args = ScriptArgs()          # each owner's A1111 script control values (set by the page)
        self._running = RunningScripts(self.script_args)

    # ---- filled by the loader
    def add(self, record: ExtensionRecord, contributions: Contributions | None = None) -> None:
        with self._lock:
            if record.name in self._records:
                raise ValueError(f"extension {record.name!r} is listed twice")
            self._records[record.name] = record
            if contributions is not None and record.status is Status.LOADED:
                self._contributions[record.name] = contributions

    def record_failure(self, name: str, stage: str, trace: str | None = None) -> None:
        """Keep a failure (the current exception's traceback by default) on the extension that caused it."""
        text = trace if trace is not None else traceback.format_exc()
        log.error("extension %s failed in %s:\n%s", name, stage, text)
        with self._lock:
            record = self._records.get(name)
            if record is None:
                return
            record.failures.append(Failure(stage, text))
            del record.failures[:-FAILURES_KEPT]
            if stage.endswith("hook"):
                record.hook_failures += 1

    # ---- read by the UI, the API and the composition root
    def records(self) -> list[ExtensionRecord]:
        with self._lock:
            return list(self._records.values())

    def record(self, name: str) -> ExtensionRecord:
        with self._lock:
            return self._records[name]

    def contributions(self) -> list[tuple[str, Contributions]]:
        with self._lock:
            return list(self._contributions.items())

    def tabs(self) -> list[TabSpec]:
        return [tab for _, contribution in self.contributions() for tab in contribution.tabs]

    def routes(self) -> list[RouteSpec]:
        return [route for _, contribution in self.contributions() for route in contribution.routes]

    def a1111_shims(self) -> list[tuple[str, Any]]:
        return [(name, contribution.a1111) for name, contribution in self.contributions()
                if contribution.a1111 is not None]

    def store_script_args(self, owner: str, values: dict[str, tuple]) -> None:
        """The owner's A1111 script control values, for their next jobs (the page calls this on Generate)."""
        self.script_args.store(owner, values)

    def a1111_scripts(self) -> list[tuple[Any, LoadedScript]]:
        """Every loaded A1111 script instance (both tabs) with its extension's shim."""
        return [(shim, script) for _, shim in self.a1111_shims() for script in shim.scripts]

    def alwayson_script_names(self, is_img2img: bool) -> list[str]:
        """The API names (lowercase titles) of the always-on A1111 scripts of one tab, for `alwayson_scripts`."""
        return sorted({script.api_name for _, script in self.a1111_scripts()
                       if script.always_on and script.is_img2img == is_img2img and script.api_name})

    def css(self) -> str:
        return "\n".join(css for _, contribution in self.contributions() for css in contribution.css)

    def scripts(self) -> Sequence[tuple[str, str]]:
        return [script for _, contribution in self.contributions() for script in contribution.scripts]

    # ---- EngineContributions (webui.engine.seams): asked once per job
    def _report(self, name: str, stage: str) -> FailureReport:
        return lambda trace: self.record_failure(name, stage, trace)

    def pipeline_variants(self) -> list[Entry[PipelineVariant]]:
        return [Entry(f"{name}:{key}", variant, self._report(name, VARIANT_STAGE))
                for name, contribution in self.contributions() for key, variant in contribution.variants]

    def conditioning_steps(self) -> list[Entry[ConditioningStep]]:
        return [Entry(f"{name}:{key}", step, self._report(name, CONDITIONING_STAGE))
                for name, contribution in self.contributions() for key, step in contribution.conditioning_steps]

    def postprocessors(self) -> list[Entry[PostProcessor]]:
        entries = [Entry(f"{name}:{key}", processor, self._report(name, POSTPROCESSOR_STAGE))
                   for name, contribution in self.contributions() for key, processor in contribution.postprocessors]
        if any(script.always_on for _, script in self.a1111_scripts()):
            entries.append(Entry(A1111_POSTPROCESS, PostProcessor(self._a1111_postprocess_image),
                                 lambda trace: log.error("A1111 postprocess_image failed:\n%s", trace)))
        return entries

    def _a1111_postprocess_image(self, step: PostprocessInput) -> PostprocessResult | None:
        """A1111's `postprocess_image(p, pp, *args)` of the running job's always-on scripts (not in Extras)."""
        if step.generation is None:
            return None
        image = self._running.postprocess_image(step.image, step.index, self.record_failure_now)
        return None if image is None else PostprocessResult(image)

    def record_failure_now(self, name: str, stage: str) -> None:
        self.record_failure(name, stage)

    # ---- GenerationHooks (webui.jobs.hooks)
    def before_generation(self, request: GenerationRequest, owner: str) -> GenerationRequest:
        for name, contribution in self.contributions():
            for hook in contribution.before_hooks:
                try:
                    result = hook(BeforeGeneration(request, owner))
                    if result is not None and not isinstance(result, GenerationRequest):
                        raise TypeError("a before-generation hook must return a GenerationRequest "
                                        f"(dataclasses.replace(event.request, ...)) or None, not "
                                        f"{type(result).__name__}")
                except Exception:
                    self.record_failure(name, "before-generation hook")
                    continue
                request = result or request
        scripts = self.a1111_scripts()
        for script_shim, script in scripts:
            if script.always_on and not script.ui_built:
                try:
                    script_shim.default_args(script)
                except Exception:
                    self.record_failure(script.extension, f"{type(script.script).__name__}.ui hook")
        if scripts:
            shim = scripts[0][0]
            request = self._running.begin(request, owner, [script for _, script in scripts],
                                          lambda job_request: shim.make_p(job_request, owner),
                                          self.record_failure_now)
        return request

    def after_image(self, image: FinishedImage) -> InfotextFields:
        added: list[tuple[str, str]] = []
        event = ImageReady(image.image, image.seed, image.index, image.infotext, image.request, image.owner)
        for name, contribution in self.contributions():
            for hook in contribution.image_hooks:
                try:
                    result = hook(event)
                    fields = () if result is None else _valid_fields(result)
                except Exception:
                    self.record_failure(name, "after-image hook")
                    continue
                added.extend(fields)
        added.extend(self._running.after_image(image.image, image.index, image.infotext, self.record_failure_now))
        self._a1111_image_callbacks(image)
        return tuple(added)

    def _a1111_image_callbacks(self, image: FinishedImage) -> None:
        """on_before_image_saved / on_image_saved, with A1111's ImageSaveParams (before the file is written)."""
        job = self._running.current()
        for name, shim in self.a1111_shims():
            for kind in ("before_image_saved", "image_saved"):
                if not shim.callbacks[kind]:
                    continue
                params = ImageSaveParams(image.image, job.p if job else None, None, {"parameters": image.infotext})
                try:
                    shim.call(kind, params)
                except Exception:
                    self.record_failure(name, f"on_{kind} hook")
