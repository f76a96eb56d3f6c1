"""ControlNet preprocessors: the extension's names, aliases, sliders and control types, and the maps on synthetic
images (size, polarity, content), Pixel Perfect and the resize modes. Goldens come from sd-webui-controlnet's own
API test (tests/web_api/...module_list) and its source."""

from __future__ import annotations

import pytest

from webui.engine.controlnet.preprocessors import (
    Slider,
    UnknownPreprocessor,
    default_registry,
)
from webui.engine.controlnet.preprocessors.catalogue import extension_preprocessors
from webui.engine.controlnet.preprocessors.registry import PreprocessorRegistry

# The extension's API test: /controlnet/module_list must offer (at least) these internal names and labels.
EXTENSION_MODULE_NAMES = {
    "animal_openpose", "anime_face_segment", "blur_gaussian", "canny", "clip_vision", "color", "densepose",
    "densepose_parula", "depth", "depth_anything", "depth_hand_refiner", "depth_leres", "depth_leres++",
    "depth_zoe", "dw_openpose_full", "hed", "hed_safe", "inpaint", "inpaint_only", "inpaint_only+lama",
    "instant_id_face_embedding", "instant_id_face_keypoints", "invert", "ip-adapter-auto", "ip-adapter_clip_sd15",
    "ip-adapter_clip_sdxl", "ip-adapter_clip_sdxl_plus_vith", "ip-adapter_face_id", "ip-adapter_face_id_plus",
    "lineart", "lineart_anime", "lineart_anime_denoise", "lineart_coarse", "lineart_standard", "mediapipe_face",
    "mlsd", "none", "normal_bae", "normal_dsine", "normal_map", "oneformer_ade20k", "oneformer_coco", "openpose",
    "openpose_face", "openpose_faceonly", "openpose_full", "openpose_hand", "pidinet", "pidinet_safe",
    "pidinet_scribble", "pidinet_sketch", "recolor_intensity", "recolor_luminance", "reference_adain",
    "reference_adain+attn", "reference_only", "revision_clipvision", "revision_ignore_prompt", "scribble_hed",
    "scribble_xdog", "segmentation", "shuffle", "te_hed", "threshold", "tile_colorfix", "tile_colorfix+sharp",
    "tile_resample",
}
EXTENSION_MODULE_LABELS = {
    "animal_openpose", "blur_gaussian", "canny", "densepose (pruple bg & purple torso)",
    "densepose_parula (black bg & blue torso)", "depth_anything", "depth_hand_refiner", "depth_leres",
    "depth_leres++", "depth_midas", "depth_zoe", "dw_openpose_full", "inpaint_global_harmonious", "inpaint_only",
    "inpaint_only+lama", "instant_id_face_embedding", "instant_id_face_keypoints",
    "invert (from white bg & black line)", "ip-adapter-auto", "ip-adapter_clip_g", "ip-adapter_clip_h",
    "ip-adapter_clip_sdxl_plus_vith", "ip-adapter_face_id", "ip-adapter_face_id_plus", "lineart_anime",
    "lineart_anime_denoise", "lineart_coarse", "lineart_realistic", "lineart_standard (from white bg & black line)",
    "mediapipe_face", "mlsd", "none", "normal_bae", "normal_dsine", "normal_midas", "openpose", "openpose_face",
    "openpose_faceonly", "openpose_full", "openpose_hand", "recolor_intensity", "recolor_luminance",
    "reference_adain", "reference_adain+attn", "reference_only", "revision_clipvision", "revision_ignore_prompt",
    "scribble_hed", "scribble_pidinet", "scribble_xdog", "seg_anime_face", "seg_ofade20k", "seg_ofcoco",
    "seg_ufade20k", "shuffle", "softedge_hed", "softedge_hedsafe", "softedge_pidinet", "softedge_pidisafe",
    "softedge_teed", "t2ia_color_grid", "t2ia_sketch_pidi", "t2ia_style_clipvision", "threshold", "tile_colorfix",
    "tile_colorfix+sharp", "tile_resample",
}
EXTENSION_CONTROL_TYPES = {
    "All", "Canny", "Depth", "IP-Adapter", "Inpaint", "Instant-ID", "InstructP2P", "Lineart", "MLSD", "NormalMap",
    "OpenPose", "Recolor", "Reference", "Revision", "Scribble", "Segmentation", "Shuffle", "SoftEdge",
    "SparseCtrl", "T2I-Adapter", "Tile",
}


