"""BLIP's captioner (Salesforce's `BLIP_Decoder`, which A1111 runs) as transformers' `BlipForConditionalGeneration`.

Salesforce's checkpoint holds `visual_encoder.*` (a timm-style ViT: `cls_token`, `pos_embed`, `patch_embed.proj`,
`blocks.N.{norm1,attn.qkv,attn.proj,norm2,mlp.fc1,mlp.fc2}`, `norm`) and `text_decoder.*` (a BERT LM head with
cross-attention, the same names transformers uses). Only the vision names change. The sizes come from the tensors'
shapes (so a tiny test file builds a tiny model); heads are width/64 as in BLIP's ViT-B and BERT-base. The real
file loads strictly: a missing tensor or a wrong shape is refused naming the file.

The tokenizer is `bert-base-uncased` plus BLIP's two tokens, `[DEC]` (bos) and `[ENC]` — read offline from a
`vocab.txt` (`models/BLIP/bert-base-uncased/vocab.txt`, or the Hugging Face cache A1111 filled).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import torch
from huggingface_hub import try_to_load_from_cache
from transformers import BertTokenizer, BlipConfig, BlipForConditionalGeneration

from webui.model_manager.checkpoint_files import StateDict
from webui.model_manager.interrogate_models import InterrogateWeightsRefused, load_strictly

BERT_REPOS = ("bert-base-uncased", "google-bert/bert-base-uncased")
DECODER_TOKEN, ENCODER_TOKEN = "[DEC]", "[ENC]"
VISION_LAYER_NAMES = {"norm1": "layer_norm1", "norm2": "layer_norm2", "attn.qkv": "self_attn.qkv",
                      "attn.proj": "self_attn.projection", "mlp.fc1": "mlp.fc1", "mlp.fc2": "mlp.fc2"}
VISION_TOP_NAMES = {"cls_token": "embeddings.class_embedding", "pos_embed": "embeddings.position_embedding",
                    "patch_embed.proj.weight": "embeddings.patch_embedding.weight",
                    "patch_embed.proj.bias": "embeddings.patch_embedding.bias",
                    "norm.weight": "post_layernorm.weight", "norm.bias": "post_layernorm.bias"}
IGNORED_KEYS = ("text_decoder.bert.embeddings.position_ids",)
BLOCK = re.compile(r"^blocks\.(\d+)\.(.+)\.(weight|bias)$")
VIT_LAYER_NORM_EPS = 1e-6  # BLIP's ViT builds its LayerNorms with eps=1e-6
HEAD_WIDTH = 64


@dataclass(frozen=True)
class BlipTokens:
    """The ids generation needs, from the tokenizer (a tiny test vocab has other ids than bert-base-uncased)."""

    bos: int
    sep: int
    pad: int
    vocab_size: int


def find_cached_bert_vocab(cache_dir: Path | None) -> Path | None:
    """`vocab.txt` of bert-base-uncased in the Hugging Face cache (offline lookup; None uses the hub's default)."""
    for repo in BERT_REPOS:
        found = try_to_load_from_cache(repo, "vocab.txt", cache_dir=cache_dir)
        if isinstance(found, str):
            return Path(found)
    return None


def build_bert_tokenizer(vocab_file: Path) -> BertTokenizer:
    """BERT's uncased WordPiece tokenizer from its vocab.txt (one token a line, the line number its id), with
    BLIP's `[DEC]` as bos and `[ENC]` added after it, as BLIP's `init_tokenizer` does."""
    lines = vocab_file.read_text(encoding="utf-8").splitlines()
    vocab = {token: index for index, token in enumerate(lines) if token}
    tokenizer = BertTokenizer(vocab=vocab, do_lower_case=True)
    tokenizer.add_special_tokens({"bos_token": DECODER_TOKEN})
    tokenizer.add_special_tokens({"additional_special_tokens": [ENCODER_TOKEN]})
    return tokenizer


def blip_tokens(tokenizer: BertTokenizer) -> BlipTokens:
    def token_id(token: str) -> int:
        found = tokenizer.convert_tokens_to_ids(token)
        return int(found) if isinstance(found, int) else 0

    return BlipTokens(bos=token_id(DECODER_TOKEN), sep=token_id("[SEP]"), pad=token_id("[PAD]"),
                      vocab_size=len(tokenizer))


def convert_blip_state_dict(state: StateDict) -> StateDict:
    """Salesforce names → transformers names (vision renamed, text decoder kept)."""
    converted: StateDict = {}
    for key, value in state.items():
        if key in IGNORED_KEYS:
            continue
        if key.startswith("text_decoder."):
            converted[key] = value
        elif key.startswith("visual_encoder."):
            converted[f"vision_model.{_vision_name(key.removeprefix('visual_encoder.'))}"] = value
    return converted


def _vision_name(name: str) -> str:
    if name in VISION_TOP_NAMES:
        return VISION_TOP_NAMES[name]
    match = BLOCK.match(name)
    if match and match.group(2) in VISION_LAYER_NAMES:
        return f"encoder.layers.{match.group(1)}.{VISION_LAYER_NAMES[match.group(2)]}.{match.group(3)}"
    return f"unknown.{name}"


def _count(state: StateDict, pattern: str) -> int:
    expression = re.compile(pattern)
    return len({match.group(1) for key in state if (match := expression.match(key))})


def blip_config(state: StateDict, tokens: BlipTokens, source: Path) -> BlipConfig:
    """A config whose sizes are the checkpoint's own (Salesforce layout)."""
    try:
        cls_token = state["visual_encoder.cls_token"]
        patch = state["visual_encoder.patch_embed.proj.weight"]
        positions = state["visual_encoder.pos_embed"].shape[1]
        words = state["text_decoder.bert.embeddings.word_embeddings.weight"]
        text_positions = state["text_decoder.bert.embeddings.position_embeddings.weight"].shape[0]
        text_inner = state["text_decoder.bert.encoder.layer.0.intermediate.dense.weight"].shape[0]
        cross_width = state["text_decoder.bert.encoder.layer.0.crossattention.self.key.weight"].shape[1]
        vision_inner = state["visual_encoder.blocks.0.mlp.fc1.weight"].shape[0]
    except KeyError as error:
        raise InterrogateWeightsRefused(str(source), f"not BLIP's captioning model (no {error.args[0]})") from None
    width, text_width = int(cls_token.shape[-1]), int(words.shape[1])
    grid = round((positions - 1) ** 0.5)
    if words.shape[0] != tokens.vocab_size:
        raise InterrogateWeightsRefused(str(source), f"its text decoder has {words.shape[0]} tokens; the BERT "
                                        f"vocab with BLIP's [DEC]/[ENC] has {tokens.vocab_size}")
    vision = {"hidden_size": width, "intermediate_size": int(vision_inner), "image_size": grid * patch.shape[-1],
              "patch_size": int(patch.shape[-1]), "num_attention_heads": max(1, width // HEAD_WIDTH),
              "num_hidden_layers": _count(state, r"^visual_encoder\.blocks\.(\d+)\."),
              "layer_norm_eps": VIT_LAYER_NORM_EPS, "hidden_act": "gelu"}
    text = {"vocab_size": int(words.shape[0]), "hidden_size": text_width, "intermediate_size": int(text_inner),
            "num_hidden_layers": _count(state, r"^text_decoder\.bert\.encoder\.layer\.(\d+)\."),
            "num_attention_heads": max(1, text_width // HEAD_WIDTH), "max_position_embeddings": int(text_positions),
            "encoder_hidden_size": int(cross_width), "bos_token_id": tokens.bos, "sep_token_id": tokens.sep,
            "eos_token_id": tokens.sep, "pad_token_id": tokens.pad}
    return BlipConfig(vision_config=vision, text_config=text)


def build_blip_captioner(state: StateDict, tokens: BlipTokens, source: Path, dtype: torch.dtype,
                         device: torch.device) -> BlipForConditionalGeneration:
    """The captioner with the checkpoint's weights, strictly: every tensor the model has must be in the file."""
    config = blip_config(state, tokens, source)
    converted = convert_blip_state_dict(state)
    unknown = sorted(key for key in converted if ".unknown." in key)
    if unknown:
        raise InterrogateWeightsRefused(str(source), f"unknown BLIP vision tensors: {', '.join(unknown[:5])}")
    prediction = "text_decoder.cls.predictions."
    if f"{prediction}bias" in converted:
        converted.setdefault(f"{prediction}decoder.bias", converted[f"{prediction}bias"])
    words = converted["text_decoder.bert.embeddings.word_embeddings.weight"]
    converted.setdefault(f"{prediction}decoder.weight", words)
    model = load_strictly(lambda: BlipForConditionalGeneration(config), converted, source, "BLIP's captioner")
    return model.to(device=device, dtype=dtype).eval()
