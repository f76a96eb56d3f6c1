"""The "Control Type" tabs (Canny, Depth, Tile ...): which modules and models each offers and which it selects
first, as sd-webui-controlnet's `select_control_type` and `/controlnet/control_types` compute them. Pure.

A model belongs to a tab when its title (lowercased) contains the tab's name or one of the extension's aliases for
it ("seg" for Segmentation, "blur" for Tile, "sketch" for Scribble ...). The default model is the first matching
one whose name (before " [hash]") contains "11" (the v1.1 models), else the first matching one; "None" when none
match. The API route asks without an SD version, so no model is filtered out by architecture here (the extension's
union-model matching is SDXL-only and not reproduced).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from webui.engine.controlnet.preprocessors.spec import Preprocessor

FILTER_ALIASES: dict[str, tuple[str, ...]] = {
    "instructp2p": ("ip2p",),
    "segmentation": ("seg",),
    "normalmap": ("normal",),
    "t2i-adapter": ("t2i_adapter", "t2iadapter", "t2ia"),
    "ip-adapter": ("ip_adapter", "ipadapter"),
    "openpose": ("openpose", "densepose"),
    "instant-id": ("instant_id", "instantid"),
    "scribble": ("sketch",),
    "tile": ("blur",),
}
ALL = "All"
NO_MODEL = "None"


@dataclass(frozen=True)
class ControlTypeChoice:
    """One tab: the modules and models it lists and the two it selects when the user clicks it."""

    module_list: tuple[str, ...]
    model_list: tuple[str, ...]
    default_option: str
    default_model: str

    def json(self) -> dict[str, object]:
        return {"module_list": list(self.module_list), "model_list": list(self.model_list),
                "default_option": self.default_option, "default_model": self.default_model}


def model_filters(tag: str) -> tuple[str, ...]:
    """The substrings a model title must contain (any of) to be listed under the tab."""
    lowered = tag.lower()
    return (lowered, *FILTER_ALIASES.get(lowered, ()))


def all_tags(preprocessors: Sequence[Preprocessor]) -> list[str]:
    """"All" then every module's control types, sorted as Python sorts strings (so "IP-Adapter" < "Inpaint")."""
    return [ALL, *sorted({tag for p in preprocessors for tag in p.control_types})]


def with_none(model_names: Sequence[str]) -> list[str]:
    """The model dropdown always starts with "None"."""
    return [NO_MODEL, *(name for name in model_names if name != NO_MODEL)]


def select_control_type(tag: str, ordered: Sequence[Preprocessor], model_names: Sequence[str]) -> ControlTypeChoice:
    """What the tab lists and selects; `ordered` is the registry's dropdown order ("none" first)."""
    models = with_none(model_names)
    if tag.lower() == ALL.lower():
        return ControlTypeChoice(tuple(p.name for p in ordered), tuple(models), "none", NO_MODEL)
    filters = model_filters(tag)
    matching = [m for m in models if m.lower() == "none" or any(f in m.lower() for f in filters)]
    default_model = NO_MODEL
    if len(matching) > 1:
        default_model = next((m for m in matching if "11" in m.split("[")[0]), matching[1])
    modules = [p for p in ordered if tag in p.control_types or p.name == "none"]
    default_option = modules[0] if len(modules) == 1 else modules[1]
    return ControlTypeChoice(tuple(p.name for p in modules), tuple(matching), default_option.name, default_model)


def control_types_json(ordered: Sequence[Preprocessor], model_names: Sequence[str]) -> dict[str, object]:
    """The body of GET /controlnet/control_types."""
    return {"control_types": {tag: select_control_type(tag, ordered, model_names).json()
                              for tag in all_tags(ordered)}}
