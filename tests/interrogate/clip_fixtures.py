"""Tiny random CLIP-interrogator files in A1111's layout, for the interrogator's, the API's and the UI's tests.

`write_tiny_clip_interrogator(root)` lays out under a data root every file `ClipInterrogateFiles.missing()`
looks for: BLIP in Salesforce's layout (`{"model": state dict}`, `visual_encoder.*`/`text_decoder.*`), CLIP in
OpenAI's layout (a plain state dict as `ViT-L-14.pt`), a tiny BERT vocab and four small category files. The
BLIP head's bias keeps special tokens (and so the end token) out of the caption: the caption is then exactly
`max_length` − 4 words (the prompt "[DEC] a picture of" is 4 tokens), every one from `CAPTION_WORDS`.
`write_torchscript_clip(path)` writes the same CLIP as a TorchScript archive (`torch.jit.save`) with OpenAI's
names, attribute tensors and all, as `ViT-L-14.pt` really is.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
CAPTION_WORDS = ("a", "picture", "of", "cat", "dog", "red", "blue", "house", "tree", "sky", "sea", "bird",
                 "car", "road", "hill", "girl", "boy", "lamp", "book", "moon")
CATEGORIES: Mapping[str, Sequence[str]] = {
    "artists.txt": ("alice painter", "bob sculptor", "carol drawer", "dan etcher", "eve potter"),
    "flavors.txt": ("highly detailed", "soft light", "pastel colors", "dark mood", "vivid", "grainy"),
    "mediums.txt": ("oil painting", "photograph", "watercolor", "pencil sketch"),
    "movements.txt": ("impressionism", "cubism", "surrealism"),
}
BLIP_WIDTH, BLIP_INNER, BLIP_PATCH, BLIP_GRID, BLIP_POSITIONS = 32, 64, 16, 2, 64
CLIP_WIDTH, CLIP_TEXT_WIDTH, CLIP_EMBED, CLIP_PATCH, CLIP_GRID, CLIP_CONTEXT, CLIP_VOCAB = 64, 64, 32, 8, 2, 77, 49408


def _random(generator: torch.Generator, *shape: int) -> torch.Tensor:
    return torch.randn(*shape, generator=generator) * 0.2


def _norm(prefix: str, width: int) -> dict[str, torch.Tensor]:
    return {f"{prefix}.weight": torch.ones(width), f"{prefix}.bias": torch.zeros(width)}


def _linear(generator: torch.Generator, prefix: str, out_features: int, in_features: int) -> dict[str, torch.Tensor]:
    return {f"{prefix}.weight": _random(generator, out_features, in_features),
            f"{prefix}.bias": _random(generator, out_features)}


def tiny_blip_state(vocab_size: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """A random BLIP captioner, Salesforce's names, 1 ViT block and 1 BERT layer of width 32."""
    generator = torch.Generator().manual_seed(seed)
    width, inner = BLIP_WIDTH, BLIP_INNER
    vision = "visual_encoder."
    state = {f"{vision}cls_token": _random(generator, 1, 1, width),
             f"{vision}pos_embed": _random(generator, 1, BLIP_GRID ** 2 + 1, width),
             f"{vision}patch_embed.proj.weight": _random(generator, width, 3, BLIP_PATCH, BLIP_PATCH),
             f"{vision}patch_embed.proj.bias": _random(generator, width),
             **_norm(f"{vision}norm", width), **_norm(f"{vision}blocks.0.norm1", width),
             **_norm(f"{vision}blocks.0.norm2", width),
             **_linear(generator, f"{vision}blocks.0.attn.qkv", 3 * width, width),
             **_linear(generator, f"{vision}blocks.0.attn.proj", width, width),
             **_linear(generator, f"{vision}blocks.0.mlp.fc1", inner, width),
             **_linear(generator, f"{vision}blocks.0.mlp.fc2", width, inner)}
    bert = "text_decoder.bert."
    words = _random(generator, vocab_size, width)
    state |= {f"{bert}embeddings.word_embeddings.weight": words,
              f"{bert}embeddings.position_embeddings.weight": _random(generator, BLIP_POSITIONS, width),
              f"{bert}embeddings.position_ids": torch.arange(BLIP_POSITIONS).unsqueeze(0),
              **_norm(f"{bert}embeddings.LayerNorm", width)}
    layer = f"{bert}encoder.layer.0."
    for attention in ("attention", "crossattention"):
        for name in ("query", "key", "value"):
            state |= _linear(generator, f"{layer}{attention}.self.{name}", width, width)
        state |= _linear(generator, f"{layer}{attention}.output.dense", width, width)
        state |= _norm(f"{layer}{attention}.output.LayerNorm", width)
    state |= _linear(generator, f"{layer}intermediate.dense", inner, width)
    state |= _linear(generator, f"{layer}output.dense", width, inner)
    state |= _norm(f"{layer}output.LayerNorm", width)
    head = "text_decoder.cls.predictions."
    bias = torch.zeros(vocab_size)
    bias[:len(SPECIAL_TOKENS)] = -1e4  # never a special token: no [SEP] (end), nothing skipped when decoding
    bias[len(SPECIAL_TOKENS) + len(CAPTION_WORDS):] = -1e4  # nor BLIP's [DEC]/[ENC]
    state |= {f"{head}bias": bias, f"{head}decoder.weight": words, f"{head}decoder.bias": bias,
              **_linear(generator, f"{head}transform.dense", width, width),
              **_norm(f"{head}transform.LayerNorm", width)}
    return state