@pytest.fixture(scope="module")
def registry() -> PreprocessorRegistry:
    return default_registry([])


# -- names, aliases, sliders ---------------------------------------------------------------------------------------

def test_module_list_offers_exactly_the_extensions_names_and_labels(registry):
    assert set(registry.module_list()) == EXTENSION_MODULE_NAMES
    assert set(registry.module_list(alias_names=True)) == EXTENSION_MODULE_LABELS
    assert set(registry.names()) == EXTENSION_MODULE_LABELS
    assert len(registry.module_list()) == len(EXTENSION_MODULE_NAMES)  # no duplicates


def test_dropdown_order_is_the_extensions_priority_then_label_descending(registry):
    names = registry.names()
    assert names[:4] == ["none", "ip-adapter-auto", "tile_resample", "softedge_pidinet"]
    assert names.index("canny") < names.index("invert (from white bg & black line)") < names.index("threshold")
    assert names[-1] == "animal_openpose"
    assert registry.module_list()[names.index("depth_midas")] == "depth"


def test_module_detail_matches_the_extensions_golden_for_canny(registry):
    assert registry.module_detail()["canny"] == {
        "model_free": False,
        "sliders": [{"name": "Resolution", "value": 512, "min": 64, "max": 2048, "step": 8},
                    {"name": "Low Threshold", "value": 100, "min": 1, "max": 255, "step": 1},
                    {"name": "High Threshold", "value": 200, "min": 1, "max": 255, "step": 1}]}
    assert set(registry.module_detail(alias_names=True)) == EXTENSION_MODULE_LABELS
    assert registry.module_detail()["reference_only"]["model_free"] is True


@pytest.mark.parametrize(("alias", "label"), [
    ("invert", "invert (from white bg & black line)"), ("lineart_standard",
                                                        "lineart_standard (from white bg & black line)"),
    ("pidinet", "softedge_pidinet"), ("hed", "softedge_hed"), ("depth", "depth_midas"),
    ("inpaint", "inpaint_global_harmonious"), ("lineart", "lineart_realistic"), ("color", "t2ia_color_grid"),
    ("canny", "canny"),
])
def test_internal_names_resolve_to_the_same_module_as_labels(registry, alias, label):
    assert registry.get(alias) is registry.get(label)
    assert registry.get(alias).name == label


@pytest.mark.parametrize(("name", "which", "golden"), [
    ("threshold", "threshold_a", Slider("Binarization Threshold", 0, 255, 127, 0.01)),
    ("tile_resample", "threshold_a", Slider("Down Sampling Rate", 1.0, 8.0, 1.0, 0.01)),
    ("blur_gaussian", "threshold_a", Slider("Sigma", 0.01, 64.0, 9.0, 0.01)),
    ("scribble_xdog", "threshold_a", Slider("XDoG Threshold", 1, 64, 32, 0.01)),
    ("tile_colorfix+sharp", "threshold_a", Slider("Variation", 3.0, 32.0, 8.0, 1.0)),
    ("tile_colorfix+sharp", "threshold_b", Slider("Sharpness", 0.0, 2.0, 1.0, 0.01)),
    ("reference_only", "threshold_a", Slider("Style Fidelity (only for Balanced mode)", 0.0, 1.0, 0.5, 0.01)),
    ("mlsd", "threshold_b", Slider("MLSD Distance Threshold", 0.01, 20.0, 0.1, 0.01)),
    ("invert", "resolution", None), ("inpaint_only", "resolution", None), ("shuffle", "resolution", None),
    ("canny", "resolution", Slider("Resolution", 64, 2048, 512, 8)),
])
def test_sliders_are_the_extensions(registry, name, which, golden):
    assert getattr(registry.get(name), which) == golden


