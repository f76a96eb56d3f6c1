"""Kestrel's extension API, version 1 — the only module an extension imports.

An extension is a folder `extensions/<name>/` with an `extension.toml` (name, version, api_version) and a module
whose `setup(ctx)` receives an `ExtensionContext`. Everything an extension can touch is named here; nothing else in
`webui` is promised to stay the same. The stability promise (docs/extensions.md): within API version 1, names in
`__all__` keep their meaning and signatures; fields may be added to the dataclasses (with defaults) and methods to
the context, never removed or changed. A change that would break an extension raises API_VERSION, and an
extension asking for a newer version than this Kestrel offers is refused with a clear message, never half-loaded.

Changelog:
    1 — tabs, settings, routes under /ext/<name>/, before-generation and after-image hooks, a data folder, a
        logger, read-only model lists, generate() through the job queue.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from webui.engine.request import GenerationRequest, HiresFix, Img2ImgInput, InpaintMask

API_VERSION = 1
CHANGELOG = {1: "tabs, settings, routes, before-generation and after-image hooks, data folder, logger, "
                "model lists, generate() through the job queue"}

__all__ = ["API_VERSION", "CHANGELOG", "BeforeGeneration", "ExtensionContext", "GeneratedImage", "Generation",
           "GenerationRequest", "HiresFix", "ImageReady", "Img2ImgInput", "InpaintMask", "ModelLists",
           "SETTING_COMPONENTS"]

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
