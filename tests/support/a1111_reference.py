"""An independent reference for A1111's sampling, written for the tests from A1111's formulas and k-diffusion.

It shares nothing with `webui.engine.ksampling` but the UNet, the VAE and the prompt encoder (prompt parsing and
emphasis are pinned elsewhere): its own alphas_cumprod (numpy), sigma schedules (numpy), per-image torch generators,
CFG wrapper, prompt-schedule lookup, DDIM/PLMS loops and decode. k-diffusion is imported the way A1111's own
environment has it available (its `sampling`/`external` modules). Used by tests/engine/test_a1111_sampling.py.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import math
import sys
from dataclasses import dataclass, field

import numpy as np
import torch


def kdiffusion():
    if "k_diffusion" not in sys.modules:
        spec = importlib.util.find_spec("k_diffusion")
        sys.modules["k_diffusion"] = importlib.util.module_from_spec(spec)
    return importlib.import_module("k_diffusion.sampling"), importlib.import_module("k_diffusion.external")


def alphas_cumprod(half: bool = False) -> torch.Tensor:
    betas = np.linspace(0.00085 ** 0.5, 0.012 ** 0.5, 1000, dtype=np.float64) ** 2
    values = torch.tensor(np.cumprod(1.0 - betas), dtype=torch.float32)
    return values.half() if half else values


@dataclass
class Prompt:
    """A prompt schedule: [(last call index, vectors)], looked up by call count as A1111's CFGDenoiser does."""

    entries: list[tuple[int, torch.Tensor]]

    def at(self, call: int) -> torch.Tensor:
        for end, vectors in self.entries:
            if call <= end:
                return vectors
        return self.entries[-1][1]


@dataclass
class Case:
    sampler: str                      # A1111 sampler name
    function: str                     # k-diffusion function, or ddim/plms
    schedule: str | None              # None = the model's uniform get_sigmas
    steps: int
    cfg: float
    seeds: list[int]
    width: int
    height: int
    cond: Prompt
    uncond: Prompt
    eta: float = 1.0
    discard_penultimate: bool = False
    brownian: bool = False
    solver_type: str | None = None
    subseeds: list[int] = field(default_factory=list)
    subseed_strength: float = 0.0
    ensd: int = 0
    churn: dict = field(default_factory=dict)   # s_churn, s_tmin, s_tmax, s_noise for Euler / Heun / DPM2


class Noise:
    def __init__(self, case: Case, shape) -> None:
        self.case, self.shape = case, shape
        self.generators = [torch.Generator("cpu").manual_seed(seed) for seed in case.seeds]
        self.started = False

    def first(self) -> torch.Tensor:
        rows = []
        for index, generator in enumerate(self.generators):
            noise = torch.randn(self.shape, generator=generator)
            if self.case.subseed_strength:
                sub = torch.randn(self.shape, generator=torch.Generator("cpu").manual_seed(self.case.subseeds[index]))
                noise = _slerp(self.case.subseed_strength, noise, sub)
            rows.append(noise)
        if self.case.ensd:
            self.generators = [torch.Generator("cpu").manual_seed(seed + self.case.ensd) for seed in self.case.seeds]
        self.started = True
        return torch.stack(rows)

    def next(self) -> torch.Tensor:
        return torch.stack([torch.randn(self.shape, generator=generator) for generator in self.generators])


