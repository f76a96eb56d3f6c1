"""Write diffusers SD 1.x components as an A1111 single file (CompVis/LDM key layout).

diffusers ships the LDM → diffusers direction (`convert_ldm_*`) but not the reverse for arbitrary sizes, and we
need it: the embedded demo model, the test fixtures, and later checkpoint convert/merge all write real A1111
files. The mapping walks the UNet's block structure from its config, so it works for SD 1.5 and for tiny test
models alike; tests check it round-trips exactly through diffusers' own converters.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping
from pathlib import Path

import safetensors.torch
import torch

from webui.config.atomic import write_atomically

UNET_PREFIX = "model.diffusion_model."
VAE_PREFIX = "first_stage_model."
CLIP_PREFIX = "cond_stage_model.transformer.text_model."

UNET_TOP_LEVEL = {
    "time_embedding.linear_1": "time_embed.0", "time_embedding.linear_2": "time_embed.2",
    "conv_in": "input_blocks.0.0", "conv_norm_out": "out.0", "conv_out": "out.2",
}
UNET_RESNET_RENAMES = (("norm1", "in_layers.0"), ("conv1", "in_layers.2"), ("norm2", "out_layers.0"),
                       ("conv2", "out_layers.3"), ("time_emb_proj", "emb_layers.1"),
                       ("conv_shortcut", "skip_connection"))
VAE_ATTENTION_RENAMES = {"group_norm": "norm", "to_q": "q", "to_k": "k", "to_v": "v", "to_out.0": "proj_out"}


def _rename_resnet(rest: str) -> str:
    for diffusers_name, ldm_name in UNET_RESNET_RENAMES:
        if rest.startswith(diffusers_name + "."):
            return ldm_name + rest[len(diffusers_name):]
    raise KeyError(f"unexpected UNet resnet tensor {rest!r}")


def _unet_key(key: str, layers_per_block: int, up_blocks_with_attention: set[int]) -> str:
    parts = key.split(".")
    stride = layers_per_block + 1
    for diffusers_name, ldm_name in UNET_TOP_LEVEL.items():
        if key.startswith(diffusers_name + "."):
            return ldm_name + key[len(diffusers_name):]
    kind, block = parts[0], int(parts[1]) if parts[0] in ("down_blocks", "up_blocks") else 0
    if kind == "mid_block":
        index = {"resnets.0": 0, "attentions.0": 1, "resnets.1": 2}[".".join(parts[1:3])]
        rest = ".".join(parts[3:])
        return f"middle_block.{index}." + (_rename_resnet(rest) if parts[1] == "resnets" else rest)
    sub, layer, rest = parts[2], int(parts[3]), ".".join(parts[4:])
    if kind == "down_blocks":
        if sub == "downsamplers":
            return f"input_blocks.{(block + 1) * stride}.0.op.{rest.removeprefix('conv.')}"
        slot = 1 + block * stride + layer
        if sub == "resnets":
            return f"input_blocks.{slot}.0.{_rename_resnet(rest)}"
        return f"input_blocks.{slot}.1.{rest}"
    if kind == "up_blocks":
        if sub == "upsamplers":
            position = 2 if block in up_blocks_with_attention else 1
            return f"output_blocks.{block * stride + layers_per_block}.{position}.{rest}"
        slot = block * stride + layer
        if sub == "resnets":
            return f"output_blocks.{slot}.0.{_rename_resnet(rest)}"
        return f"output_blocks.{slot}.1.{rest}"
    raise KeyError(f"unexpected UNet tensor {key!r}")


def unet_to_ldm(unet_state: Mapping[str, torch.Tensor], config: Mapping) -> dict[str, torch.Tensor]:
    with_attention = {index for index, kind in enumerate(config["up_block_types"]) if "CrossAttn" in kind}
    layers = int(config["layers_per_block"])
    return {UNET_PREFIX + _unet_key(key, layers, with_attention): value for key, value in unet_state.items()}


def _vae_key(key: str, block_count: int) -> tuple[str, bool]:
    """LDM name of one VAE tensor, and whether it is an attention weight stored as a 1×1 conv in LDM."""
    key = key.replace("conv_norm_out", "norm_out").replace("conv_shortcut", "nin_shortcut")
    parts = key.split(".")
    if len(parts) > 2 and parts[1] == "mid_block":
        if parts[2] == "resnets":
            return f"{parts[0]}.mid.block_{int(parts[3]) + 1}." + ".".join(parts[4:]), False
        rest = ".".join(parts[4:])
        for diffusers_name, ldm_name in VAE_ATTENTION_RENAMES.items():
            if rest.startswith(diffusers_name + "."):
                rest = ldm_name + rest[len(diffusers_name):]
        return f"{parts[0]}.mid.attn_1.{rest}", rest.endswith("weight") and not rest.startswith("norm")
    if len(parts) > 2 and parts[1] in ("down_blocks", "up_blocks"):
        block = int(parts[2]) if parts[1] == "down_blocks" else block_count - 1 - int(parts[2])
        level = "down" if parts[1] == "down_blocks" else "up"
        if parts[3] == "resnets":
            return f"{parts[0]}.{level}.{block}.block.{parts[4]}." + ".".join(parts[5:]), False
        sampler = "downsample" if level == "down" else "upsample"
        return f"{parts[0]}.{level}.{block}.{sampler}." + ".".join(parts[5:]), False
    return key, False


def vae_to_ldm(vae_state: Mapping[str, torch.Tensor], config: Mapping) -> dict[str, torch.Tensor]:
    block_count = len(config["block_out_channels"])
    converted = {}
    for key, value in vae_state.items():
        ldm_key, is_conv_attention = _vae_key(key, block_count)
        converted[VAE_PREFIX + ldm_key] = value[:, :, None, None] if is_conv_attention else value
    return converted


def text_encoder_to_ldm(text_state: Mapping[str, torch.Tensor], max_positions: int) -> dict[str, torch.Tensor]:
    converted = {CLIP_PREFIX + key.removeprefix("text_model."): value for key, value in text_state.items()}
    converted[CLIP_PREFIX + "embeddings.position_ids"] = torch.arange(max_positions).unsqueeze(0)  # as real files carry
    return converted


def noise_schedule_tensors(beta_start: float, beta_end: float, timesteps: int) -> dict[str, torch.Tensor]:
    """`betas`/`alphas_cumprod` as the CompVis LatentDiffusion object stores them (scaled-linear schedule)."""
    betas = torch.linspace(beta_start ** 0.5, beta_end ** 0.5, timesteps, dtype=torch.float64) ** 2
    alphas_cumprod = torch.cumprod(1.0 - betas, dim=0)
    previous = torch.cat([torch.ones(1, dtype=torch.float64), alphas_cumprod[:-1]])
    return {"betas": betas.float(), "alphas_cumprod": alphas_cumprod.float(), "alphas_cumprod_prev": previous.float()}


def canonical_header(payload: bytes) -> bytes:
    """The same file with its JSON header's keys sorted.

    safetensors writes the `__metadata__` entries in hash-map order, which changes from run to run, so the same
    tensors and metadata would give different bytes and a different model hash each time. Sorting keeps every
    character (so the header keeps its length and all data offsets stay valid) and makes the file reproducible."""
    (length,) = struct.unpack("<Q", payload[:8])
    header = json.loads(payload[8:8 + length])
    canonical = json.dumps(header, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode("utf-8")
    if len(canonical) > length:  # cannot happen for the same characters; keep the library's bytes if it ever does
        return payload
    return payload[:8] + canonical.ljust(length, b" ") + payload[8 + length:]


def save_single_file(path: Path, state_dict: Mapping[str, torch.Tensor], metadata: Mapping[str, str]) -> None:
    """Save as .safetensors atomically (never rewriting a file that may be memory-mapped in place), with a
    canonical header so the same weights always give the same bytes and hash."""
    tensors = {key: value.detach().contiguous().cpu() for key, value in state_dict.items()}
    payload = canonical_header(safetensors.torch.save(tensors, metadata=dict(metadata)))
    write_atomically(path, lambda stream: stream.write(payload))
