"""OpenAI's CLIP (the `clip` package's `model.py` layout, as in `ViT-L-14.pt`) as transformers' `CLIPModel`.

OpenAI's keys: `token_embedding`, `positional_embedding`, `transformer.resblocks.N.{ln_1, attn.in_proj_*,
attn.out_proj, ln_2, mlp.c_fc, mlp.c_proj}`, `ln_final`, `text_projection` (width × embed), `logit_scale`, and
`visual.{class_embedding, positional_embedding, conv1, ln_pre, transformer.resblocks.N.*, ln_post, proj}`. The
fused `in_proj` splits into q/k/v; the projections are transposed. Sizes come from the shapes, as OpenAI's own
`build_model` reads them (heads = width / 64, QuickGELU); the archive's `input_resolution`, `context_length`,
`vocab_size` and the text tower's `attn_mask` are not weights and are dropped.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch
from transformers import CLIPConfig, CLIPModel

from webui.model_manager.checkpoint_files import StateDict
from webui.model_manager.interrogate_models import InterrogateWeightsRefused, load_strictly

HEAD_WIDTH = 64
NOT_WEIGHTS = ("input_resolution", "context_length", "vocab_size")
LAYER_NAMES = {"ln_1": "layer_norm1", "ln_2": "layer_norm2", "attn.out_proj": "self_attn.out_proj",
               "mlp.c_fc": "mlp.fc1", "mlp.c_proj": "mlp.fc2"}
TOP_NAMES = {"token_embedding.weight": "text_model.embeddings.token_embedding.weight",
             "positional_embedding": "text_model.embeddings.position_embedding.weight",
             "ln_final.weight": "text_model.final_layer_norm.weight",
             "ln_final.bias": "text_model.final_layer_norm.bias", "logit_scale": "logit_scale",
             "visual.class_embedding": "vision_model.embeddings.class_embedding",
             "visual.positional_embedding": "vision_model.embeddings.position_embedding.weight",
             "visual.conv1.weight": "vision_model.embeddings.patch_embedding.weight",
             "visual.ln_pre.weight": "vision_model.pre_layrnorm.weight",
             "visual.ln_pre.bias": "vision_model.pre_layrnorm.bias",
             "visual.ln_post.weight": "vision_model.post_layernorm.weight",
             "visual.ln_post.bias": "vision_model.post_layernorm.bias"}
TRANSPOSED = {"text_projection": "text_projection.weight", "visual.proj": "visual_projection.weight"}
BLOCK = re.compile(r"^(visual\.)?transformer\.resblocks\.(\d+)\.(.+)$")


def convert_clip_state_dict(state: StateDict) -> StateDict:
    """OpenAI names → transformers names; keys that are not weights are dropped."""
    converted: StateDict = {}
    for key, value in state.items():
        if key in NOT_WEIGHTS or key.endswith(".attn_mask"):
            continue
        if key in TOP_NAMES:
            converted[TOP_NAMES[key]] = value
        elif key in TRANSPOSED:
            converted[TRANSPOSED[key]] = value.t().contiguous()
        elif match := BLOCK.match(key):
            tower = "vision_model" if match.group(1) else "text_model"
            converted.update(_block_tensors(f"{tower}.encoder.layers.{match.group(2)}", match.group(3), value))
        else:
            converted[f"unknown.{key}"] = value
    return converted


def _block_tensors(prefix: str, name: str, value: torch.Tensor) -> StateDict:
    if name in ("attn.in_proj_weight", "attn.in_proj_bias"):
        kind = name.rsplit("_", 1)[1]
        query, key, value_part = value.chunk(3, dim=0)
        return {f"{prefix}.self_attn.q_proj.{kind}": query, f"{prefix}.self_attn.k_proj.{kind}": key,
                f"{prefix}.self_attn.v_proj.{kind}": value_part}
    module, _, kind = name.rpartition(".")
    if module in LAYER_NAMES:
        return {f"{prefix}.{LAYER_NAMES[module]}.{kind}": value}
    return {f"unknown.{prefix}.{name}": value}


def _layers(state: StateDict, prefix: str) -> int:
    expression = re.compile(rf"^{re.escape(prefix)}transformer\.resblocks\.(\d+)\.")
    return len({match.group(1) for key in state if (match := expression.match(key))})


def clip_config(state: StateDict, source: Path) -> CLIPConfig:
    """Sizes from the shapes, as OpenAI's `build_model` reads them."""
    try:
        conv = state["visual.conv1.weight"]
        vision_positions = state["visual.positional_embedding"].shape[0]
        vision_inner = state["visual.transformer.resblocks.0.mlp.c_fc.weight"].shape[0]
        tokens = state["token_embedding.weight"]
        positions = state["positional_embedding"].shape[0]
        text_inner = state["transformer.resblocks.0.mlp.c_fc.weight"].shape[0]
        embed = state["text_projection"].shape[1]
    except KeyError as error:
        raise InterrogateWeightsRefused(str(source), f"not an OpenAI CLIP ViT model (no {error.args[0]})") from None
    width, text_width, patch = int(conv.shape[0]), int(tokens.shape[1]), int(conv.shape[-1])
    grid = round((vision_positions - 1) ** 0.5)
    vision = {"hidden_size": width, "intermediate_size": int(vision_inner), "image_size": grid * patch,
              "patch_size": patch, "num_attention_heads": max(1, width // HEAD_WIDTH),
              "num_hidden_layers": _layers(state, "visual."), "hidden_act": "quick_gelu", "layer_norm_eps": 1e-5}
    vocab = int(tokens.shape[0])
    text = {"vocab_size": vocab, "hidden_size": text_width, "intermediate_size": int(text_inner),
            "num_attention_heads": max(1, text_width // HEAD_WIDTH), "num_hidden_layers": _layers(state, ""),
            "max_position_embeddings": int(positions), "hidden_act": "quick_gelu", "layer_norm_eps": 1e-5,
            "bos_token_id": vocab - 2, "eos_token_id": vocab - 1, "pad_token_id": vocab - 1}
    return CLIPConfig(text_config=text, vision_config=vision, projection_dim=int(embed))


def build_clip_model(state: StateDict, source: Path, dtype: torch.dtype, device: torch.device) -> CLIPModel:
    """CLIP with the file's weights, strictly: every tensor the model needs, at its shape, and nothing unknown."""
    config = clip_config(state, source)
    converted = convert_clip_state_dict(state)
    unknown = sorted(key.removeprefix("unknown.") for key in converted if key.startswith("unknown."))
    if unknown:
        raise InterrogateWeightsRefused(str(source), f"unknown CLIP tensors: {', '.join(unknown[:5])}")
    model = load_strictly(lambda: CLIPModel(config), converted, source, "OpenAI's CLIP")
    return model.to(device=device, dtype=dtype).eval()
