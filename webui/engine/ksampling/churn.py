"""Euler, Heun and DPM2 with "churn" (Karras et al. 2022, Algorithm 2), noise from the per-image generators.

k-diffusion's versions draw their churn noise from torch's global generator (A1111 swaps that for its per-image
generator, which we cannot do without patching the library), so with `s_churn > 0` these three run here: the same
steps, with `next_noise()` — the image generators' next draw, one per step as in A1111 — as the churn noise. With
`s_churn == 0` the noise is unused and k-diffusion's own functions run.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from webui.engine.ksampling.denoiser import StepCallback


def _slope(x: torch.Tensor, sigma, denoised: torch.Tensor) -> torch.Tensor:
    return (x - denoised) / sigma


def _second_order(method: str, denoiser, x, d, sigma_hat, sigma_next, ones) -> torch.Tensor:
    if method == "heun":
        dt = sigma_next - sigma_hat
        x_2 = x + d * dt
        d_2 = _slope(x_2, sigma_next, denoiser(x_2, sigma_next * ones))
        return x + (d + d_2) / 2 * dt
    sigma_mid = sigma_hat.log().lerp(sigma_next.log(), 0.5).exp()  # DPM-Solver-2's midpoint
    x_2 = x + d * (sigma_mid - sigma_hat)
    d_2 = _slope(x_2, sigma_mid, denoiser(x_2, sigma_mid * ones))
    return x + d_2 * (sigma_next - sigma_hat)


def churned(method: str, denoiser, x: torch.Tensor, sigmas: torch.Tensor, callback: StepCallback,
            next_noise: Callable[[], torch.Tensor], s_churn: float, s_tmin: float = 0.0,
            s_tmax: float = float("inf"), s_noise: float = 1.0) -> torch.Tensor:
    """`method` is "euler", "heun" or "dpm2"."""
    ones = x.new_ones([x.shape[0]])
    for i in range(len(sigmas) - 1):
        sigma, sigma_next = sigmas[i], sigmas[i + 1]
        gamma = min(s_churn / (len(sigmas) - 1), 2 ** 0.5 - 1) if s_tmin <= sigma <= s_tmax else 0.0
        eps = next_noise() * s_noise
        sigma_hat = sigma * (gamma + 1)
        if gamma > 0:
            x = x + eps * (sigma_hat ** 2 - sigma ** 2) ** 0.5
        denoised = denoiser(x, sigma_hat * ones)
        d = _slope(x, sigma_hat, denoised)
        callback(i, denoised)
        if method == "euler" or sigma_next == 0:
            x = x + d * (sigma_next - sigma_hat)
        else:
            x = _second_order(method, denoiser, x, d, sigma_hat, sigma_next, ones)
    return x


CHURN_METHODS = {"sample_euler": "euler", "sample_heun": "heun", "sample_dpm_2": "dpm2"}
