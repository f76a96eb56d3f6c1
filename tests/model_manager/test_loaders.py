"""The loader registry: one loader per (kind, architecture, format), duplicates refused, misses name what exists,
and the libraries read through it (a registration changes what they load)."""

from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from tests.support.networks import write_a1111_embedding
from webui.model_manager.loaders import (
    ANY_ARCHITECTURE,
    Loader,
    LoaderKey,
    LoaderNotFoundError,
    LoaderRegistry,
    default_loaders,
    file_format_of,
)
from webui.model_manager.networks import EmbeddingLibrary, LoraLibrary, LoraRecord
from webui.model_manager.safetensors_header import CheckpointFormatError


def test_the_default_registry_covers_every_kind_in_both_formats():
    keys = {str(key) for key in default_loaders().registered()}
    for kind in ("vae", "lora", "embedding", "upscaler"):
        assert {f"{kind}/any/safetensors", f"{kind}/any/pickle"} <= keys
    assert {"checkpoint/sd1/safetensors", "checkpoint/sd1/pickle", "checkpoint/sd1-inpaint/safetensors"} <= keys


def test_a_duplicate_registration_raises_and_a_new_kind_is_one_registration():
    registry = default_loaders()
    key = LoaderKey("checkpoint", "sd1", "safetensors")
    with pytest.raises(ValueError, match="a loader for checkpoint/sd1/safetensors is already registered"):
        registry.register(Loader(key, lambda path: {}))
    registry.register(Loader(LoaderKey("controlnet", "sd1", "safetensors"), lambda path: {"w": path.name}))
    assert registry.read("controlnet", Path("canny.safetensors"), "sd1") == {"w": "canny.safetensors"}


def test_a_miss_names_what_is_registered():
    registry = default_loaders()
    with pytest.raises(LoaderNotFoundError, match="no loader for checkpoint/sdxl/safetensors; registered: "
                                                  "checkpoint/sd1-inpaint/pickle, checkpoint/sd1-inpaint/safet"):
        registry.lookup("checkpoint", "sdxl", "safetensors")
    with pytest.raises(LoaderNotFoundError, match="registered: none for 'face_restorer'; kinds: checkpoint, "):
        registry.lookup("face_restorer", ANY_ARCHITECTURE, "pickle")
    with pytest.raises(CheckpointFormatError, match="x.onnx: unsupported file type; allowed: .bin, .ckpt"):
        file_format_of(Path("x.onnx"))


def test_libraries_read_through_the_registry(tmp_path):
    lora_file = tmp_path / "Lora" / "style.safetensors"
    lora_file.parent.mkdir()
    save_file({"lora_unet_x.alpha": torch.tensor(4.0)}, str(lora_file))
    embeddings = tmp_path / "embeddings"
    embeddings.mkdir()
    write_a1111_embedding(embeddings / "cat.safetensors", 8, vectors=2)
    calls: list[str] = []
    base = default_loaders()
    registry = LoaderRegistry()
    for key in base.registered():
        original = base.lookup(key.kind, key.architecture, key.file_format)

        def counted(path: Path, original=original, key=key):
            calls.append(f"{key}:{path.name}")
            return original.read(path)

        registry.register(Loader(key, counted, original.description))
    assert LoraLibrary(lora_file.parent, loaders=registry).read(LoraRecord("style", lora_file)).keys() == \
        {"lora_unet_x.alpha"}
    library = EmbeddingLibrary(embeddings, loaders=registry)
    library.refresh()
    assert library.vectors_for_width(8)["cat"].shape == (2, 8)
    assert calls == ["lora/any/safetensors:style.safetensors", "embedding/any/safetensors:cat.safetensors"]
