"""The 4 GB card's plan as a pure function: fp8 storage by VRAM and by A1111's setting, group offload between model
and sequential offload, bf16 on CPUs that run it natively, and what each decision tells the user."""

from __future__ import annotations

import pytest

from webui.model_manager.memory_policy import (
    DeviceInfo,
    MemoryPolicyError,
    PrecisionFlags,
    cpu_flags_from_cpuinfo,
    cpu_has_fast_bf16,
    leaner_plan,
    plan_memory,
    with_weight_storage,
)
from webui.model_manager.weight_storage import group_offload_settings


def card(vram_mb: int) -> DeviceInfo:
    return DeviceInfo("cuda", "test card", vram_mb)


@pytest.mark.parametrize("vram_mb, offload, fp8, attention", [
    (1536, "sequential", True, "sliced"),
    (2048, "sequential", True, "sliced"),
    (2560, "group", True, "sliced"),
    (3018, "group", True, "sliced"),      # what a "3 GB" card reports
    (3072, "model", True, "sdpa"),
    (4096, "model", True, "sdpa"),
    (4608, "model", False, "sdpa"),
    (6144, "none", False, "sdpa"),
    (8192, "none", False, "sdpa"),
])
def test_policy_table_with_group_offload_and_fp8(vram_mb, offload, fp8, attention):
    plan = plan_memory(card(vram_mb), PrecisionFlags())
    assert (plan.offload, plan.fp8_weights, plan.attention, plan.unet_dtype) == (offload, fp8, attention, "fp16")
    if offload == "group":
        assert f"{vram_mb} MB VRAM: group offload (blocks prefetched on a CUDA stream)" in plan.reasons
    if fp8:
        assert f"{vram_mb} MB VRAM: fp8 weight storage (--no-auto-fp8 to keep fp16)" in plan.reasons
        assert "unet fp16 (weights stored fp8)" in plan.describe()


@pytest.mark.parametrize("device, flags, fp8", [
    (DeviceInfo("cpu"), PrecisionFlags(fp8_storage="Enable"), True),          # halves RAM on the CPU too
    (DeviceInfo("cpu"), PrecisionFlags(), False),
    (card(8192), PrecisionFlags(fp8_storage="Enable"), True),
    (card(4096), PrecisionFlags(fp8_storage="Enable for SDXL"), False),     # A1111: SDXL only; these are SD 1.x
    (card(4096), PrecisionFlags(no_auto_fp8=True), False),
    (card(4096), PrecisionFlags(no_auto_fp8=True, fp8_storage="Enable"), True),
])
def test_fp8_follows_a1111s_setting_and_the_4gb_default(device, flags, fp8):
    assert plan_memory(device, flags).fp8_weights is fp8


def test_an_unknown_fp8_storage_value_names_the_allowed_ones():
    with pytest.raises(MemoryPolicyError, match="'On' is not one of Disable, Enable for SDXL, Enable"):
        plan_memory(DeviceInfo("cpu"), PrecisionFlags(fp8_storage="On"))


def test_changing_the_setting_changes_only_the_storage():
    plan = plan_memory(card(8192), PrecisionFlags())
    enabled = with_weight_storage(plan, "Enable", cache_fp16_weight=True)
    assert (enabled.fp8_weights, enabled.cache_fp16_weight, enabled.offload) == (True, True, "none")
    assert enabled.infotext_fp8 == (("FP8 weight", "Enable"), ("Cache FP16 weight for LoRA", "True"))
    disabled = with_weight_storage(enabled, "Disable", cache_fp16_weight=True)
    assert disabled.fp8_weights is False and disabled.infotext_fp8 == () and disabled.reasons == plan.reasons
    small = plan_memory(card(4096), PrecisionFlags())
    assert with_weight_storage(small, "Disable", False).fp8_weights  # the 4 GB default stays, without the flag
    assert not with_weight_storage(small, "Disable", False, no_auto_fp8=True).fp8_weights


def test_out_of_memory_goes_model_then_group_then_sequential_offload():
    plan = plan_memory(card(4096), PrecisionFlags())
    offloads = []
    while (plan := leaner_plan(plan)) is not None:
        offloads.append(plan.offload)
    assert offloads[-2:] == ["group", "sequential"] and plan is None


def test_group_offload_uses_a_stream_only_on_cuda():
    cuda, cpu = group_offload_settings("cuda"), group_offload_settings("cpu")
    assert (cuda.use_stream, cuda.non_blocking, cuda.offload_type, cuda.num_blocks_per_group) == \
        (True, True, "block_level", 1)
    assert (cpu.use_stream, cpu.non_blocking, cpu.onload_device, cpu.offload_device) == (False, False, "cpu", "cpu")


CPUINFO_AMX = "processor\t: 0\nflags\t\t: fpu sse avx2 avx512f avx512_bf16 amx_bf16 amx_tile\n\nprocessor\t: 1\n"
CPUINFO_AVX2 = "processor\t: 0\nmodel name\t: AMD EPYC\nflags\t\t: fpu sse avx avx2 fma\n"


def test_cpu_flags_are_read_from_cpuinfo_text():
    assert {"avx512_bf16", "amx_bf16"} <= cpu_flags_from_cpuinfo(CPUINFO_AMX)
    assert cpu_has_fast_bf16(cpu_flags_from_cpuinfo(CPUINFO_AMX))
    assert not cpu_has_fast_bf16(cpu_flags_from_cpuinfo(CPUINFO_AVX2))
    assert cpu_flags_from_cpuinfo("") == frozenset()


def test_bf16_on_cpus_that_run_it_natively_and_no_half_forces_fp32():
    fast = DeviceInfo("cpu", cpu_flags=cpu_flags_from_cpuinfo(CPUINFO_AMX))
    plan = plan_memory(fast, PrecisionFlags())
    assert (plan.unet_dtype, plan.text_encoder_dtype, plan.vae_dtype) == ("bf16", "bf16", "fp32")
    assert "CPU with amx_bf16, avx512_bf16: bf16 (vae fp32; --no-half for fp32)" in plan.reasons
    for forced in (PrecisionFlags(no_half=True), PrecisionFlags(precision="full")):
        assert plan_memory(fast, forced).unet_dtype == "fp32"
    slow = plan_memory(DeviceInfo("cpu", cpu_flags=cpu_flags_from_cpuinfo(CPUINFO_AVX2)), PrecisionFlags())
    assert slow.unet_dtype == "fp32" and "CPU without AVX-512 BF16/AMX: fp32" in slow.reasons
