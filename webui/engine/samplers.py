"""A1111 v1.10's samplers and schedule types, by name (pure: no torch).

Each sampler names how it runs: `kdiffusion` (a function of k-diffusion's `sampling` module, behind A1111's CFG
denoiser), `timesteps` (A1111's own DDIM / DDIM CFG++ / PLMS over integer timesteps) or `restart` (A1111's Restart
sampler). UniPC and LCM run on diffusers' schedulers stepped by the same denoiser (`diffusers` family): they work,
but are not A1111's implementations and do not redraw an A1111 image exactly; `note` says so.

"Automatic" resolves to the sampler's default schedule exactly as A1111 does (DPM++ 2M → Karras) and the infotext
records the resolved label; a sampler without a default (Euler a) keeps "Automatic" and samples on the model's own
uniform spacing, as in A1111. Like A1111, every schedule type may be chosen with every sampler; samplers that do not
sample on sigmas (DDIM, PLMS, ...) and DPM fast/adaptive record it and do not use it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

SamplerFamily = Literal["kdiffusion", "timesteps", "restart", "diffusers"]
INEXACT_NOTE = "runs on diffusers' {0}; A1111's own {1} implementation differs, so its images are not redrawn exactly"


@dataclass(frozen=True)
class ScheduleType:
    name: str          # the API name, lower case, as A1111's /sdapi/v1/schedulers "name"
    label: str         # what the UI and infotext show
    default_rho: float = -1.0
    need_inner_model: bool = False
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class SamplerSpec:
    name: str
    function: str                        # k-diffusion function, our timestep sampler, or a diffusers class
    aliases: tuple[str, ...] = ()
    family: SamplerFamily = "kdiffusion"
    default_schedule: str | None = None  # what "Automatic" means; None = the model's uniform spacing
    discard_next_to_last_sigma: bool = False
    second_order: bool = False           # two UNet calls per step (progress counts them)
    brownian_noise: bool = False         # SDE samplers: one Brownian tree per image seed
    uses_ensd: bool = False              # ENSD changes its noise (and is written to the infotext)
    solver_type: str | None = None
    extra_params: tuple[str, ...] = ()   # A1111's sampler_extra_params: which of eta/s_churn/... it takes
    note: str = ""

    @property
    def options(self) -> Mapping[str, object]:
        """A1111's /sdapi/v1/samplers "options" for this sampler."""
        pairs: dict[str, object] = {}
        if self.default_schedule:
            pairs["scheduler"] = self.default_schedule
        for key in ("discard_next_to_last_sigma", "second_order", "brownian_noise", "uses_ensd"):
            if getattr(self, key):
                pairs[key] = True
        if self.solver_type:
            pairs["solver_type"] = self.solver_type
        return MappingProxyType(pairs)

    @property
    def eta_default(self) -> float:
        """A1111's default eta for the sampler's kind: DDIM-style samplers 0, k-diffusion ones 1."""
        return 0.0 if self.family == "timesteps" else 1.0

    @property
    def takes_eta(self) -> bool:
        """A1111 passes eta to (and writes "Eta" for) every sampler function with an `eta` parameter."""
        return self.family == "timesteps" or self.function in ETA_FUNCTIONS

    @property
    def uses_sigma_schedule(self) -> bool:
        return self.family in ("kdiffusion", "restart") and self.function not in ("sample_dpm_fast",
                                                                                   "sample_dpm_adaptive")


CHURN = ("s_churn", "s_tmin", "s_tmax", "s_noise")
# k-diffusion's sampler functions that take `eta` (their signatures, in k-diffusion 0.1.1.post1)
ETA_FUNCTIONS = frozenset({"sample_euler_ancestral", "sample_dpm_2_ancestral", "sample_dpm_fast", "sample_dpm_adaptive",
                           "sample_dpmpp_2s_ancestral", "sample_dpmpp_sde", "sample_dpmpp_2m_sde",
                           "sample_dpmpp_3m_sde"})
ANCESTRAL = ("eta", "s_noise")


