"""ControlNet as the rest of the app sees it: the installed models, the preprocessors, checks before a job is
queued, and detection (the UI's preview and `/controlnet/detect`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from webui.engine.controlnet.preprocessors import PreprocessorRegistry
from webui.engine.controlnet.unit import NO_MODEL, ControlNetUnit
from webui.infotext.controlnet import serialize_unit, unit_key
from webui.model_manager.controlnet_models import ControlNetModels, check_fits


class ControlNetService:
    def __init__(self, models: ControlNetModels, preprocessors: PreprocessorRegistry) -> None:
        self._models = models
        self._preprocessors = preprocessors

    @property
    def models(self) -> ControlNetModels:
        return self._models

    @property
    def preprocessors(self) -> PreprocessorRegistry:
        return self._preprocessors

    def resolved_sliders(self, module: str, resolution: float, threshold_a: float,
                         threshold_b: float) -> tuple[int, float, float]:
        """The slider values the unit runs with (the API's −1 = the module's default)."""
        resolved = self._preprocessors.resolve_parameters(module, int(resolution), threshold_a, threshold_b)
        return resolved.resolution, resolved.threshold_a, resolved.threshold_b

    def detect(self, module: str, pixels: np.ndarray, resolution: float, threshold_a: float, threshold_b: float,
               mask: np.ndarray | None = None, seed: int = 0) -> np.ndarray:
        """The module's detected map of an (H, W, 3) uint8 RGB image."""
        return self._preprocessors.run(module, pixels, int(resolution), threshold_a, threshold_b, mask=mask,
                                       seed=seed)

    def check_module(self, unit: ControlNetUnit) -> None:
        """The module exists, runs here and has its weights (the errors name the module or the file)."""
        spec = self._preprocessors.get(unit.module)
        if spec.sampling_effect == "reference":
            raise ValueError(f"controlnet unit {unit.index}: module {unit.module!r} works inside the sampler and "
                             "is not supported yet")
        if not self._preprocessors.runnable(unit.module):
            self._preprocessors.run(unit.module, np.zeros((8, 8, 3), np.uint8), 64, None, None)  # says why

    def check_model(self, unit: ControlNetUnit, unet_context_width: int | None) -> None:
        """The model is installed and fits the loaded checkpoint (its cross-attention width)."""
        if unit.model == NO_MODEL:
            raise ValueError(f"controlnet unit {unit.index}: model is None; choose one of: "
                             f"{', '.join(self._models.titles()[1:]) or 'none installed (models/ControlNet/)'}")
        record = self._models.find(unit.model)
        if unet_context_width is not None:
            check_fits(self._models.kind(record), record.path.name, unet_context_width)

    def check_unit(self, unit: ControlNetUnit, unet_context_width: int | None) -> None:
        """Before queueing: the module and the model can run (raises naming the value)."""
        self.check_module(unit)
        self.check_model(unit, unet_context_width)

    def check_units(self, units: Sequence[ControlNetUnit], unet_context_width: int | None) -> None:
        for unit in units:
            self.check_unit(unit, unet_context_width)

    def model_for(self, query: str, unet: Any, dtype: torch.dtype) -> torch.nn.Module:
        return self._models.load(self._models.find(query), unet, dtype)

    def infotext_keys(self, units: Sequence[ControlNetUnit],
                      resolutions: Mapping[int, int]) -> list[tuple[str, object]]:
        """`ControlNet N` entries as the extension writes them: the model's title as installed, the sliders as the
        unit ran them (defaults filled in, Pixel Perfect's resolution from `resolutions`)."""
        keys: list[tuple[str, object]] = []
        for unit in units:
            resolution, threshold_a, threshold_b = self.resolved_sliders(
                unit.module, unit.processor_res, unit.threshold_a, unit.threshold_b)
            resolution = resolutions.get(unit.index, resolution)
            values = {"module": unit.module, "model": self._models.find(unit.model).title,
                      "weight": float(unit.weight), "resize_mode": unit.resize_mode, "processor_res": resolution,
                      "threshold_a": _number(threshold_a), "threshold_b": _number(threshold_b),
                      "guidance_start": float(unit.guidance_start), "guidance_end": float(unit.guidance_end),
                      "pixel_perfect": unit.pixel_perfect, "control_mode": unit.control_mode}
            keys.append((unit_key(unit.index), serialize_unit(values)))
        return keys


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else float(value)
