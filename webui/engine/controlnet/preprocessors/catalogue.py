"""Every module sd-webui-controlnet offers (v1.1.45x: its `supported_preprocessor` classes and the legacy table),
with its names, sliders, control types, dropdown priority and the annotator weights it needs.

Facts read from the extension, written here as data. Two of its quirks are kept on purpose, since users and API
clients see them: modules from its legacy table always show the default "Resolution" slider (its legacy adapter
stores their own resolution config under an attribute the UI never reads), and a slider with no step in its config
gets the default step 0.01. Weight file names are those its annotators look for in `annotator/downloads/<sub>/`.
Pure: no numpy, no I/O.
"""

from __future__ import annotations

from functools import partial

from webui.engine.controlnet.preprocessors.spec import RESOLUTION, Preprocessor, Slider

DEFAULT_STEP = 0.01


def _slider(label: str, minimum: float, maximum: float, value: float, step: float = DEFAULT_STEP) -> Slider:
    return Slider(label, minimum, maximum, value, step)


def _module(key: str, tags: tuple[str, ...], *, label: str = "", resolution: Slider | None = RESOLUTION,
            a: Slider | None = None, b: Slider | None = None, priority: int = 0, folder: str = "",
            weights: tuple[str, ...] = (), uses_mask: bool = False, sampling_effect: str = "",
            model_free: bool = False, returns_image: bool = True, show_control_mode: bool = True) -> Preprocessor:
    name = label or key
    return Preprocessor(name=name, aliases=(key,) if name != key else (), resolution=resolution, threshold_a=a,
                        threshold_b=b, control_types=tags, needs_weights=weights, uses_mask=uses_mask,
                        sampling_effect=sampling_effect, internal_name=key, weights_folder=folder,
                        priority=priority, model_free=model_free, returns_image=returns_image,
                        show_control_mode=show_control_mode)


def _weight_free() -> list[Preprocessor]:
    """The modules that run without any network: Kestrel implements every one of these."""
    sharp = _slider("Sharpness", 0.0, 2.0, 1.0, 0.01)
    variation = _slider("Variation", 3.0, 32.0, 8.0, 1.0)
    gamma = _slider("Gamma Correction", 0.1, 2.0, 1.0, 0.001)
    fidelity = _slider("Style Fidelity (only for Balanced mode)", 0.0, 1.0, 0.5, 0.01)
    reference = partial(_module, a=fidelity, model_free=True, sampling_effect="reference")
    inpaint = partial(_module, resolution=None, uses_mask=True, sampling_effect="inpaint")
    return [
        _module("none", ("InstructP2P",), priority=10),
        _module("canny", ("Canny",), a=_slider("Low Threshold", 1, 255, 100, 1),
                b=_slider("High Threshold", 1, 255, 200, 1), priority=100),
        _module("invert", ("Canny", "Lineart", "Scribble", "MLSD"), label="invert (from white bg & black line)",
                resolution=None, priority=20),
        _module("blur_gaussian", ("Tile",), a=_slider("Sigma", 0.01, 64.0, 9.0)),
        _module("scribble_xdog", ("Scribble", "SparseCtrl"), a=_slider("XDoG Threshold", 1, 64, 32)),
        _module("shuffle", ("Shuffle",), resolution=None),
        inpaint("inpaint", ("Inpaint",), label="inpaint_global_harmonious"),
        inpaint("inpaint_only", ("Inpaint",), priority=100),
        _module("lineart_standard", ("Lineart",), label="lineart_standard (from white bg & black line)",
                priority=100),
        _module("recolor_intensity", ("Recolor",), a=gamma),
        _module("recolor_luminance", ("Recolor",), a=gamma, priority=100),
        reference("reference_adain", ("Reference",)),
        reference("reference_adain+attn", ("Reference",)),
        reference("reference_only", ("Reference",), priority=100),
        _module("color", ("T2I-Adapter",), label="t2ia_color_grid"),
        _module("threshold", (), a=_slider("Binarization Threshold", 0, 255, 127)),
        _module("tile_colorfix", ("Tile",), a=variation, sampling_effect="colorfix"),
        _module("tile_colorfix+sharp", ("Tile",), a=variation, b=sharp, sampling_effect="colorfix"),
        _module("tile_resample", ("Tile",), a=_slider("Down Sampling Rate", 1.0, 8.0, 1.0, 0.01), priority=100),
    ]


