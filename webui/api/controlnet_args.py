"""`alwayson_scripts: {"controlnet": {"args": [unit, ...]}}` read as sd-webui-controlnet reads it.

Each unit is an object with the extension's field names (`enabled`, `module`, `model`, `weight`, `image`, `mask`,
`resize_mode`, `low_vram`, `processor_res`, `threshold_a`, `threshold_b`, `guidance_start`, `guidance_end`,
`pixel_perfect`, `control_mode`, `hr_option`, `save_detected_map`) or their legacy names (`input_image`,
`mask_image`, `guidance`, `lowvram`, `guessmode`). `image` is base64, `{"image", "mask"}` or `[image, mask]`; modes
are names (old aliases too) or indexes. Fields the extension has and Kestrel does not use (`advanced_weighting`,
`ipadapter_input`, ...) are ignored, as the extension ignores unknown ones. A unit without `enabled` is on (older
clients never send it); `enabled: false` units are left out. Every problem is a 422 naming the unit's field: an
unknown module or model lists what is installed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from PIL import Image

from webui.app_context import App
from webui.engine.controlnet.preprocessors import resize_mode_from_value
from webui.engine.controlnet.unit import CONTROL_MODES, HIRES_OPTIONS, ControlNetUnit
from webui.errors import FieldError, KestrelError

ImageDecoder = Callable[[str, str], Image.Image]
LEGACY_NAMES = {"input_image": "image", "mask_image": "mask", "guidance": "guidance_end", "lowvram": "low_vram"}
NUMBERS = {"weight": float, "processor_res": int, "threshold_a": float, "threshold_b": float,
           "guidance_start": float, "guidance_end": float}
FLAGS = ("low_vram", "pixel_perfect", "save_detected_map")
SCRIPT = "alwayson_scripts.controlnet.args"


def _choice(field: str, value: Any, allowed: tuple[str, ...]) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(allowed):
        return allowed[value]
    if isinstance(value, str) and value in allowed:
        return value
    raise FieldError(field, f"{field} {value!r} is not one of: {', '.join(allowed)} (or 0–{len(allowed) - 1})")


def _renamed(values: Mapping[str, Any]) -> dict[str, Any]:
    """Legacy names read as their new ones; where a client sends both (webuiapi sends `guidance` beside
    `guidance_end`), the new one wins."""
    renamed = dict(values)
    for legacy, name in LEGACY_NAMES.items():
        if legacy in renamed:
            value = renamed.pop(legacy)
            renamed.setdefault(name, value)
    return renamed


def _images(value: Any, mask: Any, where: str, decode: ImageDecoder) -> tuple[Image.Image | None, Any]:
    """(image, mask) from the extension's accepted shapes; the first of a list of image/mask objects."""
    if value is None or value == "":
        return None, mask
    if isinstance(value, list) and value and isinstance(value[0], Mapping):
        value = value[0]
    if isinstance(value, list | tuple):
        if len(value) != 2:
            raise FieldError(f"{where}.image", f"{where}.image as a list must be [image, mask]")
        value, mask = {"image": value[0], "mask": value[1]}, None
    if isinstance(value, Mapping):
        mask = value.get("mask", mask)
        value = value.get("image")
        if not isinstance(value, str):
            raise FieldError(f"{where}.image", "the image object's \"image\" must be a base64 image")
    if not isinstance(value, str):
        raise FieldError(f"{where}.image", f"{where}.image must be a base64 image, got {type(value).__name__}")
    return decode(value, f"{where}.image").convert("RGB"), mask


def _mask(value: Any, image: Image.Image | None, where: str, decode: ImageDecoder) -> Image.Image | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise FieldError(f"{where}.mask", f"{where}.mask must be a base64 image, got {type(value).__name__}")
    mask = decode(value, f"{where}.mask").convert("L")
    if image is not None and mask.size != image.size:
        raise FieldError(f"{where}.mask", f"{where}.mask is {mask.size[0]}x{mask.size[1]} but its image is "
                         f"{image.size[0]}x{image.size[1]}")
    return mask


