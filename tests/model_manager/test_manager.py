"""Loading and switching: a bad file leaves the loaded model serving."""

import shutil

import pytest

from tests.support import copy_checkpoint
from webui.model_manager.demo import TinySD1Spec, write_tiny_checkpoint
from webui.model_manager.hashing import HashCache
from webui.model_manager.manager import CheckpointNotFoundError, ModelManager, ModelSources
from webui.model_manager.probe import UnsupportedArchitectureError
from webui.model_manager.safetensors_header import CheckpointFormatError


@pytest.fixture
def manager(tmp_path, tiny_checkpoint, cpu_plan):
    folder = tmp_path / "Stable-diffusion"
    folder.mkdir()
    copy_checkpoint(tiny_checkpoint, folder / "good.safetensors")
    write_tiny_checkpoint(folder / "other.safetensors", TinySD1Spec(seed=7))
    truncated = folder / "truncated.safetensors"
    truncated.write_bytes(tiny_checkpoint.read_bytes()[: tiny_checkpoint.stat().st_size // 2])
    manager = ModelManager(ModelSources((folder,)), cpu_plan, HashCache(tmp_path / "cache.json"))
    manager.refresh()
    manager.load("good.safetensors")
    return manager


def test_load_hashes_and_switches(manager):
    first = manager.loaded
    assert first.record.title.startswith("good.safetensors [") and not first.is_demo
    second = manager.load("other")
    assert second.record.name == "other.safetensors" and manager.loaded is second
    assert second.record.short_hash != first.record.short_hash
    assert manager.load(second.record.title) is second  # already loaded: no reload


def test_a_truncated_file_is_refused_and_the_loaded_model_keeps_serving(manager):
    before = manager.loaded
    with pytest.raises(CheckpointFormatError, match="truncated.safetensors: .*truncated"):
        manager.load("truncated.safetensors")
    assert manager.loaded is before
    with manager.use() as loaded:
        assert loaded.pipeline is before.pipeline


def test_unknown_checkpoint_lists_what_exists(manager):
    with pytest.raises(CheckpointNotFoundError, match="'nope' not found; available: good.safetensors \\["):
        manager.load("nope")


def test_unsupported_architecture_message(manager, tmp_path):
    import torch
    from safetensors.torch import save_file

    sdxl = tmp_path / "Stable-diffusion" / "sdxl.safetensors"
    save_file({"conditioner.embedders.1.model.ln_final.weight": torch.zeros(4),
               "model.diffusion_model.input_blocks.0.0.weight": torch.zeros(320, 4, 3, 3)}, str(sdxl))
    manager.refresh()
    with pytest.raises(UnsupportedArchitectureError, match="sdxl.safetensors: not supported yet: SDXL"):
        manager.load("sdxl.safetensors")
    assert manager.loaded.record.name == "good.safetensors"


def test_a_checkpoint_whose_yaml_lies_is_refused_and_the_live_model_stays(manager, tmp_path, tiny_checkpoint):
    folder = tmp_path / "Stable-diffusion"
    shutil.copy(tiny_checkpoint, folder / "liar.safetensors")
    wrong = TinySD1Spec(model_channels=64).ldm_yaml()
    import yaml

    (folder / "liar.yaml").write_text(yaml.safe_dump(wrong))
    manager.refresh()
    before = manager.loaded
    with pytest.raises(CheckpointFormatError, match="do not fit its config|do not match"):
        manager.load("liar.safetensors")
    assert manager.loaded is before and manager.loaded.record.name == "good.safetensors"
