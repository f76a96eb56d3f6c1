"""A1111's own samplers that are not k-diffusion functions: DDIM, DDIM CFG++, PLMS (`sd_samplers_timesteps_impl`),
Restart (`sd_samplers_extra`), and UniPC/LCM stepped through diffusers' schedulers (not exact; see samplers.py).

The timestep samplers work on integer timesteps `range(0, 1000, 1000 // n) + 1` and make one UNet call fewer than
that list is long (DDIM at 20 steps: 19 calls), as A1111 does. Their noise (`noise.next()`) is the per-image
generator's next draw, like every other sampler here.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from webui.engine.ksampling.denoiser import StepCallback
from webui.engine.ksampling.library import load_kdiffusion

NextNoise = Callable[[], torch.Tensor]


def ddim_timesteps(steps: int, device: torch.device | None = None) -> torch.Tensor:
    return torch.clip(torch.asarray(list(range(0, 1000, 1000 // steps)), device=device) + 1, 0, 999)


def _alphas(model, timesteps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    alphas_cumprod = model.alphas_cumprod
    previous = torch.nn.functional.pad(timesteps[:-1], pad=(1, 0))
    return alphas_cumprod[timesteps], alphas_cumprod[previous].to(torch.float64)


def _ddim_loop(denoiser, x: torch.Tensor, timesteps: torch.Tensor, callback: StepCallback, next_noise: NextNoise,
               eta: float, guided_direction: bool) -> torch.Tensor:
    alphas, alphas_prev = _alphas(denoiser, timesteps)
    sqrt_one_minus = torch.sqrt(1 - alphas)
    prev_np, alphas_np = alphas_prev.cpu().numpy(), alphas.cpu().double().numpy()
    sigmas = eta * np.sqrt((1 - prev_np) / (1 - alphas_np) * (1 - alphas_np / prev_np))
    ones = x.new_ones((x.shape[0],))
    for i in range(len(timesteps) - 1):
        index = len(timesteps) - 1 - i
        eps = denoiser(x, timesteps[index].item() * ones)
        direction = denoiser.last_uncond_output if guided_direction else eps
        a_t, a_prev = alphas[index].item(), alphas_prev[index].item()
        sigma_t = float(sigmas[index])
        pred_x0 = (x - sqrt_one_minus[index].item() * eps) / a_t ** 0.5
        x = a_prev ** 0.5 * pred_x0 + (1.0 - a_prev - sigma_t ** 2) ** 0.5 * direction + sigma_t * next_noise()
        callback(i, pred_x0)
    return x


def ddim(denoiser, x, timesteps, callback: StepCallback, next_noise: NextNoise, eta: float = 0.0) -> torch.Tensor:
    return _ddim_loop(denoiser, x, timesteps, callback, next_noise, eta, guided_direction=False)


def ddim_cfgpp(denoiser, x, timesteps, callback: StepCallback, next_noise: NextNoise,
               eta: float = 0.0) -> torch.Tensor:
    """CFG++: the scale is divided by 12.5 and x_t's direction follows the unconditional eps."""
    denoiser.scale_multiplier = 1 / 12.5
    return _ddim_loop(denoiser, x, timesteps, callback, next_noise, eta, guided_direction=True)


PLMS_WEIGHTS = ((1.0,), (3 / 2, -1 / 2), (23 / 12, -16 / 12, 5 / 12), (55 / 24, -59 / 24, 37 / 24, -9 / 24))


def plms(denoiser, x, timesteps, callback: StepCallback, next_noise: NextNoise, eta: float = 0.0) -> torch.Tensor:
    alphas, alphas_prev = _alphas(denoiser, timesteps)
    sqrt_one_minus = torch.sqrt(1 - alphas)
    ones = x.new_ones((x.shape[0],))

    def step(current: torch.Tensor, eps: torch.Tensor, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        a_t, a_prev = alphas[index].item(), alphas_prev[index].item()
        pred_x0 = (current - sqrt_one_minus[index].item() * eps) / a_t ** 0.5
        return a_prev ** 0.5 * pred_x0 + (1.0 - a_prev) ** 0.5 * eps, pred_x0

    history: list[torch.Tensor] = []
    for i in range(len(timesteps) - 1):
        index = len(timesteps) - 1 - i
        eps = denoiser(x, timesteps[index].item() * ones)
        if not history:  # pseudo improved Euler for the first step
            x_prev, _ = step(x, eps, index)
            eps_next = denoiser(x_prev, timesteps[max(index - 1, 0)].item() * ones)
            eps_prime = (eps + eps_next) / 2
        else:
            weights = PLMS_WEIGHTS[len(history)]
            eps_prime = weights[0] * eps
            for weight, old in zip(weights[1:], reversed(history), strict=False):
                eps_prime = eps_prime + weight * old
        x, pred_x0 = step(x, eps_prime, index)
        history.append(eps)
        if len(history) >= 4:
            history.pop(0)
        callback(i, pred_x0)
    return x


def restart(denoiser, x, sigmas, callback: StepCallback, next_noise: NextNoise, s_noise: float = 1.0) -> torch.Tensor:
    """Restart sampling (Xu et al. 2023) with A1111's automatic restart list: from 20 steps on, 9 restart steps
    once (from 36 on: steps // 4, twice) between sigma 0.1 and 2, Heun steps throughout."""
    karras = load_kdiffusion().sampling.get_sigmas_karras
    ones = x.new_ones([x.shape[0]])
    steps = sigmas.shape[0] - 1
    restarts: dict[float, list[float]] = {}
    if steps >= 20:
        restart_steps, restart_times = (steps // 4, 2) if steps >= 36 else (9, 1)
        sigmas = karras(steps - restart_steps * restart_times, sigmas[-2].item(), sigmas[0].item(),
                        device=sigmas.device)
        restarts = {0.1: [restart_steps + 1, restart_times, 2]}
    plan = {int(torch.argmin(abs(sigmas - key), dim=0)): value for key, value in restarts.items()}
    pairs = []
    for i in range(len(sigmas) - 1):
        pairs.append((sigmas[i], sigmas[i + 1]))
        if i + 1 in plan:
            count, times, restart_max = plan[i + 1]
            low, high = i + 1, int(torch.argmin(abs(sigmas - restart_max), dim=0))
            if high < low:
                restart_sigmas = karras(int(count), sigmas[low].item(), sigmas[high].item(),
                                        device=sigmas.device)[:-1]
                for _ in range(int(times)):
                    pairs.extend(zip(restart_sigmas[:-1], restart_sigmas[1:], strict=True))
    previous = None
    for index, (old_sigma, new_sigma) in enumerate(pairs):
        if previous is not None and previous < old_sigma:
            x = x + next_noise() * s_noise * (old_sigma ** 2 - previous ** 2) ** 0.5
        x = _heun_step(denoiser, x, old_sigma, new_sigma, ones, callback, index)
        previous = new_sigma
    return x


def _heun_step(denoiser, x, old_sigma, new_sigma, ones, callback: StepCallback, index: int) -> torch.Tensor:
    denoised = denoiser(x, old_sigma * ones)
    slope = (x - denoised) / old_sigma
    callback(index, denoised)
    dt = new_sigma - old_sigma
    if new_sigma == 0:
        return x + slope * dt
    x_next = x + slope * dt
    slope_next = (x_next - denoiser(x_next, new_sigma * ones)) / new_sigma
    return x + (slope + slope_next) / 2 * dt
