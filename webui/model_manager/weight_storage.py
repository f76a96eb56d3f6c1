"""fp8 weight storage and group offload: the 4 GB card's two levers, each through diffusers' own seam.

fp8 (A1111's `fp8_storage`): the UNet's Linear/Conv weights are kept as `float8_e4m3fn` (1 byte per weight, half of
fp16) and diffusers' layerwise casting (`ModelMixin.enable_layerwise_casting`) casts each layer up to the compute
dtype just for its forward. Which tensors diffusers stores in fp8 is diffusers' decision (its default skip patterns:
norms, `proj_in`/`proj_out`, position/patch embeddings, and PEFT's LoRA layers, which stay in the compute dtype);
`fp8_keys` asks diffusers itself, by enabling layerwise casting on a weightless (meta) copy of the UNet and reading
back which tensors became fp8, so the prepared weights in the RAM cache are cast exactly as the live model will
hold them and no second copy is made. Why only the UNet: it is 86% of an SD 1.5 checkpoint's weights; the text
encoder's token embedding is what textual inversion extends, and the VAE is not cast in A1111 either.

fp8 → fp16/bf16/fp32 is exact (every fp8 value is representable), so a layer computes with precisely the
quantised weights each step. The other way loses precision, which is why switching back to "Disable" never
up-casts: it rebuilds from the unquantised copy (`cache_fp16_weight`) or from the file.

Group offload: blocks move to the card as groups, the next one prefetched on a CUDA stream while the current one
runs; `group_offload_settings` is the pure decision of its arguments (tested on the CPU, used on CUDA).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from diffusers import UNet2DConditionModel
from diffusers.hooks.layerwise_casting import _is_layerwise_casting_active

FP8_DTYPE = torch.float8_e4m3fn
KeysOf = Callable[[Mapping[str, Any], torch.dtype], frozenset[str]]
GROUP_OFFLOAD_BLOCKS_PER_GROUP = 1   # one down/up block per group: the least VRAM, prefetch hides the transfers


class Fp8Keys:
    """`fp8_keys` remembered per UNet config (building even a weightless UNet costs ~0.1–0.8 s); one per manager."""

    def __init__(self) -> None:
        self._known: dict[str, frozenset[str]] = {}

    def __call__(self, unet_config: Mapping[str, Any], compute_dtype: torch.dtype) -> frozenset[str]:
        key = json.dumps(dict(unet_config), sort_keys=True, default=str) + str(compute_dtype)
        if key not in self._known:
            self._known[key] = fp8_keys(unet_config, compute_dtype)
        return self._known[key]


def fp8_keys(unet_config: Mapping[str, Any], compute_dtype: torch.dtype) -> frozenset[str]:
    """The UNet state-dict keys diffusers' layerwise casting stores in fp8 for this config (no weights touched)."""
    with torch.device("meta"):
        unet = UNet2DConditionModel.from_config(dict(unet_config))
    unet.enable_layerwise_casting(storage_dtype=FP8_DTYPE, compute_dtype=compute_dtype)
    return frozenset(key for key, tensor in unet.state_dict().items() if tensor.dtype == FP8_DTYPE)


def cast_to_fp8(weights: Mapping[str, torch.Tensor], keys: frozenset[str]) -> dict[str, torch.Tensor]:
    """`weights` with the tensors named by `keys` stored as fp8 (new tensors; the others are shared)."""
    return {key: value.to(FP8_DTYPE) if key in keys else value for key, value in weights.items()}


def enable_fp8_storage(unet: UNet2DConditionModel, compute_dtype: torch.dtype) -> None:
    """Hook layerwise casting into a live UNet once (a second call, e.g. from a leaner plan, would stack hooks;
    diffusers' own check says whether they are there: its weights may be fp8 already, assigned from the cache)."""
    if _is_layerwise_casting_active(unet):
        return
    unet.enable_layerwise_casting(storage_dtype=FP8_DTYPE, compute_dtype=compute_dtype)


def is_fp8_stored(module: torch.nn.Module) -> bool:
    return any(parameter.dtype == FP8_DTYPE for parameter in module.parameters())


def lift_fp8_adapters(module: torch.nn.Module, compute_dtype: torch.dtype) -> int:
    """Cast LoRA adapter weights PEFT created in fp8 (it gives a new adapter its base layer's dtype) to the compute
    dtype, so they are never quantised (A1111's `cache_fp16_weight` exists for that quality) and can run at all
    (fp8 has no CPU matmul). Returns how many tensors were cast; call it after loading adapters."""
    lifted = 0
    for name, parameter in module.named_parameters():
        if parameter.dtype == FP8_DTYPE and ".lora_" in name:
            parameter.data = parameter.data.to(compute_dtype)
            lifted += 1
    return lifted


def resident_bytes(module: torch.nn.Module) -> int:
    """What the module's weights occupy as stored (fp8 tensors count one byte each)."""
    tensors = [*module.parameters(), *module.buffers()]
    return sum(tensor.numel() * tensor.element_size() for tensor in tensors)


def placement(module: torch.nn.Module) -> dict[tuple[str, str], int]:
    """Stored bytes of the module's weights by (device type, dtype): where each part of it lives right now."""
    where: dict[tuple[str, str], int] = {}
    for tensor in [*module.parameters(), *module.buffers()]:
        key = (tensor.device.type, str(tensor.dtype).removeprefix("torch."))
        where[key] = where.get(key, 0) + tensor.numel() * tensor.element_size()
    return where


@dataclass(frozen=True)
class GroupOffloadSettings:
    onload_device: str
    offload_device: str
    offload_type: str
    num_blocks_per_group: int
    use_stream: bool          # prefetch the next group on a CUDA stream (CUDA only)
    non_blocking: bool
    record_stream: bool


def group_offload_settings(device: str) -> GroupOffloadSettings:
    """The arguments of diffusers' `enable_group_offload` for a plan's device: streams and non-blocking copies
    exist only on CUDA (on the CPU the call still works, with nothing to overlap, which is how it is tested)."""
    on_cuda = device == "cuda"
    return GroupOffloadSettings(onload_device=device, offload_device="cpu", offload_type="block_level",
                                num_blocks_per_group=GROUP_OFFLOAD_BLOCKS_PER_GROUP, use_stream=on_cuda,
                                non_blocking=on_cuda, record_stream=on_cuda)


def enable_group_offload(pipeline: Any, settings: GroupOffloadSettings) -> None:
    pipeline.enable_group_offload(
        onload_device=torch.device(settings.onload_device), offload_device=torch.device(settings.offload_device),
        offload_type=settings.offload_type, num_blocks_per_group=settings.num_blocks_per_group,
        use_stream=settings.use_stream, non_blocking=settings.non_blocking, record_stream=settings.record_stream)
