"""ControlNet files and records: A1111's legacy hash in the title, folders, header probing, the persisted-queue
round trip of a unit, and the infotext entry's format."""

import hashlib

import pytest
from PIL import Image

from tests.support.controlnet_files import tiny_controlnet, write_controlnet
from webui.engine.controlnet.unit import ControlNetUnit
from webui.engine.request import GenerationRequest
from webui.infotext.controlnet import parse_unit, serialize_unit, units_in
from webui.jobs.request_codec import decode_request, encode_request
from webui.model_manager.controlnet_models import (
    ControlNetModels,
    ControlNetNotFound,
    ControlNetRefused,
    legacy_model_hash,
    probe_controlnet,
)
from webui.model_manager.safetensors_header import TensorIndex, TensorInfo


def test_the_title_hash_is_a1111s_legacy_model_hash(tmp_path):
    path = tmp_path / "control_v11p_sd15_canny.pth"
    payload = bytes(range(256)) * 5000  # 1.28 MB: the hash covers 64 KiB from 1 MiB on
    path.write_bytes(payload)
    expected = hashlib.sha256(payload[0x100000:0x110000]).hexdigest()[:8]
    assert legacy_model_hash(path) == expected
    small = tmp_path / "small.pth"
    small.write_bytes(b"x" * 100)
    assert legacy_model_hash(small) == hashlib.sha256(b"").hexdigest()[:8]  # what A1111 gets for a short file


def test_models_are_found_in_both_folders_by_title_or_name(tmp_path, tiny_spec):
    first, second = tmp_path / "models" / "ControlNet", tmp_path / "extensions" / "sd-webui-controlnet" / "models"
    model = tiny_controlnet(tiny_spec)
    write_controlnet(first / "control_v11p_sd15_canny.pth", model, "ldm.pth")
    write_controlnet(second / "sub" / "control_v11f1p_sd15_depth.safetensors", model, "ldm-fp16.safetensors")
    write_controlnet(first / "annotator" / "ignored.pth", model, "ldm.pth")  # preprocessor weights, not models
    models = ControlNetModels([first, second])
    titles = models.titles()
    assert titles[0] == "None" and len(titles) == 3
    record = models.find("control_v11f1p_sd15_depth")
    assert models.find(record.title) == record and models.find("CONTROL_V11F1P_SD15_DEPTH [00000000]") == record
    with pytest.raises(ControlNetNotFound, match="control_v11p_sd15_canny \\["):
        models.find("lineart")


def _index(*keys: str, width: int = 768) -> TensorIndex:
    tensors = {key: TensorInfo("F16", (320, width) if key.endswith("to_k.weight") else (4,)) for key in keys}
    return TensorIndex(tensors, {})


@pytest.mark.parametrize("keys, message", [
    (("control_model.input_hint_block.0.weight", "control_model.label_emb.0.0.weight"), "SDXL"),
    (("body.0.block1.weight", "conv_in.weight"), "T2I-Adapter"),
    (("lora_controlnet", "input_hint_block.0.weight"), "Control-LoRA"),
    (("model.diffusion_model.input_blocks.0.0.weight",), "not a ControlNet"),
])
def test_other_kinds_are_refused_by_their_header(keys, message):
    with pytest.raises(ControlNetRefused, match=message):
        probe_controlnet(_index(*keys), "file.safetensors")


def test_sd1_layouts_are_recognised():
    ldm = probe_controlnet(_index("input_hint_block.0.weight",
                                  "input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight"), "a.pth")
    diffusers = probe_controlnet(_index("controlnet_cond_embedding.conv_in.weight",
                                        "down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k.weight"), "b")
    assert (ldm.layout, ldm.context_width, diffusers.layout) == ("ldm", 768, "diffusers")


def test_a_unit_survives_the_persisted_queue(control_image):
    mask = Image.new("L", (64, 64), 255)
    unit = ControlNetUnit(module="canny", model="control_v11p_sd15_canny [abcd1234]", weight=0.7, image=control_image,
                          mask=mask, control_mode="My prompt is more important", index=2)
    request = decode_request(encode_request(GenerationRequest(controlnet=(unit,))))
    back = request.controlnet[0]
    assert (back.module, back.weight, back.control_mode, back.index) == ("canny", 0.7, unit.control_mode, 2)
    assert back.image.tobytes() == control_image.tobytes() and back.mask.tobytes() == mask.tobytes()


def test_the_infotext_entry_round_trips():
    values = {"module": "canny", "model": "control_v11p_sd15_canny [d14c016b]", "weight": 1.0,
              "resize_mode": "Crop and Resize", "processor_res": 512, "threshold_a": 100, "threshold_b": 200,
              "guidance_start": 0.0, "guidance_end": 1.0, "pixel_perfect": False, "control_mode": "Balanced"}
    text = serialize_unit(values)
    assert text == ("Module: canny, Model: control_v11p_sd15_canny [d14c016b], Weight: 1.0, Resize Mode: Crop and "
                    "Resize, Processor Res: 512, Threshold A: 100, Threshold B: 200, Guidance Start: 0.0, Guidance "
                    "End: 1.0, Pixel Perfect: False, Control Mode: Balanced")
    assert parse_unit(text) == values
    assert units_in({"ControlNet 1": text, "ControlNet x": text, "ControlNet 2": "legacy"}) == {1: values}
    with pytest.raises(ValueError, match="holds"):
        serialize_unit({**values, "model": "a, b"})
