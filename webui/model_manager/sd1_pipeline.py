"""Turn an A1111 SD 1.x single-file state dict into a diffusers `StableDiffusionPipeline`, and hot-swap weights.

`prepare_weights` converts the LDM keys with diffusers' own `convert_ldm_*` functions and casts each component to
the dtype the memory plan runs in. `build_pipeline` instantiates the components on the meta device (no memory, no
random init) and attaches the weights with `load_state_dict(assign=True)`: the prepared tensors *become* the
parameters, with no copy. Swapping into an existing pipeline is `weight_slots.WeightSlots`' job. Dtype,
device, attention and offload go through diffusers' switches.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

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
from webui.model_manager.weight_slots import Weights
from webui.model_manager.weight_storage import (
    KeysOf,
    cast_to_fp8,
    enable_fp8_storage,
    enable_group_offload,
    fp8_keys,
    group_offload_settings,
)

log = logging.getLogger(__name__)
TORCH_DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
COMPONENTS = ("unet", "vae", "text_encoder")
PART_NAMES = {"unet": "UNet", "vae": "VAE", "text_encoder": "text encoder"}


def _text_encoder_weights(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """transformers 5's CLIPTextModel has no `text_model.` level; the LDM keys do."""
    converted = convert_ldm_clip_checkpoint(state_dict)
    weights = {key.removeprefix("text_model."): value for key, value in converted.items()}
    weights.pop("embeddings.position_ids", None)  # a non-persistent buffer in transformers 5; rebuilt on build
    return weights