def default_schedule_types() -> tuple[ScheduleType, ...]:
    return (
        ScheduleType("automatic", "Automatic"),
        ScheduleType("uniform", "Uniform", need_inner_model=True),
        ScheduleType("karras", "Karras", default_rho=7.0),
        ScheduleType("exponential", "Exponential"),
        ScheduleType("polyexponential", "Polyexponential", default_rho=1.0),
        ScheduleType("sgm_uniform", "SGM Uniform", need_inner_model=True, aliases=("SGMUniform",)),
        ScheduleType("kl_optimal", "KL Optimal"),
        ScheduleType("align_your_steps", "Align Your Steps"),
        ScheduleType("simple", "Simple", need_inner_model=True),
        ScheduleType("normal", "Normal", need_inner_model=True),
        ScheduleType("ddim", "DDIM", need_inner_model=True),
        ScheduleType("beta", "Beta", need_inner_model=True),
    )


def _k(name: str, function: str, aliases: tuple[str, ...], **options) -> SamplerSpec:
    return SamplerSpec(name, function, aliases, "kdiffusion", **options)


def default_samplers() -> tuple[SamplerSpec, ...]:
    """A1111 v1.10's samplers in its order, with its per-sampler options (`sd_samplers_kdiffusion.py`)."""
    sde = ("eta", "s_noise")
    return (
        _k("DPM++ 2M", "sample_dpmpp_2m", ("k_dpmpp_2m",), default_schedule="karras"),
        _k("DPM++ SDE", "sample_dpmpp_sde", ("k_dpmpp_sde",), default_schedule="karras", second_order=True,
           brownian_noise=True, extra_params=("eta", "s_noise", "r")),
        _k("DPM++ 2M SDE", "sample_dpmpp_2m_sde", ("k_dpmpp_2m_sde",), default_schedule="exponential",
           brownian_noise=True, extra_params=(*sde, "solver_type")),
        _k("DPM++ 2M SDE Heun", "sample_dpmpp_2m_sde", ("k_dpmpp_2m_sde_heun",), default_schedule="exponential",
           brownian_noise=True, solver_type="heun", extra_params=(*sde, "solver_type")),
        _k("DPM++ 2S a", "sample_dpmpp_2s_ancestral", ("k_dpmpp_2s_a",), default_schedule="karras",
           uses_ensd=True, second_order=True, extra_params=ANCESTRAL),
        _k("DPM++ 3M SDE", "sample_dpmpp_3m_sde", ("k_dpmpp_3m_sde",), default_schedule="exponential",
           discard_next_to_last_sigma=True, brownian_noise=True, extra_params=sde),
        _k("Euler a", "sample_euler_ancestral", ("k_euler_a", "k_euler_ancestral"), uses_ensd=True,
           extra_params=ANCESTRAL),
        _k("Euler", "sample_euler", ("k_euler",), extra_params=CHURN),
        _k("LMS", "sample_lms", ("k_lms",)),
        _k("Heun", "sample_heun", ("k_heun",), second_order=True, extra_params=CHURN),
        _k("DPM2", "sample_dpm_2", ("k_dpm_2",), default_schedule="karras", discard_next_to_last_sigma=True,
           second_order=True, extra_params=CHURN),
        _k("DPM2 a", "sample_dpm_2_ancestral", ("k_dpm_2_a",), default_schedule="karras",
           discard_next_to_last_sigma=True, uses_ensd=True, second_order=True, extra_params=("s_noise",)),
        _k("DPM fast", "sample_dpm_fast", ("k_dpm_fast",), uses_ensd=True, extra_params=("s_noise",)),
        _k("DPM adaptive", "sample_dpm_adaptive", ("k_dpm_ad",), uses_ensd=True),
        SamplerSpec("Restart", "restart", ("restart",), "restart", default_schedule="karras", second_order=True),
        SamplerSpec("DDIM", "ddim", ("ddim",), "timesteps", uses_ensd=True),
        SamplerSpec("DDIM CFG++", "ddim_cfgpp", ("ddim_cfgpp",), "timesteps", uses_ensd=True),
        SamplerSpec("PLMS", "plms", ("plms",), "timesteps"),
        SamplerSpec("UniPC", "UniPCMultistepScheduler", ("unipc",), "diffusers",
                    note=INEXACT_NOTE.format("UniPCMultistepScheduler", "UniPC")),
        SamplerSpec("LCM", "LCMScheduler", ("k_lcm",), "diffusers", note=INEXACT_NOTE.format("LCMScheduler", "LCM")),
    )


