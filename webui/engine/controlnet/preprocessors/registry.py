"""The registry of ControlNet modules: names in the extension's order, lookup by label or internal name, the
API's JSON, and `run`, which turns an input image into the detected map.

Every module the extension lists is registered, so a client's module name is always recognised; a module runs when
it has a function here and, for those that need an annotator network, its weights are installed. Otherwise `run`
raises a typed error that names the module and what to do (AnnotatorWeightsMissing 409, PreprocessorUnsupported
422); an unknown name is UnknownPreprocessor 422.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from webui.engine.controlnet.preprocessors.catalogue import extension_preprocessors
from webui.engine.controlnet.preprocessors.control_types import control_types_json
from webui.engine.controlnet.preprocessors.errors import (
    AnnotatorWeightsMissing,
    PreprocessorUnsupported,
    UnknownPreprocessor,
)
from webui.engine.controlnet.preprocessors.image_ops import hwc3
from webui.engine.controlnet.preprocessors.model_free import (
    LoadedNetworks,
    MapFunction,
    MapRequest,
    weight_free_functions,
)
from webui.engine.controlnet.preprocessors.spec import (
    DEFAULT_RESOLUTION,
    RESOLUTION,
    Preprocessor,
    Slider,
    sorted_for_ui,
)
from webui.engine.controlnet.preprocessors.weights import AnnotatorFolders
from webui.errors import FieldError

# A processor resolution beyond this is refused rather than allocated (an 8192-pixel short side is already ~0.8 GB
# of RGB); the UI's slider stops at 2048, the API takes any number.
MAX_RESOLUTION = 8192


# what the extension's hidden slider holds (its infotext shows "Threshold A: 0.5" for a module without sliders)
HIDDEN_SLIDER_VALUE = 0.5


@dataclass(frozen=True)
class ResolvedParameters:
    """The values a module runs with after the extension's bound check: a missing or negative resolution or
    slider value takes the slider's default (the API's -1 means "default")."""

    resolution: int
    threshold_a: float
    threshold_b: float


def _or_default(value: float | None, slider: Slider | None, fallback: float) -> float:
    if value is not None and value >= 0:
        return float(value)
    return float(slider.value) if slider is not None else fallback


class PreprocessorRegistry:
    """Modules by name; registering a name or alias that is already taken raises."""

    def __init__(self, annotator_folders: Sequence[Path] = ()) -> None:
        self._by_name: dict[str, Preprocessor] = {}
        self._modules: list[Preprocessor] = []
        self._functions: dict[str, MapFunction] = {}
        self._folders = AnnotatorFolders.of(annotator_folders)
        self._loaded = LoadedNetworks(capacity=2)

    def register(self, preprocessor: Preprocessor, function: MapFunction | None = None) -> None:
        """Add a module (function None: listed, recognised, but `run` says it cannot run here)."""
        taken = [name for name in preprocessor.all_names if name in self._by_name]
        if taken:
            raise ValueError(f"preprocessor name {taken[0]!r} is already registered")
        for name in preprocessor.all_names:
            self._by_name[name] = preprocessor
        self._modules.append(preprocessor)
        if function is not None:
            self._functions[preprocessor.key] = function

    def ordered(self) -> list[Preprocessor]:
        """The modules in the extension's dropdown order ("none", then by priority and label, descending)."""
        return sorted_for_ui(self._modules)

    def names(self) -> list[str]:
        """The labels in dropdown order (`/controlnet/module_list?alias_names=true`)."""
        return [p.name for p in self.ordered()]

    def module_list(self, alias_names: bool = False) -> list[str]:
        """`/controlnet/module_list`'s list: internal names by default ("invert", "depth", "hed"), labels with
        `alias_names`, in the same order."""
        return [p.name if alias_names else p.key for p in self.ordered()]

    def module_detail(self, alias_names: bool = False) -> dict[str, object]:
        """`/controlnet/module_list`'s `module_detail`: per module, model_free and its visible sliders."""
        return {(p.name if alias_names else p.key): p.detail_json() for p in self.ordered()}

    def get(self, name: str) -> Preprocessor:
        """By label, internal name or alias (case-sensitive, as the extension)."""
        found = self._by_name.get(name)
        if found is None:
            raise UnknownPreprocessor(name, self.names())
        return found

    def available(self, name: str) -> bool:
        """True when every weight file the module needs is installed (always true for weight-free modules)."""
        return not self._folders.resolve(self.get(name))[1]

    def runnable(self, name: str) -> bool:
        """True when `run` would compute a map: the module has a function here and its weights are installed."""
        module = self.get(name)
        return module.key in self._functions and self.available(name)

    def runnable_names(self) -> list[str]:
        return [p.name for p in self.ordered() if p.key in self._functions and self.available(p.name)]

    def resolve_parameters(self, name: str, resolution: int | None, threshold_a: float | None,
                           threshold_b: float | None) -> ResolvedParameters:
        """The extension's bound check: None or negative values become the module's slider defaults."""
        module = self.get(name)
        return ResolvedParameters(int(_or_default(resolution, module.resolution, DEFAULT_RESOLUTION)) or
                                  DEFAULT_RESOLUTION,
                                  _or_default(threshold_a, module.threshold_a, HIDDEN_SLIDER_VALUE),
                                  _or_default(threshold_b, module.threshold_b, HIDDEN_SLIDER_VALUE))

    def run(self, name: str, image: np.ndarray, resolution: int, threshold_a: float | None,
            threshold_b: float | None, mask: np.ndarray | None = None, seed: int = 0,
            device: str = "cpu") -> np.ndarray:
        """The detected map, (H', W', 3) uint8 RGB, at the size the extension makes it for this resolution."""
        module = self.get(name)
        image = np.asarray(image)
        function = self._functions.get(module.key)
        never_runs = not module.returns_image or module.key == "mediapipe_face"
        weights, missing = self._folders.resolve(module)
        if missing and not never_runs:
            note = "" if function is not None else "; note that Kestrel does not implement this network yet"
            raise AnnotatorWeightsMissing(module.name, missing, self._folders.places_for(module), note)
        if function is None:
            raise PreprocessorUnsupported(module.name, self._why_unsupported(module), self.runnable_names())
        params = self.resolve_parameters(name, resolution, threshold_a, threshold_b)
        if params.resolution > MAX_RESOLUTION:
            raise FieldError("processor_res", f"must be at most {MAX_RESOLUTION} (the slider's maximum is "
                                              f"{int(RESOLUTION.maximum)}), got {params.resolution}")
        if image.ndim < 2 or image.shape[0] < 1 or image.shape[1] < 1:
            raise FieldError("image", f"is empty (shape {tuple(image.shape)})")
        request = MapRequest(image=hwc3(image), resolution=params.resolution,
                             threshold_a=params.threshold_a, threshold_b=params.threshold_b, mask=mask, seed=seed,
                             weights=weights, device=device, loaded=self._loaded)
        return np.ascontiguousarray(hwc3(function(request)))

    def unload_networks(self) -> None:
        """Free the annotator networks kept since the last runs (call before a generation that needs the VRAM)."""
        self._loaded.clear()

    def control_types(self, model_names: Sequence[str]) -> dict[str, object]:
        """The body of GET /controlnet/control_types for these installed model titles."""
        return control_types_json(self.ordered(), model_names)

    @staticmethod
    def _why_unsupported(module: Preprocessor) -> str:
        if not module.returns_image:
            return "it makes an image embedding (for IP-Adapter / Revision / T2I style), not a control map"
        if module.key == "mediapipe_face":
            return "it needs the mediapipe package, which Kestrel does not ship"
        return (f"its annotator network ({', '.join(module.needs_weights)}) is not implemented here; "
                "make the map elsewhere and use module 'none'")


