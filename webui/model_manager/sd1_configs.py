"""Decide the diffusers configs for an SD 1.x checkpoint, offline.

Sources, in order of authority:
1. A1111's `<checkpoint>.yaml` beside the file (the LDM `v1-inference.yaml` layout): the UNet and VAE configs are
   derived from it with diffusers' own `create_*_diffusers_config_from_ldm`.
2. Otherwise the SD 1.x configs shipped in `configs/sd1/`.
The text encoder's sizes are always read from the tensor shapes (so fine-tunes with a different CLIP still load);
only its head count, which shapes cannot tell, comes from the yaml (`cond_stage_config.params.num_heads`) or
CLIP's 64-wide heads.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from diffusers.loaders.single_file_utils import (
    create_unet_diffusers_config_from_ldm,
    create_vae_diffusers_config_from_ldm,
)

from webui.model_manager.probe import SD1_CLIP_KEY, Architecture
from webui.model_manager.safetensors_header import CheckpointFormatError

CONFIG_ROOT = Path(__file__).parent / "configs" / "sd1"
CLIP_PREFIX = "cond_stage_model.transformer.text_model."
CLIP_HEAD_WIDTH = 64


@dataclass(frozen=True)
class SD1Configs:
    unet: Mapping[str, Any]
    vae: Mapping[str, Any]
    text_encoder: Mapping[str, Any]
    scheduler: Mapping[str, Any]
    source: str  # "shipped" or the yaml's file name, for the log and the UI


def _read_json(relative: str) -> dict[str, Any]:
    return json.loads((CONFIG_ROOT / relative).read_text(encoding="utf-8"))


def yaml_beside(checkpoint: Path) -> Path | None:
    """A1111's convention: `model.safetensors` + `model.yaml` in the same folder."""
    candidate = checkpoint.with_suffix(".yaml")
    return candidate if candidate.is_file() else None


def _read_original_config(path: Path) -> dict[str, Any]:
    try:
        config = yaml.safe_load(path.read_text(encoding="utf-8"))
        unet_params = config["model"]["params"]["unet_config"]["params"]
    except (yaml.YAMLError, KeyError, TypeError) as error:
        unet_params = None
        reason = str(error)
    else:
        reason = "model.params.unet_config.params is not a mapping"
    if not isinstance(unet_params, dict):
        raise CheckpointFormatError(
            f"{path.name}: not an LDM model config (expected model.params.unet_config.params): {reason}")
    return config


def _text_encoder_config(state_dict: Mapping[str, Any], original: Mapping[str, Any] | None) -> dict[str, Any]:
    config = _read_json("text_encoder/config.json")
    token_embedding = state_dict.get(SD1_CLIP_KEY)
    if token_embedding is None:
        raise CheckpointFormatError("checkpoint has no CLIP token embedding; cannot size the text encoder")
    hidden = int(token_embedding.shape[1])
    layer_ids = {key[len(CLIP_PREFIX) + len("encoder.layers."):].split(".")[0]
                 for key in state_dict if key.startswith(CLIP_PREFIX + "encoder.layers.")}
    fc1 = state_dict[CLIP_PREFIX + "encoder.layers.0.mlp.fc1.weight"]
    positions = state_dict[CLIP_PREFIX + "embeddings.position_embedding.weight"]
    heads = None
    if original is not None:
        params = (original["model"]["params"].get("cond_stage_config") or {}).get("params") or {}
        heads = params.get("num_heads")
    if heads is None:
        heads = config["num_attention_heads"] if hidden == config["hidden_size"] else max(1, hidden // CLIP_HEAD_WIDTH)
    config.update(
        vocab_size=int(token_embedding.shape[0]), hidden_size=hidden, projection_dim=hidden,
        intermediate_size=int(fc1.shape[0]), num_hidden_layers=len(layer_ids),
        max_position_embeddings=int(positions.shape[0]), num_attention_heads=int(heads),
    )
    return config


def resolve_sd1_configs(checkpoint: Path, state_dict: Mapping[str, Any], architecture: Architecture) -> SD1Configs:
    """Configs for this file; the state dict is only inspected for shapes, never modified."""
    yaml_path = yaml_beside(checkpoint)
    scheduler = _read_json("scheduler/scheduler_config.json")
    if yaml_path is None:
        unet = _read_json("unet/config.json")
        unet["in_channels"] = architecture.unet_in_channels
        return SD1Configs(unet, _read_json("vae/config.json"), _text_encoder_config(state_dict, None), scheduler,
                          "shipped")
    original = _read_original_config(yaml_path)
    unet = create_unet_diffusers_config_from_ldm(original, state_dict)
    vae = create_vae_diffusers_config_from_ldm(original, state_dict)
    return SD1Configs(unet, vae, _text_encoder_config(state_dict, original), scheduler, yaml_path.name)