def test_sampling_effects_and_masks_are_mapped(registry):
    assert registry.get("tile_colorfix").sampling_effect == "colorfix"
    assert registry.get("tile_colorfix+sharp").sampling_effect == "colorfix"
    assert {registry.get(n).sampling_effect for n in ("reference_only", "reference_adain",
                                                      "reference_adain+attn")} == {"reference"}
    for name in ("inpaint_only", "inpaint_global_harmonious", "inpaint_only+lama"):
        assert registry.get(name).uses_mask and registry.get(name).sampling_effect == "inpaint"
    assert registry.get("canny").sampling_effect == "" and not registry.get("canny").uses_mask


def test_unknown_module_is_422_naming_it_and_listing_the_modules(registry):
    with pytest.raises(UnknownPreprocessor) as caught:
        registry.get("cany")
    assert caught.value.http_status == 422 and "'cany'" in str(caught.value) and "canny" in str(caught.value)
    with pytest.raises(UnknownPreprocessor):
        registry.get("Canny")  # case-sensitive, as the extension


def test_registering_a_name_or_alias_twice_raises():
    registry = PreprocessorRegistry()
    canny, invert = (p for p in extension_preprocessors() if p.key in ("canny", "invert"))
    registry.register(canny)
    registry.register(invert)
    with pytest.raises(ValueError, match="canny"):
        registry.register(canny)
    clash = type(invert)(name="other", aliases=("invert",), resolution=None, threshold_a=None, threshold_b=None,
                         control_types=())
    with pytest.raises(ValueError, match="invert"):
        registry.register(clash)


def test_missing_or_negative_values_take_the_slider_defaults(registry):
    params = registry.resolve_parameters("canny", -1, -1, None)
    assert (params.resolution, params.threshold_a, params.threshold_b) == (512, 100.0, 200.0)
    assert registry.resolve_parameters("canny", 256, 50, 60).threshold_b == 60.0


# -- control types -------------------------------------------------------------------------------------------------

MODELS = ["control_sd15_canny [fef5e48e]", "control_v11p_sd15_canny [d14c016b]", "control_v11f1e_sd15_tile [a371b31b]",
          "control_v11p_sd15_seg [e1f51eb9]", "blur_controlnet [12345678]"]


def test_control_types_json_has_the_extensions_tabs_and_shape(registry):
    body = registry.control_types(MODELS)["control_types"]
    assert set(body) == EXTENSION_CONTROL_TYPES
    assert list(body)[:4] == ["All", "Canny", "Depth", "IP-Adapter"]
    assert body["All"] == {"module_list": registry.names(), "model_list": ["None", *MODELS],
                           "default_option": "none", "default_model": "None"}
    assert body["Canny"] == {"module_list": ["none", "canny", "invert (from white bg & black line)"],
                             "model_list": ["None", MODELS[0], MODELS[1]], "default_option": "canny",
                             "default_model": MODELS[1]}  # the first "11" (v1.1) model, not the first match


def test_control_type_model_filters_use_the_extensions_aliases(registry):
    body = registry.control_types(MODELS)["control_types"]
    assert body["Tile"]["model_list"] == ["None", MODELS[2], MODELS[4]]  # "blur" belongs to Tile
    assert body["Tile"]["default_option"] == "tile_resample"
    assert body["Segmentation"]["model_list"] == ["None", MODELS[3]]  # "seg"
    assert body["Depth"] == {**body["Depth"], "model_list": ["None"], "default_model": "None",
                             "default_option": "depth_midas"}
    assert body["InstructP2P"]["module_list"] == ["none"] and body["InstructP2P"]["default_option"] == "none"
