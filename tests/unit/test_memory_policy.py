"""The memory/precision plan for cards we cannot test on, decided by a pure function."""

import pytest

from webui.model_manager.memory_policy import DeviceInfo, MemoryPolicyError, PrecisionFlags, plan_memory

CPU = DeviceInfo("cpu")


def cuda(vram_gb: float, xformers: bool = False) -> DeviceInfo:
    return DeviceInfo("cuda", "test card", int(vram_gb * 1024), xformers)


def test_cpu_runs_fp32_with_sdpa_and_no_offload():
    plan = plan_memory(CPU, PrecisionFlags())
    assert (plan.unet_dtype, plan.vae_dtype, plan.attention, plan.offload) == ("fp32", "fp32", "sdpa", "none")
    assert not plan.vae_slicing and not plan.vae_tiling


def test_8gb_card_is_fast_fp16_whole_model_on_the_card():
    plan = plan_memory(cuda(8), PrecisionFlags())
    assert (plan.unet_dtype, plan.text_encoder_dtype, plan.vae_dtype) == ("fp16", "fp16", "fp16")
    assert (plan.attention, plan.offload, plan.vae_slicing, plan.vae_tiling) == ("sdpa", "none", False, False)


def test_4gb_card_offloads_models_and_slices_the_vae():
    plan = plan_memory(cuda(4), PrecisionFlags())
    assert (plan.unet_dtype, plan.offload, plan.vae_slicing, plan.vae_tiling) == ("fp16", "model", True, True)


def test_2gb_card_goes_sequential_with_sliced_attention():
    plan = plan_memory(cuda(2), PrecisionFlags())
    assert (plan.offload, plan.attention) == ("sequential", "sliced")


@pytest.mark.parametrize("flags, expected", [
    (PrecisionFlags(no_half=True), ("fp32", "fp32")),
    (PrecisionFlags(precision="full"), ("fp32", "fp32")),
    (PrecisionFlags(no_half_vae=True), ("fp16", "fp32")),
])
def test_precision_flags(flags, expected):
    plan = plan_memory(cuda(8), flags)
    assert (plan.unet_dtype, plan.vae_dtype) == expected


def test_vram_flags_override_the_defaults():
    assert plan_memory(cuda(12), PrecisionFlags(medvram=True)).offload == "model"
    assert plan_memory(cuda(12), PrecisionFlags(lowvram=True)).offload == "sequential"
    assert plan_memory(cuda(8), PrecisionFlags(opt_split_attention=True)).attention == "sliced"
    assert plan_memory(cuda(2), PrecisionFlags(opt_sdp_attention=True)).attention == "sdpa"
    assert plan_memory(CPU, PrecisionFlags(medvram=True)).offload == "none"


def test_xformers_when_asked_and_present():
    assert plan_memory(cuda(6, xformers=True), PrecisionFlags(xformers=True)).attention == "xformers"
    assert plan_memory(cuda(6, xformers=True), PrecisionFlags()).attention == "sdpa"  # A1111: only when asked


def test_xformers_missing_or_on_cpu_is_a_clear_error():
    with pytest.raises(MemoryPolicyError, match="xformers is not installed"):
        plan_memory(cuda(6), PrecisionFlags(xformers=True))
    with pytest.raises(MemoryPolicyError, match="needs a CUDA device; this device is cpu"):
        plan_memory(CPU, PrecisionFlags(xformers=True))


def test_the_plan_explains_itself():
    plan = plan_memory(cuda(4), PrecisionFlags())
    assert "4096 MB VRAM: model offload" in plan.reasons
    assert plan.describe().startswith("cuda: unet fp16")


@pytest.mark.parametrize("vram_gb, offload, attention, vae_tiling", [
    (2, "sequential", "sliced", True),
    (4, "model", "sdpa", True),
    (6, "none", "sdpa", False),
    (8, "none", "sdpa", False),
    (12, "none", "sdpa", False),
    (24, "none", "sdpa", False),
])
def test_policy_table_by_vram(vram_gb, offload, attention, vae_tiling):
    plan = plan_memory(cuda(vram_gb), PrecisionFlags())
    assert (plan.unet_dtype, plan.offload, plan.attention, plan.vae_tiling) == ("fp16", offload, attention, vae_tiling)


def test_leaner_plans_go_vae_tiling_then_sliced_attention_then_offload():
    from webui.model_manager.memory_policy import leaner_plan

    plan = plan_memory(cuda(8), PrecisionFlags())
    steps = []
    while (plan := leaner_plan(plan)) is not None:
        steps.append((plan.vae_tiling, plan.attention, plan.offload))
    assert steps == [(True, "sdpa", "none"), (True, "sliced", "none"), (True, "sliced", "model"),
                     (True, "sliced", "group"), (True, "sliced", "sequential")]
    cpu_plan = leaner_plan(leaner_plan(plan_memory(CPU, PrecisionFlags())))
    assert (cpu_plan.vae_tiling, cpu_plan.attention, cpu_plan.offload) == (True, "sliced", "none")
    assert leaner_plan(cpu_plan) is None  # offloading means nothing on a CPU


def test_the_plan_carries_the_device_properties_and_where_generators_run():
    card = plan_memory(cuda(8, xformers=True), PrecisionFlags())
    assert (card.device_name, card.total_vram_mb, card.xformers_available) == ("test card", 8192, True)
    assert (card.generator_device, card.execution_device) == ("cuda", None)
    offloaded = plan_memory(cuda(4), PrecisionFlags())
    assert (offloaded.offloaded, offloaded.generator_device, offloaded.execution_device) == (True, "cpu", "cuda")
    cpu = plan_memory(CPU, PrecisionFlags())
    assert (cpu.device_name, cpu.total_vram_mb, cpu.generator_device) == ("cpu", None, "cpu")


def test_modes_are_typed_with_the_strings_everything_prints():
    from typing import get_args

    from webui.model_manager.memory_policy import ATTENTION_MODES, OFFLOAD_MODES, AttentionMode, MemoryPlan

    assert ATTENTION_MODES == get_args(AttentionMode) == ("sdpa", "xformers", "sliced", "classic")
    assert OFFLOAD_MODES == ("none", "model", "group", "sequential")
    plan = plan_memory(cuda(2), PrecisionFlags())
    assert (plan.attention, plan.offload) == ("sliced", "sequential") and plan.attention in ATTENTION_MODES
    assert "attention sliced; offload sequential" in plan.describe()
    with pytest.raises(MemoryPolicyError, match="vae dtype 'fp8' is not one of fp32, fp16, bf16"):
        MemoryPlan("cpu", "fp32", "fp32", "fp8", "sdpa", "none", False, False)
