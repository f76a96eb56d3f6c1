"""A1111's `scripts.Script`: always-visible scripts (an accordion in txt2img/img2img whose `process`,
`postprocess_image`, `postprocess` ... run inside every job) and selectable ones (the Script dropdown, whose
`run(p, *args)` may call `process_images(p)` any number of times).

How a job reaches them: the page stores the values of each owner's script controls when Generate is pressed
(`ScriptArgs`, kept by the registry); the job's before-generation hook builds `p` from the request, runs
`before_process`/`process`/`process_batch` and turns `p` back into the request. The image steps run in the
same job on the same worker thread, so the job's `p` is kept per thread (`RunningScripts`) for `postprocess_image`
(through the engine's post-processor seam, which may replace the image) and, after the job's last image,
`postprocess(p, processed)`. API jobs and jobs of owners who never pressed Generate use each control's default,
as A1111's API does for scripts it was given no arguments for.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from webui.extensions.a1111_processing import PostprocessImageArgs, Processed, Processing

if TYPE_CHECKING:
    from webui.engine.request import GenerationRequest


class AlwaysVisibleMarker:
    """`scripts.AlwaysVisible`: what `show()` returns for a script whose controls are always on the page."""


AlwaysVisible = AlwaysVisibleMarker()


class Script:
    """A1111's base class (its method names and signatures); subclasses override what they need."""

    filename: str | None = None
    args_from: int | None = None
    args_to: int | None = None
    alwayson = False
    is_txt2img = False
    is_img2img = False
    group: Any = None
    tabname: str | None = None
    infotext_fields: list | None = None
    paste_field_names: list | None = None
    api_info: Any = None
    name: str | None = None
    section: str | None = None
    controls: Any = None
    on_before_component_elem_id: list | None = None
    on_after_component_elem_id: list | None = None

    def title(self) -> str:
        raise NotImplementedError("a script must define title()")

    def ui(self, is_img2img: bool) -> Any:
        return None

    def show(self, is_img2img: bool) -> Any:
        return True

    def run(self, p: Processing, *args: Any) -> Any:
        return None

    def setup(self, p: Processing, *args: Any) -> None: ...

    def before_process(self, p: Processing, *args: Any) -> None: ...

    def process(self, p: Processing, *args: Any) -> None: ...

    def before_process_batch(self, p: Processing, *args: Any, **kwargs: Any) -> None: ...

    def process_batch(self, p: Processing, *args: Any, **kwargs: Any) -> None: ...

    def postprocess_batch(self, p: Processing, *args: Any, **kwargs: Any) -> None: ...

    def postprocess_image(self, p: Processing, pp: PostprocessImageArgs, *args: Any) -> None: ...

    def postprocess(self, p: Processing, processed: Processed, *args: Any) -> None: ...

    def before_component(self, component: Any, **kwargs: Any) -> None: ...

    def after_component(self, component: Any, **kwargs: Any) -> None: ...

    def describe(self) -> str:
        return ""

    def elem_id(self, item_id: str) -> str:
        title = "".join(char if char.isalnum() else "_" for char in self.title().lower())
        return f"script_{self.tabname or ('img2img' if self.is_img2img else 'txt2img')}_{title}_{item_id}"


def script_classes(namespace: dict[str, Any]) -> list[type[Script]]:
    """The Script subclasses a script module defines or imports (A1111 registers every one in its namespace)."""
    return [value for value in namespace.values()
            if isinstance(value, type) and issubclass(value, Script) and value is not Script]


@dataclass
class LoadedScript:
    """One instance of a script class, per tab as in A1111, with its controls' defaults once its UI is built."""

    extension: str
    script: Script
    is_img2img: bool
    always_on: bool
    defaults: tuple = ()
    ui_built: bool = False      # its ui() ran (on the page, or once for its defaults without one)
    activate: Callable[[], AbstractContextManager[None]] = contextlib.nullcontext  # its extension's `modules`

    @property
    def api_name(self) -> str | None:
        """A1111's `script.name`: the title in lower case, the key of the API's alwayson_scripts (None when the
        extension's title() fails)."""
        try:
            return str(self.script.title()).lower()
        except Exception:
            return None

    def job_args(self, given: tuple[Any, ...] | None, stored: tuple[Any, ...]) -> tuple[Any, ...]:
        """A1111 writes an API entry's args over the script's slice of the controls' values; the rest stay."""
        if given is None:
            return stored
        return (*given, *stored[len(given):])

    @property
    def key(self) -> str:
        return f"{self.extension}:{type(self.script).__name__}:{'img2img' if self.is_img2img else 'txt2img'}"


