"""A1111 sampler and schedule-type names mapped to diffusers schedulers (pure: no torch).

A1111 users pick samplers by name ("Euler a", "DPM++ 2M") and a schedule type ("Automatic", "Karras"). Each
A1111 sampler maps to a diffusers scheduler class plus config overrides applied with `Scheduler.from_config`.
"Automatic" resolves to the sampler's default schedule exactly as A1111 does (e.g. DPM++ 2M → Karras) and the
infotext records the resolved label; a sampler without a default (Euler a) keeps "Automatic", as in A1111.

Where diffusers has no exact twin the nearest scheduler is used and said so in `note` (DPM++ 2S a has no
ancestral single-step solver in diffusers). A1111 samplers with no diffusers counterpart (DPM fast, DPM adaptive,
Restart, DDIM CFG++) are not offered rather than faked.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType


@dataclass(frozen=True)
class ScheduleType:
    name: str          # the API name, lower case, as A1111's /sdapi/v1/schedulers "name"
    label: str         # what the UI and infotext show
    config: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class SamplerSpec:
    name: str
    scheduler_class: str
    aliases: tuple[str, ...] = ()
    options: Mapping[str, object] = field(default_factory=dict)
    default_schedule: str | None = None   # what "Automatic" means; None = the scheduler's own spacing
    schedules: tuple[str, ...] = ("uniform",)
    note: str = ""


SIGMA_SCHEDULES = ("uniform", "karras", "exponential", "beta")


def _frozen(mapping: Mapping[str, object]) -> Mapping[str, object]:
    return MappingProxyType(dict(mapping))


def default_schedule_types() -> tuple[ScheduleType, ...]:
    return (
        ScheduleType("automatic", "Automatic"),
        ScheduleType("uniform", "Uniform"),
        ScheduleType("karras", "Karras", _frozen({"use_karras_sigmas": True})),
        ScheduleType("exponential", "Exponential", _frozen({"use_exponential_sigmas": True})),
        ScheduleType("beta", "Beta", _frozen({"use_beta_sigmas": True})),
    )


def default_samplers() -> tuple[SamplerSpec, ...]:
    """A1111's samplers in A1111's order, restricted to those diffusers can run."""
    sde = "sde-dpmsolver++"
    return (
        SamplerSpec("DPM++ 2M", "DPMSolverMultistepScheduler", ("k_dpmpp_2m",),
                    default_schedule="karras", schedules=SIGMA_SCHEDULES),
        SamplerSpec("DPM++ SDE", "DPMSolverSDEScheduler", ("k_dpmpp_sde",),
                    default_schedule="karras", schedules=SIGMA_SCHEDULES),
        SamplerSpec("DPM++ 2M SDE", "DPMSolverMultistepScheduler", ("k_dpmpp_2m_sde",),
                    _frozen({"algorithm_type": sde}), "exponential", SIGMA_SCHEDULES),
        SamplerSpec("DPM++ 2M SDE Heun", "DPMSolverMultistepScheduler", ("k_dpmpp_2m_sde_heun",),
                    _frozen({"algorithm_type": sde, "solver_type": "heun"}), "exponential", SIGMA_SCHEDULES),
        SamplerSpec("DPM++ 2S a", "DPMSolverSinglestepScheduler", ("k_dpmpp_2s_a",),
                    _frozen({"solver_order": 2}), "karras", SIGMA_SCHEDULES,
                    note="diffusers has no ancestral single-step DPM++; the deterministic 2S solver is used"),
        SamplerSpec("DPM++ 3M SDE", "DPMSolverMultistepScheduler", ("k_dpmpp_3m_sde",),
                    _frozen({"algorithm_type": sde, "solver_order": 3}), "exponential", SIGMA_SCHEDULES),
        SamplerSpec("Euler a", "EulerAncestralDiscreteScheduler", ("k_euler_a", "k_euler_ancestral")),
        SamplerSpec("Euler", "EulerDiscreteScheduler", ("k_euler",), schedules=SIGMA_SCHEDULES),
        SamplerSpec("LMS", "LMSDiscreteScheduler", ("k_lms",), schedules=SIGMA_SCHEDULES),
        SamplerSpec("Heun", "HeunDiscreteScheduler", ("k_heun",), schedules=SIGMA_SCHEDULES),
        SamplerSpec("DPM2", "KDPM2DiscreteScheduler", ("k_dpm_2",),
                    default_schedule="karras", schedules=SIGMA_SCHEDULES),
        SamplerSpec("DPM2 a", "KDPM2AncestralDiscreteScheduler", ("k_dpm_2_a",),
                    default_schedule="karras", schedules=SIGMA_SCHEDULES),
        SamplerSpec("DDIM", "DDIMScheduler", ("ddim",)),
        SamplerSpec("PLMS", "PNDMScheduler", ("plms",), _frozen({"skip_prk_steps": True})),
        SamplerSpec("UniPC", "UniPCMultistepScheduler", ("unipc",), schedules=SIGMA_SCHEDULES),
        SamplerSpec("LCM", "LCMScheduler", ("k_lcm",)),
    )


@dataclass(frozen=True)
class ResolvedSampler:
    """A sampler with its schedule decided: what to build and what the infotext says."""

    sampler: SamplerSpec
    schedule: ScheduleType
    scheduler_class: str
    config_overrides: Mapping[str, object]

    @property
    def schedule_label(self) -> str:
        return self.schedule.label


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
            for key in {schedule.name.lower(), schedule.label.lower()}:
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
        """Decide the scheduler class and config; a schedule the sampler cannot honour is an error."""
        spec = self.sampler(sampler_name)
        schedule = self.schedule(schedule_name)
        if schedule.name == "automatic" and spec.default_schedule is not None:
            schedule = self.schedule(spec.default_schedule)
        if schedule.name != "automatic" and schedule.name not in spec.schedules:
            allowed = ", ".join(["Automatic", *(self.schedule(name).label for name in spec.schedules)])
            raise ValueError(
                f"sampler {spec.name!r} cannot use schedule type {schedule.label!r}; allowed: {allowed}")
        overrides = {**spec.options, **schedule.config}
        return ResolvedSampler(spec, schedule, spec.scheduler_class, _frozen(overrides))


def default_sampler_table() -> SamplerTable:
    return SamplerTable(default_samplers(), default_schedule_types())
