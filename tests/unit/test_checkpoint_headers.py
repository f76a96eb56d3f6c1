"""Reading a checkpoint's header and identifying its architecture before any weight is read."""

import json
import struct
from pathlib import Path

import pytest

from webui.model_manager.probe import UnsupportedArchitectureError, default_probes, identify
from webui.model_manager.safetensors_header import (
    CheckpointFormatError,
    TensorIndex,
    TensorInfo,
    read_safetensors_index,
)


def write_safetensors(path: Path, header: dict, data: bytes) -> Path:
    encoded = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(encoded)) + encoded + data)
    return path


def test_header_is_read_without_the_data(tmp_path):
    path = write_safetensors(tmp_path / "a.safetensors", {
        "__metadata__": {"format": "pt"}, "w": {"dtype": "F16", "shape": [2, 3], "data_offsets": [0, 12]}}, b"\0" * 12)
    index = read_safetensors_index(path)
    assert index.tensors == {"w": TensorInfo("F16", (2, 3))} and index.metadata == {"format": "pt"}


@pytest.mark.parametrize("content, message", [
    (b"\x01\x02", "too short"),
    (struct.pack("<Q", 10**6) + b"{}", "corrupt or truncated"),
    (struct.pack("<Q", 5) + b"{nope", "corrupt .safetensors header"),
])
def test_corrupt_files_are_refused_with_a_clear_message(tmp_path, content, message):
    path = tmp_path / "bad.safetensors"
    path.write_bytes(content)
    with pytest.raises(CheckpointFormatError, match=message):
        read_safetensors_index(path)


def test_truncated_data_is_detected_from_the_offsets(tmp_path):
    path = write_safetensors(tmp_path / "cut.safetensors",
                             {"w": {"dtype": "F16", "shape": [4], "data_offsets": [0, 8]}}, b"\0" * 5)
    with pytest.raises(CheckpointFormatError, match="truncated file: tensor 'w' needs bytes 0–8"):
        read_safetensors_index(path)


def index_of(shapes: dict[str, tuple[int, ...]]) -> TensorIndex:
    return TensorIndex({key: TensorInfo("F16", shape) for key, shape in shapes.items()}, {})


SD1_CLIP = {"cond_stage_model.transformer.text_model.embeddings.token_embedding.weight": (49408, 768)}


def test_sd1_and_sd1_inpainting_are_supported():
    sd1 = identify(index_of({**SD1_CLIP, "model.diffusion_model.input_blocks.0.0.weight": (320, 4, 3, 3)}),
                   default_probes(), "a.safetensors")
    inpaint = identify(index_of({**SD1_CLIP, "model.diffusion_model.input_blocks.0.0.weight": (320, 9, 3, 3)}),
                       default_probes(), "b.safetensors")
    assert (sd1.name, sd1.unet_in_channels) == ("sd1", 4)
    assert (inpaint.name, inpaint.unet_in_channels) == ("sd1-inpaint", 9)


@pytest.mark.parametrize("keys, label", [
    ({"conditioner.embedders.1.model.ln_final.weight": (1280,),
      "model.diffusion_model.input_blocks.0.0.weight": (320, 4, 3, 3)}, "SDXL"),
    ({"cond_stage_model.model.transformer.resblocks.0.attn.in_proj_weight": (3072, 1024),
      "model.diffusion_model.input_blocks.0.0.weight": (320, 4, 3, 3)}, "SD 2.x"),
    ({"model.diffusion_model.x_embedder.proj.weight": (1536, 16, 2, 2)}, "SD 3"),
])
def test_other_architectures_get_not_supported_yet(keys, label):
    with pytest.raises(UnsupportedArchitectureError, match=f"model.safetensors: not supported yet: {label}$"):
        identify(index_of(keys), default_probes(), "model.safetensors")


def test_a_lora_is_not_a_checkpoint():
    with pytest.raises(UnsupportedArchitectureError, match="not a Stable Diffusion checkpoint"):
        identify(index_of({"lora_unet_down_blocks_0.alpha": ()}), default_probes(), "lora.safetensors")
