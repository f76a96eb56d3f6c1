"""Tiny extra-network files in the formats people download, built for the tiny test model's real layer shapes."""

from __future__ import annotations

from pathlib import Path

import safetensors.torch
import torch


def write_kohya_lora(pipeline, path: Path, seed: int = 0, rank: int = 4, text_encoder: bool = True,
                     metadata: dict[str, str] | None = None, scale: float = 0.5) -> Path:
    """A kohya-ss LoRA (`lora_unet_…`/`lora_te_…` keys with `.lora_down`, `.lora_up`, `.alpha`)."""
    generator = torch.Generator().manual_seed(seed)
    tensors: dict[str, torch.Tensor] = {}
    targets = [("lora_unet_", name, module) for name, module in pipeline.unet.named_modules()
               if isinstance(module, torch.nn.Linear) and ".attn" in name and "transformer_blocks" in name]
    if text_encoder:
        targets += [("lora_te_text_model_", name, module) for name, module in pipeline.text_encoder.named_modules()
                    if isinstance(module, torch.nn.Linear) and "self_attn" in name]
    for prefix, name, module in targets:
        key = prefix + name.replace(".", "_")
        tensors[f"{key}.lora_down.weight"] = torch.randn(rank, module.in_features, generator=generator) * scale
        tensors[f"{key}.lora_up.weight"] = torch.randn(module.out_features, rank, generator=generator) * scale
        tensors[f"{key}.alpha"] = torch.tensor(float(rank))
    safetensors.torch.save_file({k: v.contiguous() for k, v in tensors.items()}, str(path), metadata=metadata)
    return path


def write_a1111_embedding(path: Path, width: int, vectors: int = 2, seed: int = 0) -> Path:
    """A textual-inversion embedding as A1111 saves it: `.pt` with string_to_param, or `.safetensors` emb_params."""
    table = torch.randn(vectors, width, generator=torch.Generator().manual_seed(seed))
    if path.suffix == ".safetensors":
        safetensors.torch.save_file({"emb_params": table}, str(path))
    else:
        torch.save({"string_to_token": {"*": 265}, "string_to_param": {"*": table}, "name": path.stem,
                    "step": 1000, "sd_checkpoint": None, "sd_checkpoint_name": None}, path)
    return path


def write_diffusers_lora(pipeline, path: Path, seed: int = 0, rank: int = 4, scale: float = 0.5) -> Path:
    """A LoRA in diffusers/PEFT layout (`unet.<module>.lora_A.weight` / `lora_B.weight`)."""
    generator = torch.Generator().manual_seed(seed)
    tensors: dict[str, torch.Tensor] = {}
    for name, module in pipeline.unet.named_modules():
        if isinstance(module, torch.nn.Linear) and ".attn" in name and "transformer_blocks" in name:
            tensors[f"unet.{name}.lora_A.weight"] = torch.randn(rank, module.in_features, generator=generator) * scale
            tensors[f"unet.{name}.lora_B.weight"] = torch.randn(module.out_features, rank, generator=generator) * scale
    safetensors.torch.save_file(tensors, str(path))
    return path