def _resblock(generator: torch.Generator, prefix: str, width: int) -> dict[str, torch.Tensor]:
    return {**_norm(f"{prefix}.ln_1", width), **_norm(f"{prefix}.ln_2", width),
            f"{prefix}.attn.in_proj_weight": _random(generator, 3 * width, width),
            f"{prefix}.attn.in_proj_bias": _random(generator, 3 * width),
            **_linear(generator, f"{prefix}.attn.out_proj", width, width),
            **_linear(generator, f"{prefix}.mlp.c_fc", 4 * width, width),
            **_linear(generator, f"{prefix}.mlp.c_proj", width, 4 * width)}


def tiny_clip_state(seed: int = 1) -> dict[str, torch.Tensor]:
    """A random CLIP ViT with OpenAI's names: widths 64 (one head: the least OpenAI's `build_model` allows),
    16 px in patches of 8, 1 layer per tower, fp16 as OpenAI ships it."""
    generator = torch.Generator().manual_seed(seed)
    width, text = CLIP_WIDTH, CLIP_TEXT_WIDTH
    state = {"visual.class_embedding": _random(generator, width),
             "visual.positional_embedding": _random(generator, CLIP_GRID ** 2 + 1, width),
             "visual.conv1.weight": _random(generator, width, 3, CLIP_PATCH, CLIP_PATCH),
             **_norm("visual.ln_pre", width), **_norm("visual.ln_post", width),
             "visual.proj": _random(generator, width, CLIP_EMBED),
             **_resblock(generator, "visual.transformer.resblocks.0", width),
             "token_embedding.weight": _random(generator, CLIP_VOCAB, text),
             "positional_embedding": _random(generator, CLIP_CONTEXT, text),
             **_resblock(generator, "transformer.resblocks.0", text), **_norm("ln_final", text),
             "text_projection": _random(generator, text, CLIP_EMBED), "logit_scale": torch.tensor(4.6052)}
    return {key: value.half() for key, value in state.items()}


def tiny_bert_vocab() -> list[str]:
    return [*SPECIAL_TOKENS, *CAPTION_WORDS]


def write_tiny_clip_interrogator(root: Path, categories: Mapping[str, Sequence[str]] | None = None) -> None:
    """Every file the CLIP interrogator needs, tiny and random, under the data root `root`."""
    blip_folder = root / "models" / "BLIP"
    (blip_folder / "bert-base-uncased").mkdir(parents=True, exist_ok=True)
    vocab = tiny_bert_vocab()
    (blip_folder / "bert-base-uncased" / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    torch.save({"model": tiny_blip_state(len(vocab) + 2)}, blip_folder / "model_base_caption_capfilt_large.pth")
    clip_folder = root / "models" / "CLIP"
    clip_folder.mkdir(parents=True, exist_ok=True)
    torch.save(tiny_clip_state(), clip_folder / "ViT-L-14.pt")
    write_categories(root / "interrogate", CATEGORIES if categories is None else categories)


def write_categories(folder: Path, categories: Mapping[str, Sequence[str]]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, lines in categories.items():
        (folder / name).write_text("\n".join(lines) + "\n", encoding="utf-8")


class _Holder(torch.nn.Module):
    """A module that only holds tensors under given names (TorchScript keeps them as its attributes)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def _holder_tree(state: Mapping[str, torch.Tensor]) -> _Holder:
    root = _Holder()
    for key, value in state.items():
        *path, name = key.split(".")
        module: torch.nn.Module = root
        for part in path:
            if not hasattr(module, part):
                module.add_module(part, _Holder())
            module = getattr(module, part)
        module.register_parameter(name, torch.nn.Parameter(value.clone(), requires_grad=False))
    root.transformer.resblocks.get_submodule("0").register_buffer(  # OpenAI's text blocks keep their causal mask
        "attn_mask", torch.full((CLIP_CONTEXT, CLIP_CONTEXT), float("-inf")).triu(1))
    root.register_buffer("input_resolution", torch.tensor(CLIP_PATCH * CLIP_GRID))
    return root


def write_torchscript_clip(path: Path, state: Mapping[str, torch.Tensor] | None = None) -> None:
    """The tiny CLIP as `torch.jit.save` writes it: a zip with `code/`, `constants.pkl` and `data.pkl`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():  # torch.jit is deprecated; OpenAI's file is in its format all the same
        warnings.simplefilter("ignore", FutureWarning)
        torch.jit.save(torch.jit.script(_holder_tree(tiny_clip_state() if state is None else state)), str(path))
