"""The infotext of one job's images: which A1111 keys a request produces, and in which order.

Kept apart from the engine so the key choices (what A1111 writes for hires fix, img2img and inpaint, when it omits a
default) sit in one readable place and are pinned by golden tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from webui.engine.request import GenerationRequest
from webui.infotext.format import GenerationInfo

if TYPE_CHECKING:
    from webui.engine.generate import JobPlan
    from webui.model_manager.manager import LoadedModel


@dataclass(frozen=True)
class InfotextOptions:
    """A1111's infotext settings, passed in as values for each job."""

    add_model_hash: bool = True
    add_model_name: bool = True
    version: str | None = None
    preview_every: int = 0  # A1111's show_progress_every_n_steps when live previews are on; 0 = none


def hires_keys(request: GenerationRequest, plan: JobPlan) -> list[tuple[str, object | None]]:
    hires = request.hires
    if hires is None:
        return []
    resized = bool(hires.resize_width or hires.resize_height)
    keys: list[tuple[str, object | None]] = [
        ("Hires resize", f"{hires.resize_width}x{hires.resize_height}") if resized else ("Hires upscale", hires.scale),
        ("Hires steps", hires.steps or None),
        ("Hires upscaler", hires.upscaler),
    ]
    if plan.hires_sampler is not None:
        if plan.hires_sampler.sampler.name != plan.sampler.sampler.name:
            keys.append(("Hires sampler", plan.hires_sampler.sampler.name))
        if plan.hires_sampler.schedule_label != plan.sampler.schedule_label:
            keys.append(("Hires schedule type", plan.hires_sampler.schedule_label))
    if hires.prompt and hires.prompt != request.prompt:
        keys.append(("Hires prompt", hires.prompt))
    if hires.negative_prompt and hires.negative_prompt != request.negative_prompt:
        keys.append(("Hires negative prompt", hires.negative_prompt))
    return keys


def img2img_keys(request: GenerationRequest) -> list[tuple[str, object | None]]:
    img2img = request.img2img
    if img2img is None:
        return []
    keys: list[tuple[str, object | None]] = []
    mask = img2img.mask
    if mask is not None:
        keys += [  # A1111 writes the blur, and the other controls only when they differ from its defaults
            ("Mask blur", mask.blur),
            ("Mask mode", "Inpaint not masked" if mask.invert else None),
            ("Inpaint area", "Only masked" if mask.only_masked else None),
            ("Masked area padding", mask.padding if mask.only_masked else None),
            ("Masked content", mask.fill if mask.fill != "original" else None),
        ]
    return keys


def sampler_keys(request: GenerationRequest, plan: JobPlan) -> list[tuple[str, object | None]]:
    """A1111's extra_generation_params for the sampler settings, written only where they differ from its defaults
    (`sd_samplers_common.Sampler.initialize`, `KDiffusionSampler.get_sigmas`, `apply_alpha_schedule_override`)."""
    spec, parameters = plan.sampler.sampler, request.sampler_settings
    keys: list[tuple[str, object | None]] = []
    eta = parameters.eta_for(spec.family == "timesteps")
    if spec.takes_eta and eta != spec.eta_default:
        keys.append(("Eta DDIM" if spec.family == "timesteps" else "Eta", eta))
    churn = (("s_churn", "Sigma churn", 0.0), ("s_tmin", "Sigma tmin", 0.0), ("s_tmax", "Sigma tmax", 0.0),
             ("s_noise", "Sigma noise", 1.0))
    for name, label, default in churn:
        value = getattr(parameters, name)
        if name in spec.extra_params and value != default:
            keys.append((label, value))
    if spec.uses_sigma_schedule and plan.sampler.sigma_schedule is not None:
        schedule = plan.sampler.schedule
        if parameters.sigma_min:
            keys.append(("Schedule min sigma", parameters.sigma_min))
        if parameters.sigma_max:
            keys.append(("Schedule max sigma", parameters.sigma_max))
        if schedule.default_rho != -1 and parameters.rho and parameters.rho != schedule.default_rho:
            keys.append(("Schedule rho", parameters.rho))
        if schedule.name == "beta":
            keys += [("Beta schedule alpha", parameters.beta_alpha), ("Beta schedule beta", parameters.beta_beta)]
    if parameters.always_discard_next_to_last_sigma and not spec.discard_next_to_last_sigma:
        keys.append(("Discard penultimate sigma", True))
    if parameters.downcast_alphas_cumprod:
        keys.append(("Downcast alphas_cumprod", True))
    return keys


def uses_ensd(request: GenerationRequest, plan: JobPlan) -> bool:
    """A1111's is_sampler_using_eta_noise_seed_delta: the sampler draws noise (eta not 0) and says it uses ENSD."""
    spec = plan.sampler.sampler
    return spec.uses_ensd and request.sampler_settings.eta_for(spec.family == "timesteps") != 0


class JobInfotext:
    """Builds each image's infotext; only the seed differs between the images of a job."""

    def __init__(self, request: GenerationRequest, plan: JobPlan, loaded: LoadedModel, options: InfotextOptions,
                 extra_keys: tuple[tuple[str, object | None], ...] = ()) -> None:
        self._request = request
        self._plan = plan
        self._loaded = loaded
        self._options = options
        self._extra_keys = extra_keys

    def for_seed(self, seed: int, subseed: int | None = None) -> str:
        request, loaded, options = self._request, self._loaded, self._options
        variation = request.subseed_strength != 0
        resized = request.seed_resize_from_w > 0 and request.seed_resize_from_h > 0
        ensd = request.sampler_settings.eta_noise_seed_delta
        source = request.sampler_settings.randn_source
        denoising = None
        if request.img2img is not None:
            denoising = request.img2img.denoising_strength
        elif request.hires is not None:
            denoising = request.hires.denoising_strength
        return GenerationInfo(
            prompt=request.prompt, negative_prompt=request.negative_prompt, steps=request.steps,
            sampler=self._plan.sampler.sampler.name, schedule_type=self._plan.sampler.schedule_label,
            cfg_scale=request.cfg_scale, seed=seed, width=request.width, height=request.height,
            model_hash=loaded.record.short_hash if options.add_model_hash else None,
            model_name=loaded.record.model_name if options.add_model_name else None,
            version=options.version,
            vae_hash=loaded.vae.short_hash if loaded.vae and options.add_model_hash else None,
            vae_name=loaded.vae.model_name if loaded.vae and options.add_model_name else None,
            denoising_strength=denoising, clip_skip=request.clip_skip or 1,
            variation_seed=subseed if variation else None,
            variation_strength=request.subseed_strength if variation else None,
            seed_resize_from=f"{request.seed_resize_from_w}x{request.seed_resize_from_h}" if resized else None,
            ensd=ensd if ensd and uses_ensd(request, self._plan) else None,
            rng=source if source != "GPU" else None,
            face_restoration=request.face_restoration_model if request.restore_faces else None,
            extras=(*hires_keys(request, self._plan), *img2img_keys(request), *sampler_keys(request, self._plan),
                    *loaded.plan.infotext_fp8, *self._extra_keys),  # A1111's FP8 keys, only while fp8 is on
        ).text()
