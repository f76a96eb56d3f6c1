"""`GenerationRequest`: the frozen, validated description of one txt2img job (pure).

Every entry point (the UI today, `/sdapi/v1` and extensions later) builds one of these; nothing downstream sees
loose dicts or positional argument slices. Validation names the bad value and what is allowed, so the UI and the
API can show the message as it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from webui.engine.controlnet.unit import ControlNetUnit
from webui.engine.network_tags import extract_network_tags

RANDOM_SEED = -1
MAX_SEED = 4294967295  # seeds are 32-bit; A1111 draws random ones from [0, 4294967294)

# A1111's UI ranges (sliders); the API accepts the same.
SIZE_RANGE = (64, 2048)
SIZE_STEP = 8
STEPS_RANGE = (1, 150)
CFG_RANGE = (1.0, 30.0)
BATCH_SIZE_RANGE = (1, 8)
BATCH_COUNT_RANGE = (1, 100)
CLIP_SKIP_RANGE = (1, 12)
DENOISING_RANGE = (0.0, 1.0)
HIRES_SCALE_RANGE = (1.0, 4.0)
HIRES_STEPS_RANGE = (0, 150)
MASK_BLUR_RANGE = (0, 64)
PADDING_RANGE = (0, 256)

LATENT_UPSCALE_MODES = ("Latent", "Latent (antialiased)", "Latent (bicubic)", "Latent (bicubic antialiased)",
                        "Latent (nearest)", "Latent (nearest-exact)")
IMAGE_UPSCALERS = ("None", "Lanczos", "Nearest")  # always there; model upscalers are checked by the engine's registry
RESIZE_MODES = ("Just resize", "Crop and resize", "Resize and fill", "Just resize (latent upscale)")
INPAINT_FILL_MODES = ("fill", "original", "latent noise", "latent nothing")
# A1111's face_restoration_model choices: face_models.RESTORER_NAMES, restated so this module imports no torch
# (tests/face/test_face_models.py keeps the two equal)
FACE_RESTORERS = ("CodeFormer", "GFPGAN")
CODEFORMER_WEIGHT_RANGE = (0.0, 1.0)


def _check_range(name: str, value: float, bounds: tuple[float, float]) -> None:
    low, high = bounds
    if not low <= value <= high:
        raise ValueError(f"{name} {value} is out of range; allowed: {low}–{high}")


def _check_choice(name: str, value: object, allowed: tuple) -> None:
    if value not in allowed:
        raise ValueError(f"{name} {value!r} is not one of: {', '.join(map(str, allowed))}")


@dataclass(frozen=True)
class HiresFix:
    """A1111's "Hires. fix": a second img2img pass at a larger size. Sizes of 0 mean "use the scale"."""

    upscaler: str = "Latent"
    scale: float = 2.0
    resize_width: int = 0
    resize_height: int = 0
    steps: int = 0                  # 0 = the first pass's steps
    denoising_strength: float = 0.7
    sampler_name: str | None = None  # None = "Use same sampler"
    scheduler: str | None = None     # None = "Use same scheduler"
    prompt: str = ""                 # "" = the first pass's prompt
    negative_prompt: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.upscaler, str) or not self.upscaler.strip():
            raise ValueError(f"hr_upscaler {self.upscaler!r} must name an upscaler (a latent mode, "
                             f"{', '.join(IMAGE_UPSCALERS)} or an upscaler model)")
        _check_range("hr_scale", self.scale, HIRES_SCALE_RANGE)
        _check_range("hr_second_pass_steps", self.steps, HIRES_STEPS_RANGE)
        _check_range("denoising_strength", self.denoising_strength, DENOISING_RANGE)
        _check_range("hr_resize_x", self.resize_width, (0, SIZE_RANGE[1]))
        _check_range("hr_resize_y", self.resize_height, (0, SIZE_RANGE[1]))

    @property
    def is_latent(self) -> bool:
        return self.upscaler in LATENT_UPSCALE_MODES

    def target_size(self, width: int, height: int) -> tuple[int, int]:
        """A1111's target: width×scale, or the resize size (one side 0 keeps the aspect ratio); multiples of 8."""
        if not self.resize_width and not self.resize_height:
            target = (int(width * self.scale), int(height * self.scale))
        elif not self.resize_height:
            target = (self.resize_width, self.resize_width * height // width)
        elif not self.resize_width:
            target = (self.resize_height * width // height, self.resize_height)
        else:
            target = (self.resize_width, self.resize_height)
        return tuple(max(SIZE_STEP, side - side % SIZE_STEP) for side in target)  # type: ignore[return-value]


@dataclass(frozen=True)
class InpaintMask:
    """Where to repaint (white = repaint, before `invert`) and A1111's inpaint controls."""

    mask: Any                       # a PIL image (any mode); white marks the area to repaint
    blur: int = 4
    invert: bool = False            # A1111 "Inpaint not masked"
    fill: str = "original"          # masked content
    only_masked: bool = False       # inpaint area "Only masked" (else "Whole picture")
    padding: int = 32

    def __post_init__(self) -> None:
        _check_range("mask_blur", self.blur, MASK_BLUR_RANGE)
        _check_choice("inpainting_fill", self.fill, INPAINT_FILL_MODES)
        _check_range("inpaint_full_res_padding", self.padding, PADDING_RANGE)


@dataclass(frozen=True)
class Img2ImgInput:
    image: Any                      # a PIL image: the init image
    resize_mode: int = 0            # index into RESIZE_MODES
    denoising_strength: float = 0.75
    mask: InpaintMask | None = None

    def __post_init__(self) -> None:
        _check_range("resize_mode", self.resize_mode, (0, len(RESIZE_MODES) - 1))
        _check_range("denoising_strength", self.denoising_strength, DENOISING_RANGE)


NOISE_SOURCES = ("GPU", "CPU", "NV")
ETA_RANGE = (0.0, 10.0)
SUBSEED_STRENGTH_RANGE = (0.0, 1.0)


@dataclass(frozen=True)
class SamplerParameters:
    """A1111's sampler settings (Settings → Sampler parameters, or the API's fields and override_settings), resolved
    by admission from the request and the options. 0 for sigma_min/sigma_max/rho and s_tmax means "the default"."""

    eta: float | None = None          # the request's own eta; None = the setting for the sampler's kind:
    eta_ancestral: float = 1.0        # k-diffusion samplers (A1111's eta_ancestral)
    eta_ddim: float = 0.0             # DDIM-style samplers (eta_ddim)
    s_churn: float = 0.0
    s_tmin: float = 0.0
    s_tmax: float = 0.0
    s_noise: float = 1.0
    eta_noise_seed_delta: int = 0     # ENSD
    randn_source: str = "GPU"
    sigma_min: float = 0.0
    sigma_max: float = 0.0
    rho: float = 0.0
    beta_alpha: float = 0.6
    beta_beta: float = 0.6
    always_discard_next_to_last_sigma: bool = False
    downcast_alphas_cumprod: bool = False

    def __post_init__(self) -> None:
        _check_choice("randn_source", self.randn_source, NOISE_SOURCES)
        for name in ("eta", "eta_ancestral", "eta_ddim"):
            if getattr(self, name) is not None:
                _check_range(name, getattr(self, name), ETA_RANGE)
        for name in ("s_churn", "s_tmin", "s_tmax", "sigma_min", "sigma_max", "rho"):
            _check_range(name, getattr(self, name), (0.0, 1000.0))
        _check_range("s_noise", self.s_noise, (0.0, 10.0))
        for name in ("beta_alpha", "beta_beta"):
            _check_range(name, getattr(self, name), (0.01, 100.0))
        if isinstance(self.eta_noise_seed_delta, bool) or not isinstance(self.eta_noise_seed_delta, int):
            raise ValueError(f"eta_noise_seed_delta must be a whole number, got {self.eta_noise_seed_delta!r}")


    def eta_for(self, timestep_sampler: bool) -> float:
        if self.eta is not None:
            return self.eta
        return self.eta_ddim if timestep_sampler else self.eta_ancestral


@dataclass(frozen=True)
class GenerationRequest:
    prompt: str = ""
    negative_prompt: str = ""
    sampler_name: str = "DPM++ 2M"
    scheduler: str = "Automatic"
    steps: int = 20
    cfg_scale: float = 7.0
    width: int = 512
    height: int = 512
    seed: int = RANDOM_SEED
    batch_size: int = 1
    batch_count: int = 1
    checkpoint: str | None = None  # title, name or hash; None = whatever is loaded
    save_images: bool = True       # write to outputs/ (the UI always does; A1111's API only when asked)
    clip_skip: int | None = None   # None = the CLIP_stop_at_last_layers setting
    hires: HiresFix | None = None  # txt2img only
    img2img: Img2ImgInput | None = None
    subseed: int = RANDOM_SEED     # A1111's variation seed ("Extra" seed row); used when subseed_strength > 0
    subseed_strength: float = 0.0
    seed_resize_from_w: int = 0    # "Resize seed from width/height": 0 or -1 = off
    seed_resize_from_h: int = 0
    sampling: SamplerParameters | None = None  # None = the instance's settings (admission fills them in)
    controlnet: tuple[ControlNetUnit, ...] = ()  # the enabled ControlNet units, in UI order
    restore_faces: bool | None = None  # None = A1111's `face_restoration` setting (admission fills it in)
    # A1111's face_restoration_model / code_former_weight for this job (override_settings may set them); None = the
    # instance's settings, which admission fills in when restore_faces is on, so a worker needs no settings
    face_restoration_model: str | None = None
    code_former_weight: float | None = None
    tiling: bool = False           # A1111's "Tiling": circular padding, the image tiles seamlessly (seamless.py)
    # the API's alwayson_scripts entries for extensions' always-on A1111 scripts: (lowercase title, args), which
    # override the first len(args) of that script's control values for this job only
    alwayson_args: tuple[tuple[str, tuple[Any, ...]], ...] = ()

    def __post_init__(self) -> None:
        for name in ("steps", "width", "height", "seed", "batch_size", "batch_count", "subseed",
                     "seed_resize_from_w", "seed_resize_from_h"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"{name} must be a whole number, got {value!r}")
        for name in ("width", "height"):
            value = getattr(self, name)
            _check_range(name, value, SIZE_RANGE)
            if value % SIZE_STEP:
                raise ValueError(f"{name} {value} must be a multiple of {SIZE_STEP}")
        _check_range("steps", self.steps, STEPS_RANGE)
        _check_range("cfg_scale", self.cfg_scale, CFG_RANGE)
        _check_range("batch_size", self.batch_size, BATCH_SIZE_RANGE)
        _check_range("batch_count", self.batch_count, BATCH_COUNT_RANGE)
        if self.seed != RANDOM_SEED:
            _check_range("seed", self.seed, (0, MAX_SEED))
        if self.subseed != RANDOM_SEED:
            _check_range("subseed", self.subseed, (0, MAX_SEED))
        _check_range("subseed_strength", self.subseed_strength, SUBSEED_STRENGTH_RANGE)
        for name in ("seed_resize_from_w", "seed_resize_from_h"):
            value = getattr(self, name)
            if value > 0 and not SIZE_STEP <= value <= SIZE_RANGE[1]:
                raise ValueError(f"{name} {value} is out of range; allowed: 0 or -1 (off) or "
                                 f"{SIZE_STEP}–{SIZE_RANGE[1]}")
        if self.clip_skip is not None:
            _check_range("CLIP_stop_at_last_layers", self.clip_skip, CLIP_SKIP_RANGE)
        if self.restore_faces is not None and not isinstance(self.restore_faces, bool):
            raise ValueError(f"restore_faces must be true or false, got {self.restore_faces!r}")
        if self.face_restoration_model is not None and self.face_restoration_model not in FACE_RESTORERS:
            raise ValueError(f"face_restoration_model {self.face_restoration_model!r} is not a face restorer; "
                             f"allowed: {', '.join(FACE_RESTORERS)}")
        if self.code_former_weight is not None:
            if isinstance(self.code_former_weight, bool) or not isinstance(self.code_former_weight, int | float):
                raise ValueError(f"code_former_weight must be a number, got {self.code_former_weight!r}")
            _check_range("code_former_weight", self.code_former_weight, CODEFORMER_WEIGHT_RANGE)
        extract_network_tags(self.prompt)  # a malformed <lora:…> weight fails here, naming the tag
        if self.hires is not None and self.img2img is not None:
            raise ValueError("hires fix is a txt2img option; an img2img request cannot use it")
        for name, args in self.alwayson_args:
            if not isinstance(name, str) or not isinstance(args, tuple):
                raise ValueError(f"alwayson_args entries must be (script name, tuple of args), got {name!r}")
        if len({unit.index for unit in self.controlnet}) != len(self.controlnet):
            raise ValueError("controlnet units must have distinct indexes")

    @property
    def mode(self) -> str:
        """"txt2img", "img2img" or "inpaint": which pipeline, output folder and infotext keys apply."""
        if self.img2img is None:
            return "txt2img"
        return "inpaint" if self.img2img.mask is not None else "img2img"

    @property
    def sampler_settings(self) -> SamplerParameters:
        return self.sampling or SamplerParameters()

    @property
    def image_count(self) -> int:
        return self.batch_size * self.batch_count
