"""A1111's selectable scripts over the API: `script_name` + `script_args` in txt2img/img2img, `/scripts` and
`/script-info`.

A script is found by its title, case-insensitively (A1111 lowercases titles: "sd upscale", "x/y/z plot"); an
unknown one is 422 "Script '…' not found", as A1111 answers, before anything is queued. `script_args` is the list
A1111's script takes, position for position (each runner documents its own). A runner sends ordinary jobs through
the queue (so fairness, ownership, quotas and cancelling apply to each of them) and returns one
`GenerationOutput`, whose images become the response's.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from webui.errors import FieldError
from webui.jobs.generation import GenerationOutput

if TYPE_CHECKING:
    from webui.app_context import App
    from webui.engine.request import GenerationRequest


@dataclass(frozen=True)
class ScriptArg:
    """One entry of `/script-info`'s args (A1111's ScriptArg: label, value, minimum, maximum, step, choices)."""

    label: str
    value: Any = None
    minimum: Any = None
    maximum: Any = None
    step: Any = None
    choices: tuple[str, ...] | None = None

    def as_json(self) -> dict[str, Any]:
        return {"label": self.label, "value": self.value, "minimum": self.minimum, "maximum": self.maximum,
                "step": self.step, "choices": list(self.choices) if self.choices is not None else None}


@dataclass
class ScriptRun:
    """What a runner gets: the validated base request, who asked, and how to run one job and await it."""

    app: App
    request: GenerationRequest
    owner: str
    args: list[Any]
    is_img2img: bool
    warnings: list[str]
    generate: Callable[[GenerationRequest], Awaitable[GenerationOutput]]


ScriptRunner = Callable[[ScriptRun], Awaitable[GenerationOutput]]


@dataclass(frozen=True)
class ApiScript:
    title: str                      # A1111's title(); the API name is its lowercase
    runner: ScriptRunner
    args: tuple[ScriptArg, ...] = ()
    txt2img: bool = True
    img2img: bool = True

    @property
    def name(self) -> str:
        return self.title.lower()

    def shown_for(self, is_img2img: bool) -> bool:
        return self.img2img if is_img2img else self.txt2img


@dataclass
class ApiScripts:
    """name → script; a name registered twice is a programming error."""

    _scripts: dict[str, ApiScript] = field(default_factory=dict)

    def register(self, script: ApiScript) -> None:
        if script.name in self._scripts:
            raise ValueError(f"script {script.title!r} is registered twice")
        self._scripts[script.name] = script

    def names(self, is_img2img: bool) -> list[str]:
        return [script.name for script in self._scripts.values() if script.shown_for(is_img2img)]

    def find(self, name: str, is_img2img: bool) -> ApiScript:
        """The script for `script_name`, or 422 as A1111 answers, listing what this tab has."""
        script = self._scripts.get(str(name).strip().lower())
        if script is None or not script.shown_for(is_img2img):
            tab = "img2img" if is_img2img else "txt2img"
            raise FieldError("script_name", f"Script '{name}' not found (available for {tab}: "
                                            f"{', '.join(self.names(is_img2img)) or 'none'})")
        return script

    def info(self) -> list[dict[str, Any]]:
        """A1111's `/script-info`: one entry per script and tab it is shown on."""
        entries = []
        for script in self._scripts.values():
            for is_img2img in (False, True):
                if script.shown_for(is_img2img):
                    entries.append({"name": script.name, "is_alwayson": False, "is_img2img": is_img2img,
                                    "args": [arg.as_json() for arg in script.args]})
        return entries


def script_arg(args: list[Any], index: int, default: Any, kind: type, label: str) -> Any:
    """Position `index` of script_args in `kind` (the default when the client sent fewer), or a 422 naming
    `script_args[index]` and what it is. Whole floats count as ints; "2" is not a number (A1111 takes slider
    values, not text)."""
    if index >= len(args) or args[index] is None:
        return default
    value = args[index]
    where = f"script_args[{index}]"
    if kind is bool:
        if not isinstance(value, bool):
            raise FieldError(where, f"{where} ({label}) must be true or false, got {value!r}")
        return value
    if kind in (int, float):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise FieldError(where, f"{where} ({label}) must be a number, got {value!r}")
        if kind is int and float(value) != int(value):
            raise FieldError(where, f"{where} ({label}) must be a whole number, got {value!r}")
        return kind(value)
    if kind is str:
        if not isinstance(value, str):
            raise FieldError(where, f"{where} ({label}) must be text, got {value!r}")
        return value
    return value


def register_script_routes(router, selectable: ApiScripts, alwayson) -> None:
    """`/scripts` (A1111: the lowercase names of every script of each tab, always-on ones included) and
    `/script-info`."""

    @router.get("/scripts")
    def scripts() -> dict[str, list[str]]:
        return {"txt2img": [*selectable.names(False), *alwayson.names(False)],
                "img2img": [*selectable.names(True), *alwayson.names(True)]}

    @router.get("/script-info")
    def script_info() -> list[dict[str, Any]]:
        always = [{"name": name, "is_alwayson": True, "is_img2img": is_img2img, "args": []}
                  for is_img2img in (False, True) for name in alwayson.names(is_img2img)]
        return [*selectable.info(), *always]
