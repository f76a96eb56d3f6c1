"""`GenerationRequest` to JSON and back, for the persisted queue. Images travel as base64 PNG (lossless)."""

from __future__ import annotations

import base64
import dataclasses
import io
import json
from typing import Any

from PIL import Image

from webui.engine.controlnet.unit import ControlNetUnit
from webui.engine.request import GenerationRequest, HiresFix, Img2ImgInput, InpaintMask, SamplerParameters

FORMAT_VERSION = 1


def _png(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _image(text: str) -> Image.Image:
    image = Image.open(io.BytesIO(base64.b64decode(text)))
    image.load()
    return image


def _shallow(instance: Any) -> dict[str, Any]:
    return {field.name: getattr(instance, field.name) for field in dataclasses.fields(instance)}


def _encode_unit(unit: ControlNetUnit) -> dict[str, Any]:
    images = {name: None if getattr(unit, name) is None else _png(getattr(unit, name)) for name in ("image", "mask")}
    return _shallow(unit) | images


def _decode_unit(fields: dict[str, Any]) -> ControlNetUnit:
    images = {name: None if fields.get(name) is None else _image(fields[name]) for name in ("image", "mask")}
    return ControlNetUnit(**(fields | images))


def encode_request(request: GenerationRequest) -> str:
    fields = _shallow(request)
    if request.hires is not None:
        fields["hires"] = _shallow(request.hires)
    if request.sampling is not None:
        fields["sampling"] = _shallow(request.sampling)
    if request.img2img is not None:
        img2img = _shallow(request.img2img) | {"image": _png(request.img2img.image)}
        if request.img2img.mask is not None:
            img2img["mask"] = _shallow(request.img2img.mask) | {"mask": _png(request.img2img.mask.mask)}
        fields["img2img"] = img2img
    fields["controlnet"] = [_encode_unit(unit) for unit in request.controlnet]
    return json.dumps({"version": FORMAT_VERSION, "request": fields})


def decode_request(payload: str) -> GenerationRequest:
    """The request back, validated again by its own constructor (a stored value that is no longer allowed fails)."""
    document = json.loads(payload)
    if document.get("version") != FORMAT_VERSION:
        raise ValueError(f"stored request format {document.get('version')!r}; this version reads {FORMAT_VERSION}")
    fields = dict(document["request"])
    if fields.get("hires") is not None:
        fields["hires"] = HiresFix(**fields["hires"])
    if fields.get("sampling") is not None:
        fields["sampling"] = SamplerParameters(**fields["sampling"])
    if fields.get("img2img") is not None:
        img2img = dict(fields["img2img"])
        img2img["image"] = _image(img2img["image"])
        if img2img.get("mask") is not None:
            img2img["mask"] = InpaintMask(**(img2img["mask"] | {"mask": _image(img2img["mask"]["mask"])}))
        fields["img2img"] = Img2ImgInput(**img2img)
    fields["controlnet"] = tuple(_decode_unit(unit) for unit in fields.get("controlnet") or ())
    fields["alwayson_args"] = tuple((str(name), tuple(args)) for name, args in fields.get("alwayson_args") or ())
    return GenerationRequest(**fields)
