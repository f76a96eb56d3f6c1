"""ControlNet preprocessors ("modules") as sd-webui-controlnet offers them: names, sliders, control types, maps.

Public interface: `default_registry(annotator_folders)` → `PreprocessorRegistry` (names, get, run, available,
control_types, module_list, module_detail), the `Preprocessor`/`Slider` records, `pixel_perfect_resolution`,
`resize_for_target`, and the errors `UnknownPreprocessor`, `AnnotatorWeightsMissing`, `PreprocessorUnsupported`.
"""

from webui.engine.controlnet.preprocessors.errors import (
    AnnotatorWeightsMissing,
    PreprocessorUnsupported,
    UnknownPreprocessor,
)
from webui.engine.controlnet.preprocessors.pixel_perfect import (
    CROP_AND_RESIZE,
    JUST_RESIZE,
    RESIZE_AND_FILL,
    RESIZE_MODES,
    pixel_perfect_resolution,
    resize_mode_from_value,
)
from webui.engine.controlnet.preprocessors.registry import PreprocessorRegistry, ResolvedParameters, default_registry
from webui.engine.controlnet.preprocessors.resize import high_quality_resize, inpaint_preview, resize_for_target
from webui.engine.controlnet.preprocessors.spec import Preprocessor, Slider

__all__ = [
    "CROP_AND_RESIZE", "JUST_RESIZE", "RESIZE_AND_FILL", "RESIZE_MODES", "AnnotatorWeightsMissing", "Preprocessor",
    "PreprocessorRegistry", "PreprocessorUnsupported", "ResolvedParameters", "Slider", "UnknownPreprocessor",
    "default_registry", "high_quality_resize", "inpaint_preview", "pixel_perfect_resolution",
    "resize_for_target", "resize_mode_from_value",
]
