"""A1111 `/sdapi/v1` request and response shapes, with A1111's field names and API defaults.

Every field A1111 accepts is accepted here. A field whose feature we do not have yet is fine while it holds its
default or a neutral value (`restore_faces: false`, ...); any other value is reported back in `info.warnings` rather
than silently pretended (see `unsupported_warnings`). Note the API defaults differ from the UI's (steps 50,
sampler "Euler").
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from webui.jobs.sampler_settings import SETTING_KEYS as SAMPLER_SETTING_KEYS

# field → the values that ask for nothing (A1111's default and the neutral values clients such as webuiapi send):
# accepted at those, reported when it holds anything else (features still to come).
NOT_YET_SUPPORTED: dict[str, tuple[Any, ...]] = {
    "s_min_uncond": (None, 0, 0.0),
    "refiner_checkpoint": (None, "", "None"), "refiner_switch_at": (None, 0, 0.0, 1, 1.0),
    "infotext": (None, ""),
    "comments": (None, {}),
}
TXT2IMG_NOT_YET_SUPPORTED: dict[str, tuple[Any, ...]] = {
    "firstphase_width": (0,), "firstphase_height": (0,), "hr_checkpoint_name": (None, "", "Use same checkpoint"),
    "firstpass_image": (None, ""),
}
IMG2IMG_NOT_YET_SUPPORTED: dict[str, tuple[Any, ...]] = {
    "image_cfg_scale": (None, 1.5), "initial_noise_multiplier": (None, 1, 1.0), "latent_mask": (None, ""),
    "include_init_images": (False,),
}
# override_settings keys we honour; others are reported.
SUPPORTED_OVERRIDES = {"sd_model_checkpoint", "CLIP_stop_at_last_layers", "face_restoration", "face_restoration_model",
                       "code_former_weight", *SAMPLER_SETTING_KEYS}


class GenerationFields(BaseModel):
    """The fields A1111's txt2img and img2img API requests share (StableDiffusionProcessing)."""

    model_config = ConfigDict(extra="ignore")

    prompt: str = Field("", max_length=100_000)
    negative_prompt: str = Field("", max_length=100_000)
    styles: list[str] | None = None
    seed: int = -1
    subseed: int = -1
    subseed_strength: float = 0.0
    seed_resize_from_h: int = -1
    seed_resize_from_w: int = -1
    sampler_name: str | None = None
    sampler_index: str = "Euler"
    scheduler: str | None = None
    batch_size: int = 1
    n_iter: int = 1
    steps: int = 50
    cfg_scale: float = 7.0
    width: int = 512
    height: int = 512
    restore_faces: bool | None = None
    tiling: bool | None = None
    do_not_save_samples: bool = False
    do_not_save_grid: bool = False
    eta: float | None = None
    denoising_strength: float | None = 0.75
    s_min_uncond: float | None = None
    s_churn: float | None = None
    s_tmax: float | None = None
    s_tmin: float | None = None
    s_noise: float | None = None
    override_settings: dict[str, Any] | None = None
    override_settings_restore_afterwards: bool = True
    refiner_checkpoint: str | None = None
    refiner_switch_at: float | None = None
    disable_extra_networks: bool = False
    comments: dict[str, Any] | None = None
    force_task_id: str | None = None
    script_name: str | None = None
    script_args: list[Any] = Field(default_factory=list)
    send_images: bool = True
    save_images: bool = False
    alwayson_scripts: dict[str, Any] = Field(default_factory=dict)
    infotext: str | None = None

    def _not_yet_supported(self) -> dict[str, tuple[Any, ...]]:
        return NOT_YET_SUPPORTED

    def unsupported_warnings(self) -> list[str]:
        warnings = [f"{name} is not supported yet and was ignored (got {getattr(self, name)!r})"
                    for name, neutral in self._not_yet_supported().items() if getattr(self, name) not in neutral]
        for key, value in (self.override_settings or {}).items():
            if key not in SUPPORTED_OVERRIDES:
                warnings.append(f"override_settings.{key} is not supported yet and was ignored (got {value!r})")
        return warnings


class Txt2ImgRequest(GenerationFields):
    """A1111's StableDiffusionTxt2ImgProcessingAPI."""

    firstpass_image: str | None = None
    enable_hr: bool = False
    firstphase_width: int = 0
    firstphase_height: int = 0
    hr_scale: float = 2.0
    hr_upscaler: str | None = None
    hr_second_pass_steps: int = 0
    hr_resize_x: int = 0
    hr_resize_y: int = 0
    hr_checkpoint_name: str | None = None
    hr_sampler_name: str | None = None
    hr_scheduler: str | None = None
    hr_prompt: str = ""
    hr_negative_prompt: str = ""

    def _not_yet_supported(self) -> dict[str, tuple[Any, ...]]:
        return {**NOT_YET_SUPPORTED, **TXT2IMG_NOT_YET_SUPPORTED}


class Img2ImgRequest(GenerationFields):
    """A1111's StableDiffusionImg2ImgProcessingAPI (note its API defaults: inpaint "fill", "Only masked", padding
    0 — the UI's defaults differ)."""

    init_images: list[str] | None = None
    resize_mode: int = 0
    image_cfg_scale: float | None = None
    mask: str | None = None
    mask_blur_x: int = 4
    mask_blur_y: int = 4
    mask_blur: int | None = None
    mask_round: bool = True
    inpainting_fill: int = 0
    inpaint_full_res: bool = True
    inpaint_full_res_padding: int = 0
    inpainting_mask_invert: int = 0
    initial_noise_multiplier: float | None = None
    latent_mask: str | None = None
    include_init_images: bool = False

    def _not_yet_supported(self) -> dict[str, tuple[Any, ...]]:
        return {**NOT_YET_SUPPORTED, **IMG2IMG_NOT_YET_SUPPORTED}


class ImageResponse(BaseModel):
    images: list[str] | None
    parameters: dict[str, Any]
    info: str


class PngInfoRequest(BaseModel):
    image: str = Field(..., description="base64 image, optionally as a data: URL")


class PngInfoResponse(BaseModel):
    info: str
    items: dict[str, Any]
    parameters: dict[str, Any]
