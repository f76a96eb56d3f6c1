"""A1111 sampler and schedule-type names and how "Automatic" resolves (pure table)."""

import pytest

from webui.engine.samplers import SamplerSpec, SamplerTable, ScheduleType, default_sampler_table

A1111_V110 = ["DPM++ 2M", "DPM++ SDE", "DPM++ 2M SDE", "DPM++ 2M SDE Heun", "DPM++ 2S a", "DPM++ 3M SDE", "Euler a",
              "Euler", "LMS", "Heun", "DPM2", "DPM2 a", "DPM fast", "DPM adaptive", "Restart", "DDIM", "DDIM CFG++",
              "PLMS", "UniPC", "LCM"]


def test_all_of_a1111_v110s_samplers_in_its_order():
    assert [spec.name for spec in default_sampler_table().samplers] == A1111_V110


def test_schedule_types_have_a1111_labels_and_api_names():
    table = default_sampler_table()
    assert [(s.name, s.label) for s in table.schedule_types] == [
        ("automatic", "Automatic"), ("uniform", "Uniform"), ("karras", "Karras"), ("exponential", "Exponential"),
        ("polyexponential", "Polyexponential"), ("sgm_uniform", "SGM Uniform"), ("kl_optimal", "KL Optimal"),
        ("align_your_steps", "Align Your Steps"), ("simple", "Simple"), ("normal", "Normal"), ("ddim", "DDIM"),
        ("beta", "Beta")]
    assert table.schedule("SGMUniform").label == "SGM Uniform"  # A1111's alias


@pytest.mark.parametrize("sampler, schedule, label, sigma_schedule", [
    ("DPM++ 2M", "Automatic", "Karras", "karras"),
    ("DPM++ 2M SDE", "Automatic", "Exponential", "exponential"),
    ("DPM++ 3M SDE", "Automatic", "Exponential", "exponential"),
    ("Restart", "Automatic", "Karras", "karras"),
    ("Euler a", "Automatic", "Automatic", None),
    ("Euler a", "Karras", "Karras", "karras"),
    ("Euler", "Beta", "Beta", "beta"),
    ("DPM++ 2M", "Uniform", "Uniform", "uniform"),
    ("PLMS", "automatic", "Automatic", None),
])
def test_resolution(sampler, schedule, label, sigma_schedule):
    resolved = default_sampler_table().resolve(sampler, schedule)
    assert resolved.schedule_label == label
    assert resolved.sigma_schedule == sigma_schedule


def test_a1111_per_sampler_options():
    table = default_sampler_table()
    assert dict(table.sampler("DPM2 a").options) == {"scheduler": "karras", "discard_next_to_last_sigma": True,
                                                     "second_order": True, "uses_ensd": True}
    assert table.sampler("DPM++ 2M SDE Heun").solver_type == "heun"
    assert table.sampler("DPM++ 3M SDE").brownian_noise and table.sampler("DPM++ 3M SDE").discard_next_to_last_sigma
    assert table.sampler("DDIM").eta_default == 0.0 and table.sampler("Euler a").eta_default == 1.0
    assert "not redrawn exactly" in table.sampler("UniPC").note and not table.sampler("DDIM").note


def test_aliases_and_case_are_accepted():
    table = default_sampler_table()
    assert table.sampler("k_euler_a").name == "Euler a"
    assert table.sampler("dpm++ 2m").name == "DPM++ 2M"
    assert table.schedule("karras").label == "Karras"


def test_unknown_sampler_error_lists_the_valid_ones():
    with pytest.raises(ValueError) as error:
        default_sampler_table().sampler("Euler b")
    message = str(error.value)
    assert "'Euler b'" in message and "Euler a" in message and "DPM++ 2M" in message


def test_unknown_schedule_is_an_error_listing_the_valid_ones():
    with pytest.raises(ValueError, match="valid schedule types: Automatic, Uniform, Karras, Exponential"):
        default_sampler_table().resolve("Euler", "Cosine")


def test_duplicate_names_are_refused():
    spec = SamplerSpec("X", "sample_euler", aliases=("x_alias",))
    with pytest.raises(ValueError, match="registered twice"):
        SamplerTable([spec, SamplerSpec("x_alias", "sample_euler")], [ScheduleType("automatic", "Automatic")])


def test_which_samplers_take_eta_follows_k_diffusions_signatures():
    import inspect

    from webui.engine.ksampling.library import load_kdiffusion

    sampling = load_kdiffusion().sampling
    for spec in default_sampler_table().samplers:
        if spec.family == "kdiffusion":
            assert spec.takes_eta == ("eta" in inspect.signature(getattr(sampling, spec.function)).parameters), spec
