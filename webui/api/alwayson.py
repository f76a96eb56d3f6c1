"""`alwayson_scripts` in an A1111 API request: each entry is handled by a registered script or refused.

A1111 answers 422 "always on script X not found" for a name it does not know, so a client never gets an image made
without what it asked for. A handler reads its entry's `args` (the list A1111's scripts take; extensions such as
ControlNet define their own shapes) and returns the `GenerationRequest` fields to set. Names match
case-insensitively, as A1111's do.

An extension's always-on A1111 script (its lowercase title, as A1111 names it) is accepted too: its `args` travel
with the job (`GenerationRequest.alwayson_args`) and replace the first values of its controls for that job. The
extensions' names are asked for at each request, so an extension installed while the server runs is known.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from webui.errors import FieldError

if TYPE_CHECKING:
    from PIL import Image

    from webui.app_context import App

ImageDecoder = Callable[[str, str], "Image.Image"]  # (base64 or data URL, the caller's field name) → image
# (app, the entry's args, an image decoder or None for txt2img without images, is_img2img) → request fields to set
AlwaysOnHandler = Callable[["App", list[Any], "ImageDecoder | None", bool], Mapping[str, Any]]


ExtensionScriptNames = Callable[[bool], list[str]]  # is_img2img → the extensions' always-on script names


def no_extension_scripts(is_img2img: bool) -> list[str]:
    return []


@dataclass
class AlwaysOnScripts:
    """name → handler, plus the extensions' scripts; registering a name twice is a programming error."""

    _handlers: dict[str, AlwaysOnHandler] = field(default_factory=dict)
    extension_names: ExtensionScriptNames = no_extension_scripts

    def register(self, name: str, handler: AlwaysOnHandler) -> None:
        key = name.lower()
        if key in self._handlers:
            raise ValueError(f"always on script {name!r} is registered twice")
        self._handlers[key] = handler

    def names(self, is_img2img: bool) -> list[str]:
        return sorted({*self._handlers, *self.extension_names(is_img2img)})

    def request_fields(self, app: App, scripts: Mapping[str, Any], decode: ImageDecoder | None,
                       is_img2img: bool) -> dict[str, Any]:
        """The request fields every entry asks for; 422 naming the entry for an unknown name or a bad shape."""
        fields: dict[str, Any] = {}
        extension_args: list[tuple[str, tuple[Any, ...]]] = []
        for name, entry in scripts.items():
            handler = self._handlers.get(str(name).lower())
            extension_script = handler is None and str(name).lower() in self.extension_names(is_img2img)
            if handler is None and not extension_script:
                known = ", ".join(self.names(is_img2img)) or "none"
                raise FieldError(f"alwayson_scripts.{name}",
                                 f"always on script {name} not found (available: {known})")
            if not isinstance(entry, Mapping):
                raise FieldError(f"alwayson_scripts.{name}",
                                 f"alwayson_scripts.{name} must be an object with \"args\": [...]")
            args = entry.get("args", [])
            if not isinstance(args, list):
                raise FieldError(f"alwayson_scripts.{name}.args",
                                 f"alwayson_scripts.{name}.args must be a list, got {type(args).__name__}")
            if handler is None:
                extension_args.append((str(name).lower(), tuple(args)))
            else:
                fields.update(handler(app, args, decode, is_img2img))
        return fields | ({"alwayson_args": tuple(extension_args)} if extension_args else {})


def builtin_alwayson_scripts(extension_names: ExtensionScriptNames | None = None) -> AlwaysOnScripts:
    """The always-on scripts Kestrel itself provides, plus the extensions' (built per API router, so nothing is
    shared at import)."""
    from webui.api.controlnet_args import controlnet_request_fields

    scripts = AlwaysOnScripts(extension_names=extension_names or no_extension_scripts)
    scripts.register("controlnet", controlnet_request_fields)
    return scripts
