"""One sampling pass as A1111 runs it: txt2img from noise, or img2img from init latents at a denoising strength.

`SamplingPass` holds what the pass needs; `run_pass` picks the sampler family, builds sigmas (or timesteps) with
A1111's schedule and options, starts from the per-image noise, and returns the final latents.
Interrupt and Skip stop the sampler from inside the denoiser; the pass then returns the conditional x0 prediction
of the last UNet call, which is what A1111 decodes for an interrupted image.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import torch

from webui.engine.ksampling import timesteps as timestep_samplers
from webui.engine.ksampling.churn import CHURN_METHODS, churned
from webui.engine.ksampling.denoiser import (
    CFGDenoiser,
    EpsCFGDenoiser,
    LatentMask,
    SamplingStopped,
    StepCallback,
    StepConditioning,
    TimestepModel,
    UNetModel,
)
from webui.engine.ksampling.library import load_kdiffusion
from webui.engine.ksampling.noise import ImageNoise
from webui.engine.ksampling.schedules import ScheduleInputs, default_sigma_schedules
from webui.engine.request import SamplerParameters
from webui.engine.samplers import ResolvedSampler

if TYPE_CHECKING:
    from webui.engine.controlnet.hook import ControlPassHook


@dataclass
class SamplingPass:
    unet: object
    alphas_cumprod: torch.Tensor
    sampler: ResolvedSampler
    steps: int
    cfg_scale: float
    noise: ImageNoise
    conditioning: StepConditioning
    parameters: SamplerParameters
    should_stop: Callable[[], bool]
    on_step: StepCallback
    device: torch.device
    init_latents: torch.Tensor | None = None   # img2img / hires: the latents to start from
    denoising_strength: float = 1.0
    fixed_steps: bool = False                  # hires (and img2img_fix_steps): run exactly `steps`
    mask: LatentMask | None = None
    image_cond: torch.Tensor | None = None
    control: ControlPassHook | None = None     # ControlNet units of this pass


def img2img_steps(steps: int, strength: float, fixed: bool) -> tuple[int, int]:
    """A1111's setup_img2img_steps: (schedule length, t_enc)."""
    if fixed:
        total = int(steps / min(strength, 0.999)) if strength > 0 else 0
        return total, steps - 1
    return steps, int(min(strength, 0.999) * steps)


def _discard_penultimate(job: SamplingPass) -> bool:
    return job.sampler.sampler.discard_next_to_last_sigma or job.parameters.always_discard_next_to_last_sigma


def get_sigmas(job: SamplingPass, model_wrap, steps: int) -> torch.Tensor:
    """A1111's KDiffusionSampler.get_sigmas with its schedule options (their infotext keys: job_infotext.py)."""
    discard = _discard_penultimate(job)
    steps += 1 if discard else 0
    parameters = job.parameters
    schedule_name = job.sampler.sigma_schedule
    model_min, model_max = model_wrap.sigmas[0].item(), model_wrap.sigmas[-1].item()
    if schedule_name is None:
        sigmas = model_wrap.get_sigmas(steps)
    else:
        schedule = default_sigma_schedules().get(schedule_name)
        sigma_min, sigma_max, rho = model_min, model_max, None
        if parameters.sigma_min and parameters.sigma_min != model_min:
            sigma_min = parameters.sigma_min
        if parameters.sigma_max and parameters.sigma_max != model_max:
            sigma_max = parameters.sigma_max
        if schedule.default_rho is not None and parameters.rho and parameters.rho != schedule.default_rho:
            rho = parameters.rho
        sigmas = schedule.function(ScheduleInputs(steps, sigma_min, sigma_max, model_wrap, rho,
                                                  parameters.beta_alpha, parameters.beta_beta))
    if discard:
        sigmas = torch.cat([sigmas[:-2], sigmas[-1:]])
    return sigmas.to(job.device)


def _sampler_kwargs(job: SamplingPass, function, sigmas: torch.Tensor, x: torch.Tensor) -> dict:
    """eta / churn / s_noise as A1111 passes them: churn and s_noise only where they differ from the defaults."""
    spec, parameters = job.sampler.sampler, job.parameters
    accepted = inspect.signature(function).parameters
    kwargs: dict[str, object] = {}
    if "eta" in accepted:
        kwargs["eta"] = parameters.eta_for(timestep_sampler=False)
    churn = {"s_churn": (parameters.s_churn, 0.0), "s_tmin": (parameters.s_tmin, 0.0),
             "s_tmax": (parameters.s_tmax or float("inf"), float("inf")), "s_noise": (parameters.s_noise, 1.0)}
    for name, (value, default) in churn.items():
        if name in spec.extra_params and name in accepted and value != default:
            kwargs[name] = value
    if spec.solver_type:
        kwargs["solver_type"] = spec.solver_type
    if spec.brownian_noise:
        kwargs["noise_sampler"] = _brownian_noise(job, x, sigmas)
    elif "noise_sampler" in accepted:
        kwargs["noise_sampler"] = job.noise.sampler_noise
    return kwargs


