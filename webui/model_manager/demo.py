"""The embedded demo: a tiny SD 1.x model with random weights, written as a real A1111 single file.

With an empty `models/Stable-diffusion/`, the app writes this file (and its A1111-style `.yaml`, which describes the
small architecture) so that a fresh install serves at once. It draws coloured noise — the UI says so and how to
add a real model — but it exercises the same path a real checkpoint takes: probe, load, sample, save, infotext.
Tests build their fixtures with the same functions.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import yaml
from diffusers import AutoencoderKL, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel

from webui.config.atomic import write_atomically
from webui.model_manager import ldm_layout

DEMO_FILE_NAME = "kestrel-demo-tiny.safetensors"
DEMO_METADATA_KEY = "kestrel_demo"
SCALE_FACTOR = 0.18215
BETA_START, BETA_END, TIMESTEPS = 0.00085, 0.012, 1000


@dataclass(frozen=True)
class TinySD1Spec:
    """Sizes of a tiny SD 1.x model; 4 VAE levels keep SD's 8× latent scale so sizes behave as in real SD."""

    model_channels: int = 32
    channel_mult: tuple[int, ...] = (1, 2)
    attention_levels: tuple[int, ...] = (1,)   # which UNet levels have cross-attention (SD 1.5: 0, 1, 2)
    res_blocks: int = 2
    unet_heads: int = 8
    in_channels: int = 4
    text_hidden: int = 32
    text_layers: int = 2
    text_heads: int = 4
    text_intermediate: int = 37
    vae_channels: int = 32
    vae_levels: int = 4
    seed: int = 0

    def unet_config(self) -> dict[str, Any]:
        levels = range(len(self.channel_mult))
        return dict(
            sample_size=8, in_channels=self.in_channels, out_channels=4, layers_per_block=self.res_blocks,
            block_out_channels=tuple(self.model_channels * mult for mult in self.channel_mult),
            down_block_types=tuple("CrossAttnDownBlock2D" if level in self.attention_levels else "DownBlock2D"
                                   for level in levels),
            up_block_types=tuple("CrossAttnUpBlock2D" if level in self.attention_levels else "UpBlock2D"
                                 for level in reversed(levels)),
            cross_attention_dim=self.text_hidden, attention_head_dim=self.unet_heads, norm_num_groups=32,
        )

    def vae_config(self) -> dict[str, Any]:
        return dict(
            block_out_channels=(self.vae_channels,) * self.vae_levels, layers_per_block=1, latent_channels=4,
            down_block_types=("DownEncoderBlock2D",) * self.vae_levels, norm_num_groups=32,
            up_block_types=("UpDecoderBlock2D",) * self.vae_levels, scaling_factor=SCALE_FACTOR,
        )

    def text_config(self) -> CLIPTextConfig:
        return CLIPTextConfig(
            vocab_size=49408, hidden_size=self.text_hidden, intermediate_size=self.text_intermediate,
            num_hidden_layers=self.text_layers, num_attention_heads=self.text_heads, max_position_embeddings=77,
            projection_dim=self.text_hidden, hidden_act="quick_gelu",
        )

    def ldm_yaml(self) -> dict[str, Any]:
        """The A1111/CompVis `v1-inference.yaml` layout with this model's sizes."""
        attention_resolutions = [2 ** level for level in self.attention_levels]
        return {"model": {"target": "ldm.models.diffusion.ddpm.LatentDiffusion", "params": {
            "linear_start": BETA_START, "linear_end": BETA_END, "timesteps": TIMESTEPS, "image_size": 64,
            "channels": 4, "conditioning_key": "crossattn", "scale_factor": SCALE_FACTOR,
            "unet_config": {"target": "ldm.modules.diffusionmodules.openaimodel.UNetModel", "params": {
                "image_size": 32, "in_channels": self.in_channels, "out_channels": 4,
                "model_channels": self.model_channels, "attention_resolutions": attention_resolutions,
                "num_res_blocks": self.res_blocks, "channel_mult": list(self.channel_mult),
                "num_heads": self.unet_heads, "use_spatial_transformer": True, "transformer_depth": 1,
                "context_dim": self.text_hidden, "legacy": False}},
            "first_stage_config": {"target": "ldm.models.autoencoder.AutoencoderKL", "params": {
                "embed_dim": 4, "ddconfig": {
                    "double_z": True, "z_channels": 4, "resolution": 256, "in_channels": 3, "out_ch": 3,
                    "ch": self.vae_channels, "ch_mult": [1] * self.vae_levels, "num_res_blocks": 1,
                    "attn_resolutions": [], "dropout": 0.0}}},
            # num_heads is ours: CLIP's head count cannot be read from tensor shapes, and this CLIP is not ViT-L.
            "cond_stage_config": {"target": "ldm.modules.encoders.modules.FrozenCLIPEmbedder",
                                  "params": {"num_heads": self.text_heads}},
        }}}


def build_tiny_components(spec: TinySD1Spec) -> tuple[UNet2DConditionModel, AutoencoderKL, CLIPTextModel]:
    """Real diffusers/transformers classes at tiny size, seeded, without touching the global RNG."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(spec.seed)
        unet = UNet2DConditionModel(**spec.unet_config())
        vae = AutoencoderKL(**spec.vae_config())
        text_encoder = CLIPTextModel(spec.text_config())
    return unet.eval(), vae.eval(), text_encoder.eval()


def a1111_state_dict(unet: UNet2DConditionModel, vae: AutoencoderKL, text_encoder: CLIPTextModel,
                     dtype: torch.dtype = torch.float16) -> dict[str, torch.Tensor]:
    """All components under A1111's keys, weights in `dtype`, plus the noise-schedule tensors real files carry."""
    state: dict[str, torch.Tensor] = {}
    state.update(ldm_layout.unet_to_ldm(unet.state_dict(), unet.config))
    state.update(ldm_layout.vae_to_ldm(vae.state_dict(), vae.config))
    state.update(ldm_layout.text_encoder_to_ldm(text_encoder.state_dict(),
                                                text_encoder.config.max_position_embeddings))
    state = {key: value.to(dtype) if value.is_floating_point() else value for key, value in state.items()}
    state.update(ldm_layout.noise_schedule_tensors(BETA_START, BETA_END, TIMESTEPS))
    return state


def write_tiny_checkpoint(path: Path, spec: TinySD1Spec, metadata: dict[str, str] | None = None,
                          dtype: torch.dtype = torch.float16) -> Path:
    """Write `path` (A1111 single file) and `<stem>.yaml` beside it; returns the checkpoint path."""
    unet, vae, text_encoder = build_tiny_components(spec)
    ldm_layout.save_single_file(path, a1111_state_dict(unet, vae, text_encoder, dtype), metadata or {})
    config_text = yaml.safe_dump(spec.ldm_yaml(), sort_keys=False).encode("utf-8")
    write_atomically(path.with_suffix(".yaml"), lambda stream: stream.write(config_text))
    return path


def write_demo_checkpoint(folder: Path) -> Path:
    """The demo the app writes when no checkpoint exists; its metadata marks it as the demo."""
    metadata = {DEMO_METADATA_KEY: "1",
                "description": "Kestrel demo: a tiny SD 1.x model with random weights. It draws noise."}
    return write_tiny_checkpoint(folder / DEMO_FILE_NAME, TinySD1Spec(), metadata)
