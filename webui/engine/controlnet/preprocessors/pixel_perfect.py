"""Resize modes and Pixel Perfect, as sd-webui-controlnet computes them. Pure.

Pixel Perfect picks the processor resolution so the detected map comes out at the size the generation needs: with
kH = target_h / image_h and kW = target_w / image_w, it is round(k * min(image_h, image_w)) with k = min(kH, kW)
for "Resize and Fill" (the whole image fits inside) and k = max(kH, kW) otherwise (it covers the target, then is
cropped or stretched).
"""

from __future__ import annotations

from webui.errors import FieldError

JUST_RESIZE = "Just Resize"
CROP_AND_RESIZE = "Crop and Resize"
RESIZE_AND_FILL = "Resize and Fill"
RESIZE_MODES = (JUST_RESIZE, CROP_AND_RESIZE, RESIZE_AND_FILL)
# Older names the extension still accepts (its RESIZE_MODE_ALIASES).
RESIZE_MODE_ALIASES = {
    "Inner Fit (Scale to Fit)": CROP_AND_RESIZE,
    "Outer Fit (Shrink to Fit)": RESIZE_AND_FILL,
    "Scale to Fit (Inner Fit)": CROP_AND_RESIZE,
    "Envelope (Outer Fit)": RESIZE_AND_FILL,
}


def resize_mode_from_value(value: str | int) -> str:
    """A unit's `resize_mode` as the extension reads it: a name, an old alias, or an index (0, 1, 2; 3 — A1111's
    'Just Resize (latent upscale)' — is Just Resize). Anything else is a 422 naming the field."""
    if isinstance(value, bool):
        raise FieldError("resize_mode", f"must be one of {', '.join(RESIZE_MODES)} or 0-2, got {value!r}")
    if isinstance(value, int):
        if value == 3:
            return JUST_RESIZE
        if 0 <= value < len(RESIZE_MODES):
            return RESIZE_MODES[value]
    elif isinstance(value, str):
        mode = RESIZE_MODE_ALIASES.get(value, value)
        if mode in RESIZE_MODES:
            return mode
    raise FieldError("resize_mode", f"must be one of {', '.join(RESIZE_MODES)} or 0-2, got {value!r}")


def pixel_perfect_resolution(image_hw: tuple[int, int], target_hw: tuple[int, int], resize_mode: str | int) -> int:
    """The processor resolution Pixel Perfect sets for an image of `image_hw` and a generation of `target_hw`."""
    raw_h, raw_w = (float(v) for v in image_hw)
    k_h = float(target_hw[0]) / raw_h
    k_w = float(target_hw[1]) / raw_w
    k = min(k_h, k_w) if resize_mode_from_value(resize_mode) == RESIZE_AND_FILL else max(k_h, k_w)
    return int(round(k * min(raw_h, raw_w)))
