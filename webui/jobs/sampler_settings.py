"""The instance's A1111 sampler settings as a `SamplerParameters`, and an API request's own values on top.

A1111 keeps eta, sigma churn/tmin/tmax/noise, the schedule's sigma range and rho, ENSD, the noise source and the
"Downcast alphas_cumprod" switch in Settings; the API may also send `eta`, `s_churn`, ... and `override_settings`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from webui.engine.request import SamplerParameters

# setting key → SamplerParameters field
SETTING_FIELDS = {
    "s_churn": "s_churn", "s_tmin": "s_tmin", "s_tmax": "s_tmax", "s_noise": "s_noise",
    "sigma_min": "sigma_min", "sigma_max": "sigma_max", "rho": "rho",
    "eta_noise_seed_delta": "eta_noise_seed_delta", "randn_source": "randn_source",
    "beta_dist_alpha": "beta_alpha", "beta_dist_beta": "beta_beta",
    "always_discard_next_to_last_sigma": "always_discard_next_to_last_sigma",
    "use_downcasted_alpha_bar": "downcast_alphas_cumprod",
}
SETTING_KEYS = (*SETTING_FIELDS, "eta_ancestral", "eta_ddim")


def sampler_parameters(setting: Callable[[str], Any], overrides: Mapping[str, Any] | None = None
                       ) -> SamplerParameters:
    """From the settings (each key read with `setting`), `overrides` (override_settings) winning."""
    overrides = overrides or {}

    def value(key: str) -> Any:
        current = setting(key)
        if key not in overrides:
            return current
        given = overrides[key]
        if isinstance(current, bool) or isinstance(given, bool):
            if not isinstance(given, bool) or not isinstance(current, bool):
                raise ValueError(f"override_settings.{key} {given!r} is not a {type(current).__name__}")
            return given
        try:
            return type(current)(given)
        except (TypeError, ValueError):
            raise ValueError(f"override_settings.{key} {given!r} is not a {type(current).__name__}") from None

    fields: dict[str, Any] = {field: value(key) for key, field in SETTING_FIELDS.items()}
    fields["eta_ancestral"] = float(value("eta_ancestral"))
    fields["eta_ddim"] = float(value("eta_ddim"))
    for name in ("s_churn", "s_tmin", "s_tmax", "s_noise", "sigma_min", "sigma_max", "rho", "beta_alpha",
                 "beta_beta"):
        fields[name] = float(fields[name])
    fields["eta_noise_seed_delta"] = int(fields["eta_noise_seed_delta"])
    fields["randn_source"] = str(fields["randn_source"])
    return SamplerParameters(**fields)


def with_request_values(parameters: SamplerParameters, **values: float | None) -> SamplerParameters:
    """The API request's own eta / s_churn / s_tmin / s_tmax / s_noise where it sent them (None = not sent)."""
    given: dict[str, Any] = {name: value for name, value in values.items() if value is not None}
    return replace(parameters, **given) if given else parameters
