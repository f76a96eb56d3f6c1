"""One ControlNet unit of a request, as sd-webui-controlnet's `ControlNetUnit` describes it (pure: no torch).

The field names and choices are the extension's, because they are its API and its infotext: `module` (the
preprocessor), `model` (a title `name [hash]`), `weight`, `resize_mode`, `processor_res`, `threshold_a/b`,
`guidance_start/end`, `pixel_perfect`, `control_mode`, `hr_option`. Only enabled units reach a request; `index` is
the unit's place in the UI/API list, which names it in the infotext ("ControlNet 1" stays 1 when unit 0 is off).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

CONTROL_MODES = ("Balanced", "My prompt is more important", "ControlNet is more important")
CONTROL_RESIZE_MODES = ("Just Resize", "Crop and Resize", "Resize and Fill")
HIRES_OPTIONS = ("Both", "Low res only", "High res only")
WEIGHT_RANGE = (0.0, 2.0)
MAX_UNITS = 10
DEFAULT_UNIT_COUNT = 3  # the extension's control_net_unit_count
NO_MODEL = "None"


@dataclass(frozen=True)
class ControlNetUnit:
    module: str = "none"
    model: str = NO_MODEL
    weight: float = 1.0
    image: Any = None               # a PIL RGB image; None in img2img = the init image (the extension's rule)
    mask: Any = None                # a PIL mask (white = masked) for inpaint_* modules; None = the img2img mask
    resize_mode: str = "Crop and Resize"
    low_vram: bool = False
    processor_res: int = -1         # -1 = the module's default (or Pixel Perfect's)
    threshold_a: float = -1.0       # -1 = the module's default
    threshold_b: float = -1.0
    guidance_start: float = 0.0
    guidance_end: float = 1.0
    pixel_perfect: bool = False
    control_mode: str = "Balanced"
    hr_option: str = "Both"
    index: int = 0
    save_detected_map: bool = True  # the extension's: its detected map follows the images (API and gallery)

    def __post_init__(self) -> None:
        name = f"controlnet unit {self.index}"
        if not WEIGHT_RANGE[0] <= self.weight <= WEIGHT_RANGE[1]:
            raise ValueError(f"{name} weight {self.weight} is out of range; allowed: 0–2")
        for field in ("guidance_start", "guidance_end"):
            value = getattr(self, field)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} {field} {value} is out of range; allowed: 0–1")
        if self.guidance_start > self.guidance_end:
            raise ValueError(f"{name} guidance_start {self.guidance_start} is after guidance_end "
                             f"{self.guidance_end}")
        for field, allowed in (("resize_mode", CONTROL_RESIZE_MODES), ("control_mode", CONTROL_MODES),
                               ("hr_option", HIRES_OPTIONS)):
            if getattr(self, field) not in allowed:
                raise ValueError(f"{name} {field} {getattr(self, field)!r} is not one of: {', '.join(allowed)}")
        if not 0 <= self.index < MAX_UNITS:
            raise ValueError(f"{name}: at most {MAX_UNITS} ControlNet units")

    @property
    def uses_mask(self) -> bool:
        """The extension's `is_inpaint`: inpaint modules send the mask to the ControlNet (masked pixels as -1)."""
        return "inpaint" in self.module

    def runs_in(self, hires: bool) -> bool:
        """hr_option: whether this unit takes part in the first pass or the hires pass."""
        return self.hr_option == "Both" or self.hr_option == ("High res only" if hires else "Low res only")


def unit_count(setting: Callable[[str], object]) -> int:
    """How many units the UI shows and /controlnet/settings reports: `control_net_unit_count` (1–10), 3 when unset."""
    try:
        return max(1, min(MAX_UNITS, int(str(setting("control_net_unit_count")))))
    except (KeyError, TypeError, ValueError):
        return DEFAULT_UNIT_COUNT