def default_registry(annotator_folders: Sequence[Path]) -> PreprocessorRegistry:
    """Every module of the extension, the weight-free ones runnable, the rest listed with their weights."""
    registry = PreprocessorRegistry(annotator_folders)
    functions = {**weight_free_functions(), **_network_functions()}
    for preprocessor in extension_preprocessors():
        registry.register(preprocessor, functions.get(preprocessor.key))
    return registry


def _network_functions() -> dict[str, MapFunction]:
    """Modules whose annotator network is implemented here, imported on first use (they need torch)."""
    return {key: _lazy_network(module, function) for key, module, function in (
        ("hed", "networks", "softedge_hed"), ("hed_safe", "networks", "softedge_hedsafe"),
        ("scribble_hed", "networks", "scribble_hed"), ("lineart", "networks", "lineart"),
        ("lineart_coarse", "networks", "lineart"), ("pidinet", "pidinet", "softedge_pidinet"),
        ("pidinet_safe", "pidinet", "softedge_pidisafe"), ("pidinet_scribble", "pidinet", "scribble_pidinet"),
        ("pidinet_sketch", "pidinet", "sketch_pidinet"))}


def _lazy_network(module_name: str, function_name: str) -> MapFunction:
    def run(request: MapRequest) -> np.ndarray:
        module = importlib.import_module(f"webui.engine.controlnet.preprocessors.{module_name}")
        function: MapFunction = getattr(module, function_name)
        return function(request)

    return run
