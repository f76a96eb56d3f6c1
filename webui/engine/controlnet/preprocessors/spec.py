"""What a ControlNet preprocessor ("module") is, as data: its names, sliders, control types and the weights it needs.

The extension (sd-webui-controlnet) keys a module two ways: its internal name (`/controlnet/module_list` lists
these by default, and old API clients send them: "invert", "depth", "hed") and its display label (the UI's
dropdown, `?alias_names=true`: "invert (from white bg & black line)", "depth_midas", "softedge_hed"). A
`Preprocessor` carries both: `name` is the label, `internal_name` the key, `aliases` what else resolves to it.
Pure: no numpy, no I/O, so the catalogue and the API's JSON can be built and tested without images.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Slider:
    """One slider as the extension configures it (label, range, default, step)."""

    label: str
    minimum: float
    maximum: float
    value: float
    step: float

    def api_json(self) -> dict[str, object]:
        """The slider as `/controlnet/module_list`'s `module_detail` writes it."""
        return {"name": self.label, "value": self.value, "min": self.minimum, "max": self.maximum,
                "step": self.step}


# The extension's default "Resolution" slider: every module shows it unless the module hides it.
RESOLUTION = Slider("Resolution", 64, 2048, 512, 8)
DEFAULT_RESOLUTION = 512


@dataclass(frozen=True)
class Preprocessor:
    """One module. `resolution`/`threshold_a`/`threshold_b` are None where the extension hides that slider.

    `needs_weights` are file names looked for in `<annotator folder>/<weights_folder>/` (the extension's
    `annotator/downloads/<sub>/` layout) or flat in an annotator folder. `sampling_effect` is "" for a module whose
    whole effect is its map, else the name of what it does during sampling ("colorfix", "reference", "inpaint") —
    its map is then the input image. `priority` orders the dropdown as the extension does (higher first).
    """

    name: str
    aliases: tuple[str, ...]
    resolution: Slider | None
    threshold_a: Slider | None
    threshold_b: Slider | None
    control_types: tuple[str, ...]
    needs_weights: tuple[str, ...] = ()
    uses_mask: bool = False
    sampling_effect: str = ""
    internal_name: str = ""
    weights_folder: str = ""
    priority: int = 0
    model_free: bool = False
    returns_image: bool = True
    show_control_mode: bool = True

    @property
    def key(self) -> str:
        """The extension's internal name (what `/controlnet/module_list` lists by default)."""
        return self.internal_name or self.name

    @property
    def all_names(self) -> tuple[str, ...]:
        """Every string that resolves to this module: the label, the internal name, the aliases."""
        return tuple(dict.fromkeys((self.name, self.key, *self.aliases)))

    def sliders(self) -> tuple[Slider, ...]:
        """The visible sliders in the extension's order (resolution, slider 1, slider 2)."""
        return tuple(s for s in (self.resolution, self.threshold_a, self.threshold_b) if s is not None)

    def detail_json(self) -> dict[str, object]:
        """The module's entry in `/controlnet/module_list`'s `module_detail`."""
        return {"model_free": self.model_free, "sliders": [s.api_json() for s in self.sliders()]}


def ui_order_key(preprocessor: Preprocessor) -> str:
    """The extension's dropdown sort key: priority zero-padded to 8 digits, then the label, sorted descending
    ("none" always first, outside the sort). Reproduced as is: labels of one priority come in reverse
    alphabetical order, as users see them there."""
    return str(preprocessor.priority).zfill(8) + preprocessor.name


def sorted_for_ui(preprocessors: list[Preprocessor]) -> list[Preprocessor]:
    """"none" first, then the rest by `ui_order_key` descending, as the extension's `get_sorted_preprocessors`."""
    first = [p for p in preprocessors if p.name == "none"]
    rest = sorted((p for p in preprocessors if p.name != "none"), key=ui_order_key, reverse=True)
    return first + rest
