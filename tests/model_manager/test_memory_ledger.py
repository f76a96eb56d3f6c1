"""The memory ledger: the estimate for the next job by plan (pure), and the ledger/footer text from a live model."""

from dataclasses import replace
from types import SimpleNamespace

import pytest

from webui.model_manager.memory_estimate import estimate_job
from webui.model_manager.memory_policy import DeviceInfo, PrecisionFlags, plan_memory

SD15_BYTES = {"unet": 1_719_000_000, "text_encoder": 246_000_000, "vae": 167_000_000}  # fp16


def card_plan(vram_mb: int, **changes):
    return replace(plan_memory(DeviceInfo("cuda", "card", vram_mb), PrecisionFlags()), **changes)


def test_leaner_offload_keeps_fewer_weights_on_the_card_but_moves_them_every_step():
    estimates = {offload: estimate_job(card_plan(8192, offload=offload), SD15_BYTES, 512, 512)
                 for offload in ("none", "model", "group", "sequential")}
    weights = [estimates[offload].weights_mb for offload in ("none", "model", "group", "sequential")]
    assert weights == sorted(weights, reverse=True) and weights[0] > 2000
    assert estimates["none"].traffic_per_step_mb == estimates["model"].traffic_per_step_mb == 0
    assert estimates["model"].traffic_per_job_mb > 2000
    assert estimates["group"].traffic_per_step_mb == pytest.approx(SD15_BYTES["unet"] / 2**20)
    assert "each step copies 1639 MB of UNet weights" in estimates["group"].slow_step_reason()
    assert "no offload traffic" in estimates["none"].slow_step_reason()


def test_larger_images_and_batches_need_more_and_tiling_caps_the_decode():
    plan = card_plan(8192)
    small, large = estimate_job(plan, SD15_BYTES, 512, 512), estimate_job(plan, SD15_BYTES, 768, 768)
    assert large.unet_activations_mb == pytest.approx(small.unet_activations_mb * 2.25)
    assert estimate_job(plan, SD15_BYTES, 512, 512, batch_size=2).peak_mb > small.peak_mb
    tiled = estimate_job(replace(plan, vae_tiling=True), SD15_BYTES, 1024, 1024)
    assert tiled.vae_decode_mb == pytest.approx(small.vae_decode_mb)
    with pytest.raises(ValueError, match="size 0x512 and batch 1 must be positive"):
        estimate_job(plan, SD15_BYTES, 0, 512)


def test_the_4gb_plan_fits_its_card_by_the_estimate():
    plan = plan_memory(DeviceInfo("cuda", "card", 4096), PrecisionFlags())
    fp8_bytes = {**SD15_BYTES, "unet": SD15_BYTES["unet"] // 2}
    assert estimate_job(plan, fp8_bytes, 512, 512).peak_mb < 4096


def test_ledger_and_footer_show_each_component_where_it_lives(loaded_manager):
    from webui.ui.memory_ledger import footer_text, ledger_markdown

    app = SimpleNamespace(models=loaded_manager)
    ledger = ledger_markdown(app)
    assert "| UNet | cpu | float32 |" in ledger and "| VAE | cpu | float32 |" in ledger
    assert "RAM cache (1 checkpoint(s))" in ledger and "| 768×768 |" in ledger
    assert "Step speed: no offload traffic" in ledger
    footer = footer_text(app)
    assert footer.startswith("Memory plan: cpu: unet fp32") and "512² needs ≈" in footer
