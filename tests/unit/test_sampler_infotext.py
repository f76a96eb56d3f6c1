"""Golden infotexts for A1111's sampler, noise and variation keys, written and read back (PNG Info → paste)."""

from types import SimpleNamespace

import pytest

from webui.engine.job_infotext import sampler_keys, uses_ensd
from webui.engine.request import GenerationRequest, SamplerParameters
from webui.engine.samplers import default_sampler_table
from webui.infotext.format import GenerationInfo
from webui.infotext.paste import generation_parameters, override_pairs, override_settings, pasted_fields
from webui.jobs.sampler_settings import sampler_parameters

SETTINGS = {"eta_ancestral": 1.0, "eta_ddim": 0.0, "s_churn": 0.0, "s_tmin": 0.0, "s_tmax": 0.0, "s_noise": 1.0,
            "sigma_min": 0.0, "sigma_max": 0.0, "rho": 0.0, "eta_noise_seed_delta": 0, "randn_source": "GPU",
            "always_discard_next_to_last_sigma": False, "beta_dist_alpha": 0.6, "beta_dist_beta": 0.6,
            "use_downcasted_alpha_bar": False}

A1111_VARIATION = (
    "1girl\nSteps: 20, Sampler: Euler a, Schedule type: Automatic, CFG scale: 7, Seed: 1234, Size: 512x512, "
    "Model hash: 6ce0161689, Model: anything-v5, Variation seed: 99, Variation seed strength: 0.3, "
    "Seed resize from: 384x448, ENSD: 31337, RNG: CPU, Eta: 0.67, Version: v1.10.1")


def _text(request: GenerationRequest, subseed: int) -> str:
    resolved = default_sampler_table().resolve(request.sampler_name, request.scheduler)
    plan = SimpleNamespace(sampler=resolved)
    sampling = request.sampler_settings
    ensd = sampling.eta_noise_seed_delta if uses_ensd(request, plan) else None  # type: ignore[arg-type]
    return GenerationInfo(
        prompt=request.prompt, negative_prompt="", steps=request.steps, sampler=resolved.sampler.name,
        schedule_type=resolved.schedule_label, cfg_scale=request.cfg_scale, seed=request.seed, width=request.width,
        height=request.height, model_hash="6ce0161689", model_name="anything-v5", version="v1.10.1",
        variation_seed=subseed if request.subseed_strength else None,
        variation_strength=request.subseed_strength or None,
        seed_resize_from=f"{request.seed_resize_from_w}x{request.seed_resize_from_h}"
        if request.seed_resize_from_w > 0 else None,
        ensd=ensd or None, rng=sampling.randn_source if sampling.randn_source != "GPU" else None,
        extras=tuple(sampler_keys(request, plan)),  # type: ignore[arg-type]
    ).text()


def test_variation_ensd_rng_and_eta_are_written_as_a1111_writes_them():
    request = GenerationRequest(prompt="1girl", sampler_name="Euler a", steps=20, cfg_scale=7, seed=1234,
                                subseed=99, subseed_strength=0.3, seed_resize_from_w=384, seed_resize_from_h=448,
                                sampling=SamplerParameters(eta=0.67, eta_noise_seed_delta=31337,
                                                           randn_source="CPU"))
    assert _text(request, 99) == A1111_VARIATION


def test_the_variation_keys_paste_back_and_the_settings_go_to_override_settings():
    parameters = generation_parameters(A1111_VARIATION)
    fields = pasted_fields(parameters)
    assert (fields.subseed, fields.subseed_strength) == (99, 0.3)
    assert (fields.seed_resize_from_w, fields.seed_resize_from_h) == (384, 448)
    pairs = override_pairs(dict(fields.settings), SETTINGS.get)
    assert pairs == ["Eta: 0.67", "ENSD: 31337", "RNG: CPU"]
    overrides = override_settings(pairs, SETTINGS.get)
    assert overrides == {"eta_ancestral": 0.67, "eta_noise_seed_delta": 31337, "randn_source": "CPU"}
    sampling = sampler_parameters(lambda key: SETTINGS[key], overrides)
    assert (sampling.eta_for(False), sampling.eta_noise_seed_delta, sampling.randn_source) == (0.67, 31337, "CPU")


