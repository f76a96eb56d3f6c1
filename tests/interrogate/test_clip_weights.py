"""The interrogator's weight files are read without running code: OpenAI's TorchScript archive through a restricted
unpickler, Salesforce's pickle weights-only; anything else in them is refused naming the file."""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

import pytest
import safetensors.torch
import torch
import torch.nn.functional as F

from tests.interrogate.clip_fixtures import (
    REAL_BLIP,
    REAL_CLIP,
    BlipSizes,
    tiny_bert_vocab,
    tiny_blip_state,
    tiny_clip_state,
    write_torchscript_clip,
)
from webui.engine.interrogate_clip import ClipInterrogateFiles
from webui.model_manager.blip_weights import (
    BlipTokens,
    blip_config,
    blip_tokens,
    build_bert_tokenizer,
    build_blip_captioner,
)
from webui.model_manager.clip_weights import build_clip_model, clip_config, convert_clip_state_dict
from webui.model_manager.interrogate_models import (
    InterrogateWeightsRefused,
    read_nested_weights,
    read_torchscript_tensors,
    read_weights,
    torchscript_prefix,
)


class WritesAFile:
    """Unpickling this would create `target`: proof of whether a reader ran the file's code."""

    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self):
        return (exec, (f"open({str(self.target)!r}, 'w').close()",))


def test_the_torchscript_archive_gives_openais_tensors(tmp_path):
    archive = tmp_path / "ViT-L-14.pt"
    write_torchscript_clip(archive)
    assert torchscript_prefix(archive) is not None
    tensors = read_torchscript_tensors(archive)
    plain = tiny_clip_state()
    assert set(tensors) == {*plain, "input_resolution", "transformer.resblocks.0.attn_mask"}
    assert all(torch.equal(tensors[key], value) for key, value in plain.items())
    assert convert_clip_state_dict(tensors).keys() == convert_clip_state_dict(plain).keys()


def test_an_archive_asking_for_another_global_is_refused_and_nothing_runs(tmp_path):
    good, bad, marker = tmp_path / "good.pt", tmp_path / "ViT-L-14.pt", tmp_path / "ran"
    write_torchscript_clip(good)
    with zipfile.ZipFile(good) as source, zipfile.ZipFile(bad, "w") as target:
        for info in source.infolist():
            data = source.read(info)
            if info.filename.endswith("/data.pkl"):
                data = pickle.dumps({"visual": WritesAFile(marker)}, protocol=2)
            target.writestr(info, data)
    with pytest.raises(InterrogateWeightsRefused) as raised:
        read_weights(bad)
    assert str(bad) in str(raised.value) and ".exec, which is not a tensor" in str(raised.value)
    assert raised.value.http_status == 422 and not marker.exists()


def test_a_blip_pickle_with_a_non_tensor_global_is_refused_and_nothing_runs(tmp_path):
    path, marker = tmp_path / "model_base_caption_capfilt_large.pth", tmp_path / "ran"
    torch.save({"model": {"visual_encoder.cls_token": torch.zeros(1)}, "config": WritesAFile(marker)}, path)
    with pytest.raises(InterrogateWeightsRefused) as raised:
        read_nested_weights(path, "model")
    assert str(path) in str(raised.value) and not marker.exists()


def test_a_clip_state_dict_as_safetensors_is_used(tmp_path):
    safetensors.torch.save_file(tiny_clip_state(), str(tmp_path / "ViT-L-14.safetensors"))
    files = ClipInterrogateFiles.from_data_root(tmp_path, clip_models_path=tmp_path)
    assert files.clip_file() == tmp_path / "ViT-L-14.safetensors"
    assert read_weights(files.clip_file()).keys() == tiny_clip_state().keys()


def test_a_blip_file_missing_a_tensor_is_refused_naming_it(tmp_path):
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("\n".join(tiny_bert_vocab()), encoding="utf-8")
    tokens = blip_tokens(build_bert_tokenizer(vocab))
    state = tiny_blip_state(tokens.vocab_size)
    del state["visual_encoder.blocks.0.mlp.fc2.weight"]
    source = tmp_path / "model_base_caption_capfilt_large.pth"
    with pytest.raises(InterrogateWeightsRefused) as raised:
        build_blip_captioner(state, tokens, source, torch.float32, torch.device("cpu"))
    assert str(source) in str(raised.value) and "vision_model.encoder.layers.0.mlp.fc2.weight" in str(raised.value)


def test_bert_tokenizer_has_blips_decoder_and_encoder_tokens(tmp_path):
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("\n".join(tiny_bert_vocab()), encoding="utf-8")
    tokenizer = build_bert_tokenizer(vocab)
    tokens = blip_tokens(tokenizer)
    words = len(tiny_bert_vocab())
    assert (tokens.bos, tokens.vocab_size, tokens.pad, tokens.sep) == (words, words + 2, 0, 3)
    assert tokenizer.convert_tokens_to_ids("[ENC]") == words + 1
    assert tokenizer("A Picture of").input_ids == [2, 5, 6, 7, 3]  # [CLS] a picture of [SEP], lower-cased


