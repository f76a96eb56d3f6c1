"""A1111 single files: write → probe → load gives the same tensors; .ckpt only weights-only; bad files refused."""

import pickle
from pathlib import Path

import pytest
import torch
from diffusers.loaders.single_file_utils import (
    convert_ldm_clip_checkpoint,
    convert_ldm_unet_checkpoint,
    convert_ldm_vae_checkpoint,
)

from webui.model_manager.checkpoint_files import CheckpointReaders, UnsafeCheckpointError
from webui.model_manager.demo import a1111_state_dict, build_tiny_components
from webui.model_manager.probe import default_probes, identify
from webui.model_manager.safetensors_header import CheckpointFormatError
from webui.model_manager.sd1_configs import resolve_sd1_configs
from webui.model_manager.sd1_pipeline import build_components, prepare_weights

READERS = CheckpointReaders()


def assert_same_weights(original: torch.nn.Module, loaded: torch.nn.Module, dtype=torch.float16):
    expected, actual = original.state_dict(), loaded.state_dict()
    assert set(expected) == set(actual)
    different = [key for key in expected if not torch.equal(expected[key].to(dtype), actual[key].to(dtype))]
    assert different == []


def test_a1111_keys_round_trip_through_diffusers_own_converters(tiny_spec):
    unet, vae, text_encoder = build_tiny_components(tiny_spec)
    ldm = a1111_state_dict(unet, vae, text_encoder, dtype=torch.float32)
    assert any(key.startswith("model.diffusion_model.input_blocks.1.1.transformer_blocks") for key in ldm) is False
    assert "model.diffusion_model.input_blocks.4.1.transformer_blocks.0.attn2.to_k.weight" in ldm
    assert "first_stage_model.encoder.mid.attn_1.q.weight" in ldm
    back_unet = convert_ldm_unet_checkpoint(ldm, dict(unet.config))
    back_vae = convert_ldm_vae_checkpoint(ldm, dict(vae.config))
    back_text = {k.removeprefix("text_model."): v for k, v in convert_ldm_clip_checkpoint(ldm).items()}
    for module, back in ((unet, back_unet), (vae, back_vae)):
        state = module.state_dict()
        assert set(back) == set(state)
        assert all(torch.equal(back[key], state[key]) for key in state)
    text_state = text_encoder.state_dict()
    assert all(torch.equal(back_text[key], text_state[key]) for key in text_state)


def test_write_probe_load_gives_the_same_tensors(tiny_checkpoint, tiny_spec, cpu_plan):
    index = READERS.read_index(tiny_checkpoint)
    architecture = identify(index, default_probes(), tiny_checkpoint.name)
    assert architecture.name == "sd1"
    assert index.shape("cond_stage_model.transformer.text_model.embeddings.token_embedding.weight") == (49408, 32)
    state_dict = READERS.read_state_dict(tiny_checkpoint)
    configs = resolve_sd1_configs(tiny_checkpoint, state_dict, architecture)
    assert configs.source == "tiny-anything.yaml" and configs.text_encoder["num_attention_heads"] == 4
    loaded = build_components(configs, prepare_weights(configs, state_dict, cpu_plan))
    unet, vae, text_encoder = build_tiny_components(tiny_spec)
    assert_same_weights(unet, loaded["unet"])
    assert_same_weights(vae, loaded["vae"])
    assert_same_weights(text_encoder, loaded["text_encoder"])
    assert loaded["unet"].dtype == torch.float32  # the CPU plan's dtype, from an fp16 file


def test_ckpt_loads_weights_only(tiny_checkpoint, tmp_path):
    state_dict = READERS.read_state_dict(tiny_checkpoint)
    ckpt = tmp_path / "model.ckpt"
    torch.save({"state_dict": dict(state_dict), "global_step": 470000}, ckpt)
    loaded = READERS.read_state_dict(ckpt)
    assert set(loaded) == set(state_dict)
    assert all(torch.equal(loaded[key], state_dict[key]) for key in state_dict)
    assert identify(READERS.read_index(ckpt), default_probes(), ckpt.name).name == "sd1"