def test_a_plain_infotext_resets_the_variation_and_asks_for_the_default_rng():
    fields = pasted_fields(generation_parameters("x\nSteps: 20, Sampler: Euler, CFG scale: 7, Seed: 3"))
    assert fields.subseed_strength == 0 and fields.seed_resize_from_w == -1
    assert override_pairs(dict(fields.settings), SETTINGS.get) == []
    cpu_instance = {**SETTINGS, "randn_source": "CPU"}
    assert override_pairs(dict(fields.settings), cpu_instance.get) == ["RNG: GPU"]


@pytest.mark.parametrize("sampler, parameters, expected", [
    ("Euler", SamplerParameters(s_churn=0.5, s_noise=0.9), [("Sigma churn", 0.5), ("Sigma noise", 0.9)]),
    ("DDIM", SamplerParameters(eta=0.3), [("Eta DDIM", 0.3)]),
    ("DDIM", SamplerParameters(eta_ddim=0.0), []),
    ("DPM++ 2M", SamplerParameters(rho=5.0, sigma_max=10.0), [("Schedule max sigma", 10.0), ("Schedule rho", 5.0)]),
    ("DPM++ 2M", SamplerParameters(always_discard_next_to_last_sigma=True, downcast_alphas_cumprod=True),
     [("Discard penultimate sigma", True), ("Downcast alphas_cumprod", True)]),
    ("DPM2", SamplerParameters(always_discard_next_to_last_sigma=True), []),  # DPM2 always discards
    ("DPM++ 2M", SamplerParameters(eta=0.5), []),  # DPM++ 2M takes no eta
    ("DPM2 a", SamplerParameters(eta=0.5), [("Eta", 0.5)]),  # its function takes eta, so A1111 writes it
])
def test_sampler_keys_only_where_they_differ_from_a1111s_defaults(sampler, parameters, expected):
    request = GenerationRequest(sampler_name=sampler, sampling=parameters)
    plan = SimpleNamespace(sampler=default_sampler_table().resolve(sampler))
    assert sampler_keys(request, plan) == expected  # type: ignore[arg-type]


def test_beta_schedule_writes_its_alpha_and_beta():
    request = GenerationRequest(sampler_name="Euler", scheduler="Beta")
    plan = SimpleNamespace(sampler=default_sampler_table().resolve("Euler", "Beta"))
    assert sampler_keys(request, plan) == [("Beta schedule alpha", 0.6), ("Beta schedule beta", 0.6)]  # type: ignore


def test_ensd_only_for_samplers_that_use_it():
    for name, expected in (("Euler a", True), ("Euler", False), ("DPM++ 2M", False), ("DDIM", False)):
        request = GenerationRequest(sampler_name=name, sampling=SamplerParameters(eta_noise_seed_delta=31337))
        plan = SimpleNamespace(sampler=default_sampler_table().resolve(name))
        assert uses_ensd(request, plan) is expected, name  # type: ignore[arg-type]
    ddim_with_eta = GenerationRequest(sampler_name="DDIM", sampling=SamplerParameters(eta=0.5))
    assert uses_ensd(ddim_with_eta, SimpleNamespace(sampler=default_sampler_table().resolve("DDIM")))  # type: ignore


@pytest.mark.parametrize("bad, message", [
    ({"randn_source": "TPU"}, "randn_source 'TPU' is not one of: GPU, CPU, NV"),
    ({"eta": -1.0}, "eta -1.0 is out of range"),
    ({"s_noise": 20.0}, "s_noise 20.0 is out of range"),
])
def test_bad_sampler_parameters_name_the_value(bad, message):
    with pytest.raises(ValueError, match=message):
        SamplerParameters(**bad)


def test_bad_variation_fields_name_the_value():
    with pytest.raises(ValueError, match="subseed_strength 1.5 is out of range"):
        GenerationRequest(subseed_strength=1.5)
    with pytest.raises(ValueError, match="seed_resize_from_w 9999 is out of range"):
        GenerationRequest(seed_resize_from_w=9999)
    with pytest.raises(ValueError, match="override setting 'Bogus: 1' is unknown"):
        override_settings(["Bogus: 1"], SETTINGS.get)