def _brownian_noise(job: SamplingPass, x: torch.Tensor, sigmas: torch.Tensor):
    """One Brownian tree per image seed, its numbers drawn where the noise source draws (A1111)."""
    sampling = load_kdiffusion().sampling
    on = job.noise.source.draws_on(x.device)
    positive = sigmas[sigmas > 0]
    tree = sampling.BrownianTreeNoiseSampler(x.to(on), positive.min().to(on), sigmas.max().to(on),
                                             seed=list(job.noise.seeds))
    return lambda sigma, sigma_next: tree(sigma.to(on), sigma_next.to(on)).to(x.device)


def _run_guarded(job: SamplingPass, denoiser: CFGDenoiser, body: Callable[[], torch.Tensor],
                 start: torch.Tensor) -> torch.Tensor:
    try:
        return body()
    except SamplingStopped:  # the job's signals already say it stopped
        return denoiser.last_prediction if denoiser.last_prediction is not None else start


def _start(job: SamplingPass, model_wrap) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, tuple]:
    """(all sigmas, the part this pass runs, the starting x, DPM fast/adaptive's (sigma_min, sigma_max, n))."""
    if job.init_latents is None:
        sigmas = get_sigmas(job, model_wrap, job.steps)
        sigma_range = (model_wrap.sigmas[0].item(), model_wrap.sigmas[-1].item(), job.steps)
        return sigmas, sigmas, job.noise.first() * sigmas[0], sigma_range
    steps, t_enc = img2img_steps(job.steps, job.denoising_strength, job.fixed_steps)
    sigmas = get_sigmas(job, model_wrap, steps)
    schedule = sigmas[steps - t_enc - 1:]
    x = job.init_latents + job.noise.first() * schedule[0]
    return sigmas, schedule, x, (schedule[-2], schedule[0], len(schedule) - 1)


def _kdiffusion(job: SamplingPass, model: UNetModel, scheduler_config: dict) -> torch.Tensor:
    kdiffusion = load_kdiffusion()
    model_wrap = kdiffusion.external.CompVisDenoiser(model).to(job.device)
    spec = job.sampler.sampler
    denoiser = CFGDenoiser(model_wrap, job.conditioning, job.cfg_scale, job.should_stop, job.mask, job.image_cond)
    sigmas, schedule, x, sigma_range = _start(job, model_wrap)
    if spec.family == "restart":
        # A1111 passes Restart no sampler parameters: its s_noise stays 1 whatever the setting says
        return _run_guarded(job, denoiser, lambda: timestep_samplers.restart(
            denoiser, x, schedule, job.on_step, job.noise.next), x)
    if spec.function in CHURN_METHODS and job.parameters.s_churn > 0:
        parameters = job.parameters
        return _run_guarded(job, denoiser, lambda: churned(
            CHURN_METHODS[spec.function], denoiser, x, schedule, job.on_step, job.noise.next, parameters.s_churn,
            parameters.s_tmin, parameters.s_tmax or float("inf"), parameters.s_noise), x)
    function = getattr(kdiffusion.sampling, spec.function)
    kwargs = _sampler_kwargs(job, function, sigmas, x if job.init_latents is None else job.init_latents)
    accepted = inspect.signature(function).parameters
    if "sigma_min" in accepted:
        kwargs.update(sigma_min=sigma_range[0], sigma_max=sigma_range[1])
        if "n" in accepted:
            kwargs["n"] = sigma_range[2]
    else:
        kwargs["sigmas"] = schedule

    def callback(state: dict) -> None:
        job.on_step(int(state["i"]), state["denoised"])

    return _run_guarded(job, denoiser, lambda: function(denoiser, x, extra_args={}, callback=callback, disable=True,
                                                        **kwargs), x)


def _timesteps(job: SamplingPass, model: UNetModel, scheduler_config: dict) -> torch.Tensor:
    spec = job.sampler.sampler
    denoiser = EpsCFGDenoiser(TimestepModel(model), job.conditioning, job.cfg_scale, job.should_stop, job.mask,
                              job.image_cond)
    function = getattr(timestep_samplers, spec.function)
    eta = job.parameters.eta_for(timestep_sampler=True)
    discard = job.parameters.always_discard_next_to_last_sigma
    if job.init_latents is None:
        timesteps = timestep_samplers.ddim_timesteps(job.steps + (1 if discard else 0), job.device)
        x = job.noise.first()
    else:
        steps, t_enc = img2img_steps(job.steps, job.denoising_strength, job.fixed_steps)
        all_steps = timestep_samplers.ddim_timesteps(steps + (1 if discard else 0), job.device)
        timesteps = all_steps[:t_enc]
        alpha = model.alphas_cumprod[all_steps[t_enc]]
        x = job.init_latents * alpha.sqrt() + job.noise.first() * (1 - alpha).sqrt()
    return _run_guarded(job, denoiser, lambda: function(denoiser, x, timesteps, job.on_step, job.noise.next,
                                                        eta=eta), x)