def _slerp(t: float, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per (channel, row) great-circle interpolation over the last axis, as A1111 computes it."""
    na = a / a.norm(dim=1, keepdim=True)
    nb = b / b.norm(dim=1, keepdim=True)
    cos = (na * nb).sum(1)
    if cos.mean() > 0.9995:
        return a * t + b * (1 - t)
    omega = cos.acos()
    first = (torch.sin((1 - t) * omega) / omega.sin()).unsqueeze(1)
    return first * a + (torch.sin(t * omega) / omega.sin()).unsqueeze(1) * b


def sigmas_for(case: Case, wrap, steps: int) -> torch.Tensor:
    sampling, _ = kdiffusion()
    lo, hi = wrap.sigmas[0].item(), wrap.sigmas[-1].item()
    name = case.schedule
    if name is None or name == "uniform":
        return wrap.get_sigmas(steps)
    if name == "karras":
        return sampling.get_sigmas_karras(steps, lo, hi, rho=7.0)
    if name == "exponential":
        return sampling.get_sigmas_exponential(steps, lo, hi)
    if name == "polyexponential":
        return sampling.get_sigmas_polyexponential(steps, lo, hi, rho=1.0)
    log_sigmas = wrap.log_sigmas.numpy()
    t_hi, t_lo = float(wrap.sigma_to_t(torch.tensor(hi))), float(wrap.sigma_to_t(torch.tensor(lo)))

    def sigma_of(t: float) -> float:
        low, frac = int(math.floor(t)), t - math.floor(t)
        return math.exp((1 - frac) * log_sigmas[low] + frac * log_sigmas[min(low + 1, 999)])

    if name == "sgm_uniform":
        values = [sigma_of(t) for t in np.linspace(t_hi, t_lo, steps + 1, dtype=np.float32)[:-1]]
    elif name == "normal":
        values = [sigma_of(t) for t in np.linspace(t_hi, t_lo, steps, dtype=np.float32)]
    elif name == "kl_optimal":
        i = np.arange(steps + 1) / steps
        return torch.tensor(np.tan(i * np.arctan(lo) + (1 - i) * np.arctan(hi)), dtype=torch.float32)
    elif name == "simple":
        table = wrap.sigmas.numpy()
        values = [table[-(1 + int(i * 1000 / steps))] for i in range(steps)]
    elif name == "ddim":
        table = wrap.sigmas.numpy()
        values = list(table[1::max(1000 // steps, 1)][::-1])
    elif name == "align_your_steps":
        known = np.array([14.615, 6.475, 3.861, 2.697, 1.886, 1.396, 0.963, 0.652, 0.399, 0.152, 0.029])
        values = list(np.exp(np.interp(np.linspace(0, 1, steps), np.linspace(0, 1, 11), np.log(known[::-1])))[::-1])
    elif name == "beta":
        from scipy.stats import beta

        values = [lo + beta.ppf(x, 0.6, 0.6) * (hi - lo) for x in 1 - np.linspace(0, 1, steps)]
    else:
        raise KeyError(name)
    return torch.tensor([*values, 0.0], dtype=torch.float32)


class _Model(torch.nn.Module):
    def __init__(self, unet, alphas) -> None:
        super().__init__()
        self.unet, self.alphas_cumprod = unet, alphas

    def apply_model(self, x, t, cond):
        return self.unet(x, t.float(), encoder_hidden_states=cond).sample


def run(case: Case, unet, init: torch.Tensor | None = None, strength: float = 1.0, fixed_steps: bool = False,
        half_alphas: bool = False) -> torch.Tensor:
    """The final latents A1111 would reach for `case` (txt2img, or img2img from `init`)."""
    sampling, external = kdiffusion()
    model = _Model(unet, alphas_cumprod(half_alphas))
    shape = (4, case.height // 8, case.width // 8)
    noise = Noise(case, shape)
    calls = [0]
    if case.function in ("ddim", "ddim_cfgpp", "plms"):
        return _timesteps(case, model, noise, calls, init, strength)
    wrap = external.CompVisDenoiser(model)

    def denoise(x, sigma, **_):
        c, u = case.cond.at(calls[0]), case.uncond.at(calls[0])
        b = x.shape[0]
        c, u = c.expand(b, -1, -1), u.expand(b, -1, -1)
        if c.shape[1] == u.shape[1]:
            out = wrap(torch.cat([x, x]), torch.cat([sigma, sigma]), cond=torch.cat([c, u]))
            out_c, out_u = out[:b], out[b:]
        else:
            out_c, out_u = wrap(x, sigma, cond=c), wrap(x, sigma, cond=u)
        calls[0] += 1
        return out_u + (out_c - out_u) * case.cfg

    steps = case.steps + (1 if case.discard_penultimate else 0)
    if init is not None:
        if fixed_steps:
            total, t_enc = int(case.steps / min(strength, 0.999)), case.steps - 1
        else:
            total, t_enc = case.steps, int(min(strength, 0.999) * case.steps)
        steps = total + (1 if case.discard_penultimate else 0)
    sigmas = sigmas_for(case, wrap, steps)
    if case.discard_penultimate:
        sigmas = torch.cat([sigmas[:-2], sigmas[-1:]])
    if init is None:
        schedule = sigmas
        x = noise.first() * sigmas[0]
    else:
        schedule = sigmas[total - t_enc - 1:]
        x = init + noise.first() * schedule[0]
    function = getattr(sampling, case.function)
    kwargs = {}
    params = inspect.signature(function).parameters
    if "eta" in params:
        kwargs["eta"] = case.eta
    if case.solver_type:
        kwargs["solver_type"] = case.solver_type
    if case.brownian:
        positive = sigmas[sigmas > 0]
        kwargs["noise_sampler"] = sampling.BrownianTreeNoiseSampler(x if init is None else init, positive.min(),
                                                                    sigmas.max(), seed=case.seeds)
    elif "noise_sampler" in params:
        kwargs["noise_sampler"] = lambda s, t: noise.next()
    if case.churn:
        kwargs.update(case.churn)
        return _with_a1111_torch_hijack(sampling, noise, lambda: function(denoise, x, schedule, disable=True, **kwargs))
    if "sigma_min" in params:
        if init is None:
            kwargs.update(sigma_min=wrap.sigmas[0].item(), sigma_max=wrap.sigmas[-1].item(), n=case.steps)
        else:
            kwargs.update(sigma_min=schedule[-2], sigma_max=schedule[0], n=len(schedule) - 1)
        if "n" not in params:
            kwargs.pop("n")
        return function(denoise, x, disable=True, **kwargs)
    return function(denoise, x, schedule, disable=True, **kwargs)


class _TorchHijack:
    """What A1111 puts in place of k-diffusion's `torch` module: randn_like draws the image generators' next."""

    def __init__(self, noise: Noise) -> None:
        self.noise = noise

    def __getattr__(self, name):
        if name == "randn_like":
            return lambda x: self.noise.next()
        return getattr(torch, name)


def _with_a1111_torch_hijack(sampling, noise: Noise, body):
    original = sampling.torch
    sampling.torch = _TorchHijack(noise)
    try:
        return body()
    finally:
        sampling.torch = original


def _timesteps(case: Case, model: _Model, noise: Noise, calls, init, strength) -> torch.Tensor:
    n = case.steps
    ts = [min(max(t + 1, 0), 999) for t in range(0, 1000, 1000 // n)]
    ac = model.alphas_cumprod.double()
    if init is None:
        x = noise.first()
    else:
        t_enc = int(min(strength, 0.999) * n)
        a = ac[ts[t_enc]].float()
        x = init * a.sqrt() + noise.first() * (1 - a).sqrt()
        ts = ts[:t_enc]

    scale = case.cfg / 12.5 if case.function == "ddim_cfgpp" else case.cfg  # CFG++ maps the scale to [0, 1]
    last_uncond = []

    def eps_at(x, t):
        c, u = case.cond.at(calls[0]).expand(x.shape[0], -1, -1), case.uncond.at(calls[0]).expand(x.shape[0], -1, -1)
        tt = torch.full((x.shape[0],), float(t))
        if c.shape[1] == u.shape[1]:
            out = model.apply_model(torch.cat([x, x]), torch.cat([tt, tt]), torch.cat([c, u]))
            e_c, e_u = out.chunk(2)
        else:
            e_c, e_u = model.apply_model(x, tt, c), model.apply_model(x, tt, u)
        calls[0] += 1
        last_uncond[:] = [e_u]
        return e_u + (e_c - e_u) * scale

    history = []
    for i in range(len(ts) - 1, 0, -1):
        t, t_prev = ts[i], ts[i - 1]
        a_t, a_p = float(ac[t]), float(ac[t_prev])
        e = eps_at(x, t)
        if case.function in ("ddim", "ddim_cfgpp"):
            x0 = (x - math.sqrt(1 - a_t) * e) / math.sqrt(a_t)
            direction = last_uncond[0] if case.function == "ddim_cfgpp" else e
            x = math.sqrt(a_p) * x0 + math.sqrt(1 - a_p) * direction
            noise.next()
            continue
        if not history:
            x0 = (x - math.sqrt(1 - a_t) * e) / math.sqrt(a_t)
            x_next = math.sqrt(a_p) * x0 + math.sqrt(1 - a_p) * e
            e_prime = (e + eps_at(x_next, ts[max(i - 1, 0)])) / 2
        elif len(history) == 1:
            e_prime = (3 * e - history[-1]) / 2
        elif len(history) == 2:
            e_prime = (23 * e - 16 * history[-1] + 5 * history[-2]) / 12
        else:
            e_prime = (55 * e - 59 * history[-1] + 37 * history[-2] - 9 * history[-3]) / 24
        x0 = (x - math.sqrt(1 - a_t) * e_prime) / math.sqrt(a_t)
        x = math.sqrt(a_p) * x0 + math.sqrt(1 - a_p) * e_prime
        history = (history + [e])[-3:]
    return x


def decode(vae, latents: torch.Tensor) -> np.ndarray:
    """VAE decode, then A1111's 255·clamp((x+1)/2) truncated to uint8: [B, H, W, 3]."""
    pixels = vae.decode(latents / vae.config.scaling_factor).sample
    return (255.0 * torch.clamp((pixels + 1) / 2, 0, 1).permute(0, 2, 3, 1).numpy()).astype(np.uint8)