def test_real_sizes_read_as_blip_base_and_clip_vit_l_14_and_load_strictly():
    """Shapes only (meta tensors): A1111's files' sizes give BLIP's ViT-B/BERT-base captioner at 384 px and CLIP
    ViT-L/14 at 224 px, and every tensor of each model is accounted for."""
    tokens = BlipTokens(bos=30522, sep=102, pad=0, vocab_size=30524)  # bert-base-uncased + [DEC] + [ENC]
    blip_state = tiny_blip_state(30524, sizes=REAL_BLIP, meta=True)
    blip = blip_config(blip_state, tokens, Path("blip.pth"))
    vision, text = blip.vision_config, blip.text_config
    assert (vision.hidden_size, vision.num_hidden_layers, vision.num_attention_heads, vision.intermediate_size,
            vision.image_size, vision.patch_size, vision.layer_norm_eps) == (768, 12, 12, 3072, 384, 16, 1e-6)
    assert (text.hidden_size, text.num_hidden_layers, text.num_attention_heads, text.vocab_size,
            text.encoder_hidden_size, text.max_position_embeddings) == (768, 12, 12, 30524, 768, 512)
    meta = torch.device("meta")
    captioner = build_blip_captioner(blip_state, tokens, Path("blip.pth"), torch.float16, meta)
    assert sum(parameter.numel() for parameter in captioner.parameters()) > 200_000_000
    clip_state = tiny_clip_state(sizes=REAL_CLIP, meta=True)
    clip = clip_config(clip_state, Path("ViT-L-14.pt"))
    vision, text = clip.vision_config, clip.text_config
    assert (vision.hidden_size, vision.num_hidden_layers, vision.num_attention_heads, vision.intermediate_size,
            vision.image_size, vision.patch_size, vision.hidden_act) == (1024, 24, 16, 4096, 224, 14, "quick_gelu")
    assert (text.hidden_size, text.num_hidden_layers, text.num_attention_heads, text.max_position_embeddings,
            text.vocab_size, clip.projection_dim) == (768, 12, 12, 77, 49408, 768)
    model = build_clip_model(clip_state, Path("ViT-L-14.pt"), torch.float16, meta)
    assert sum(parameter.numel() for parameter in model.parameters()) > 400_000_000


def blips_vit(state: dict[str, torch.Tensor], pixels: torch.Tensor, heads: int, patch: int) -> torch.Tensor:
    """BLIP's ViT forward (models/vit.py: pre-norm blocks, fused qkv, LayerNorm eps 1e-6), written out by hand."""
    def weight(name: str) -> torch.Tensor:
        return state[f"visual_encoder.{name}"].float()

    def norm(x: torch.Tensor, name: str) -> torch.Tensor:
        return F.layer_norm(x, x.shape[-1:], weight(f"{name}.weight"), weight(f"{name}.bias"), eps=1e-6)

    def linear(x: torch.Tensor, name: str) -> torch.Tensor:
        return F.linear(x, weight(f"{name}.weight"), weight(f"{name}.bias"))

    x = F.conv2d(pixels, weight("patch_embed.proj.weight"), weight("patch_embed.proj.bias"), stride=patch)
    x = x.flatten(2).transpose(1, 2)
    x = torch.cat([weight("cls_token").expand(x.shape[0], -1, -1), x], dim=1) + weight("pos_embed")
    batch, tokens, width = x.shape
    block = 0
    while f"visual_encoder.blocks.{block}.norm1.weight" in state:
        prefix = f"blocks.{block}."
        qkv = linear(norm(x, f"{prefix}norm1"), f"{prefix}attn.qkv")
        query, key, value = qkv.reshape(batch, tokens, 3, heads, width // heads).permute(2, 0, 3, 1, 4)
        attention = ((query @ key.transpose(-2, -1)) * (width // heads) ** -0.5).softmax(dim=-1)
        x = x + linear((attention @ value).transpose(1, 2).reshape(batch, tokens, width), f"{prefix}attn.proj")
        x = x + linear(F.gelu(linear(norm(x, f"{prefix}norm2"), f"{prefix}mlp.fc1")), f"{prefix}mlp.fc2")
        block += 1
    return norm(x, "norm")


def test_blips_vision_tower_computes_what_blips_vit_does(tmp_path):
    sizes = BlipSizes(width=128, inner=96, layers=2)  # two heads, two blocks
    vocab = len(tiny_bert_vocab()) + 2
    state = tiny_blip_state(vocab, seed=3, sizes=sizes)
    tokens = BlipTokens(bos=vocab - 2, sep=3, pad=0, vocab_size=vocab)
    captioner = build_blip_captioner(state, tokens, tmp_path / "blip.pth", torch.float32, torch.device("cpu"))
    assert captioner.config.vision_config.num_attention_heads == 2
    pixels = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        ours = captioner.vision_model(pixel_values=pixels).last_hidden_state
    torch.testing.assert_close(ours, blips_vit(state, pixels, heads=2, patch=16), atol=1e-4, rtol=1e-4)
