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
from dataclasses import dataclass
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
@dataclass(frozen=True)
class BlipSizes:
    width: int = 32
    inner: int = 64
    layers: int = 1
    patch: int = 16
    grid: int = 2
    text_positions: int = 64


@dataclass(frozen=True)
class ClipSizes:
    width: int = 64  # one head: the least OpenAI's `build_model` allows
    text_width: int = 64
    embed: int = 32
    layers: int = 1
    text_layers: int = 1
    patch: int = 8
    grid: int = 2
    context: int = 77
    vocab: int = 49408


REAL_BLIP = BlipSizes(width=768, inner=3072, layers=12, patch=16, grid=24, text_positions=512)  # ViT-B, BERT-base
REAL_CLIP = ClipSizes(width=1024, text_width=768, embed=768, layers=24, text_layers=12, patch=14, grid=16)  # ViT-L/14


class _Tensors:
    """Random tensors from a seeded generator, or shape-only ones on the meta device (for real sizes)."""

    def __init__(self, seed: int, meta: bool) -> None:
        self.generator = torch.Generator().manual_seed(seed)
        self.meta = meta

    def random(self, *shape: int) -> torch.Tensor:
        if self.meta:
            return torch.empty(*shape, device="meta")
        return torch.randn(*shape, generator=self.generator) * 0.2

    def norm(self, prefix: str, width: int) -> dict[str, torch.Tensor]:
        """Not 1 and 0: a LayerNorm mapped to the wrong place must change the result."""
        return {f"{prefix}.weight": 1 + self.random(width) * 0.5, f"{prefix}.bias": self.random(width) * 0.5}

    def linear(self, prefix: str, out_features: int, in_features: int) -> dict[str, torch.Tensor]:
        return {f"{prefix}.weight": self.random(out_features, in_features), f"{prefix}.bias": self.random(out_features)}


def tiny_blip_state(vocab_size: int, seed: int = 0, sizes: BlipSizes = BlipSizes(),
                    meta: bool = False) -> dict[str, torch.Tensor]:
    """A random BLIP captioner with Salesforce's names (tiny unless `sizes` says otherwise)."""
    make = _Tensors(seed, meta)
    width, inner = sizes.width, sizes.inner
    vision = "visual_encoder."
    state = {f"{vision}cls_token": make.random(1, 1, width),
             f"{vision}pos_embed": make.random(1, sizes.grid ** 2 + 1, width),
             f"{vision}patch_embed.proj.weight": make.random(width, 3, sizes.patch, sizes.patch),
             f"{vision}patch_embed.proj.bias": make.random(width), **make.norm(f"{vision}norm", width)}
    for index in range(sizes.layers):
        block = f"{vision}blocks.{index}."
        state |= {**make.norm(f"{block}norm1", width), **make.norm(f"{block}norm2", width),
                  **make.linear(f"{block}attn.qkv", 3 * width, width), **make.linear(f"{block}attn.proj", width, width),
                  **make.linear(f"{block}mlp.fc1", inner, width), **make.linear(f"{block}mlp.fc2", width, inner)}
    bert = "text_decoder.bert."
    words = make.random(vocab_size, width)
    state |= {f"{bert}embeddings.word_embeddings.weight": words,
              f"{bert}embeddings.position_embeddings.weight": make.random(sizes.text_positions, width),
              f"{bert}embeddings.position_ids": torch.arange(sizes.text_positions).unsqueeze(0),
              **make.norm(f"{bert}embeddings.LayerNorm", width)}
    for index in range(sizes.layers):
        state |= _bert_layer(make, f"{bert}encoder.layer.{index}.", width, inner)
    head = "text_decoder.cls.predictions."
    bias = torch.zeros(vocab_size)
    bias[:len(SPECIAL_TOKENS)] = -1e4  # never a special token: no [SEP] (end), nothing skipped when decoding
    bias[len(SPECIAL_TOKENS) + len(CAPTION_WORDS):] = -1e4  # nor BLIP's [DEC]/[ENC]
    bias = bias.to("meta") if meta else bias
    state |= {f"{head}bias": bias, f"{head}decoder.weight": words, f"{head}decoder.bias": bias,
              **make.linear(f"{head}transform.dense", width, width), **make.norm(f"{head}transform.LayerNorm", width)}
    return state


def _bert_layer(make: _Tensors, layer: str, width: int, inner: int) -> dict[str, torch.Tensor]:
    state: dict[str, torch.Tensor] = {}
    for attention in ("attention", "crossattention"):
        for name in ("query", "key", "value"):
            state |= make.linear(f"{layer}{attention}.self.{name}", width, width)
        state |= make.linear(f"{layer}{attention}.output.dense", width, width)
        state |= make.norm(f"{layer}{attention}.output.LayerNorm", width)
    return state | {**make.linear(f"{layer}intermediate.dense", inner, width),
                    **make.linear(f"{layer}output.dense", width, inner), **make.norm(f"{layer}output.LayerNorm", width)}


def _resblock(make: _Tensors, prefix: str, width: int) -> dict[str, torch.Tensor]:
    return {**make.norm(f"{prefix}.ln_1", width), **make.norm(f"{prefix}.ln_2", width),
            f"{prefix}.attn.in_proj_weight": make.random(3 * width, width),
            f"{prefix}.attn.in_proj_bias": make.random(3 * width),
            **make.linear(f"{prefix}.attn.out_proj", width, width),
            **make.linear(f"{prefix}.mlp.c_fc", 4 * width, width),
            **make.linear(f"{prefix}.mlp.c_proj", width, 4 * width)}


def tiny_clip_state(seed: int = 1, sizes: ClipSizes = ClipSizes(), meta: bool = False) -> dict[str, torch.Tensor]:
    """A random CLIP ViT with OpenAI's names, fp16 as OpenAI ships it (tiny: 16 px in patches of 8, one layer per
    tower, widths 64)."""
    make = _Tensors(seed, meta)
    width, text = sizes.width, sizes.text_width
    state = {"visual.class_embedding": make.random(width),
             "visual.positional_embedding": make.random(sizes.grid ** 2 + 1, width),
             "visual.conv1.weight": make.random(width, 3, sizes.patch, sizes.patch),
             **make.norm("visual.ln_pre", width), **make.norm("visual.ln_post", width),
             "visual.proj": make.random(width, sizes.embed),
             "token_embedding.weight": make.random(sizes.vocab, text),
             "positional_embedding": make.random(sizes.context, text), **make.norm("ln_final", text),
             "text_projection": make.random(text, sizes.embed), "logit_scale": torch.tensor(4.6052)}
    for index in range(sizes.layers):
        state |= _resblock(make, f"visual.transformer.resblocks.{index}", width)
    for index in range(sizes.text_layers):
        state |= _resblock(make, f"transformer.resblocks.{index}", text)
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
        "attn_mask", torch.full((ClipSizes.context, ClipSizes.context), float("-inf")).triu(1))
    root.register_buffer("input_resolution", torch.tensor(ClipSizes.patch * ClipSizes.grid))
    return root


def write_torchscript_clip(path: Path, state: Mapping[str, torch.Tensor] | None = None) -> None:
    """The tiny CLIP as `torch.jit.save` writes it: a zip with `code/`, `constants.pkl` and `data.pkl`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():  # torch.jit is deprecated; OpenAI's file is in its format all the same
        warnings.simplefilter("ignore", FutureWarning)
        torch.jit.save(torch.jit.script(_holder_tree(tiny_clip_state() if state is None else state)), str(path))
