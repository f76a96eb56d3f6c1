"""A job's ControlNet units made ready once: models built (from the RAM cache), input images preprocessed into
detected maps; each sampling pass then asks for its hints at its own size.

As sd-webui-controlnet: a unit without an image takes the img2img init image (txt2img needs one); an inpaint
module takes the unit's mask, else the img2img mask; with "Only masked" inpainting the input is cropped to the
same region as the init image (the extension's `inpaint_crop_input_image`, on by default) so the control lines up
with the crop being sampled. The processor resolution is the unit's, or the module's default, or Pixel Perfect's
(computed from the input and the generation size). The hires pass fits the same detected map to its larger size.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from PIL import Image

from webui.engine.controlnet.hook import SOFT_INJECTION_MODE, ActiveUnit, ControlPassHook
from webui.engine.controlnet.preprocessors import pixel_perfect_resolution, resize_for_target
from webui.engine.controlnet.unit import ControlNetUnit
from webui.engine.img2img_images import crop_region, expand_to_aspect
from webui.engine.request import GenerationRequest

if TYPE_CHECKING:
    from webui.engine.controlnet.service import ControlNetService

HIRES_SOFT_MODULES = ("canny", "mlsd")  # the extension softens these in the hires pass


class ControlNetInputError(ValueError):
    """A unit cannot run as asked (no input image, a mask of another size); the message names the unit."""


@dataclass
class PreparedUnit:
    unit: ControlNetUnit
    model: torch.nn.Module
    detected: np.ndarray              # (H, W, 3) uint8: the preprocessor's map
    resolution: int                   # the processor resolution it ran at (Pixel Perfect's, when on)
    mask: np.ndarray | None = None    # (H, W) uint8, 255 = masked, for inpaint modules

    def hint(self, width: int, height: int) -> torch.Tensor:
        """[1, 3, H, W] in [0, 1]; masked pixels of an inpaint unit are −1 (the extension's inpaint protocol)."""
        mode = self.unit.resize_mode
        fitted = resize_for_target(self.detected, (height, width), mode)
        pixels = torch.from_numpy(np.ascontiguousarray(fitted)).float().div(255.0).permute(2, 0, 1)[None]
        if self.mask is None:
            return pixels
        mask = resize_for_target(np.repeat(self.mask[..., None], 3, axis=2), (height, width), mode)[..., 0]
        masked = torch.from_numpy((mask > 127).astype(np.float32))[None, None]
        return pixels * (1.0 - masked) - masked


@dataclass
class JobControl:
    units: list[PreparedUnit]
    device: torch.device
    dtype: torch.dtype
    _hooks: dict[tuple[int, int, bool], list[ActiveUnit]] = field(default_factory=dict)

    def for_pass(self, width: int, height: int, hires: bool = False) -> ControlPassHook | None:
        """A fresh hook for one pass (its step counter starts at 0); None when no unit takes part in it."""
        key = (width, height, hires)
        if key not in self._hooks:
            self._hooks[key] = [self._active(prepared, width, height, hires) for prepared in self.units
                                if prepared.unit.runs_in(hires)]
        units = self._hooks[key]
        return ControlPassHook(units) if units else None

    def _active(self, prepared: PreparedUnit, width: int, height: int, hires: bool) -> ActiveUnit:
        unit = prepared.unit
        soft = unit.control_mode == SOFT_INJECTION_MODE or (
            hires and any(name in unit.module for name in HIRES_SOFT_MODULES))
        return ActiveUnit(prepared.model, prepared.hint(width, height).to(self.device, self.dtype), unit.weight,
                          unit.guidance_start, unit.guidance_end, unit.control_mode, soft, unit.low_vram)

    def resolutions(self) -> dict[int, int]:
        """unit index → the processor resolution it ran at (what the infotext records)."""
        return {prepared.unit.index: prepared.resolution for prepared in self.units}

    def detected_maps(self) -> list[Image.Image]:
        """The preprocessors' maps of the units whose `save_detected_map` is on, in unit order: the extension
        appends them after the generated images."""
        return [Image.fromarray(prepared.detected) for prepared in self.units if prepared.unit.save_detected_map]


def _input_image(unit: ControlNetUnit, request: GenerationRequest) -> Image.Image:
    if unit.image is not None:
        return unit.image.convert("RGB")
    if request.img2img is not None:
        return request.img2img.image.convert("RGB")
    raise ControlNetInputError(f"controlnet unit {unit.index}: no input image (send \"image\"; only img2img "
                               "units may leave it out and use the init image)")


def _input_mask(unit: ControlNetUnit, request: GenerationRequest, size: tuple[int, int]) -> Image.Image | None:
    if not unit.uses_mask:
        return None
    source = unit.mask
    if source is None and request.img2img is not None and request.img2img.mask is not None:
        source = request.img2img.mask.mask
        if request.img2img.mask.invert:
            source = Image.eval(source.convert("L"), lambda value: 255 - value)
    if source is None:
        return None
    mask = source.convert("L")
    if mask.size != size:
        if unit.mask is not None:
            raise ControlNetInputError(f"controlnet unit {unit.index}: mask is {mask.size[0]}x{mask.size[1]}, "
                                       f"its image is {size[0]}x{size[1]}")
        mask = mask.resize(size)
    return mask


def _inpaint_crop(request: GenerationRequest, size: tuple[int, int]) -> tuple[int, int, int, int] | None:
    """The "Only masked" region of the init image, when the unit's input is the same size as that image."""
    spec = request.img2img
    if spec is None or spec.mask is None or not spec.mask.only_masked or spec.image.size != size:
        return None
    mask = spec.mask.mask.convert("L").resize(size)
    if spec.mask.invert:
        mask = Image.eval(mask, lambda value: 255 - value)
    region = crop_region(mask, spec.mask.padding)
    return expand_to_aspect(region, request.width, request.height, *size)


def prepare_unit(service: ControlNetService, unit: ControlNetUnit, request: GenerationRequest,
                 model: torch.nn.Module) -> PreparedUnit:
    image = _input_image(unit, request)
    mask = _input_mask(unit, request, image.size)
    region = _inpaint_crop(request, image.size)
    if region is not None:
        image = image.crop(region)
        mask = mask.crop(region) if mask is not None else None
    pixels = np.asarray(image)
    resolution = service.resolved_sliders(unit.module, unit.processor_res, unit.threshold_a, unit.threshold_b)[0]
    if unit.pixel_perfect:
        resolution = pixel_perfect_resolution(pixels.shape[:2], (request.height, request.width), unit.resize_mode)
    mask_pixels = None if mask is None else np.asarray(mask)
    detected = service.detect(unit.module, pixels, resolution, unit.threshold_a, unit.threshold_b,
                              mask=mask_pixels, seed=max(request.seed, 0))
    return PreparedUnit(unit, model, detected, resolution, mask_pixels)


@contextmanager
def prepared_control(service: ControlNetService, request: GenerationRequest, unet: Any,
                     device: torch.device, offloaded: bool = False) -> Iterator[JobControl | None]:
    """The job's units on the device for the job, back after. Low-VRAM units, and every unit when the memory plan
    offloads the UNet, stay on the CPU and visit the device for each call (the extension's low-VRAM path)."""
    if not request.controlnet:
        yield None
        return
    dtype = unet.dtype
    prepared = []
    for unit in request.controlnet:
        model = service.model_for(unit.model, unet, dtype)
        if offloaded and device.type != "cpu":
            unit = replace(unit, low_vram=True)
        prepared.append(prepare_unit(service, unit, request, model))
    moved = [item.model for item in prepared if not item.unit.low_vram]
    for model in moved:
        model.to(device)
    try:
        yield JobControl(prepared, device, dtype)
    finally:
        if device.type != "cpu":
            for model in moved:
                model.to("cpu")