def _edges_and_lines() -> list[Preprocessor]:
    hed = partial(_module, folder="hed", weights=("ControlNetHED.pth",))
    pidi = partial(_module, folder="pidinet", weights=("table5_pidinet.pth",))
    return [
        hed("hed", ("SoftEdge",), label="softedge_hed"),
        hed("hed_safe", ("SoftEdge",), label="softedge_hedsafe"),
        hed("scribble_hed", ("Scribble", "SparseCtrl")),
        pidi("pidinet", ("SoftEdge",), label="softedge_pidinet", priority=100),
        pidi("pidinet_safe", ("SoftEdge",), label="softedge_pidisafe"),
        pidi("pidinet_scribble", ("Scribble", "SparseCtrl"), label="scribble_pidinet", priority=100),
        pidi("pidinet_sketch", ("T2I-Adapter",), label="t2ia_sketch_pidi"),
        _module("te_hed", ("SoftEdge",), label="softedge_teed", a=_slider("Safe Steps", 0, 10, 2, 1),
                folder="TEED", weights=("7_model.pth",)),
        _module("lineart", ("Lineart",), label="lineart_realistic", folder="lineart", weights=("sk_model.pth",)),
        _module("lineart_coarse", ("Lineart",), folder="lineart", weights=("sk_model2.pth",)),
        _module("lineart_anime", ("Lineart",), folder="lineart_anime", weights=("netG.pth",)),
        _module("lineart_anime_denoise", ("Lineart",), folder="manga_line", weights=("erika.pth",)),
        _module("mlsd", ("MLSD",), a=_slider("MLSD Value Threshold", 0.01, 2.0, 0.1, 0.01),
                b=_slider("MLSD Distance Threshold", 0.01, 20.0, 0.1, 0.01), priority=100, folder="mlsd",
                weights=("mlsd_large_512_fp32.pth",)),
    ]


def _depth_normal_segmentation() -> list[Preprocessor]:
    midas = partial(_module, folder="midas", weights=("dpt_hybrid-midas-501f0c75.pt",))
    remove_near = _slider("Remove Near %", 0, 100, 0, 0.1)
    remove_background = _slider("Remove Background %", 0, 100, 0, 0.1)
    return [
        midas("depth", ("Depth",), label="depth_midas", priority=100),
        midas("normal_map", ("NormalMap",), label="normal_midas",
                a=_slider("Normal Background Threshold", 0.0, 1.0, 0.4, 0.01)),
        _module("depth_leres", ("Depth",), a=remove_near, b=remove_background, folder="leres",
                weights=("res101.pth",)),
        _module("depth_leres++", ("Depth",), a=remove_near, b=remove_background, folder="leres",
                weights=("res101.pth", "latest_net_G.pth")),
        _module("depth_zoe", ("Depth",), folder="zoedepth", weights=("ZoeD_M12_N.pt",)),
        _module("depth_anything", ("Depth",), folder="depth_anything", weights=("depth_anything_vitl14.pth",)),
        _module("depth_hand_refiner", ("Depth",), folder="hand_refiner",
                weights=("graphormer_hand_state_dict.bin", "hrnetv2_w64_imagenet_pretrained.pth")),
        _module("normal_bae", ("NormalMap",), priority=100, folder="normal_bae", weights=("scannet.pt",)),
        _module("normal_dsine", ("NormalMap",), a=_slider("Fov", 0, 360, 60, 0.1),
                b=_slider("Iterations", 1, 20, 5, 1), folder="normal_dsine", weights=("dsine.pt",)),
        _module("segmentation", ("Segmentation",), label="seg_ufade20k", folder="uniformer",
                weights=("upernet_global_small.pth",)),
        _module("oneformer_ade20k", ("Segmentation",), label="seg_ofade20k", priority=100, folder="oneformer",
                weights=("250_16_swin_l_oneformer_ade20k_160k.pth",)),
        _module("oneformer_coco", ("Segmentation",), label="seg_ofcoco", folder="oneformer",
                weights=("150_16_swin_l_oneformer_coco_100ep.pth",)),
        _module("anime_face_segment", ("Segmentation",), label="seg_anime_face", folder="anime_face_segment",
                weights=("UNet.pth",)),
        _module("inpaint_only+lama", ("Inpaint",), resolution=None, uses_mask=True, sampling_effect="inpaint",
                folder="lama", weights=("ControlNetLama.pth",)),
    ]


