"""Kestrel's extension API, version 2 — the only module an extension imports.

An extension is a folder `extensions/<name>/` with an `extension.toml` (name, version, api_version) and a module
whose `setup(ctx)` receives an `ExtensionContext`. Everything an extension can touch is named here; nothing else in
`webui` is promised to stay the same. The stability promise (docs/extensions.md): within API version 1, names in
`__all__` keep their meaning and signatures; fields may be added to the dataclasses (with defaults) and methods to
the context, never removed or changed. A change that would break an extension raises API_VERSION, and an
extension asking for a newer version than this Kestrel offers is refused with a clear message, never half-loaded.
An extension written for an older version loads unchanged: version 2 only adds.

Changelog:
    1 — tabs, settings, routes under /ext/<name>/, before-generation and after-image hooks, a data folder, a
        logger, read-only model lists, generate() through the job queue.
    2 — the engine's seams: add_pipeline_variant (run the requests it accepts on a diffusers pipeline built from
        the resident components), add_conditioning_step (change the prompt embeddings after encoding) and
        add_postprocessor (an image → image step after decode and in Extras, with its infotext fields). Each
        runs isolated like the v1 hooks: one that raises is skipped, its traceback shown on the extension.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from webui.engine.conditioning_steps import ConditioningChange, ConditioningInput, ConditioningStep
from webui.engine.postprocessors import DEFAULT_ORDER, PostprocessInput, PostprocessResult, PostprocessStep
from webui.engine.request import GenerationRequest, HiresFix, Img2ImgInput, InpaintMask
from webui.engine.variant_registry import BatchRun, PipelineVariant, VariantNeeds

API_VERSION = 2
CHANGELOG = {1: "tabs, settings, routes, before-generation and after-image hooks, data folder, logger, "
                "model lists, generate() through the job queue",
             2: "add_pipeline_variant, add_conditioning_step and add_postprocessor: the engine's seams, each "
                "isolated like the v1 hooks; v1 extensions load unchanged"}

__all__ = ["API_VERSION", "CHANGELOG", "DEFAULT_ORDER", "BatchRun", "BeforeGeneration", "ConditioningChange",
           "ConditioningInput", "ConditioningStep", "ExtensionContext", "GeneratedImage", "Generation",
           "GenerationRequest", "HiresFix", "ImageReady", "Img2ImgInput", "InpaintMask", "ModelLists",
           "PipelineVariant", "PostprocessInput", "PostprocessResult", "PostprocessStep", "SETTING_COMPONENTS",
           "VariantNeeds"]

SETTING_COMPONENTS = ("checkbox", "number", "slider", "textbox", "dropdown", "radio")


@dataclass(frozen=True)
class BeforeGeneration:
    """What a before-generation hook receives. Return `dataclasses.replace(event.request, ...)` to change the job,
    or None to leave it as it is."""

    request: GenerationRequest
    owner: str          # who submitted the job ("ui", "api", "extension:<name>", ...)


@dataclass(frozen=True)
class ImageReady:
    """What an after-image hook receives, before the image is saved. Return a mapping of extra infotext fields
    ({"My field": "value"}) or None; save your own files under `ctx.data_dir`."""

    image: Any          # a PIL.Image.Image; do not modify it
    seed: int
    index: int          # 0-based position of the image in its job
    infotext: str       # the infotext as it is so far
    request: GenerationRequest
    owner: str


@dataclass(frozen=True)
class ModelLists:
    """Names as the UI shows them (checkpoint titles, VAE and LoRA names, sampler names)."""

    checkpoints: tuple[str, ...]
    vaes: tuple[str, ...]
    loras: tuple[str, ...]
    samplers: tuple[str, ...]


@dataclass(frozen=True)
class GeneratedImage:
    png: bytes          # the encoded PNG, infotext inside (unless the user turned enable_pnginfo off)
    seed: int
    infotext: str
    path: Path | None   # where it was saved, when the request asked to save


@dataclass(frozen=True)
class Generation:
    job_id: str
    images: tuple[GeneratedImage, ...]
    interrupted: bool
    checkpoint: str


BeforeGenerationHook = Callable[[BeforeGeneration], GenerationRequest | None]
ImageHook = Callable[[ImageReady], Mapping[str, str | int | float] | None]


class ExtensionContext(Protocol):
    """Passed to `setup(ctx)` and to tab builders. Registrations made in `setup` take effect only if it returns
    without raising."""

    @property
    def name(self) -> str: ...

    @property
    def data_dir(self) -> Path:
        """A folder of this extension's own, kept across updates of the extension (created on first use)."""
        ...

    @property
    def log(self) -> logging.Logger: ...

    def add_tab(self, title: str, builder: Callable[[ExtensionContext], None], elem_id: str) -> None:
        """A top-level tab; `builder(ctx)` creates gradio components inside it. The tab's elem_id is
        `tab_<elem_id>`, as in A1111."""
        ...

    def add_setting(self, key: str, default: Any, label: str, section: str = "", component: str | None = None,
                    choices: Sequence[str] | None = None, minimum: float | None = None,
                    maximum: float | None = None, step: float | None = None) -> None:
        """A setting shown in the Settings tab under the section titled `section` (default: the extension's
        name; a built-in section id such as "ui" joins that section), validated like the built-in ones and
        persisted in config.json under `key`."""
        ...

    def setting(self, key: str) -> Any:
        """The current value of any setting (the extension's own or a built-in one)."""
        ...

    def add_route(self, path: str, endpoint: Callable[..., Any], methods: Sequence[str] = ("GET",)) -> None:
        """An HTTP route at /ext/<name><path> (FastAPI semantics; the server's authentication applies)."""
        ...

    def on_before_generation(self, hook: BeforeGenerationHook) -> None: ...

    def on_image(self, hook: ImageHook) -> None: ...

    def models(self) -> ModelLists: ...

    def generate(self, request: GenerationRequest, timeout: float = 600.0) -> Generation:
        """Run a job through the same queue as everyone else and wait for it. Not from inside a hook (the hook
        runs in the job worker, which would wait for itself): that raises RuntimeError."""
        ...

    # ---- version 2: the engine's seams. Names are this extension's own (registered as "<extension>:<name>");
    # the same name twice raises ValueError. All run on the device thread, inside the job.

    def add_pipeline_variant(self, name: str, variant: PipelineVariant) -> None:
        """Run the requests `variant.applies(request)` accepts (the latest registered wins over the built-in
        txt2img / img2img / inpaint): `variant.run(batch)` returns one PIL image per seed of `batch`. Build your
        diffusers pipeline from the resident components, `SomePipeline.from_pipe(batch.pipeline, ...)`, never a
        copy. If it raises, the batch runs again on the next variant that accepts the request."""
        ...

    def add_conditioning_step(self, name: str, step: ConditioningStep) -> None:
        """`step(ConditioningInput)` after the prompts are encoded, before sampling: return a ConditioningChange
        with replacement tensors of the same count and shapes, or None. To change the request itself, use
        `on_before_generation`. A step that raises or breaks the shapes is skipped."""
        ...

    def add_postprocessor(self, name: str, step: PostprocessStep, order: int = DEFAULT_ORDER) -> None:
        """`step(PostprocessInput)` on every generated image after decode (`input.generation` set) and in Extras
        (`input.extras` set): return PostprocessResult(new_image, fields) or None to leave the image. `fields`
        land in the saved image's infotext. Lower `order` runs first (the Extras upscale is at 2000)."""
        ...