def _cast(weights: Mapping[str, torch.Tensor], dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """Floating tensors in `dtype` (no copy when the file already has it, e.g. fp16 on CUDA)."""
    return {key: value.to(dtype) if value.is_floating_point() else value for key, value in weights.items()}


def prepare_weights(configs: SD1Configs, state_dict: Mapping[str, torch.Tensor], plan: MemoryPlan) -> Weights:
    """Per-component state dicts under diffusers' keys, in the plan's dtypes, ready to be assigned (the UNet's
    Linear/Conv weights in fp8 when the plan stores them so: `store_unet` does that part)."""
    weights = {
        "unet": _cast(convert_ldm_unet_checkpoint(state_dict, dict(configs.unet)), TORCH_DTYPES[plan.unet_dtype]),
        "vae": _cast(convert_ldm_vae_checkpoint(state_dict, dict(configs.vae)), TORCH_DTYPES[plan.vae_dtype]),
        "text_encoder": _cast(_text_encoder_weights(state_dict), TORCH_DTYPES[plan.text_encoder_dtype]),
    }
    return store_unet(configs, weights, plan)


def store_unet(configs: SD1Configs, weights: Weights, plan: MemoryPlan, keys_of: KeysOf = fp8_keys) -> Weights:
    """`weights` with the UNet as the plan stores it: unquantised weights (in the compute dtype) cast to fp8 where
    diffusers' layerwise casting keeps fp8; unchanged without fp8. The other components are shared, not copied."""
    if not plan.fp8_weights:
        return weights
    keys = keys_of(configs.unet, TORCH_DTYPES[plan.unet_dtype])
    return {**weights, "unet": cast_to_fp8(weights["unet"], keys)}


def _attach(module: torch.nn.Module, weights: Mapping[str, torch.Tensor], component: str) -> None:
    """Assign the weights; any missing or unexpected key means the file is not this architecture."""
    part = PART_NAMES[component]
    try:
        result = module.load_state_dict(dict(weights), strict=False, assign=True)
    except RuntimeError as error:  # torch reports shape mismatches this way
        raise CheckpointFormatError(f"the {part} weights do not fit its config: {str(error)[:300]}") from error
    if result.missing_keys or result.unexpected_keys:
        raise CheckpointFormatError(
            f"the {part} weights do not match the SD 1.x {part} architecture: "
            f"{len(result.missing_keys)} missing (e.g. {result.missing_keys[:3]}), "
            f"{len(result.unexpected_keys)} unexpected (e.g. {result.unexpected_keys[:3]}); "
            "a <name>.yaml beside the checkpoint can describe a non-standard architecture")
    still_meta = [name for name, tensor in [*module.named_parameters(), *module.named_buffers()] if tensor.is_meta]
    if still_meta:
        raise CheckpointFormatError(f"the {part} has tensors the checkpoint does not provide: {still_meta[:5]}")


def _empty_components(configs: SD1Configs) -> dict[str, torch.nn.Module]:
    with torch.device("meta"):
        unet = UNet2DConditionModel.from_config(dict(configs.unet))
        vae = AutoencoderKL.from_config(dict(configs.vae))
        text_encoder = CLIPTextModel(CLIPTextConfig(**configs.text_encoder))
    positions = int(configs.text_encoder["max_position_embeddings"])
    text_encoder.embeddings.register_buffer("position_ids", torch.arange(positions).expand((1, -1)), persistent=False)
    return {"unet": unet, "vae": vae, "text_encoder": text_encoder}


def build_components(configs: SD1Configs, weights: Weights) -> dict[str, torch.nn.Module]:
    """UNet, VAE and text encoder whose parameters are the given tensors, without gradients: nothing here trains,
    and fp8 layerwise casting replaces the UNet's weights during each forward under `torch.inference_mode`, which
    makes them inference tensors on which a grad flag can no longer be set (LoRA's restore would try)."""
    components = _empty_components(configs)
    for name in COMPONENTS:
        _attach(components[name], weights[name], name)
        components[name].requires_grad_(False)
    return components


def set_attention(pipeline: StableDiffusionPipeline, attention: str) -> None:
    """"sdpa" | "xformers" | "sliced" | "classic", through diffusers' own switches and processors."""
    if attention == "xformers":
        pipeline.enable_xformers_memory_efficient_attention()
    elif attention == "sliced":
        pipeline.enable_attention_slicing()
    elif attention == "classic":
        pipeline.unet.set_attn_processor(AttnProcessor())
    else:
        pipeline.unet.set_attn_processor(AttnProcessor2_0())


def apply_memory_plan(pipeline: StableDiffusionPipeline, plan: MemoryPlan) -> None:
    """Device, attention, fp8 storage and offload, each through diffusers' own switch (dtypes were set when
    preparing; fp8 layerwise casting is hooked before any offload hook, as diffusers combines them)."""
    set_attention(pipeline, plan.attention)
    if plan.fp8_weights:
        enable_fp8_storage(pipeline.unet, TORCH_DTYPES[plan.unet_dtype])
    if plan.vae_slicing:
        pipeline.vae.enable_slicing()
    if plan.vae_tiling:
        pipeline.vae.enable_tiling()
    if plan.offload == "model":
        pipeline.enable_model_cpu_offload()
    elif plan.offload == "group":
        pipeline.remove_all_hooks()  # after model offload (a leaner plan): diffusers refuses to stack the two
        enable_group_offload(pipeline, group_offload_settings(plan.device))
    elif plan.offload == "sequential":
        pipeline.enable_sequential_cpu_offload()
    else:
        pipeline.to(plan.device)


def build_pipeline(configs: SD1Configs, weights: Weights, tokenizer: CLIPTokenizer,
                   plan: MemoryPlan) -> StableDiffusionPipeline:
    pipeline = StableDiffusionPipeline(
        **build_components(configs, weights), tokenizer=tokenizer,
        scheduler=PNDMScheduler.from_config(dict(configs.scheduler)),
        safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    )
    pipeline.set_progress_bar_config(disable=True)
    apply_memory_plan(pipeline, plan)
    log.info("built SD 1.x pipeline (configs: %s) with %s", configs.source, plan.describe())
    return pipeline


def components_of(pipeline: StableDiffusionPipeline) -> dict[str, torch.nn.Module]:
    return {name: getattr(pipeline, name) for name in COMPONENTS}


def can_swap_into(pipeline_configs: SD1Configs, new_configs: SD1Configs, plan: MemoryPlan) -> bool:
    """Same architecture → weights can be swapped in place. Sequential and group offload keep weights inside their
    hooks (accelerate's; diffusers' pinned groups), so they always rebuild."""
    same = all(dict(getattr(pipeline_configs, part)) == dict(getattr(new_configs, part))
               for part in ("unet", "vae", "text_encoder"))
    return same and plan.offload not in ("sequential", "group")
