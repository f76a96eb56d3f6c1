"""A1111's twelve schedule types (`sd_schedulers.py`): how `n` steps become a descending list of sigmas + 0.

Each schedule is a function of the step count, the model's sigma range and, for some, the model's own discrete
sigmas (`model`: k-diffusion's CompVisDenoiser, which maps sigma ↔ t). "Automatic" is not here: it resolves to the
sampler's default (or, for samplers without one, to the model's own uniform spacing) before we get here.
Karras, Exponential and Polyexponential are k-diffusion's functions, as in A1111.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from webui.engine.ksampling.library import load_kdiffusion
from webui.engine.registry import NamedRegistry

# NVIDIA's published Align Your Steps sigmas for SD 1.5 (10 steps).
ALIGN_YOUR_STEPS_SD15 = (14.615, 6.475, 3.861, 2.697, 1.886, 1.396, 0.963, 0.652, 0.399, 0.152, 0.029)


@dataclass(frozen=True)
class ScheduleInputs:
    steps: int
    sigma_min: float
    sigma_max: float
    model: object            # k-diffusion's CompVisDenoiser over the checkpoint's alphas_cumprod
    rho: float | None = None  # None = the schedule's default
    beta_alpha: float = 0.6
    beta_beta: float = 0.6


@dataclass(frozen=True)
class SigmaSchedule:
    name: str
    label: str
    function: Callable[[ScheduleInputs], torch.Tensor]
    default_rho: float | None = None


def _uniform(inputs: ScheduleInputs) -> torch.Tensor:
    return inputs.model.get_sigmas(inputs.steps)  # type: ignore[attr-defined]


def _with_zero(values) -> torch.Tensor:
    return torch.FloatTensor([float(value) for value in values] + [0.0])


def _sgm_uniform(inputs: ScheduleInputs) -> torch.Tensor:
    model = inputs.model
    start = model.sigma_to_t(torch.tensor(inputs.sigma_max))  # type: ignore[attr-defined]
    end = model.sigma_to_t(torch.tensor(inputs.sigma_min))  # type: ignore[attr-defined]
    return _with_zero(model.t_to_sigma(t) for t in torch.linspace(start, end, inputs.steps + 1)[:-1])  # type: ignore[attr-defined]


def _normal(inputs: ScheduleInputs) -> torch.Tensor:
    model = inputs.model
    start = model.sigma_to_t(torch.tensor(inputs.sigma_max))  # type: ignore[attr-defined]
    end = model.sigma_to_t(torch.tensor(inputs.sigma_min))  # type: ignore[attr-defined]
    return _with_zero(model.t_to_sigma(t) for t in torch.linspace(start, end, inputs.steps))  # type: ignore[attr-defined]


def _karras(inputs: ScheduleInputs) -> torch.Tensor:
    rho = 7.0 if inputs.rho is None else inputs.rho
    return load_kdiffusion().sampling.get_sigmas_karras(n=inputs.steps, sigma_min=inputs.sigma_min,
                                                        sigma_max=inputs.sigma_max, rho=rho)


def _exponential(inputs: ScheduleInputs) -> torch.Tensor:
    return load_kdiffusion().sampling.get_sigmas_exponential(n=inputs.steps, sigma_min=inputs.sigma_min,
                                                             sigma_max=inputs.sigma_max)


def _polyexponential(inputs: ScheduleInputs) -> torch.Tensor:
    rho = 1.0 if inputs.rho is None else inputs.rho
    return load_kdiffusion().sampling.get_sigmas_polyexponential(n=inputs.steps, sigma_min=inputs.sigma_min,
                                                                 sigma_max=inputs.sigma_max, rho=rho)


def _kl_optimal(inputs: ScheduleInputs) -> torch.Tensor:
    alpha_min = torch.arctan(torch.tensor(inputs.sigma_min))
    alpha_max = torch.arctan(torch.tensor(inputs.sigma_max))
    fraction = torch.arange(inputs.steps + 1) / inputs.steps
    return torch.tan(fraction * alpha_min + (1.0 - fraction) * alpha_max)


def _log_linear(values: tuple[float, ...], count: int) -> np.ndarray:
    """Resample a decreasing list to `count` points, linearly in log space."""
    ys = np.log(np.array(values)[::-1])
    resampled = np.interp(np.linspace(0, 1, count), np.linspace(0, 1, len(values)), ys)
    return np.exp(resampled)[::-1].copy()


def _align_your_steps(inputs: ScheduleInputs) -> torch.Tensor:
    values = ALIGN_YOUR_STEPS_SD15
    if inputs.steps != len(values):
        return torch.FloatTensor(np.append(_log_linear(values, inputs.steps), [0.0]))
    return _with_zero(values)


def _simple(inputs: ScheduleInputs) -> torch.Tensor:
    sigmas = inputs.model.sigmas  # type: ignore[attr-defined]
    stride = len(sigmas) / inputs.steps
    return _with_zero(sigmas[-(1 + int(index * stride))] for index in range(inputs.steps))


def _ddim(inputs: ScheduleInputs) -> torch.Tensor:
    sigmas = inputs.model.sigmas  # type: ignore[attr-defined]
    stride = max(len(sigmas) // inputs.steps, 1)
    picked = [float(sigmas[index]) for index in range(1, len(sigmas), stride)]
    return _with_zero(picked[::-1])


def _beta(inputs: ScheduleInputs) -> torch.Tensor:
    from scipy import stats

    fractions = 1 - np.linspace(0, 1, inputs.steps)
    points = [stats.beta.ppf(value, inputs.beta_alpha, inputs.beta_beta) for value in fractions]
    return _with_zero(inputs.sigma_min + point * (inputs.sigma_max - inputs.sigma_min) for point in points)


def default_sigma_schedules() -> NamedRegistry[SigmaSchedule]:
    """Keyed by A1111's schedule name (`/sdapi/v1/schedulers` "name")."""
    registry: NamedRegistry[SigmaSchedule] = NamedRegistry("sigma schedule")
    for schedule in (
        SigmaSchedule("uniform", "Uniform", _uniform),
        SigmaSchedule("karras", "Karras", _karras, default_rho=7.0),
        SigmaSchedule("exponential", "Exponential", _exponential),
        SigmaSchedule("polyexponential", "Polyexponential", _polyexponential, default_rho=1.0),
        SigmaSchedule("sgm_uniform", "SGM Uniform", _sgm_uniform),
        SigmaSchedule("kl_optimal", "KL Optimal", _kl_optimal),
        SigmaSchedule("align_your_steps", "Align Your Steps", _align_your_steps),
        SigmaSchedule("simple", "Simple", _simple),
        SigmaSchedule("normal", "Normal", _normal),
        SigmaSchedule("ddim", "DDIM", _ddim),
        SigmaSchedule("beta", "Beta", _beta),
    ):
        registry.register(schedule.name, schedule)
    return registry