def _poses() -> list[Preprocessor]:
    body, hand, face = "body_pose_model.pth", "hand_pose_model.pth", "facenet.pth"
    pose = partial(_module, folder="openpose")
    return [
        pose("openpose", ("OpenPose",), weights=(body,)),
        pose("openpose_face", ("OpenPose",), weights=(body, face)),
        pose("openpose_faceonly", ("OpenPose",), weights=(body, face)),
        pose("openpose_full", ("OpenPose",), priority=100, weights=(body, hand, face)),
        pose("openpose_hand", ("OpenPose",), weights=(body, hand)),
        pose("dw_openpose_full", ("OpenPose",), weights=("dw-ll_ucoco_384.onnx", "yolox_l.onnx")),
        pose("animal_openpose", ("OpenPose",), weights=("rtmpose-m_ap10k_256.onnx", "yolox_l.onnx")),
        _module("densepose", ("OpenPose",), label="densepose (pruple bg & purple torso)", folder="densepose",
                weights=("densepose_r50_fpn_dl.torchscript",)),
        _module("densepose_parula", ("OpenPose",), label="densepose_parula (black bg & blue torso)",
                folder="densepose", weights=("densepose_r50_fpn_dl.torchscript",)),
        _module("mediapipe_face", (), a=_slider("Max Faces", 1, 10, 1, 1),
                b=_slider("Min Face Confidence", 0.01, 1.0, 0.5, 0.01)),
    ]


def _embeddings() -> list[Preprocessor]:
    """Modules whose result is an embedding for IP-Adapter / Revision / T2I style, not a control image."""
    vision = partial(_module, returns_image=False, show_control_mode=False, folder="clip_vision")
    face = partial(_module, returns_image=False, show_control_mode=False, folder="insightface")
    noise = _slider("Noise Augmentation", 0.0, 1.0, 0.0)
    return [
        _module("ip-adapter-auto", ("IP-Adapter",), priority=1000, returns_image=False, show_control_mode=False),
        vision("ip-adapter_clip_sd15", ("IP-Adapter",), label="ip-adapter_clip_h", priority=100,
                weights=("clip_h.pth",)),
        vision("ip-adapter_clip_sdxl", ("IP-Adapter",), label="ip-adapter_clip_g", weights=("clip_g.pth",)),
        vision("ip-adapter_clip_sdxl_plus_vith", ("IP-Adapter",), weights=("clip_h.pth",)),
        face("ip-adapter_face_id", ("IP-Adapter",), weights=("buffalo_l",)),
        face("ip-adapter_face_id_plus", ("IP-Adapter",), weights=("buffalo_l",)),
        _module("instant_id_face_embedding", ("Instant-ID",), weights=("antelopev2",), returns_image=False,
                folder="insightface"),
        _module("instant_id_face_keypoints", ("Instant-ID",), weights=("antelopev2",), folder="insightface"),
        vision("revision_clipvision", ("Revision",), a=noise, priority=100, model_free=True,
                weights=("clip_g.pth",)),
        vision("revision_ignore_prompt", ("Revision",), a=noise, model_free=True, weights=("clip_g.pth",)),
        vision("clip_vision", ("T2I-Adapter",), label="t2ia_style_clipvision", weights=("clip_vitl.pth",)),
    ]


def extension_preprocessors() -> list[Preprocessor]:
    """All of them, weight-free first; the registry orders them for the UI as the extension does."""
    return [*_weight_free(), *_edges_and_lines(), *_depth_normal_segmentation(), *_poses(), *_embeddings()]