class RunsCode:
    """A pickle payload that would run a command if anything unpickled it normally."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_a_ckpt_that_would_run_code_is_refused_and_runs_nothing(tmp_path):
    marker = tmp_path / "code-ran"
    ckpt = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {"w": torch.zeros(2)}, "payload": RunsCode(marker)}, ckpt)
    with pytest.raises(UnsafeCheckpointError, match="evil.ckpt: refused"):
        READERS.read_state_dict(ckpt)
    legacy = tmp_path / "legacy.ckpt"
    legacy.write_bytes(pickle.dumps({"state_dict": {}, "x": RunsCode(marker)}))
    with pytest.raises(CheckpointFormatError):
        READERS.read_state_dict(legacy)
    assert not marker.exists()


def test_truncated_and_garbage_files_are_refused(tiny_checkpoint, tmp_path):
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(tiny_checkpoint.read_bytes()[:100_000])
    with pytest.raises(CheckpointFormatError, match="truncated"):
        READERS.read_index(truncated)
    garbage = tmp_path / "garbage.ckpt"
    garbage.write_bytes(b"not a pickle at all" * 100)
    with pytest.raises(CheckpointFormatError, match="garbage.ckpt"):
        READERS.read_state_dict(garbage)
    with pytest.raises(CheckpointFormatError, match="unsupported file type; allowed: .bin, .ckpt, .pt, .pth, .sa"):
        READERS.read_index(tmp_path / "model.onnx")


def test_shipped_sd1_configs_fit_a_full_size_sd15_layout():
    """The configs in webui/ describe real SD 1.5 files: build SD 1.5 on the meta device, write its LDM keys,
    and check probing and diffusers' converters accept them against the shipped configs."""
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    from webui.model_manager import ldm_layout
    from webui.model_manager.sd1_configs import CONFIG_ROOT, _read_json

    with torch.device("meta"):
        unet = UNet2DConditionModel.from_config(_read_json("unet/config.json"))
        vae = AutoencoderKL.from_config(_read_json("vae/config.json"))
        text_encoder = CLIPTextModel(CLIPTextConfig(**_read_json("text_encoder/config.json")))
    ldm = {**ldm_layout.unet_to_ldm(unet.state_dict(), unet.config),
           **ldm_layout.vae_to_ldm(vae.state_dict(), vae.config),
           **ldm_layout.text_encoder_to_ldm(text_encoder.state_dict(), 77)}
    assert len(ldm) == 1131  # SD 1.5 single files hold 1131 model tensors (+ the schedule buffers)
    fake_file = CONFIG_ROOT / "no-such-file.safetensors"  # no yaml beside it: the shipped configs are used
    from webui.model_manager.safetensors_header import TensorIndex, TensorInfo

    index = TensorIndex({key: TensorInfo("F16", tuple(value.shape)) for key, value in ldm.items()}, {})
    architecture = identify(index, default_probes(), "sd15.safetensors")
    configs = resolve_sd1_configs(fake_file, ldm, architecture)
    assert configs.source == "shipped" and configs.text_encoder["num_attention_heads"] == 12
    assert set(convert_ldm_unet_checkpoint(ldm, dict(configs.unet))) == set(unet.state_dict())
    assert set(convert_ldm_vae_checkpoint(ldm, dict(configs.vae))) == set(vae.state_dict())


def test_pickle_structure_is_checked_before_unpickling(tmp_path):
    import zipfile

    not_torch = tmp_path / "archive.ckpt"
    with zipfile.ZipFile(not_torch, "w") as archive:
        archive.writestr("readme.txt", "hello")
    with pytest.raises(CheckpointFormatError, match="not a PyTorch checkpoint \\(expected one data.pkl, found 0\\)"):
        READERS.read_state_dict(not_torch)
    bloated = tmp_path / "bloated.ckpt"
    with zipfile.ZipFile(bloated, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("bloated/data.pkl", b"\0" * (65 * 1024 * 1024))
    with pytest.raises(UnsafeCheckpointError, match="its pickle program is 68157440 bytes"):
        READERS.read_state_dict(bloated)
    bin_file = tmp_path / "model.bin"
    torch.save({"model.diffusion_model.x": torch.ones(2)}, bin_file)
    assert set(READERS.read_state_dict(bin_file)) == {"model.diffusion_model.x"}


def test_the_demo_file_is_byte_for_byte_reproducible(tmp_path):
    """Same weights and metadata → same bytes → the same model hash on every install (safetensors alone writes
    its metadata in hash-map order, which varies between runs)."""
    from webui.model_manager.demo import DEMO_METADATA_KEY, write_demo_checkpoint

    for name in ("one", "two"):
        (tmp_path / name).mkdir()
    first = write_demo_checkpoint(tmp_path / "one").read_bytes()
    second = write_demo_checkpoint(tmp_path / "two").read_bytes()
    assert first == second
    assert READERS.read_index(tmp_path / "one" / "kestrel-demo-tiny.safetensors").metadata[DEMO_METADATA_KEY] == "1"