def _diffusers_stepped(job: SamplingPass, model: UNetModel, scheduler_config: dict) -> torch.Tensor:
    """UniPC and LCM: diffusers' scheduler stepped with A1111's guided eps (works; not A1111's implementation)."""
    import diffusers

    scheduler = getattr(diffusers, job.sampler.sampler.function).from_config(
        {**scheduler_config, "timestep_spacing": "linspace"})
    denoiser = EpsCFGDenoiser(TimestepModel(model), job.conditioning, job.cfg_scale, job.should_stop, job.mask,
                              job.image_cond)
    if job.init_latents is None:
        scheduler.set_timesteps(job.steps, device=job.device)
        timesteps = scheduler.timesteps
        x = job.noise.first() * scheduler.init_noise_sigma
    else:
        steps, t_enc = img2img_steps(job.steps, job.denoising_strength, job.fixed_steps)
        scheduler.set_timesteps(steps, device=job.device)
        timesteps = scheduler.timesteps[steps - t_enc - 1:]
        if hasattr(scheduler, "set_begin_index"):
            scheduler.set_begin_index(steps - t_enc - 1)
        x = scheduler.add_noise(job.init_latents, job.noise.first(), timesteps[:1])
    step_kwargs = {}
    if "generator" in inspect.signature(scheduler.step).parameters:  # LCM re-noises between its steps
        step_kwargs["generator"] = torch.Generator(job.device).manual_seed(int(job.noise.seeds[0]))

    def body() -> torch.Tensor:
        latents = x
        ones = latents.new_ones((latents.shape[0],))
        for index, timestep in enumerate(timesteps):
            eps = denoiser(scheduler.scale_model_input(latents, timestep), timestep.item() * ones)
            output = scheduler.step(eps, timestep, latents, **step_kwargs)
            latents = output.prev_sample
            denoised = getattr(output, "denoised", None)
            job.on_step(index, latents if denoised is None else denoised)
        return latents

    return _run_guarded(job, denoiser, body, x)


def a1111_alphas_cumprod(scheduler_config: dict, downcast: bool = False) -> torch.Tensor:
    """The checkpoint's alphas_cumprod as ldm computes it (float64 betas, stored float32); "Downcast
    alphas_cumprod" (A1111's option for images made before 1.8) rounds it to fp16."""
    start, end = float(scheduler_config.get("beta_start", 0.00085)), float(scheduler_config.get("beta_end", 0.012))
    count = int(scheduler_config.get("num_train_timesteps", 1000))
    betas = torch.linspace(start ** 0.5, end ** 0.5, count, dtype=torch.float64) ** 2
    alphas_cumprod = torch.cumprod(1.0 - betas, dim=0).to(torch.float32)
    return alphas_cumprod.half() if downcast else alphas_cumprod


def run_pass(job: SamplingPass, scheduler_config: dict) -> torch.Tensor:
    """The pass's final latents (or, when stopped, the last x0 prediction; the job's signals say which)."""
    if job.init_latents is not None and img2img_steps(job.steps, job.denoising_strength, job.fixed_steps)[0] == 0:
        return job.init_latents  # A1111: a hires pass at denoising 0 has an empty schedule and keeps its input
    if job.control is not None:
        job = _with_control_steps(job, job.control)
    model = UNetModel(job.unet, job.alphas_cumprod.to(job.device), job.control)
    latents = FAMILY_RUNNERS[job.sampler.sampler.family](job, model, scheduler_config)
    if job.mask is not None:
        latents = job.mask.blend(latents)
    return latents


def _with_control_steps(job: SamplingPass, control: ControlPassHook) -> SamplingPass:
    """The ControlNet guidance range counts A1111's steps: the pass's step count (t_enc + 1 for img2img) and the
    index of the last finished step."""
    control.total_steps = job.steps if job.init_latents is None else \
        img2img_steps(job.steps, job.denoising_strength, job.fixed_steps)[1] + 1
    control.sampling_step = 0
    on_step = job.on_step

    def step_seen(index: int, denoised: torch.Tensor) -> None:
        control.on_step(index)
        on_step(index, denoised)

    return replace(job, on_step=step_seen)


# how each sampler family (samplers.py) runs
FAMILY_RUNNERS: dict[str, Callable[[SamplingPass, UNetModel, dict], torch.Tensor]] = {
    "kdiffusion": _kdiffusion, "restart": _kdiffusion, "timesteps": _timesteps, "diffusers": _diffusers_stepped,
}
