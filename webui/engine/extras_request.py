"""`ExtrasRequest`: what the Extras tab (and `/sdapi/v1/extra-*`) asks of one image, validated (pure).

A1111's Upscale post-processing: "Scale by" a factor (optionally capped by a maximum side length) or "Scale to" a
size (optionally cropped to fit), with a main upscaler and a second one blended over it at a visibility. The sizes
and the infotext keys follow A1111's `scripts/postprocessing_upscale.py` and `modules/upscaler.py`: an upscaler's
output is rounded down to a multiple of 8, "Scale to" scales by the larger of the two ratios, and the keys are
`Postprocess upscale by` / `Postprocess upscale to`, `Max side length`, `Postprocess crop to`,
`Postprocess upscaler`, `Postprocess upscaler 2`.
"""

from __future__ import annotations

from dataclasses import dataclass

SCALE_BY, SCALE_TO = 0, 1
RESIZE_MODES = ("Scale by", "Scale to")
RESIZE_RANGE = (1.0, 8.0)
TARGET_RANGE = (1, 8192)
NO_UPSCALER = "None"


def _check_range(name: str, value: float, low: float, high: float) -> None:
    if not low <= value <= high:
        raise ValueError(f"{name} {value} is out of range; allowed: {low}–{high}")


@dataclass(frozen=True)
class ExtrasRequest:
    resize_mode: int = SCALE_BY               # 0 "Scale by", 1 "Scale to"
    upscaling_resize: float = 2.0
    max_side_length: int = 0                  # 0 = no limit (Scale by only)
    upscaling_resize_w: int = 512
    upscaling_resize_h: int = 512
    upscaling_crop: bool = True
    upscaler_1: str = NO_UPSCALER
    upscaler_2: str = NO_UPSCALER
    upscaler_2_visibility: float = 0.0
    gfpgan_visibility: float = 0.0            # A1111's face restoration in Extras: 0 = off
    codeformer_visibility: float = 0.0
    codeformer_weight: float = 0.0            # 0 = maximum effect, 1 = minimum (A1111's slider default is 0)

    def __post_init__(self) -> None:
        if self.resize_mode not in (SCALE_BY, SCALE_TO):
            raise ValueError(f"resize_mode {self.resize_mode!r} is not one of: 0 ({RESIZE_MODES[0]}), "
                             f"1 ({RESIZE_MODES[1]})")
        _check_range("upscaling_resize", self.upscaling_resize, *RESIZE_RANGE)
        _check_range("upscaling_resize_w", self.upscaling_resize_w, *TARGET_RANGE)
        _check_range("upscaling_resize_h", self.upscaling_resize_h, *TARGET_RANGE)
        _check_range("max_side_length", self.max_side_length, 0, TARGET_RANGE[1])
        _check_range("extras_upscaler_2_visibility", self.upscaler_2_visibility, 0.0, 1.0)
        for name in ("gfpgan_visibility", "codeformer_visibility", "codeformer_weight"):
            _check_range(name, getattr(self, name), 0.0, 1.0)
        for name in ("upscaler_1", "upscaler_2"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name):
                raise ValueError(f"{name} must name an upscaler (\"None\" for none)")

    @property
    def upscales(self) -> bool:
        return self.upscaler_1 != NO_UPSCALER

    @property
    def restores_faces(self) -> bool:
        return self.gfpgan_visibility > 0 or self.codeformer_visibility > 0

    @property
    def blends_second(self) -> bool:
        return self.upscaler_2 != NO_UPSCALER and self.upscaler_2_visibility > 0


@dataclass(frozen=True)
class UpscalePlan:
    """For one source size: the size each upscaler produces, the canvas to crop to (or None) and the infotext."""

    size: tuple[int, int]
    crop_to: tuple[int, int] | None
    info: dict[str, object]


def limit_to_side(width: float, height: float, limit: int) -> tuple[int, int]:
    """Shrink (width, height) so its longer side is `limit`, keeping the aspect ratio (A1111's max side length)."""
    if height > width and height > limit:
        return int(limit * width // height), limit
    if width > limit:
        return limit, int(limit * height // width)
    return int(width), int(height)


def upscaled_size(width: int, height: int, factor: float) -> tuple[int, int]:
    """What an A1111 upscaler returns for a factor: each side × factor, rounded down to a multiple of 8."""
    return max(8, int(width * factor) // 8 * 8), max(8, int(height * factor) // 8 * 8)


def plan_upscale(request: ExtrasRequest, width: int, height: int) -> UpscalePlan:
    info: dict[str, object] = {}
    factor = request.upscaling_resize
    crop_to = None
    if request.resize_mode == SCALE_TO:
        target = (request.upscaling_resize_w, request.upscaling_resize_h)
        factor = max(target[0] / width, target[1] / height)
        info["Postprocess upscale to"] = f"{target[0]}x{target[1]}"
        if request.upscaling_crop:
            crop_to = target
            info["Postprocess crop to"] = f"{target[0]}x{target[1]}"
    else:
        info["Postprocess upscale by"] = factor
        longest = max(width, height) * factor
        if request.max_side_length and longest > request.max_side_length:
            capped = limit_to_side(width * factor, height * factor, request.max_side_length)
            factor = max(capped[0] / width, capped[1] / height)
            info["Max side length"] = request.max_side_length
    info["Postprocess upscaler"] = request.upscaler_1
    if request.blends_second:
        info["Postprocess upscaler 2"] = request.upscaler_2
    return UpscalePlan(upscaled_size(width, height, factor), crop_to, info)