def instantiate(extension: str, classes: list[type[Script]], filename: str) -> list[LoadedScript]:
    """Two instances of each class, one per tab, keeping those whose `show()` says they belong there."""
    loaded = []
    for cls in classes:
        for is_img2img in (False, True):
            script = cls()
            script.filename, script.is_img2img, script.is_txt2img = filename, is_img2img, not is_img2img
            script.tabname = "img2img" if is_img2img else "txt2img"
            shown = script.show(is_img2img)
            if shown is AlwaysVisible:
                script.alwayson = True
                loaded.append(LoadedScript(extension, script, is_img2img, True))
            elif shown:
                loaded.append(LoadedScript(extension, script, is_img2img, False))
    return loaded


@dataclass
class ScriptArgs:
    """Each owner's latest script control values (set when they press Generate), by script key."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    by_owner: dict[str, dict[str, tuple]] = field(default_factory=dict)

    def store(self, owner: str, values: dict[str, tuple]) -> None:
        with self.lock:
            self.by_owner[owner] = dict(values)

    def for_owner(self, owner: str, script: LoadedScript) -> tuple:
        with self.lock:
            return self.by_owner.get(owner, {}).get(script.key, script.defaults)


@dataclass
class JobScripts:
    """The running job's `p`, its always-on scripts with their arguments, and the images seen so far."""

    p: Processing
    scripts: list[tuple[LoadedScript, tuple]]
    images: list = field(default_factory=list)
    infotexts: list = field(default_factory=list)


Report = Callable[[str, str], None]  # (extension, stage): record the current exception on the extension


class RunningScripts:
    """The always-on scripts' part of a job, on the worker thread that runs it."""

    def __init__(self, arguments: ScriptArgs) -> None:
        self._arguments = arguments
        self._local = threading.local()

    def begin(self, request: GenerationRequest, owner: str, scripts: list[LoadedScript],
              make_p: Callable[[GenerationRequest], Processing], report: Report) -> GenerationRequest:
        wanted = [script for script in scripts if script.always_on and script.is_img2img == (request.img2img
                                                                                                 is not None)]
        self._local.job = None
        if not wanted:
            return request
        p = make_p(request)
        given = dict(request.alwayson_args)
        chosen = [(script, script.job_args(given.get(script.api_name or ""), self._arguments.for_owner(owner, script)))
                  for script in wanted]
        culprit = chosen[0][0]  # the script a refusal is recorded on: the last one that changed per-image lists
        for stage in ("setup", "before_process", "process"):
            for script, args in chosen:
                before = p.per_image()
                _call(report, script, stage, getattr(script.script, stage), p, *args)
                culprit = script if p.per_image() != before else culprit
        for batch in range(int(p.n_iter)):
            start, end = batch * int(p.batch_size), (batch + 1) * int(p.batch_size)
            for script, args in chosen:
                _call(report, script, "process_batch", script.script.process_batch, p, *args, batch_number=batch,
                      prompts=p.all_prompts[start:end], seeds=p.all_seeds[start:end], subseeds=[])
        try:
            changed = p.to_request()
        except Exception:
            report(culprit.extension, f"{type(culprit.script).__name__}.process hook")
            changed = request
        self._local.job = JobScripts(p, chosen)
        return changed

    def current(self) -> JobScripts | None:
        return getattr(self._local, "job", None)

    def postprocess_image(self, image: Any, index: int, report: Report) -> Any | None:
        job = self.current()
        if job is None:
            return None
        current = image
        for script, args in job.scripts:
            pp = PostprocessImageArgs(current)
            job.p.batch_index = index % int(job.p.batch_size)
            if _call(report, script, "postprocess_image", script.script.postprocess_image, job.p, pp, *args):
                current = pp.image
        return current if current is not image else None

    def after_image(self, image: Any, index: int, infotext: str, report: Report) -> tuple[tuple[str, str], ...]:
        job = self.current()
        if job is None:
            return ()
        job.images.append(image)
        job.infotexts.append(infotext)
        fields = job.p.infotext_fields()
        if len(job.images) == job.p.image_count:
            processed = Processed(job.p, job.images, job.p.seed, job.infotexts[0], infotexts=job.infotexts)
            for script, args in job.scripts:
                _call(report, script, "postprocess", script.script.postprocess, job.p, processed, *args)
            self._local.job = None
        return fields


def _call(report: Report, script: LoadedScript, stage: str, method: Callable[..., Any], *args: Any,
          **kwargs: Any) -> bool:
    """One script method, isolated: a failure is recorded on its extension ("<stage> hook") and the job goes on."""
    try:
        with script.activate():
            method(*args, **kwargs)
    except Exception:
        report(script.extension, f"{type(script.script).__name__}.{stage} hook")
        return False
    return True
