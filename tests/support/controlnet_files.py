"""Tiny random ControlNets for tests, written in the file layouts users have.

Built from diffusers' own `ControlNetModel.from_unet` over the tiny SD 1.x UNet (so they fit the tiny checkpoint),
with the zero-initialised output convolutions filled with seeded noise (a fresh ControlNet changes nothing), then
saved as lllyasviel's original keys (`.pth`, optionally under `control_model.`), an fp16 pruned `.safetensors`,
or a diffusers-layout single file.
"""

from __future__ import annotations

from pathlib import Path

import safetensors.torch
import torch
from diffusers import ControlNetModel

from webui.model_manager.demo import TinySD1Spec, build_tiny_components
from webui.model_manager.ldm_layout import UNET_PREFIX, unet_to_ldm

EMBEDDING_CHANNELS = (8, 8, 16, 16)
LAYOUTS = ("ldm.pth", "ldm-prefixed.pth", "ldm-fp16.safetensors", "diffusers.safetensors")


def tiny_controlnet(spec: TinySD1Spec, seed: int = 7, cross_attention_dim: int | None = None) -> ControlNetModel:
    """The tiny checkpoint's UNet encoder as a ControlNet whose zero convolutions are not zero."""
    unet = build_tiny_components(spec)[0]
    if cross_attention_dim is not None:  # e.g. an "SDXL-like" one that must be refused
        from diffusers import UNet2DConditionModel
        unet = UNet2DConditionModel(**{**spec.unet_config(), "cross_attention_dim": cross_attention_dim})
    model = ControlNetModel.from_unet(unet, conditioning_embedding_out_channels=EMBEDDING_CHANNELS)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if name.startswith(("controlnet_down_blocks", "controlnet_mid_block", "controlnet_cond_embedding")):
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.2)
    return model.eval()


def controlnet_to_ldm(model: ControlNetModel) -> dict[str, torch.Tensor]:
    """diffusers' ControlNet keys → lllyasviel's (the inverse of diffusers' convert_controlnet_checkpoint)."""
    config = dict(model.config)
    state = model.state_dict()
    encoder = {key: value for key, value in state.items()
               if key.startswith(("conv_in.", "time_embedding.", "down_blocks.", "mid_block."))}
    ldm = {key.removeprefix(UNET_PREFIX): value
           for key, value in unet_to_ldm(encoder, {**config, "up_block_types": ()}).items()}
    blocks = len(model.controlnet_cond_embedding.blocks)
    for key, value in state.items():
        parts = key.split(".")
        if parts[0] == "controlnet_down_blocks":
            ldm[f"zero_convs.{parts[1]}.0.{parts[2]}"] = value
        elif parts[0] == "controlnet_mid_block":
            ldm[f"middle_block_out.0.{parts[1]}"] = value
        elif parts[0] == "controlnet_cond_embedding":
            if parts[1] == "conv_in":
                ldm[f"input_hint_block.0.{parts[2]}"] = value
            elif parts[1] == "conv_out":
                ldm[f"input_hint_block.{2 * (blocks + 1)}.{parts[2]}"] = value
            else:
                ldm[f"input_hint_block.{2 * (int(parts[2]) + 1)}.{parts[3]}"] = value
    return ldm


def write_controlnet(path: Path, model: ControlNetModel, layout: str) -> Path:
    """Save `model` at `path` in one of LAYOUTS."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if layout == "diffusers.safetensors":
        safetensors.torch.save_file({key: value.contiguous() for key, value in model.state_dict().items()},
                                    str(path))
        return path
    state = controlnet_to_ldm(model)
    if layout == "ldm.pth":
        torch.save(state, path)
    elif layout == "ldm-prefixed.pth":
        torch.save({"state_dict": {f"control_model.{key}": value for key, value in state.items()}}, path)
    elif layout == "ldm-fp16.safetensors":
        safetensors.torch.save_file({f"control_model.{key}": value.half().contiguous()
                                     for key, value in state.items()}, str(path))
    else:
        raise ValueError(f"layout {layout!r} is not one of {LAYOUTS}")
    return path
