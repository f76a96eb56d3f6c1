"""fp8 weight storage (A1111's `fp8_storage`/`cache_fp16_weight`) on the tiny model, on the CPU: stored dtype,
compute dtype, a LoRA on top, and switching back to "Disable" giving the exact weights a plain load gives."""

from __future__ import annotations

import pytest
import torch

from tests.support.networks import write_kohya_lora
from webui.engine.lora import LoraToApply, applied_loras
from webui.model_manager.checkpoint_files import CheckpointReaders
from webui.model_manager.manager import ModelManager, ModelSources
from webui.model_manager.memory_policy import DeviceInfo, PrecisionFlags, plan_memory
from webui.model_manager.weight_storage import FP8_DTYPE, resident_bytes


class CountingReaders(CheckpointReaders):
    """Counts whole-file reads, to tell a rebuild from the RAM copy from one that read the file again."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    def read_state_dict(self, path):
        self.reads += 1
        return super().read_state_dict(path)


def manager_for(checkpoint, fp8_storage="Disable", cache_fp16_weight=False):
    readers = CountingReaders()
    plan = plan_memory(DeviceInfo("cpu"), PrecisionFlags(fp8_storage=fp8_storage, cache_fp16_weight=cache_fp16_weight))
    manager = ModelManager(ModelSources((checkpoint.parent,)), plan, None, readers=readers)
    manager.refresh()
    manager.load(checkpoint.name)
    return manager, readers


def unet_state(manager) -> dict[str, torch.Tensor]:
    return {key: value.detach().clone() for key, value in manager.loaded.pipeline.unet.state_dict().items()}


def denoise_once(pipeline) -> torch.Tensor:
    """One UNet call on fixed inputs, in the UNet's compute dtype (what every sampling step does)."""
    generator = torch.Generator().manual_seed(0)
    unet = pipeline.unet
    latents = torch.randn(1, unet.config.in_channels, 8, 8, generator=generator)
    context = torch.randn(1, 77, unet.config.cross_attention_dim, generator=generator)
    with torch.inference_mode():
        return unet(latents, 10, encoder_hidden_states=context).sample


@pytest.fixture(scope="module")
def plain(tiny_checkpoint):
    """A manager loaded with fp8 "Disable" (switched back and forth by the round-trip test), its UNet weights
    and one denoising step's output as loaded."""
    manager, readers = manager_for(tiny_checkpoint)
    return manager, readers, unet_state(manager), denoise_once(manager.loaded.pipeline)


@pytest.fixture(scope="module")
def fp8_manager(tiny_checkpoint):
    return manager_for(tiny_checkpoint, "Enable")[0]


def test_fp8_stores_linear_and_conv_weights_in_fp8_and_computes_in_the_plan_dtype(fp8_manager, plain):
    unet = fp8_manager.loaded.pipeline.unet
    dtypes = {name: parameter.dtype for name, parameter in unet.named_parameters()}
    assert dtypes["conv_in.weight"] == dtypes["mid_block.attentions.0.transformer_blocks.0.attn1.to_q.weight"] \
        == FP8_DTYPE
    assert dtypes["conv_norm_out.weight"] == torch.float32  # diffusers keeps norms unquantised
    assert unet.dtype == torch.float32                      # diffusers reports the compute dtype
    out = denoise_once(fp8_manager.loaded.pipeline)
    assert out.dtype == torch.float32
    reference = plain[3]
    assert not torch.equal(out, reference) and torch.allclose(out, reference, atol=0.25)  # quantised, close
    fp16_bytes = sum(tensor.numel() * 2 for tensor in plain[2].values())  # the same UNet in fp16
    assert resident_bytes(unet) <= 0.55 * fp16_bytes
    assert fp8_manager.plan.infotext_fp8 == (("FP8 weight", "Enable"), ("Cache FP16 weight for LoRA", "False"))
    assert fp8_manager.cache.total_bytes() < plain[0].cache.total_bytes()  # the RAM cache holds fp8 too


def test_a_lora_applies_on_fp8_weights_and_leaves_them_as_they_were(fp8_manager, tmp_path):
    import safetensors.torch

    pipeline = fp8_manager.loaded.pipeline
    before, stored = denoise_once(pipeline), unet_state(fp8_manager)
    lora_file = write_kohya_lora(pipeline, tmp_path / "style.safetensors", text_encoder=False)
    lora = LoraToApply("style", safetensors.torch.load_file(str(lora_file)), te_weight=1.0, unet_weight=1.0)
    with applied_loras(pipeline, [lora]):
        with_lora = denoise_once(pipeline)
    assert not torch.allclose(with_lora, before, atol=1e-3)
    after = unet_state(fp8_manager)
    assert after.keys() == stored.keys()
    assert all(after[key].dtype == stored[key].dtype and torch.equal(after[key].float(), stored[key].float())
               for key in stored)
    assert torch.equal(denoise_once(pipeline), before)


def test_switching_back_to_disable_restores_the_weights_bit_for_bit(plain):
    manager, readers, weights, output = plain
    for cache_fp16_weight, file_reads in ((False, 1), (True, 0)):
        assert manager.set_weight_storage("Enable", cache_fp16_weight)
        assert manager.loaded.pipeline.unet.conv_in.weight.dtype == FP8_DTYPE
        assert manager.plan.infotext_fp8[1] == ("Cache FP16 weight for LoRA", str(cache_fp16_weight))
        kept = manager.cache.total_bytes()
        reads = readers.reads
        assert manager.set_weight_storage("Disable", cache_fp16_weight)
        assert readers.reads - reads == file_reads  # the RAM copy when it was kept, else the file again
        restored = unet_state(manager)
        assert restored.keys() == weights.keys()
        assert all(restored[key].dtype == weights[key].dtype and torch.equal(restored[key], weights[key])
                   for key in restored)
        assert not manager.plan.fp8_weights and manager.plan.infotext_fp8 == ()
        if cache_fp16_weight:  # fp8 plus the unquantised copy costs more RAM than the unquantised weights alone
            assert kept > manager.cache.total_bytes()
    assert torch.equal(denoise_once(manager.loaded.pipeline), output)
    assert not manager.set_weight_storage("Disable", False)  # nothing changes, nothing is rebuilt


def test_images_made_with_fp8_carry_a1111s_keys(fp8_manager, loaded_manager):
    from webui.engine.generate import GenerationEngine, InfotextOptions
    from webui.engine.request import GenerationRequest
    from webui.engine.samplers import default_sampler_table

    request = GenerationRequest(prompt="a cat", sampler_name="Euler", steps=1, width=64, height=64, seed=3)
    with_fp8 = GenerationEngine(fp8_manager, default_sampler_table()).generate(request, InfotextOptions())
    assert "FP8 weight: Enable, Cache FP16 weight for LoRA: False" in with_fp8.images[0].infotext
    without = GenerationEngine(loaded_manager, default_sampler_table()).generate(request, InfotextOptions())
    assert "FP8 weight" not in without.images[0].infotext  # A1111 writes the keys only while fp8 is on
