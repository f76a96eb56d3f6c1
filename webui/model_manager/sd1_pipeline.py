"""Build a diffusers `StableDiffusionPipeline` from an A1111 SD 1.x single-file state dict.

Components are instantiated on the meta device (no memory, no random init), the LDM keys are converted with
diffusers' own `convert_ldm_*` functions, and the weights are attached with `load_state_dict(assign=True)`, so a
memory-mapped fp16 file becomes the parameters without an extra copy. The memory plan then decides dtype, device,
attention processor and offload through diffusers' own switches.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import torch
from diffusers import AutoencoderKL, PNDMScheduler, StableDiffusionPipeline, UNet2DConditionModel
from diffusers.loaders.single_file_utils import (
    convert_ldm_clip_checkpoint,
    convert_ldm_unet_checkpoint,
    convert_ldm_vae_checkpoint,
)
from diffusers.models.attention_processor import AttnProcessor, AttnProcessor2_0
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

from webui.model_manager.memory_policy import MemoryPlan
from webui.model_manager.safetensors_header import CheckpointFormatError
from webui.model_manager.sd1_configs import SD1Configs

log = logging.getLogger(__name__)
TORCH_DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def _attach_weights(module: torch.nn.Module, weights: Mapping[str, torch.Tensor], part: str,
                    dtype: torch.dtype) -> None:
    """Attach converted weights in `dtype` (a no-op view when the file already has it: fp16 on CUDA); any missing
    or unexpected key means the file is not this architecture."""
    typed = {key: value.to(dtype) if value.is_floating_point() else value for key, value in weights.items()}
    result = module.load_state_dict(typed, strict=False, assign=True)
    if result.missing_keys or result.unexpected_keys:
        raise CheckpointFormatError(
            f"the {part} weights do not match the SD 1.x {part} architecture: "
            f"{len(result.missing_keys)} missing (e.g. {result.missing_keys[:3]}), "
            f"{len(result.unexpected_keys)} unexpected (e.g. {result.unexpected_keys[:3]}); "
            "a <name>.yaml beside the checkpoint can describe a non-standard architecture")
    still_meta = [name for name, tensor in [*module.named_parameters(), *module.named_buffers()] if tensor.is_meta]
    if still_meta:
        raise CheckpointFormatError(f"the {part} has tensors the checkpoint does not provide: {still_meta[:5]}")


def _text_encoder_weights(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """transformers 5's CLIPTextModel has no `text_model.` level; the LDM keys do."""
    converted = convert_ldm_clip_checkpoint(state_dict)
    weights = {key.removeprefix("text_model."): value for key, value in converted.items()}
    weights.pop("embeddings.position_ids", None)  # a non-persistent buffer in transformers 5; rebuilt below
    return weights


def _build_text_encoder(config: Mapping[str, Any], state_dict: Mapping[str, torch.Tensor],
                        dtype: torch.dtype) -> CLIPTextModel:
    with torch.device("meta"):
        model = CLIPTextModel(CLIPTextConfig(**config))
    positions = int(config["max_position_embeddings"])
    model.embeddings.register_buffer("position_ids", torch.arange(positions).expand((1, -1)), persistent=False)
    _attach_weights(model, _text_encoder_weights(state_dict), "text encoder", dtype)
    return model


def build_components(configs: SD1Configs, state_dict: Mapping[str, torch.Tensor],
                     plan: MemoryPlan) -> dict[str, torch.nn.Module]:
    """UNet, VAE and text encoder holding the checkpoint's tensors, each in the dtype the plan chose."""
    with torch.device("meta"):
        unet = UNet2DConditionModel.from_config(dict(configs.unet))
        vae = AutoencoderKL.from_config(dict(configs.vae))
    unet_weights = convert_ldm_unet_checkpoint(state_dict, dict(configs.unet))
    _attach_weights(unet, unet_weights, "UNet", TORCH_DTYPES[plan.unet_dtype])
    vae_weights = convert_ldm_vae_checkpoint(state_dict, dict(configs.vae))
    _attach_weights(vae, vae_weights, "VAE", TORCH_DTYPES[plan.vae_dtype])
    text_encoder = _build_text_encoder(configs.text_encoder, state_dict, TORCH_DTYPES[plan.text_encoder_dtype])
    return {"unet": unet, "vae": vae, "text_encoder": text_encoder}


def apply_memory_plan(pipeline: StableDiffusionPipeline, plan: MemoryPlan) -> None:
    """Device, attention and offload, each through diffusers' own switch (dtypes were set when loading)."""
    if plan.attention == "xformers":
        pipeline.enable_xformers_memory_efficient_attention()
    elif plan.attention == "sliced":
        pipeline.enable_attention_slicing()
    elif plan.attention == "classic":
        pipeline.unet.set_attn_processor(AttnProcessor())
    else:
        pipeline.unet.set_attn_processor(AttnProcessor2_0())
    if plan.vae_slicing:
        pipeline.vae.enable_slicing()
    if plan.vae_tiling:
        pipeline.vae.enable_tiling()
    if plan.offload == "model":
        pipeline.enable_model_cpu_offload()
    elif plan.offload == "sequential":
        pipeline.enable_sequential_cpu_offload()
    else:
        pipeline.to(plan.device)


def build_pipeline(configs: SD1Configs, state_dict: Mapping[str, torch.Tensor], tokenizer: CLIPTokenizer,
                   plan: MemoryPlan) -> StableDiffusionPipeline:
    components = build_components(configs, state_dict, plan)
    pipeline = StableDiffusionPipeline(
        **components, tokenizer=tokenizer, scheduler=PNDMScheduler.from_config(dict(configs.scheduler)),
        safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    )
    pipeline.set_progress_bar_config(disable=True)
    apply_memory_plan(pipeline, plan)
    log.info("built SD 1.x pipeline (configs: %s) with %s", configs.source, plan.describe())
    return pipeline
