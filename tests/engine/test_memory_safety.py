"""Out of memory and NaN, by fault injection through diffusers' attention-processor seam."""

import dataclasses
import random

import numpy as np
import pytest
import torch
from diffusers.models.attention_processor import AttnProcessor2_0

from webui.engine.decode import NAN_FALLBACK_NOTE
from webui.engine.generate import GenerationEngine, GenerationOutOfMemory, InfotextOptions
from webui.engine.request import GenerationRequest
from webui.engine.samplers import default_sampler_table
from webui.model_manager.manager import ModelManager, ModelSources

REQUEST = GenerationRequest(prompt="a cat", sampler_name="Euler a", steps=2, width=64, height=64, seed=3)


class RaisesOutOfMemory(AttnProcessor2_0):
    """Raises torch.OutOfMemoryError on its first call (or on every call), like a card that is too small."""

    def __init__(self, always: bool = False) -> None:
        super().__init__()
        self.always = always
        self.calls = 0

    def __call__(self, attn, hidden_states, *args, **kwargs):
        self.calls += 1
        if self.always or self.calls == 1:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB (injected)")
        return super().__call__(attn, hidden_states, *args, **kwargs)


class NaNInHalfPrecision(AttnProcessor2_0):
    """Turns the VAE's attention output into NaN in fp16 only, as a broken fp16 VAE does."""

    def __call__(self, attn, hidden_states, *args, **kwargs):
        output = super().__call__(attn, hidden_states, *args, **kwargs)
        return output * float("nan") if output.dtype == torch.float16 else output


def make_engine(tiny_checkpoint, plan):
    manager = ModelManager(ModelSources((tiny_checkpoint.parent,)), plan, hash_cache=None)
    manager.refresh()
    manager.load(tiny_checkpoint.name)
    return manager, GenerationEngine(manager, default_sampler_table(), rng=random.Random(0))


def test_unet_out_of_memory_is_retried_once_with_vae_tiling(tiny_checkpoint, cpu_plan):
    manager, engine = make_engine(tiny_checkpoint, cpu_plan)
    manager.loaded.pipeline.unet.set_attn_processor(RaisesOutOfMemory())
    result = engine.generate(REQUEST, InfotextOptions())
    assert len(result.images) == 1 and np.asarray(result.images[0].image).std() > 0
    assert result.notes == ("out of memory; retried with VAE tiling",)
    assert manager.plan.vae_tiling and manager.loaded.plan.vae_tiling  # the leaner plan stays in force


def test_vae_out_of_memory_is_retried_and_a_second_one_fails_cleanly(tiny_checkpoint, cpu_plan):
    manager, engine = make_engine(tiny_checkpoint, cpu_plan)
    manager.loaded.pipeline.vae.set_attn_processor(RaisesOutOfMemory())
    assert engine.generate(REQUEST, InfotextOptions()).notes == ("out of memory; retried with VAE tiling",)

    manager.loaded.pipeline.vae.set_attn_processor(RaisesOutOfMemory(always=True))
    with pytest.raises(GenerationOutOfMemory, match="out of memory again with cpu: .*attention sliced"):
        engine.generate(REQUEST, InfotextOptions())
    with pytest.raises(GenerationOutOfMemory, match="no leaner plan is left"):
        engine.generate(REQUEST, InfotextOptions())


def test_nan_from_an_fp16_vae_is_decoded_again_in_fp32(tiny_checkpoint, cpu_plan):
    manager, engine = make_engine(tiny_checkpoint, dataclasses.replace(cpu_plan, vae_dtype="fp16"))
    vae = manager.loaded.pipeline.vae
    assert vae.dtype == torch.float16
    vae.set_attn_processor(NaNInHalfPrecision())
    result = engine.generate(REQUEST, InfotextOptions())
    pixels = np.asarray(result.images[0].image)
    assert result.notes == (NAN_FALLBACK_NOTE,)
    assert pixels.std() > 0 and pixels.max() > 0  # NaN would have come out black
    assert vae.dtype == torch.float16  # back to half for the next job