def _number(values: Mapping[str, Any], name: str, kind: type, where: str) -> Any:
    value = values[name]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise FieldError(f"{where}.{name}", f"{where}.{name} must be a number, got {value!r}")
    return kind(value)


def parse_unit(app: App, values: Mapping[str, Any], index: int, decode: ImageDecoder | None) -> ControlNetUnit:
    where = f"{SCRIPT}[{index}]"
    service = app.engine.controlnet
    if service is None:
        raise FieldError(SCRIPT, "ControlNet is not available on this instance")
    values = _renamed(values)
    fields: dict[str, Any] = {"index": index}
    for name, kind in NUMBERS.items():
        if name in values:
            fields[name] = _number(values, name, kind, where)
    for name in FLAGS:
        if name in values:
            fields[name] = bool(values[name])
    try:
        fields["module"] = service.preprocessors.get(str(values.get("module", "none"))).name
    except KestrelError as error:
        raise FieldError(f"{where}.module", str(error)) from error
    model = values.get("model", "None")
    try:
        fields["model"] = "None" if model in (None, "", "None") else service.models.find(str(model)).title
    except KestrelError as error:
        raise FieldError(f"{where}.model", str(error)) from error
    if "resize_mode" in values:
        try:
            fields["resize_mode"] = resize_mode_from_value(values["resize_mode"])
        except FieldError as error:
            raise FieldError(f"{where}.resize_mode", error.reason) from error
    if values.get("guessmode") and "control_mode" not in values:
        fields["control_mode"] = CONTROL_MODES[2]  # the old guess mode became "ControlNet is more important"
    if "control_mode" in values:
        fields["control_mode"] = _choice(f"{where}.control_mode", values["control_mode"], CONTROL_MODES)
    if "hr_option" in values:
        fields["hr_option"] = _choice(f"{where}.hr_option", values["hr_option"], HIRES_OPTIONS)
    if decode is not None:
        image, mask = _images(values.get("image"), values.get("mask"), where, decode)
        fields["image"], fields["mask"] = image, _mask(mask, image, where, decode)
    elif values.get("image"):
        raise FieldError(f"{where}.image", "images cannot be read here")
    try:
        return ControlNetUnit(**fields)
    except ValueError as error:
        raise FieldError(where, str(error).replace(f"controlnet unit {index} ", "")) from error


def controlnet_request_fields(app: App, args: list[Any], decode: ImageDecoder | None,
                              is_img2img: bool) -> dict[str, Any]:
    """The request's `controlnet` units from the script's args (422 naming the bad field)."""
    units = []
    for index, values in enumerate(args):
        where = f"{SCRIPT}[{index}]"
        if not isinstance(values, Mapping):
            raise FieldError(where, f"{where} must be an object with the unit's fields (enabled, module, model, "
                             f"image, weight, ...), got {type(values).__name__}")
        if not values.get("enabled", True):
            continue
        unit = parse_unit(app, values, index, decode)
        if unit.image is None and not is_img2img:
            raise FieldError(f"{where}.image", f"{where}.image is required in txt2img (img2img units may leave it "
                             "out and use the init image)")
        _check(app, unit, where)
        units.append(unit)
    return {"controlnet": tuple(units)}


def _check(app: App, unit: ControlNetUnit, where: str) -> None:
    service = app.engine.controlnet
    assert service is not None
    loaded = app.models.loaded
    width = int(loaded.pipeline.unet.config.cross_attention_dim) if loaded is not None else None
    try:
        service.check_module(unit)
    except (KestrelError, ValueError) as error:
        raise FieldError(f"{where}.module", str(error).replace(f"controlnet unit {unit.index}: ", "")) from error
    try:
        service.check_model(unit, width)
    except (KestrelError, ValueError) as error:
        raise FieldError(f"{where}.model", str(error).replace(f"controlnet unit {unit.index}: ", "")) from error