@dataclass(frozen=True)
class ResolvedSampler:
    """A sampler with its schedule decided: what to run and what the infotext says."""

    sampler: SamplerSpec
    schedule: ScheduleType

    @property
    def schedule_label(self) -> str:
        return self.schedule.label

    @property
    def sigma_schedule(self) -> str | None:
        """The schedule to build sigmas with; None = the model's uniform spacing (A1111's `get_sigmas(n)`)."""
        return None if self.schedule.name == "automatic" else self.schedule.name


class SamplerTable:
    """Lookup of samplers and schedule types by A1111 name, alias or label; duplicates raise."""

    def __init__(self, samplers: Iterable[SamplerSpec], schedules: Iterable[ScheduleType]) -> None:
        self._samplers: dict[str, SamplerSpec] = {}
        self._ordered: list[SamplerSpec] = []
        for spec in samplers:
            for key in {spec.name.lower(), *(alias.lower() for alias in spec.aliases)}:
                if key in self._samplers:
                    raise ValueError(f"sampler name {key!r} is registered twice")
                self._samplers[key] = spec
            self._ordered.append(spec)
        self._schedules: dict[str, ScheduleType] = {}
        self._ordered_schedules: list[ScheduleType] = []
        for schedule in schedules:
            for key in {schedule.name.lower(), schedule.label.lower(), *(a.lower() for a in schedule.aliases)}:
                if key in self._schedules:
                    raise ValueError(f"schedule type {key!r} is registered twice")
                self._schedules[key] = schedule
            self._ordered_schedules.append(schedule)

    @property
    def samplers(self) -> tuple[SamplerSpec, ...]:
        return tuple(self._ordered)

    @property
    def schedule_types(self) -> tuple[ScheduleType, ...]:
        return tuple(self._ordered_schedules)

    def sampler(self, name: str) -> SamplerSpec:
        try:
            return self._samplers[name.lower()]
        except KeyError:
            valid = ", ".join(spec.name for spec in self._ordered)
            raise ValueError(f"unknown sampler {name!r}; valid samplers: {valid}") from None

    def schedule(self, name: str) -> ScheduleType:
        try:
            return self._schedules[name.lower()]
        except KeyError:
            valid = ", ".join(schedule.label for schedule in self._ordered_schedules)
            raise ValueError(f"unknown schedule type {name!r}; valid schedule types: {valid}") from None

    def split_legacy_name(self, name: str, scheduler: str | None = None) -> tuple[str, str]:
        """A1111's get_sampler_and_scheduler: "DPM++ 2M Karras" (pre-1.9 names, old infotexts and API clients)
        means sampler "DPM++ 2M" with the Karras schedule; an explicit `scheduler` wins."""
        try:
            return self.sampler(name).name, scheduler or "Automatic"
        except ValueError:
            for schedule in self._ordered_schedules:
                if name.endswith(" " + schedule.label):
                    return self.sampler(name.removesuffix(" " + schedule.label)).name, scheduler or schedule.label
            raise

    def resolve(self, sampler_name: str, schedule_name: str = "Automatic") -> ResolvedSampler:
        spec = self.sampler(sampler_name)
        schedule = self.schedule(schedule_name)
        if schedule.name == "automatic" and spec.default_schedule is not None:
            schedule = self.schedule(spec.default_schedule)
        return ResolvedSampler(spec, schedule)


def default_sampler_table() -> SamplerTable:
    return SamplerTable(default_samplers(), default_schedule_types())
