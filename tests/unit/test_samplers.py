"""A1111 sampler and schedule-type names and how "Automatic" resolves (pure table)."""

import pytest

from webui.engine.samplers import SamplerSpec, SamplerTable, ScheduleType, default_sampler_table

REQUIRED = ["Euler a", "Euler", "LMS", "Heun", "DPM2", "DPM2 a", "DPM++ 2S a", "DPM++ 2M", "DPM++ SDE",
            "DPM++ 2M SDE", "DDIM", "PLMS", "UniPC"]


def test_the_required_a1111_names_are_offered_in_a1111_order():
    names = [spec.name for spec in default_sampler_table().samplers]
    assert set(REQUIRED) <= set(names)
    assert names[0] == "DPM++ 2M"  # A1111's default and first entry
    assert names.index("DPM++ 2M") < names.index("Euler a") < names.index("DDIM")


def test_schedule_types_have_a1111_labels_and_api_names():
    table = default_sampler_table()
    assert [(s.name, s.label) for s in table.schedule_types][:4] == [
        ("automatic", "Automatic"), ("uniform", "Uniform"), ("karras", "Karras"), ("exponential", "Exponential")]


@pytest.mark.parametrize("sampler, schedule, label, overrides", [
    ("DPM++ 2M", "Automatic", "Karras", {"use_karras_sigmas": True}),
    ("DPM++ 2M SDE", "Automatic", "Exponential", {"algorithm_type": "sde-dpmsolver++", "use_exponential_sigmas": True}),
    ("Euler a", "Automatic", "Automatic", {}),
    ("Euler", "Karras", "Karras", {"use_karras_sigmas": True}),
    ("DPM++ 2M", "Uniform", "Uniform", {}),
    ("PLMS", "automatic", "Automatic", {"skip_prk_steps": True}),
])
def test_resolution(sampler, schedule, label, overrides):
    resolved = default_sampler_table().resolve(sampler, schedule)
    assert resolved.schedule_label == label
    assert dict(resolved.config_overrides) == overrides


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


def test_unknown_or_impossible_schedule_is_an_error():
    table = default_sampler_table()
    with pytest.raises(ValueError, match="valid schedule types: Automatic, Uniform, Karras"):
        table.resolve("Euler", "Polyexponential")
    with pytest.raises(ValueError, match="'Euler a' cannot use schedule type 'Karras'; allowed: Automatic, Uniform"):
        table.resolve("Euler a", "Karras")


def test_duplicate_names_are_refused():
    spec = SamplerSpec("X", "EulerDiscreteScheduler", aliases=("x_alias",))
    with pytest.raises(ValueError, match="registered twice"):
        SamplerTable([spec, SamplerSpec("x_alias", "EulerDiscreteScheduler")], [ScheduleType("automatic", "Automatic")])
